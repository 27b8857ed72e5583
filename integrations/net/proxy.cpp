#include "integrations/net/proxy.h"

#include <cstdlib>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/url/parse.hpp>

#include "common/strings.h"

namespace shipmate::integrations::net::detail {

namespace http = boost::beast::http;

Result<Proxy> parse_proxy(std::string text) {
  if (text.find("://") == std::string::npos)
    text = "http://" + text;
  auto parsed = boost::urls::parse_uri(text);
  if (!parsed || to_lower(parsed->scheme()) != "http" || parsed->host_address().empty())
    return make_error("invalid proxy URL (want http://host:port)", ErrorKind::invalid);
  Proxy proxy;
  proxy.host = to_lower(parsed->host_address());
  proxy.port = parsed->has_port() && !parsed->port().empty() ? std::string(parsed->port()) : "80";
  if (parsed->has_userinfo()) {
    proxy.authorization = "Basic " + shipmate::base64_encode(std::string(parsed->user()) + ":" +
                                                             std::string(parsed->password()));
  }
  return proxy;
}

std::vector<std::string> parse_no_proxy(const char* value) {
  std::vector<std::string> out;
  if (value == nullptr)
    return out;
  std::string_view rest(value);
  while (!rest.empty()) {
    auto comma = rest.find(',');
    std::string entry = to_lower(trim(rest.substr(0, comma)));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (entry.starts_with("*."))
      entry.erase(0, 1);
    if (entry.starts_with("."))
      entry.erase(0, 1);
    // "host:port" entries are matched on the host alone; bracketed IPv6 keeps its colons.
    auto colon = entry.rfind(':');
    if (colon != std::string::npos && entry.find(']') == std::string::npos &&
        entry.find(':') == colon)
      entry.erase(colon);
    if (entry.starts_with("[") && entry.ends_with("]"))
      entry = entry.substr(1, entry.size() - 2);
    if (!entry.empty())
      out.push_back(entry);
  }
  return out;
}

bool bypasses_proxy(const std::vector<std::string>& no_proxy, const std::string& host) {
  for (const auto& entry : no_proxy) {
    if (entry == "*" || host == entry)
      return true;
    if (host.size() > entry.size() && host.ends_with(entry) &&
        host[host.size() - entry.size() - 1] == '.')
      return true;
  }
  return false;
}

const char* env_first(const char* upper, const char* lower) {
  const char* value = std::getenv(upper);
  if (value == nullptr || *value == '\0')
    value = std::getenv(lower);
  return value != nullptr && *value != '\0' ? value : nullptr;
}

std::optional<std::string> proxy_text_for(const std::optional<std::string>& configured, bool secure,
                                          const std::string& host) {
  std::optional<std::string> text = configured;
  if (!text) {
    const char* env =
        secure ? env_first("HTTPS_PROXY", "https_proxy") : env_first("HTTP_PROXY", "http_proxy");
    if (env != nullptr)
      text = env;
  }
  if (!text || text->empty() ||
      bypasses_proxy(parse_no_proxy(env_first("NO_PROXY", "no_proxy")), host))
    return std::nullopt;
  return text;
}

Result<std::optional<Proxy>> proxy_for(const std::optional<std::string>& configured, bool secure,
                                       const std::string& host,
                                       const std::vector<std::string>& no_proxy) {
  std::optional<std::string> text = configured;
  if (!text) {
    const char* env =
        secure ? env_first("HTTPS_PROXY", "https_proxy") : env_first("HTTP_PROXY", "http_proxy");
    if (env != nullptr)
      text = env;
  }
  if (!text || text->empty() || bypasses_proxy(no_proxy, host))
    return std::optional<Proxy>();
  auto proxy = parse_proxy(*text);
  if (!proxy)
    return proxy.error();
  return std::optional<Proxy>(std::move(*proxy));
}

// Every failure here is Reach::not_sent: the request for the target has not left yet.
asio::awaitable<Status> open_connect_tunnel(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                            const std::string& host, const std::string& port,
                                            const Proxy& proxy, const std::string& user_agent,
                                            Clock::time_point deadline,
                                            std::chrono::milliseconds budget) {
  std::string authority = host_header(host, port, false);
  if (port == "80")
    authority += ":80";
  http::request<http::empty_body> request{http::verb::connect, authority, 11};
  request.set(http::field::host, authority);
  request.set(http::field::user_agent, user_agent);
  if (!proxy.authorization.empty())
    request.set(http::field::proxy_authorization, proxy.authorization);
  std::string where = "proxy " + proxy.host + ":" + proxy.port + ": ";
  stream.expires_at(deadline);
  auto [write_ec, written] = co_await http::async_write(stream, request, kTuple);
  (void)written;
  if (write_ec)
    co_return make_error(where + describe_exchange_error(write_ec, "sending CONNECT", budget, 0),
                         exchange_error_kind(write_ec), Reach::not_sent);
  http::response_parser<http::empty_body> parser;
  // A successful CONNECT response has no body; without skip() the parser would wait for EOF.
  parser.skip(true);
  parser.header_limit(kHeaderLimit);
  auto [read_ec, read] = co_await http::async_read(stream, buffer, parser, kTuple);
  (void)read;
  if (read_ec)
    co_return make_error(where + describe_exchange_error(read_ec, "waiting for CONNECT", budget, 0),
                         exchange_error_kind(read_ec), Reach::not_sent);
  auto status = parser.get().result_int();
  if (status < 200 || status >= 300) {
    // 407: the proxy wants (other) credentials; anything else: the tunnel is not available.
    co_return make_error(where + "CONNECT refused with " + std::to_string(status) + " " +
                             std::string(parser.get().reason()),
                         status == 407 ? ErrorKind::auth : ErrorKind::unavailable, Reach::not_sent);
  }
  if (buffer.size() != 0)
    co_return make_error(where + "unexpected data after the CONNECT response",
                         ErrorKind::unavailable, Reach::not_sent);
  co_return Ok{};
}

}  // namespace shipmate::integrations::net::detail
