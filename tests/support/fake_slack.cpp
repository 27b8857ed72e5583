#include "tests/support/fake_slack.h"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>
#include <type_traits>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/json.hpp>

#include "tests/support/test_support.h"
#include "tests/support/test_tls.h"

namespace shipmate::testing {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = net::ip::tcp;
using boost::system::error_code;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

// ---- small text helpers ----

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string url_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%' && i + 2 < text.size()) {
      auto hex = [](char h) -> int {
        if (h >= '0' && h <= '9')
          return h - '0';
        h = static_cast<char>(std::tolower(static_cast<unsigned char>(h)));
        if (h >= 'a' && h <= 'f')
          return h - 'a' + 10;
        return -1;
      };
      int high = hex(text[i + 1]);
      int low = hex(text[i + 2]);
      if (high < 0 || low < 0) {
        out += c;
      } else {
        out += static_cast<char>(high * 16 + low);
        i += 2;
      }
    } else {
      out += c;
    }
  }
  return out;
}

// Parses "a=1&b=x%20y" into an object of strings (later duplicates win).
json::object parse_form(std::string_view text) {
  json::object out;
  while (!text.empty()) {
    auto amp = text.find('&');
    std::string_view pair = text.substr(0, amp);
    text = amp == std::string_view::npos ? std::string_view{} : text.substr(amp + 1);
    if (pair.empty())
      continue;
    auto eq = pair.find('=');
    std::string key = url_decode(pair.substr(0, eq));
    std::string value = eq == std::string_view::npos ? "" : url_decode(pair.substr(eq + 1));
    out[key] = value;
  }
  return out;
}

// The content of the first part of a multipart/form-data body (the one with a filename if any).
std::optional<std::string> multipart_file(const std::string& content_type,
                                          const std::string& body) {
  auto at = lower(content_type).find("boundary=");
  if (at == std::string::npos)
    return std::nullopt;
  std::string boundary = content_type.substr(at + 9);
  if (auto semi = boundary.find(';'); semi != std::string::npos)
    boundary.resize(semi);
  if (boundary.size() >= 2 && boundary.front() == '"' && boundary.back() == '"')
    boundary = boundary.substr(1, boundary.size() - 2);
  const std::string delimiter = "--" + boundary;
  std::optional<std::string> first;
  std::size_t pos = body.find(delimiter);
  while (pos != std::string::npos) {
    std::size_t start = pos + delimiter.size();
    if (body.compare(start, 2, "--") == 0)
      break;
    std::size_t headers_end = body.find("\r\n\r\n", start);
    if (headers_end == std::string::npos)
      break;
    std::size_t next = body.find("\r\n" + delimiter, headers_end + 4);
    if (next == std::string::npos)
      break;
    std::string headers = lower(body.substr(start, headers_end - start));
    std::string content = body.substr(headers_end + 4, next - headers_end - 4);
    if (headers.find("filename=") != std::string::npos)
      return content;
    if (!first)
      first = content;
    pos = next + 2;
  }
  return first;
}

std::string param_text(const json::object& params, const std::string& key) {
  auto it = params.find(key);
  if (it == params.end() || it->value().is_null())
    return "";
  if (it->value().is_string())
    return std::string(it->value().get_string());
  return json::serialize(it->value());
}

// A JSON value that form bodies carry as a JSON string; nullopt when it does not parse.
std::optional<json::value> param_value(const json::object& params, const std::string& key) {
  auto it = params.find(key);
  if (it == params.end() || it->value().is_null())
    return json::value(nullptr);
  if (!it->value().is_string())
    return it->value();
  error_code ec;
  json::value parsed = json::parse(std::string(it->value().get_string()), ec);
  if (ec)
    return std::nullopt;
  return parsed;
}

json::object error_object(const std::string& code) {
  return {{"ok", false}, {"error", code}};
}

json::object missing_field(const std::string& field) {
  json::object out = error_object("invalid_arguments");
  out["response_metadata"] = {
      {"messages", json::array{"[ERROR] missing required field: " + field}}};
  return out;
}

std::int64_t ts_seconds(const std::string& ts) {
  try {
    return std::stoll(ts.substr(0, ts.find('.')));
  } catch (const std::exception&) {
    return 0;
  }
}

// ---- Socket Mode connections ----

struct Outbound {
  enum class Kind { kText, kPing, kClose } kind = Kind::kText;
  std::string text;
  int code = 1000;
};

// One websocket; lives in the coroutines that serve it (and in Impl::conns_ while open).
struct WsConn {
  explicit WsConn(const net::any_io_executor& executor)
      : wake(executor, net::steady_timer::time_point::max()), ping_timer(executor) {}
  virtual ~WsConn() = default;
  virtual void reset_socket() = 0;

  void push(Outbound out) {
    queue.push_back(std::move(out));
    wake.cancel();
  }
  void stop() {
    open = false;
    wake.cancel();
    ping_timer.cancel();
  }

  int index = -1;
  bool open = true;
  std::deque<Outbound> queue;
  net::steady_timer wake;
  net::steady_timer ping_timer;
};

template <class Ws>
struct WsSession : WsConn {
  template <class Stream>
  WsSession(const net::any_io_executor& executor, Stream&& stream)
      : WsConn(executor), ws(std::forward<Stream>(stream)) {}
  void reset_socket() override {
    auto& socket = beast::get_lowest_layer(ws).socket();
    error_code ignored;
    socket.set_option(tcp::socket::linger(true, 0), ignored);
    socket.close(ignored);
  }
  Ws ws;
};

}  // namespace

// ---- ApiCall helpers ----

std::string FakeSlack::ApiCall::param(const std::string& key) const {
  return param_text(params, key);
}

boost::json::value FakeSlack::ApiCall::param_json(const std::string& key) const {
  auto value = param_value(params, key);
  return value ? *value : json::value(nullptr);
}

// ---- Impl ----

struct FakeSlack::Impl {
  explicit Impl(Options opts) : options(std::move(opts)), random(std::random_device{}()) {}

  // Configuration (immutable after start).
  Options options;
  int port = 0;
  std::optional<TempDir> cert_dir;
  TestCertificates certificates;

  // Recorded state, guarded by mu.
  mutable std::mutex mu;
  mutable std::condition_variable cv;
  std::vector<ApiCall> calls;
  std::map<std::string, std::pair<std::string, int>> failures;  // method → (error, times)
  std::map<std::string, std::pair<int, int>> rate_limits;       // method → (seconds, times)
  std::string connections_open_error;
  std::vector<Message> messages;
  std::vector<Upload> uploads;
  std::map<std::string, std::string> channel_names;         // name → id
  std::map<std::string, std::vector<std::string>> members;  // channel id → users
  std::map<std::string, bool> private_channels;             // channel id → is_private
  std::map<std::string, std::string> creators;              // channel id → who made it
  std::map<std::string, std::int64_t> created;              // channel id → when (Unix seconds)
  std::set<std::string> archived;                           // channel ids archived
  std::map<std::string, std::string> topics;                // channel id → topic
  std::map<std::string, std::vector<std::string>> pins;     // channel id → pinned ts
  std::map<std::string, bool> tickets;                      // ticket → used
  std::int64_t last_ts_micros = 0;
  int next_channel = 1;
  int next_file = 1;
  int next_response = 1;
  std::set<int> open;
  std::set<int> closed;
  int total = 0;
  int rejected = 0;
  std::vector<Envelope> envelopes;
  std::vector<Ack> acks;
  std::vector<ClientFrame> frames;
  int pings = 0;
  int pongs = 0;
  int texts_written = 0;  // text frames handed to the kernel (async_write completed)
  std::mt19937_64 random;

  // I/O; everything below is touched only on the fake's thread (after construction).
  std::optional<net::ssl::context> ssl_ctx;
  std::optional<net::io_context> ioc;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::optional<tcp::acceptor> acceptor;
  std::map<int, std::shared_ptr<WsConn>> conns;
  std::vector<std::weak_ptr<WsConn>> all_ws;
  std::map<std::uint64_t, std::function<void()>> http_closers;
  std::uint64_t next_http = 0;
  std::size_t round_robin = 0;
  bool stopping = false;
  std::thread thread;
  std::future<void> finished;

  // ---- lifecycle ----

  void start() {
    if (options.tls) {
      cert_dir.emplace();
      certificates = make_test_certificates(cert_dir->path());
      ssl_ctx.emplace(net::ssl::context::tls_server);
      ssl_ctx->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                           net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                           net::ssl::context::no_tlsv1_1);
      ssl_ctx->use_certificate_chain_file(certificates.cert_path);
      ssl_ctx->use_private_key_file(certificates.key_path, net::ssl::context::pem);
    }
    ioc.emplace(1);
    work.emplace(ioc->get_executor());
    acceptor.emplace(*ioc);
    tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"), 0);
    acceptor->open(endpoint.protocol());
    acceptor->set_option(tcp::acceptor::reuse_address(true));
    acceptor->bind(endpoint);
    acceptor->listen();
    port = acceptor->local_endpoint().port();
    net::co_spawn(*ioc, accept_loop(), net::detached);
    std::promise<void> done;
    finished = done.get_future();
    thread = std::thread([this, done = std::move(done)]() mutable {
      try {
        ioc->run();
      } catch (const std::exception& e) {
        std::fprintf(stderr, "fake slack: event loop stopped: %s\n", e.what());
      }
      done.set_value();
    });
  }

  void shutdown() {
    net::post(*ioc, [this] {
      stopping = true;
      error_code ignored;
      acceptor->close(ignored);
      for (auto& weak : all_ws) {
        if (auto conn = weak.lock()) {
          conn->stop();
          conn->reset_socket();
        }
      }
      auto closers = http_closers;
      for (auto& [id, close_socket] : closers)
        close_socket();
      work.reset();
    });
    if (finished.wait_for(std::chrono::seconds(5)) != std::future_status::ready)
      ioc->stop();
    thread.join();
    conns.clear();
    all_ws.clear();
    acceptor.reset();
    work.reset();
    ioc.reset();  // destroys any coroutine frames still pending
    http_closers.clear();
    ssl_ctx.reset();
  }

  template <class F>
  auto run_on_io(F f) -> decltype(f()) {
    if (ioc->get_executor().running_in_this_thread())
      return f();
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto result = task.get_future();
    net::post(*ioc, [&task] { task(); });
    return result.get();
  }

  std::string scheme_host() const {
    return std::string(options.tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port);
  }

  // ---- ids ----

  std::string next_ts() {  // under mu
    auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
    if (now <= last_ts_micros)
      now = last_ts_micros + 1;
    last_ts_micros = now;
    char buffer[40];
    std::snprintf(buffer, sizeof buffer, "%lld.%06lld", static_cast<long long>(now / 1000000),
                  static_cast<long long>(now % 1000000));
    return buffer;
  }

  std::string random_hex(int digits) {  // under mu
    static const char* kHex = "0123456789abcdef";
    std::string out;
    for (int i = 0; i < digits; ++i)
      out += kHex[random() % 16];
    return out;
  }

  std::string uuid() {  // under mu
    return random_hex(8) + "-" + random_hex(4) + "-4" + random_hex(3) + "-a" + random_hex(3) + "-" +
           random_hex(12);
  }

  // ---- accepting and HTTP ----

  net::awaitable<void> accept_loop() {
    for (;;) {
      error_code ec;
      tcp::socket socket =
          co_await acceptor->async_accept(net::redirect_error(net::use_awaitable, ec));
      if (ec) {
        if (stopping || ec == net::error::operation_aborted)
          co_return;
        continue;
      }
      if (options.tls) {
        net::co_spawn(*ioc,
                      serve(beast::ssl_stream<beast::tcp_stream>(std::move(socket), *ssl_ctx)),
                      net::detached);
      } else {
        net::co_spawn(*ioc, serve(beast::tcp_stream(std::move(socket))), net::detached);
      }
    }
  }

  template <class Stream>
  net::awaitable<void> serve(Stream stream) {
    const std::uint64_t id = next_http++;
    http_closers[id] = [&stream] {
      error_code ignored;
      beast::get_lowest_layer(stream).socket().close(ignored);
    };
    struct Unregister {
      Impl* impl;
      std::uint64_t id;
      ~Unregister() { impl->http_closers.erase(id); }
    } unregister{this, id};
    try {
      if constexpr (!std::is_same_v<Stream, beast::tcp_stream>) {
        beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
        co_await stream.async_handshake(net::ssl::stream_base::server, net::use_awaitable);
        beast::get_lowest_layer(stream).expires_never();
      }
      beast::flat_buffer buffer;
      for (;;) {
        http::request_parser<http::string_body> parser;
        parser.body_limit(64 * 1024 * 1024);
        co_await http::async_read(stream, buffer, parser, net::use_awaitable);
        Request request = parser.release();
        if (websocket::is_upgrade(request)) {
          std::optional<Response> refusal = check_upgrade(request);
          if (refusal) {
            refusal->keep_alive(false);
            refusal->prepare_payload();
            co_await http::async_write(stream, *refusal, net::use_awaitable);
            break;
          }
          http_closers.erase(id);
          co_await serve_websocket(std::move(stream), std::move(request));
          co_return;
        }
        Response response = handle(request);
        response.keep_alive(request.keep_alive());
        response.prepare_payload();
        co_await http::async_write(stream, response, net::use_awaitable);
        if (!response.keep_alive())
          break;
      }
      error_code ignored;
      beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_send, ignored);
    } catch (const std::exception&) {
      // The client went away or sent garbage; nothing to record.
    }
  }

  std::optional<Response> check_upgrade(const Request& request) {
    std::string target(request.target());
    std::string path = target.substr(0, target.find('?'));
    auto refuse = [&](http::status status, const std::string& why) {
      Response response{status, request.version()};
      response.set(http::field::content_type, "text/plain");
      response.body() = why;
      std::lock_guard lock(mu);
      ++rejected;
      cv.notify_all();
      return response;
    };
    if (path != "/link/" && path != "/link")
      return refuse(http::status::not_found, "no websocket here");
    json::object query = parse_form(
        target.find('?') == std::string::npos ? "" : target.substr(target.find('?') + 1));
    std::string ticket = param_text(query, "ticket");
    {
      std::unique_lock lock(mu);
      auto it = tickets.find(ticket);
      if (it == tickets.end()) {
        lock.unlock();
        return refuse(http::status::unauthorized, "unknown ticket");
      }
      if (it->second) {
        lock.unlock();
        return refuse(http::status::forbidden, "ticket already used");
      }
      it->second = true;
    }
    return std::nullopt;
  }

  Response json_response(const Request& request, http::status status, const json::object& body) {
    Response response{status, request.version()};
    response.set(http::field::content_type, "application/json; charset=utf-8");
    response.set(http::field::server, "fake-slack");
    response.body() = json::serialize(body);
    return response;
  }

  Response handle(const Request& request) {
    std::string target(request.target());
    std::string path = target.substr(0, target.find('?'));
    std::string query =
        target.find('?') == std::string::npos ? "" : target.substr(target.find('?') + 1);
    ApiCall call;
    call.target = target;
    call.content_type = std::string(request[http::field::content_type]);
    call.authorization = std::string(request[http::field::authorization]);
    call.body = request.body();
    Response response;
    if (starts_with(path, "/api/")) {
      call.method = path.substr(5);
      response = handle_api(request, query, call);
    } else if (starts_with(path, "/upload/")) {
      call.method = "upload";
      response = handle_upload(request, path.substr(8), call);
    } else if (starts_with(path, "/response/")) {
      call.method = "response_url";
      error_code ec;
      json::value body = json::parse(call.body, ec);
      if (!ec && body.is_object())
        call.params = body.as_object();
      response = json_response(request, http::status::ok, {{"ok", true}});
    } else {
      call.method = "";
      response = Response{http::status::not_found, request.version()};
      response.set(http::field::content_type, "text/plain");
      response.body() = "not found";
    }
    if (call.status == 0) {  // not yet recorded with an effect (dispatch, handle_upload)
      std::lock_guard lock(mu);
      record_locked(call, static_cast<int>(response.result_int()), response.body());
    }
    return response;
  }

  // Records `call` with its answer; the caller holds mu. A call that has an effect (a message
  // stored, an upload's bytes, a channel made) is recorded in the same critical section as that
  // effect, so a test that saw the effect also sees the call: never a message whose
  // chat.postMessage is not in calls() yet.
  void record_locked(ApiCall& call, int status, std::string response) {
    call.status = status;
    call.response = std::move(response);
    calls.push_back(call);
    cv.notify_all();
  }

  Response handle_upload(const Request& request, const std::string& file_id, ApiCall& call) {
    std::string bytes = call.body;
    if (starts_with(lower(call.content_type), "multipart/form-data")) {
      if (auto file = multipart_file(call.content_type, call.body))
        bytes = *file;
    }
    call.params["file_id"] = file_id;
    call.params["size"] = bytes.size();
    Response response{http::status::ok, request.version()};
    response.set(http::field::content_type, "text/plain");
    std::lock_guard lock(mu);
    auto it = std::find_if(uploads.begin(), uploads.end(),
                           [&](const Upload& upload) { return upload.file_id == file_id; });
    if (it == uploads.end() || it->completed) {
      response.result(http::status::not_found);
      response.body() = "file_not_found";
    } else {
      it->bytes = bytes;
      it->uploaded = true;
      response.body() = "OK - " + std::to_string(bytes.size());
    }
    record_locked(call, static_cast<int>(response.result_int()), response.body());
    return response;
  }

  Response handle_api(const Request& request, const std::string& query, ApiCall& call) {
    // Parameters: the body (JSON or form), then the query string for anything not in the body.
    const std::string content_type = lower(call.content_type);
    const bool is_json = starts_with(content_type, "application/json");
    if (is_json) {
      error_code ec;
      json::value body = json::parse(call.body, ec);
      if (ec)
        return json_response(request, http::status::ok, error_object("invalid_json"));
      if (!body.is_object())
        return json_response(request, http::status::ok, error_object("json_not_object"));
      call.params = body.as_object();
    } else if (!starts_with(content_type, "multipart/")) {
      call.params = parse_form(call.body);
    }
    for (auto& [key, value] : parse_form(query)) {
      if (!call.params.contains(key))
        call.params[key] = value;
    }
    // The token: Authorization header, else a `token` field in a form body.
    std::string authorization = call.authorization;
    if (starts_with(lower(authorization), "bearer "))
      call.token = authorization.substr(7);
    else if (!is_json && call.method != "apps.connections.open")
      call.token = param_text(call.params, "token");

    static const std::set<std::string> kMethods = {
        "apps.connections.open",      "auth.test",
        "chat.postMessage",           "chat.update",
        "chat.postEphemeral",         "conversations.create",
        "conversations.archive",      "conversations.invite",
        "conversations.setTopic",     "conversations.list",
        "conversations.info",         "conversations.history",
        "conversations.replies",      "pins.add",
        "files.getUploadURLExternal", "files.completeUploadExternal"};
    if (!kMethods.contains(call.method))
      return json_response(request, http::status::ok, error_object("unknown_method"));

    {
      std::lock_guard lock(mu);
      if (auto it = rate_limits.find(call.method);
          it != rate_limits.end() && it->second.second > 0) {
        int seconds = it->second.first;
        if (--it->second.second == 0)
          rate_limits.erase(it);
        Response response =
            json_response(request, http::status::too_many_requests, error_object("ratelimited"));
        response.set(http::field::retry_after, std::to_string(seconds));
        return response;
      }
      if (auto it = failures.find(call.method); it != failures.end() && it->second.second > 0) {
        std::string error = it->second.first;
        if (--it->second.second == 0)
          failures.erase(it);
        return json_response(request, http::status::ok, error_object(error));
      }
      if (call.method == "apps.connections.open" && !connections_open_error.empty())
        return json_response(request, http::status::ok, error_object(connections_open_error));
    }

    const bool wants_app_token = call.method == "apps.connections.open";
    const std::string& expected = wants_app_token ? options.app_token : options.bot_token;
    const std::string& other = wants_app_token ? options.bot_token : options.app_token;
    if (call.token.empty())
      return json_response(request, http::status::ok, error_object("not_authed"));
    if (call.token == other)
      return json_response(request, http::status::ok, error_object("not_allowed_token_type"));
    if (call.token != expected)
      return json_response(request, http::status::ok, error_object("invalid_auth"));

    return json_response(request, http::status::ok, dispatch(call));
  }

  // Performs an authorized call and records it, both under mu (see record_locked).
  json::object dispatch(ApiCall& call) {
    std::lock_guard lock(mu);
    json::object result = dispatch_locked(call);
    record_locked(call, 200, json::serialize(result));
    return result;
  }

  json::object dispatch_locked(const ApiCall& call) {  // under mu
    const json::object& p = call.params;
    if (call.method == "apps.connections.open") {
      std::string ticket = uuid();
      tickets[ticket] = false;
      std::string url = std::string(options.tls ? "wss" : "ws") +
                        "://127.0.0.1:" + std::to_string(port) + "/link/?ticket=" + ticket +
                        "&app_id=" + options.app_id;
      return {{"ok", true}, {"url", url}};
    }
    if (call.method == "auth.test") {
      return {{"ok", true},
              {"url", "https://fake.slack.com/"},
              {"team", "Fake Team"},
              {"user", "shipmate"},
              {"team_id", options.team_id},
              {"user_id", options.bot_user_id},
              {"bot_id", options.bot_id},
              {"is_enterprise_install", false}};
    }
    if (call.method == "chat.postMessage" || call.method == "chat.postEphemeral")
      return post_message(p, call.method == "chat.postEphemeral");
    if (call.method == "chat.update")
      return update_message(p);
    if (call.method == "conversations.create")
      return create_channel(p);
    if (call.method == "conversations.invite")
      return invite(p);
    if (call.method == "conversations.archive")
      return archive(p);
    if (call.method == "conversations.setTopic")
      return set_topic(p);
    if (call.method == "conversations.list")
      return list_channels(p);
    if (call.method == "conversations.info")
      return channel_info(p);
    if (call.method == "conversations.history")
      return history(p);
    if (call.method == "pins.add")
      return pin(p);
    if (call.method == "conversations.replies")
      return replies(p);
    if (call.method == "files.getUploadURLExternal")
      return upload_url(p);
    return complete_upload(p);
  }

  // Reads `blocks`: absent → "" (ok), invalid → nullopt.
  std::optional<std::string> read_blocks(const json::object& p) {
    if (!p.contains("blocks"))
      return std::string();
    auto value = param_value(p, "blocks");
    if (!value || !value->is_array())
      return std::nullopt;
    return json::serialize(*value);
  }

  static bool flag(const json::object& p, const std::string& key) {
    const std::string value = param_text(p, key);
    return value == "true" || value == "1";
  }

  // One page of `list` from the cursor's offset; adds has_more and response_metadata.
  static json::object page_of(const json::object& p, json::array list) {
    std::size_t offset = 0;
    if (std::string cursor = param_text(p, "cursor"); !cursor.empty()) {
      try {
        offset = std::stoul(cursor);
      } catch (const std::exception&) {
        return error_object("invalid_cursor");
      }
    }
    long limit = 100;
    if (std::string text = param_text(p, "limit"); !text.empty()) {
      try {
        limit = std::clamp(std::stol(text), 1L, 999L);
      } catch (const std::exception&) {
      }
    }
    json::array page;
    for (std::size_t i = offset; i < list.size() && page.size() < static_cast<std::size_t>(limit);
         ++i)
      page.push_back(list[i]);
    const std::size_t next = offset + page.size();
    const bool more = next < list.size();
    return {{"ok", true},
            {"messages", std::move(page)},
            {"has_more", more},
            {"response_metadata",
             json::object{{"next_cursor", more ? std::to_string(next) : std::string()}}}};
  }

  static bool ts_before(const std::string& a, const std::string& b) {
    return std::stold(a) < std::stold(b);
  }

  json::object replies(const json::object& p) {  // under mu
    const std::string channel = param_text(p, "channel");
    const std::string ts = param_text(p, "ts");
    if (channel.empty())
      return error_object("channel_not_found");
    if (ts.empty())
      return missing_field("ts");
    const bool with_metadata = flag(p, "include_all_metadata");
    std::optional<json::object> parent;
    json::array thread;
    for (const auto& message : messages) {
      if (message.channel != channel || !message.ephemeral_user.empty())
        continue;
      if (message.ts == ts)
        parent = message_json(message, with_metadata);
      else if (message.thread_ts == ts)
        thread.push_back(message_json(message, with_metadata));
    }
    if (!parent && thread.empty())
      return error_object("thread_not_found");
    if (!parent)
      parent = json::object{{"type", "message"}, {"ts", ts}, {"thread_ts", ts}};
    (*parent)["reply_count"] = thread.size();
    json::array list;
    list.push_back(std::move(*parent));
    for (auto& reply : thread)
      list.push_back(std::move(reply));
    return page_of(p, std::move(list));
  }

  json::object message_json(const Message& message, bool with_metadata = false) {
    json::object out{
        {"type", "message"},        {"text", message.text},     {"user", options.bot_user_id},
        {"bot_id", options.bot_id}, {"app_id", options.app_id}, {"team", options.team_id},
        {"ts", message.ts}};
    if (!message.blocks.empty())
      out["blocks"] = json::parse(message.blocks);
    if (!message.thread_ts.empty())
      out["thread_ts"] = message.thread_ts;
    if (with_metadata && !message.metadata.empty())
      out["metadata"] = json::parse(message.metadata);
    return out;
  }

  // Message metadata: absent → "" (ok); an object with a string event_type and an object
  // event_payload → its JSON; anything else → nullopt (invalid_metadata_format).
  static std::optional<std::string> read_metadata(const json::object& p) {
    if (!p.contains("metadata"))
      return std::string();
    auto value = param_value(p, "metadata");
    if (!value || !value->is_object())
      return std::nullopt;
    const auto& object = value->as_object();
    const auto* type = object.if_contains("event_type");
    const auto* payload = object.if_contains("event_payload");
    if (type == nullptr || !type->is_string() || payload == nullptr || !payload->is_object())
      return std::nullopt;
    return json::serialize(*value);
  }

  json::object post_message(const json::object& p, bool ephemeral) {  // under mu
    Message message;
    message.channel = param_text(p, "channel");
    if (message.channel.empty())
      return error_object("channel_not_found");
    if (archived.contains(message.channel))
      return error_object("is_archived");
    if (ephemeral) {
      message.ephemeral_user = param_text(p, "user");
      if (message.ephemeral_user.empty())
        return missing_field("user");
    }
    auto blocks = read_blocks(p);
    if (!blocks)
      return error_object("invalid_blocks");
    message.blocks = *blocks;
    message.text = param_text(p, "text");
    if (message.text.empty() && message.blocks.empty() && !p.contains("attachments"))
      return error_object("no_text");
    message.thread_ts = param_text(p, "thread_ts");
    auto metadata = read_metadata(p);
    if (!metadata)
      return error_object("invalid_metadata_format");
    message.metadata = *metadata;
    message.ts = next_ts();
    messages.push_back(message);
    if (ephemeral)
      return {{"ok", true}, {"message_ts", message.ts}};
    return {{"ok", true},
            {"channel", message.channel},
            {"ts", message.ts},
            {"message", message_json(message)}};
  }

  json::object update_message(const json::object& p) {  // under mu
    std::string channel = param_text(p, "channel");
    std::string ts = param_text(p, "ts");
    if (channel.empty())
      return error_object("channel_not_found");
    if (ts.empty())
      return missing_field("ts");
    auto it = std::find_if(messages.begin(), messages.end(), [&](const Message& message) {
      return message.channel == channel && message.ts == ts && message.ephemeral_user.empty();
    });
    if (it == messages.end())
      return error_object("message_not_found");
    auto blocks = read_blocks(p);
    if (!blocks)
      return error_object("invalid_blocks");
    if (p.contains("text"))
      it->text = param_text(p, "text");
    // Sending text without blocks removes the blocks (as Slack does).
    if (p.contains("blocks") || p.contains("text"))
      it->blocks = *blocks;
    if (auto metadata = read_metadata(p); metadata && !metadata->empty())
      it->metadata = *metadata;
    ++it->updates;
    return {{"ok", true},
            {"channel", channel},
            {"ts", ts},
            {"text", it->text},
            {"message", message_json(*it)}};
  }

  json::object create_channel(const json::object& p) {  // under mu
    std::string name = param_text(p, "name");
    if (name.empty())
      return error_object("invalid_name_required");
    if (name.size() > 80)
      return error_object("invalid_name_maxlength");
    for (char c : name) {
      bool allowed = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
      if (!allowed)
        return error_object("invalid_name_specials");
    }
    if (channel_names.contains(name))
      return error_object("name_taken");
    char id[16];
    std::snprintf(id, sizeof id, "C%08X", 0xFA000000u + static_cast<unsigned>(next_channel++));
    channel_names[name] = id;
    members[id] = {options.bot_user_id};
    bool is_private = param_text(p, "is_private") == "true";
    private_channels[id] = is_private;
    creators[id] = options.bot_user_id;
    created[id] = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    return {{"ok", true},
            {"channel",
             {{"id", id},
              {"name", name},
              {"is_channel", !is_private},
              {"is_group", is_private},
              {"is_private", is_private},
              {"is_archived", false},
              {"created", std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count()},
              {"creator", options.bot_user_id},
              {"name_normalized", name}}}};
  }

  json::object invite(const json::object& p) {  // under mu
    std::string channel = param_text(p, "channel");
    if (channel.empty())
      return error_object("channel_not_found");
    std::string users = param_text(p, "users");
    std::vector<std::string> list;
    std::size_t start = 0;
    while (start <= users.size()) {
      auto comma = users.find(',', start);
      std::string user =
          users.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      user.erase(0, user.find_first_not_of(' '));
      user.erase(user.find_last_not_of(' ') + 1);
      if (!user.empty())
        list.push_back(user);
      if (comma == std::string::npos)
        break;
      start = comma + 1;
    }
    if (list.empty())
      return error_object("no_user");
    if (list.size() > 100)
      return error_object("too_many_users");
    auto& current = members[channel];
    json::array errors;
    for (const auto& user : list) {
      if (user == options.bot_user_id) {
        errors.push_back({{"user", user}, {"ok", false}, {"error", "cant_invite_self"}});
      } else if (std::find(current.begin(), current.end(), user) != current.end()) {
        errors.push_back({{"user", user}, {"ok", false}, {"error", "already_in_channel"}});
      } else {
        current.push_back(user);
      }
    }
    if (!errors.empty()) {
      json::object out = error_object(std::string(errors[0].as_object().at("error").as_string()));
      out["errors"] = errors;
      return out;
    }
    return {{"ok", true}, {"channel", {{"id", channel}, {"is_channel", true}}}};
  }

  // conversations.archive: a channel the bot is in; archiving twice is already_archived.
  json::object archive(const json::object& p) {  // under mu
    std::string channel = param_text(p, "channel");
    if (channel.empty() || !private_channels.contains(channel))
      return error_object("channel_not_found");
    if (archived.contains(channel))
      return error_object("already_archived");
    const auto& in = members.contains(channel) ? members.at(channel) : std::vector<std::string>{};
    if (std::find(in.begin(), in.end(), options.bot_user_id) == in.end())
      return error_object("not_in_channel");
    archived.insert(channel);
    return {{"ok", true}};
  }

  bool known_channel(const std::string& id) const {  // under mu
    return private_channels.contains(id);
  }

  json::object channel_json(const std::string& name, const std::string& id) const {  // under mu
    const bool is_private = private_channels.at(id);
    json::object topic{{"value", topics.contains(id) ? topics.at(id) : ""},
                       {"creator", options.bot_user_id},
                       {"last_set", 0}};
    const auto& in = members.contains(id) ? members.at(id) : std::vector<std::string>{};
    return {{"id", id},
            {"name", name},
            {"is_channel", !is_private},
            {"is_group", is_private},
            {"is_private", is_private},
            {"is_archived", archived.contains(id)},
            {"is_member", std::find(in.begin(), in.end(), options.bot_user_id) != in.end()},
            {"name_normalized", name},
            {"created", created.contains(id) ? created.at(id) : 0},
            {"creator", creators.contains(id) ? creators.at(id) : ""},
            {"topic", topic},
            {"num_members", in.size()}};
  }

  // conversations.info: one channel the bot can see, as conversations.list shows it.
  json::object channel_info(const json::object& p) {  // under mu
    std::string channel = param_text(p, "channel");
    if (channel.empty() || !known_channel(channel))
      return error_object("channel_not_found");
    std::string name;
    for (const auto& [n, id] : channel_names) {
      if (id == channel)
        name = n;
    }
    return {{"ok", true}, {"channel", channel_json(name, channel)}};
  }

  // conversations.setTopic: at most 250 characters, on a channel the bot can see.
  json::object set_topic(const json::object& p) {  // under mu
    std::string channel = param_text(p, "channel");
    if (channel.empty() || !known_channel(channel))
      return error_object("channel_not_found");
    if (!p.contains("topic"))
      return missing_field("topic");
    std::string topic = param_text(p, "topic");
    if (topic.size() > 250)
      return error_object("too_long");
    topics[channel] = topic;
    std::string name;
    for (const auto& [n, id] : channel_names) {
      if (id == channel)
        name = n;
    }
    return {{"ok", true}, {"channel", channel_json(name, channel)}};
  }

  // conversations.list: cursor pagination (limit 1..1000, default 100); `types` filters public
  // and private channels; archived channels do not exist here.
  json::object list_channels(const json::object& p) {  // under mu
    std::size_t limit = 100;
    if (std::string text = param_text(p, "limit"); !text.empty()) {
      try {
        limit = static_cast<std::size_t>(std::clamp(std::stoll(text), 1LL, 1000LL));
      } catch (const std::exception&) {
        return error_object("invalid_limit");
      }
    }
    const std::string types = param_text(p, "types");
    const bool want_public = types.empty() || types.find("public_channel") != std::string::npos;
    const bool want_private = types.find("private_channel") != std::string::npos;
    const bool exclude_archived = param_text(p, "exclude_archived") == "true";
    std::size_t start = 0;
    if (std::string cursor = param_text(p, "cursor"); !cursor.empty()) {
      if (!starts_with(cursor, "dGVhbTpD"))
        return error_object("invalid_cursor");
      try {
        start = static_cast<std::size_t>(std::stoull(cursor.substr(8)));
      } catch (const std::exception&) {
        return error_object("invalid_cursor");
      }
    }
    std::vector<std::pair<std::string, std::string>> all;  // in creation order (ids sort so)
    for (const auto& [name, id] : channel_names) {
      const bool is_private = private_channels.at(id);
      if (exclude_archived && archived.contains(id))
        continue;
      if ((is_private && want_private) || (!is_private && want_public))
        all.emplace_back(id, name);
    }
    // Creation order: the number after the id's letter (C public, G private).
    std::sort(all.begin(), all.end(),
              [](const auto& a, const auto& b) { return a.first.substr(1) < b.first.substr(1); });
    json::array channels;
    std::size_t index = start;
    for (; index < all.size() && channels.size() < limit; ++index)
      channels.push_back(channel_json(all[index].second, all[index].first));
    const std::string next = index < all.size() ? "dGVhbTpD" + std::to_string(index) : "";
    return {{"ok", true},
            {"channels", std::move(channels)},
            {"response_metadata", {{"next_cursor", next}}}};
  }

  // conversations.history: newest first; `latest`/`oldest` bound it (exclusive unless
  // `inclusive`), `limit` caps it (default 100).
  json::object history(const json::object& p) {  // under mu
    std::string channel = param_text(p, "channel");
    const bool posted_in = std::any_of(messages.begin(), messages.end(),
                                       [&](const Message& m) { return m.channel == channel; });
    if (channel.empty() || (!known_channel(channel) && !members.contains(channel) && !posted_in))
      return error_object("channel_not_found");
    const bool with_metadata = flag(p, "include_all_metadata");
    const std::string latest = param_text(p, "latest");
    const std::string oldest = param_text(p, "oldest");
    const std::string inclusive_text = param_text(p, "inclusive");
    const bool inclusive = inclusive_text == "true" || inclusive_text == "1";
    std::size_t limit = 100;
    if (std::string text = param_text(p, "limit"); !text.empty())
      limit = static_cast<std::size_t>(std::clamp(std::atoll(text.c_str()), 1LL, 999LL));
    auto before = [](const std::string& a, const std::string& b) {
      return ts_seconds(a) < ts_seconds(b) || (ts_seconds(a) == ts_seconds(b) && a < b);
    };
    json::array out;
    bool more = false;
    for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
      if (it->channel != channel || !it->ephemeral_user.empty() || !it->thread_ts.empty())
        continue;
      if (!latest.empty() && (inclusive ? before(latest, it->ts) : !before(it->ts, latest)))
        continue;
      if (!oldest.empty() && (inclusive ? before(it->ts, oldest) : !before(oldest, it->ts)))
        continue;
      if (out.size() == limit) {
        more = true;
        break;
      }
      json::object message = message_json(*it, with_metadata);
      if (!it->user.empty()) {
        message.erase("bot_id");
        message.erase("app_id");
        message["user"] = it->user;
      }
      out.push_back(std::move(message));
    }
    return {{"ok", true}, {"messages", std::move(out)}, {"has_more", more}};
  }

  // pins.add: the message must exist in the channel; at most 100 pins per channel.
  json::object pin(const json::object& p) {  // under mu
    std::string channel = param_text(p, "channel");
    if (channel.empty() || (!known_channel(channel) && !members.contains(channel)))
      return error_object("channel_not_found");
    std::string ts = param_text(p, "timestamp");
    if (ts.empty())
      return error_object("no_item_specified");
    auto it = std::find_if(messages.begin(), messages.end(), [&](const Message& message) {
      return message.channel == channel && message.ts == ts && message.ephemeral_user.empty();
    });
    if (it == messages.end())
      return error_object("message_not_found");
    auto& pinned = pins[channel];
    if (std::find(pinned.begin(), pinned.end(), ts) != pinned.end())
      return error_object("already_pinned");
    if (pinned.size() >= 100)
      return error_object("too_many_pins");
    pinned.push_back(ts);
    return {{"ok", true}};
  }

  json::object upload_url(const json::object& p) {  // under mu
    Upload upload;
    upload.filename = param_text(p, "filename");
    if (upload.filename.empty())
      return missing_field("filename");
    std::string length = param_text(p, "length");
    if (length.empty())
      return missing_field("length");
    try {
      std::size_t used = 0;
      long long value = std::stoll(length, &used);
      if (used != length.size() || value < 0)
        return error_object("invalid_arguments");
      upload.declared_length = static_cast<std::size_t>(value);
    } catch (const std::exception&) {
      return error_object("invalid_arguments");
    }
    char id[16];
    std::snprintf(id, sizeof id, "F%08X", 0xFA000000u + static_cast<unsigned>(next_file++));
    upload.file_id = id;
    uploads.push_back(upload);
    return {
        {"ok", true}, {"upload_url", scheme_host() + "/upload/" + upload.file_id}, {"file_id", id}};
  }

  json::object complete_upload(const json::object& p) {  // under mu
    auto files = param_value(p, "files");
    if (!files || !files->is_array() || files->as_array().empty())
      return missing_field("files");
    std::vector<std::pair<Upload*, std::string>> chosen;
    for (const auto& entry : files->as_array()) {
      if (!entry.is_object() || !entry.as_object().contains("id"))
        return error_object("invalid_arguments");
      std::string id = param_text(entry.as_object(), "id");
      auto it = std::find_if(uploads.begin(), uploads.end(),
                             [&](const Upload& upload) { return upload.file_id == id; });
      if (it == uploads.end() || !it->uploaded || it->completed)
        return error_object("file_not_found");
      chosen.emplace_back(&*it, param_text(entry.as_object(), "title"));
    }
    json::array out;
    for (auto& [upload, title] : chosen) {
      upload->completed = true;
      upload->title = title.empty() ? upload->filename : title;
      upload->channel_id = param_text(p, "channel_id");
      if (upload->channel_id.empty())
        upload->channel_id = param_text(p, "channels");
      upload->initial_comment = param_text(p, "initial_comment");
      upload->thread_ts = param_text(p, "thread_ts");
      out.push_back({{"id", upload->file_id},
                     {"title", upload->title},
                     {"name", upload->filename},
                     {"size", upload->bytes.size()}});
    }
    return {{"ok", true}, {"files", out}};
  }

  // ---- Socket Mode ----

  template <class Stream>
  net::awaitable<void> serve_websocket(Stream stream, Request request) {
    using Ws = websocket::stream<Stream>;
    auto conn = std::make_shared<WsSession<Ws>>(ioc->get_executor(), std::move(stream));
    all_ws.push_back(conn);
    error_code ec;
    beast::get_lowest_layer(conn->ws).expires_never();
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = std::chrono::seconds(10);
    timeouts.idle_timeout = websocket::stream_base::none();
    timeouts.keep_alive_pings = false;
    conn->ws.set_option(timeouts);
    conn->ws.set_option(websocket::stream_base::decorator([](websocket::response_type& response) {
      response.set(http::field::server, "fake-slack");
    }));
    conn->ws.control_callback([this](websocket::frame_type kind, beast::string_view) {
      std::lock_guard lock(mu);
      if (kind == websocket::frame_type::ping)
        ++pings;
      else if (kind == websocket::frame_type::pong)
        ++pongs;
    });
    co_await conn->ws.async_accept(request, net::redirect_error(net::use_awaitable, ec));
    if (ec || stopping)
      co_return;
    int connections = 0;
    {
      std::lock_guard lock(mu);
      conn->index = total++;
      open.insert(conn->index);
      connections = static_cast<int>(open.size());
      cv.notify_all();
    }
    conns[conn->index] = conn;
    json::object hello{{"type", "hello"},
                       {"num_connections", connections},
                       {"connection_info", {{"app_id", options.app_id}}},
                       {"debug_info",
                        {{"host", "fake"},
                         {"started", "2026-01-01 00:00:00.000"},
                         {"build_number", 1},
                         {"approximate_connection_time", 3600}}}};
    conn->push({Outbound::Kind::kText, json::serialize(hello)});
    net::co_spawn(*ioc, ws_writer(conn), net::detached);
    net::co_spawn(*ioc, ws_pinger(conn), net::detached);

    beast::flat_buffer buffer;
    for (;;) {
      co_await conn->ws.async_read(buffer, net::redirect_error(net::use_awaitable, ec));
      if (ec)
        break;
      record_frame(conn->index, beast::buffers_to_string(buffer.data()), !conn->ws.got_text());
      buffer.consume(buffer.size());
    }
    finish(conn);
  }

  template <class Ws>
  net::awaitable<void> ws_writer(std::shared_ptr<WsSession<Ws>> conn) {
    error_code ec;
    while (conn->open) {
      if (conn->queue.empty()) {
        conn->wake.expires_at(net::steady_timer::time_point::max());
        co_await conn->wake.async_wait(net::redirect_error(net::use_awaitable, ec));
        continue;
      }
      Outbound out = std::move(conn->queue.front());
      conn->queue.pop_front();
      if (out.kind == Outbound::Kind::kText) {
        conn->ws.text(true);
        co_await conn->ws.async_write(net::buffer(out.text),
                                      net::redirect_error(net::use_awaitable, ec));
        if (!ec) {
          std::lock_guard lock(mu);
          ++texts_written;
          cv.notify_all();
        }
      } else if (out.kind == Outbound::Kind::kPing) {
        websocket::ping_data payload("fake");
        co_await conn->ws.async_ping(payload, net::redirect_error(net::use_awaitable, ec));
      } else {
        websocket::close_reason reason(static_cast<std::uint16_t>(out.code));
        co_await conn->ws.async_close(reason, net::redirect_error(net::use_awaitable, ec));
      }
      if (ec)
        break;
    }
  }

  template <class Ws>
  net::awaitable<void> ws_pinger(std::shared_ptr<WsSession<Ws>> conn) {
    error_code ec;
    while (conn->open) {
      conn->ping_timer.expires_after(options.server_ping_interval);
      co_await conn->ping_timer.async_wait(net::redirect_error(net::use_awaitable, ec));
      if (!conn->open)
        break;
      conn->push({Outbound::Kind::kPing, {}});
    }
  }

  void finish(const std::shared_ptr<WsConn>& conn) {  // on the fake's thread; idempotent
    conn->stop();
    conns.erase(conn->index);
    std::lock_guard lock(mu);
    if (open.erase(conn->index) > 0)
      closed.insert(conn->index);
    cv.notify_all();
  }

  void record_frame(int connection, std::string text, bool binary) {
    std::lock_guard lock(mu);
    if (!binary) {
      error_code ec;
      json::value value = json::parse(text, ec);
      if (!ec && value.is_object() && value.as_object().contains("envelope_id") &&
          value.as_object().at("envelope_id").is_string()) {
        const json::object& object = value.as_object();
        Ack ack;
        ack.connection = connection;
        ack.envelope_id = std::string(object.at("envelope_id").as_string());
        if (auto it = object.find("payload"); it != object.end())
          ack.payload = json::serialize(it->value());
        ack.raw = std::move(text);
        acks.push_back(std::move(ack));
        cv.notify_all();
        return;
      }
    }
    frames.push_back({connection, std::move(text), binary});
    cv.notify_all();
  }

  // The connection for index (or round robin for -1); on the fake's thread.
  std::shared_ptr<WsConn> pick(int connection) {
    if (connection >= 0) {
      auto it = conns.find(connection);
      if (it == conns.end())
        throw std::out_of_range("fake slack: connection " + std::to_string(connection) +
                                " is not open");
      return it->second;
    }
    if (conns.empty())
      throw std::logic_error("fake slack: no open Socket Mode connection");
    auto it = conns.begin();
    std::advance(it, static_cast<long>(round_robin++ % conns.size()));
    return it->second;
  }

  std::vector<std::shared_ptr<WsConn>> targets(int connection) {
    if (connection >= 0)
      return {pick(connection)};
    if (conns.empty())
      throw std::logic_error("fake slack: no open Socket Mode connection");
    std::vector<std::shared_ptr<WsConn>> out;
    for (auto& [index, conn] : conns)
      out.push_back(conn);
    return out;
  }

  template <class Pred>
  bool wait(std::chrono::milliseconds timeout, Pred pred) const {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, timeout, pred);
  }
};

// ---- FakeSlack ----

FakeSlack::FakeSlack() : FakeSlack(Options{}) {}

FakeSlack::FakeSlack(Options options) : impl_(std::make_unique<Impl>(std::move(options))) {
  impl_->start();
}

FakeSlack::~FakeSlack() {
  impl_->shutdown();
}

const FakeSlack::Options& FakeSlack::options() const {
  return impl_->options;
}
int FakeSlack::port() const {
  return impl_->port;
}
std::string FakeSlack::base_url() const {
  return impl_->scheme_host();
}
std::string FakeSlack::api_url() const {
  return impl_->scheme_host() + "/api/";
}
std::string FakeSlack::ca_path() const {
  return impl_->certificates.ca_path;
}
std::string FakeSlack::ca_pem() const {
  return impl_->certificates.ca_pem;
}
std::string FakeSlack::response_url() {
  std::lock_guard lock(impl_->mu);
  return impl_->scheme_host() + "/response/" + std::to_string(impl_->next_response++);
}

std::vector<FakeSlack::ApiCall> FakeSlack::calls() const {
  std::lock_guard lock(impl_->mu);
  return impl_->calls;
}

std::vector<FakeSlack::ApiCall> FakeSlack::calls(const std::string& method) const {
  std::lock_guard lock(impl_->mu);
  std::vector<ApiCall> out;
  for (const auto& call : impl_->calls) {
    if (call.method == method)
      out.push_back(call);
  }
  return out;
}

bool FakeSlack::wait_for_calls(const std::string& method, std::size_t count,
                               std::chrono::milliseconds timeout) const {
  return impl_->wait(timeout, [&] {
    return static_cast<std::size_t>(
               std::count_if(impl_->calls.begin(), impl_->calls.end(), [&](const ApiCall& call) {
                 return method.empty() || call.method == method;
               })) >= count;
  });
}

void FakeSlack::fail_next(const std::string& method, const std::string& error_code, int times) {
  std::lock_guard lock(impl_->mu);
  impl_->failures[method] = {error_code, times};
}

void FakeSlack::rate_limit_next(const std::string& method, int retry_after_seconds, int times) {
  std::lock_guard lock(impl_->mu);
  impl_->rate_limits[method] = {retry_after_seconds, times};
}

void FakeSlack::set_connections_open_error(const std::string& error) {
  std::lock_guard lock(impl_->mu);
  impl_->connections_open_error = error;
}

std::vector<FakeSlack::Message> FakeSlack::messages() const {
  std::lock_guard lock(impl_->mu);
  return impl_->messages;
}

std::optional<FakeSlack::Message> FakeSlack::message(const std::string& channel,
                                                     const std::string& ts) const {
  std::lock_guard lock(impl_->mu);
  for (const auto& message : impl_->messages) {
    if (message.channel == channel && message.ts == ts)
      return message;
  }
  return std::nullopt;
}

std::vector<FakeSlack::Upload> FakeSlack::uploads() const {
  std::lock_guard lock(impl_->mu);
  return impl_->uploads;
}

std::map<std::string, std::vector<std::string>> FakeSlack::channel_members() const {
  std::lock_guard lock(impl_->mu);
  return impl_->members;
}

std::set<std::string> FakeSlack::archived_channels() const {
  std::lock_guard lock(impl_->mu);
  return impl_->archived;
}

std::map<std::string, std::string> FakeSlack::channel_topics() const {
  std::lock_guard lock(impl_->mu);
  return impl_->topics;
}

std::map<std::string, std::vector<std::string>> FakeSlack::channel_pins() const {
  std::lock_guard lock(impl_->mu);
  return impl_->pins;
}

std::string FakeSlack::add_channel(const std::string& name, bool is_private,
                                   const std::string& creator) {
  std::lock_guard lock(impl_->mu);
  char id[16];
  std::snprintf(id, sizeof id, "%c%08X", is_private ? 'G' : 'C',
                0xFA000000u + static_cast<unsigned>(impl_->next_channel++));
  impl_->channel_names[name] = id;
  impl_->private_channels[id] = is_private;
  impl_->members[id] = {impl_->options.bot_user_id};
  impl_->creators[id] = creator;
  impl_->created[id] = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  return id;
}

std::string FakeSlack::add_user_message(const std::string& channel, const std::string& user,
                                        const std::string& text) {
  std::lock_guard lock(impl_->mu);
  Message message;
  message.channel = channel;
  message.text = text;
  message.user = user;
  message.ts = impl_->next_ts();
  impl_->messages.push_back(message);
  return message.ts;
}

std::string FakeSlack::send_envelope(const std::string& type, const std::string& payload_json,
                                     int retry_attempt, const std::string& retry_reason,
                                     const std::string& envelope_id, int connection) {
  json::value payload = json::parse(payload_json);
  return impl_->run_on_io([&]() -> std::string {
    auto conn = impl_->pick(connection);
    Envelope envelope;
    {
      std::lock_guard lock(impl_->mu);
      envelope.envelope_id = envelope_id.empty() ? impl_->uuid() : envelope_id;
    }
    envelope.type = type;
    envelope.connection = conn->index;
    json::object frame{{"envelope_id", envelope.envelope_id},
                       {"type", type},
                       {"payload", payload},
                       {"accepts_response_payload", type != "events_api"},
                       {"retry_attempt", retry_attempt},
                       {"retry_reason", retry_reason}};
    envelope.json = json::serialize(frame);
    conn->push({Outbound::Kind::kText, envelope.json});
    std::lock_guard lock(impl_->mu);
    impl_->envelopes.push_back(envelope);
    return envelope.envelope_id;
  });
}

void FakeSlack::send_raw(const std::string& text, int connection) {
  impl_->run_on_io([&] { impl_->pick(connection)->push({Outbound::Kind::kText, text}); });
}

void FakeSlack::send_disconnect(const std::string& reason, int connection) {
  json::object frame{
      {"type", "disconnect"}, {"reason", reason}, {"debug_info", {{"host", "fake"}}}};
  std::string text = json::serialize(frame);
  impl_->run_on_io([&] {
    for (auto& conn : impl_->targets(connection))
      conn->push({Outbound::Kind::kText, text});
  });
}

void FakeSlack::cut(int connection) {
  impl_->run_on_io([&] {
    for (auto& conn : impl_->targets(connection)) {
      conn->reset_socket();
      impl_->finish(conn);
    }
  });
}

void FakeSlack::close(int connection, int code) {
  impl_->run_on_io([&] {
    for (auto& conn : impl_->targets(connection))
      conn->push({Outbound::Kind::kClose, {}, code});
  });
}

int FakeSlack::connection_count() const {
  std::lock_guard lock(impl_->mu);
  return static_cast<int>(impl_->open.size());
}

int FakeSlack::total_connections() const {
  std::lock_guard lock(impl_->mu);
  return impl_->total;
}

std::vector<int> FakeSlack::open_connections() const {
  std::lock_guard lock(impl_->mu);
  return {impl_->open.begin(), impl_->open.end()};
}

bool FakeSlack::wait_for_connections(int count, std::chrono::milliseconds timeout) const {
  return impl_->wait(timeout, [&] { return static_cast<int>(impl_->open.size()) >= count; });
}

bool FakeSlack::wait_for_closed(int connection, std::chrono::milliseconds timeout) const {
  return impl_->wait(timeout, [&] { return impl_->closed.contains(connection); });
}

int FakeSlack::rejected_upgrades() const {
  std::lock_guard lock(impl_->mu);
  return impl_->rejected;
}

std::vector<FakeSlack::Envelope> FakeSlack::envelopes() const {
  std::lock_guard lock(impl_->mu);
  return impl_->envelopes;
}

std::vector<FakeSlack::Ack> FakeSlack::acks() const {
  std::lock_guard lock(impl_->mu);
  return impl_->acks;
}

bool FakeSlack::wait_for_acks(std::size_t count, std::chrono::milliseconds timeout) const {
  return impl_->wait(timeout, [&] { return impl_->acks.size() >= count; });
}

int FakeSlack::ack_count(const std::string& envelope_id) const {
  std::lock_guard lock(impl_->mu);
  return static_cast<int>(
      std::count_if(impl_->acks.begin(), impl_->acks.end(),
                    [&](const Ack& ack) { return ack.envelope_id == envelope_id; }));
}

std::map<std::string, int> FakeSlack::ack_counts() const {
  std::lock_guard lock(impl_->mu);
  std::map<std::string, int> out;
  for (const auto& ack : impl_->acks)
    ++out[ack.envelope_id];
  return out;
}

std::vector<FakeSlack::ClientFrame> FakeSlack::client_frames() const {
  std::lock_guard lock(impl_->mu);
  return impl_->frames;
}

int FakeSlack::pings_from_clients() const {
  std::lock_guard lock(impl_->mu);
  return impl_->pings;
}

int FakeSlack::pongs_from_clients() const {
  std::lock_guard lock(impl_->mu);
  return impl_->pongs;
}

int FakeSlack::texts_written() const {
  std::lock_guard lock(impl_->mu);
  return impl_->texts_written;
}

bool FakeSlack::wait_for_texts_written(int count, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mu);
  return impl_->cv.wait_for(lock, timeout, [&] { return impl_->texts_written >= count; });
}

// ---- payload builders ----

namespace {

json::object event_callback(const std::string& team_id, const std::string& app_id,
                            const std::string& bot_user_id, const std::string& event_id,
                            const std::string& ts, json::object event) {
  return {{"token", "fake-verification-token"},
          {"team_id", team_id},
          {"context_team_id", team_id},
          {"context_enterprise_id", nullptr},
          {"api_app_id", app_id},
          {"event", std::move(event)},
          {"type", "event_callback"},
          {"event_id", event_id},
          {"event_time", ts_seconds(ts)},
          {"authorizations", json::array{{{"enterprise_id", nullptr},
                                          {"team_id", team_id},
                                          {"user_id", bot_user_id},
                                          {"is_bot", true},
                                          {"is_enterprise_install", false}}}},
          {"is_ext_shared_channel", false},
          {"event_context", "4-fake-" + event_id}};
}

}  // namespace

std::string FakeSlack::app_mention_event(const MentionSpec& spec) {
  json::object event{{"type", "app_mention"}, {"user", spec.user},       {"text", spec.text},
                     {"ts", spec.ts},         {"channel", spec.channel}, {"event_ts", spec.ts},
                     {"team", spec.team_id}};
  if (!spec.thread_ts.empty())
    event["thread_ts"] = spec.thread_ts;
  return json::serialize(event_callback(spec.team_id, spec.app_id, spec.bot_user_id, spec.event_id,
                                        spec.ts, std::move(event)));
}

std::string FakeSlack::reaction_added_event(const ReactionSpec& spec) {
  json::object event{
      {"type", "reaction_added"},
      {"user", spec.user},
      {"reaction", spec.reaction},
      {"item_user", spec.item_user},
      {"item", {{"type", "message"}, {"channel", spec.channel}, {"ts", spec.item_ts}}},
      {"event_ts", spec.event_ts}};
  return json::serialize(event_callback(spec.team_id, spec.app_id, spec.bot_user_id, spec.event_id,
                                        spec.event_ts, std::move(event)));
}

std::string FakeSlack::message_event(const MessageSpec& spec) {
  json::object event{{"type", "message"},   {"channel", spec.channel},
                     {"text", spec.text},   {"ts", spec.ts},
                     {"event_ts", spec.ts}, {"channel_type", spec.channel_type},
                     {"team", spec.team_id}};
  if (!spec.user.empty())
    event["user"] = spec.user;
  if (!spec.thread_ts.empty())
    event["thread_ts"] = spec.thread_ts;
  if (!spec.subtype.empty())
    event["subtype"] = spec.subtype;
  if (!spec.bot_id.empty()) {
    event["bot_id"] = spec.bot_id;
    event["bot_profile"] = {{"id", spec.bot_id},
                            {"app_id", spec.app_id},
                            {"name", "some-bot"},
                            {"team_id", spec.team_id},
                            {"deleted", false}};
  }
  return json::serialize(event_callback(spec.team_id, spec.app_id, spec.bot_user_id, spec.event_id,
                                        spec.ts, std::move(event)));
}

std::string FakeSlack::slash_command(const SlashSpec& spec) {
  json::object payload{{"token", "fake-verification-token"},
                       {"team_id", spec.team_id},
                       {"team_domain", "fake"},
                       {"channel_id", spec.channel_id},
                       {"channel_name", spec.channel_name},
                       {"user_id", spec.user_id},
                       {"user_name", spec.user_name},
                       {"command", spec.command},
                       {"text", spec.text},
                       {"api_app_id", spec.app_id},
                       {"is_enterprise_install", "false"},
                       {"response_url", spec.response_url},
                       {"trigger_id", spec.trigger_id}};
  return json::serialize(payload);
}

std::string FakeSlack::block_actions(const BlockActionSpec& spec) {
  json::object button{
      {"type", "button"},
      {"action_id", spec.action_id},
      {"value", spec.value},
      {"text", {{"type", "plain_text"}, {"text", spec.button_text}, {"emoji", true}}}};
  json::object container{{"type", "message"},
                         {"message_ts", spec.message_ts},
                         {"channel_id", spec.channel_id},
                         {"is_ephemeral", false}};
  json::object message{{"type", "message"},
                       {"subtype", "bot_message"},
                       {"text", ""},
                       {"ts", spec.message_ts},
                       {"user", spec.bot_user_id},
                       {"bot_id", spec.bot_id},
                       {"blocks", json::array{{{"type", "actions"},
                                               {"block_id", spec.block_id},
                                               {"elements", json::array{button}}}}}};
  if (!spec.thread_ts.empty()) {
    container["thread_ts"] = spec.thread_ts;
    message["thread_ts"] = spec.thread_ts;
  }
  json::object action = button;
  action["block_id"] = spec.block_id;
  action["action_ts"] = std::to_string(ts_seconds(spec.message_ts) + 1) + ".000001";
  json::object payload{{"type", "block_actions"},
                       {"user",
                        {{"id", spec.user_id},
                         {"username", spec.user_name},
                         {"name", spec.user_name},
                         {"team_id", spec.team_id}}},
                       {"api_app_id", spec.app_id},
                       {"token", "fake-verification-token"},
                       {"container", std::move(container)},
                       {"trigger_id", spec.trigger_id},
                       {"team", {{"id", spec.team_id}, {"domain", "fake"}}},
                       {"enterprise", nullptr},
                       {"is_enterprise_install", false},
                       {"channel", {{"id", spec.channel_id}, {"name", spec.channel_name}}},
                       {"message", std::move(message)},
                       {"state", {{"values", json::object{}}}},
                       {"response_url", spec.response_url},
                       {"actions", json::array{std::move(action)}}};
  return json::serialize(payload);
}

}  // namespace shipmate::testing
