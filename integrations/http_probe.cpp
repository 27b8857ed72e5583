#include "integrations/http_probe.h"

#include <cctype>
#include <cstdlib>
#include <optional>
#include <variant>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "common/strings.h"

namespace shipmate::integrations {

namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

constexpr std::size_t kMaxHeaderBytes = 16 * 1024;
constexpr std::size_t kMaxBodyBytes = 4 * 1024;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

std::string describe_error(const boost::system::error_code& ec) {
  if (ec == asio::error::connection_refused)
    return "connection refused";
  if (ec == asio::error::connection_reset)
    return "connection reset";
  if (ec == asio::error::eof)
    return "connection closed without a response";
  return to_lower(ec.message());
}

struct Head {
  int status = 0;
  std::optional<std::size_t> content_length;
  std::size_t body_offset = 0;
};

// Parses the status line and the one header we care about; nullopt when malformed.
std::optional<Head> parse_head(const std::string& data, std::size_t header_end) {
  std::string_view head(data.data(), header_end);
  auto line_end = head.find("\r\n");
  std::string_view status_line = head.substr(0, line_end);
  if (status_line.size() < 12 || status_line.substr(0, 7) != "HTTP/1." || status_line[8] != ' ') {
    return std::nullopt;
  }
  Head out;
  for (std::size_t i = 9; i < 12; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(status_line[i])))
      return std::nullopt;
    out.status = out.status * 10 + (status_line[i] - '0');
  }
  while (line_end != std::string_view::npos && line_end < head.size()) {
    std::size_t start = line_end + 2;
    line_end = head.find("\r\n", start);
    std::string_view line = head.substr(
        start, line_end == std::string_view::npos ? std::string_view::npos : line_end - start);
    auto colon = line.find(':');
    if (colon == std::string_view::npos)
      continue;
    if (to_lower(trim(line.substr(0, colon))) == "content-length") {
      std::string value(trim(line.substr(colon + 1)));
      char* end = nullptr;
      unsigned long long length = std::strtoull(value.c_str(), &end, 10);
      if (end != value.c_str() && *end == '\0')
        out.content_length = length;
    }
  }
  out.body_offset = header_end + 4;
  return out;
}

asio::awaitable<Result<HttpProbeResult>> exchange(tcp::socket& socket, int port,
                                                  const std::string& path) {
  auto [connect_error] = co_await socket.async_connect(
      tcp::endpoint(asio::ip::address_v4::loopback(), static_cast<unsigned short>(port)), kTuple);
  if (connect_error)
    co_return make_error(describe_error(connect_error));

  const std::string request = "GET " + path +
                              " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                              "\r\nUser-Agent: shipmate-health-check\r\nConnection: close\r\n\r\n";
  auto [write_error, written] = co_await asio::async_write(socket, asio::buffer(request), kTuple);
  (void)written;
  if (write_error)
    co_return make_error(describe_error(write_error));

  std::string data;
  std::optional<Head> head;
  char chunk[2048];
  while (true) {
    auto [read_error, n] = co_await socket.async_read_some(asio::buffer(chunk), kTuple);
    data.append(chunk, n);
    if (!head) {
      auto header_end = data.find("\r\n\r\n");
      if (header_end != std::string::npos) {
        head = parse_head(data, header_end);
        if (!head)
          co_return make_error("malformed response");
      } else if (data.size() > kMaxHeaderBytes) {
        co_return make_error("response headers too large");
      }
    }
    if (head) {
      std::size_t body = data.size() - head->body_offset;
      // Stop early when the server keeps the connection open despite "Connection: close".
      if (body >= kMaxBodyBytes || (head->content_length && body >= *head->content_length))
        break;
    }
    if (read_error) {
      if (read_error == asio::error::eof && head)
        break;
      if (read_error == asio::error::eof && !data.empty())
        co_return make_error("malformed response");
      co_return make_error(describe_error(read_error));
    }
  }
  HttpProbeResult result;
  result.status = head->status;
  result.body = data.substr(head->body_offset, kMaxBodyBytes);
  if (head->content_length && result.body.size() > *head->content_length) {
    result.body.resize(*head->content_length);
  }
  co_return result;
}

}  // namespace

asio::awaitable<Result<HttpProbeResult>> http_probe(int port, std::string path,
                                                    std::chrono::milliseconds timeout) {
  if (path.empty() || path.front() != '/')
    path.insert(path.begin(), '/');
  if (path.find_first_of("\r\n ") != std::string::npos) {
    co_return make_error("invalid health check path '" + path + "'");
  }
  auto executor = co_await asio::this_coro::executor;
  tcp::socket socket(executor);
  asio::steady_timer timer(executor, timeout);
  auto outcome = co_await (exchange(socket, port, path) || timer.async_wait(asio::use_awaitable));
  if (outcome.index() == 1) {
    co_return make_error("timed out after " + std::to_string(timeout.count()) + " ms");
  }
  co_return std::get<0>(std::move(outcome));
}

std::string describe_http_answer(const HttpProbeResult& answer) {
  std::string out = "HTTP " + std::to_string(answer.status);
  std::string_view body = answer.body;
  body = trim(body.substr(0, body.find('\n')));
  if (body.size() > 80)
    body = body.substr(0, 80);
  if (!body.empty())
    out += ": " + std::string(body);
  return out;
}

}  // namespace shipmate::integrations
