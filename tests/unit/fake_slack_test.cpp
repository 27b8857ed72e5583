// The fake Slack, driven by a minimal Beast client written here (no project client code), and
// cross-checked against Slack's official Node clients (tests/node).
#include "tests/support/fake_slack.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/json.hpp>

#include "tests/support/test_support.h"

namespace shipmate::testing {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

// ---- a minimal client ----

struct HttpResult {
  int status = 0;
  std::string retry_after;
  std::string body;
  json::object json() const { return json::parse(body).as_object(); }
};

std::unique_ptr<net::ssl::context> client_tls(const FakeSlack& fake) {
  auto ctx = std::make_unique<net::ssl::context>(net::ssl::context::tls_client);
  ctx->load_verify_file(fake.ca_path());
  ctx->set_verify_mode(net::ssl::verify_peer);
  ctx->set_verify_callback(net::ssl::host_name_verification("localhost"));
  return ctx;
}

template <class Stream>
HttpResult exchange(Stream& stream, const std::string& target, const std::string& content_type,
                    const std::string& body, const std::string& authorization) {
  http::request<http::string_body> request{http::verb::post, target, 11};
  request.set(http::field::host, "127.0.0.1");
  if (!content_type.empty())
    request.set(http::field::content_type, content_type);
  if (!authorization.empty())
    request.set(http::field::authorization, authorization);
  request.body() = body;
  request.prepare_payload();
  http::write(stream, request);
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(stream, buffer, response);
  return {static_cast<int>(response.result_int()), std::string(response[http::field::retry_after]),
          response.body()};
}

// POSTs to the fake (plain or TLS, whichever it serves).
HttpResult post(const FakeSlack& fake, const std::string& target, const std::string& content_type,
                const std::string& body, const std::string& authorization = "") {
  net::io_context ioc;
  tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"),
                         static_cast<unsigned short>(fake.port()));
  if (fake.options().tls) {
    auto ctx = client_tls(fake);
    beast::ssl_stream<beast::tcp_stream> stream(ioc, *ctx);
    beast::get_lowest_layer(stream).connect(endpoint);
    SSL_set_tlsext_host_name(stream.native_handle(), "localhost");
    stream.handshake(net::ssl::stream_base::client);
    return exchange(stream, target, content_type, body, authorization);
  }
  beast::tcp_stream stream(ioc);
  stream.connect(endpoint);
  return exchange(stream, target, content_type, body, authorization);
}

HttpResult api_json(const FakeSlack& fake, const std::string& method, const json::object& params,
                    const std::string& token) {
  return post(fake, "/api/" + method, "application/json; charset=utf-8", json::serialize(params),
              token.empty() ? "" : "Bearer " + token);
}

HttpResult api_form(const FakeSlack& fake, const std::string& method, const std::string& form,
                    const std::string& token) {
  return post(fake, "/api/" + method, "application/x-www-form-urlencoded", form,
              token.empty() ? "" : "Bearer " + token);
}

std::string error_of(const HttpResult& result) {
  auto body = result.json();
  if (body.at("ok").as_bool())
    return "";
  return std::string(body.at("error").as_string());
}

std::string str(const json::value& value) {
  return std::string(value.as_string());
}

// The target ("/link/?ticket=…") and scheme of a Socket Mode URL.
std::string url_target(const std::string& url) {
  auto host = url.find("://");
  return url.substr(url.find('/', host + 3));
}

// A Socket Mode client over a plain or TLS websocket, reads bounded by a timeout.
class WsClient {
 public:
  explicit WsClient(const FakeSlack& fake) : fake_(fake) {}

  // Returns the error of the upgrade (empty on success) and fills `status` on HTTP refusals.
  std::string connect(const std::string& url, int* status = nullptr) {
    tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"),
                           static_cast<unsigned short>(fake_.port()));
    beast::error_code ec;
    websocket::response_type response;
    if (fake_.options().tls) {
      ctx_ = client_tls(fake_);
      tls_.emplace(ioc_, *ctx_);
      beast::get_lowest_layer(*tls_).connect(endpoint);
      SSL_set_tlsext_host_name(tls_->next_layer().native_handle(), "localhost");
      tls_->next_layer().handshake(net::ssl::stream_base::client);
      tls_->handshake(response, "127.0.0.1", url_target(url), ec);
      setup(*tls_);
    } else {
      plain_.emplace(ioc_);
      beast::get_lowest_layer(*plain_).connect(endpoint);
      plain_->handshake(response, "127.0.0.1", url_target(url), ec);
      setup(*plain_);
    }
    if (status)
      *status = static_cast<int>(response.result_int());
    return ec ? ec.message() : "";
  }

  // The next text frame, or the error that ended the read (in `error`).
  std::optional<std::string> read(beast::error_code* error = nullptr,
                                  std::chrono::milliseconds timeout = 30s) {
    beast::flat_buffer buffer;
    std::optional<beast::error_code> result;
    auto done = [&](beast::error_code ec, std::size_t) { result = ec; };
    if (tls_)
      tls_->async_read(buffer, done);
    else
      plain_->async_read(buffer, done);
    ioc_.restart();
    ioc_.run_for(timeout);
    if (!result) {
      if (error)
        *error = net::error::timed_out;
      return std::nullopt;
    }
    if (error)
      *error = *result;
    if (*result)
      return std::nullopt;
    return beast::buffers_to_string(buffer.data());
  }

  json::object read_json() {
    beast::error_code ec;
    auto text = read(&ec);
    if (!text)
      throw std::runtime_error("websocket read failed: " + ec.message());
    return json::parse(*text).as_object();
  }

  void write(const std::string& text) {
    if (tls_)
      tls_->write(net::buffer(text));
    else
      plain_->write(net::buffer(text));
  }

  void ping() {
    if (tls_)
      tls_->ping({});
    else
      plain_->ping({});
  }

  void close() {
    if (tls_)
      tls_->close(websocket::close_code::normal);
    else
      plain_->close(websocket::close_code::normal);
  }

  websocket::close_reason reason() const { return tls_ ? tls_->reason() : plain_->reason(); }
  int pings() const { return pings_; }
  int pongs() const { return pongs_; }

 private:
  template <class Ws>
  void setup(Ws& ws) {
    ws.control_callback([this](websocket::frame_type kind, beast::string_view) {
      if (kind == websocket::frame_type::ping)
        ++pings_;
      if (kind == websocket::frame_type::pong)
        ++pongs_;
    });
  }

  const FakeSlack& fake_;
  net::io_context ioc_;
  std::unique_ptr<net::ssl::context> ctx_;
  std::optional<websocket::stream<beast::tcp_stream>> plain_;
  std::optional<websocket::stream<beast::ssl_stream<beast::tcp_stream>>> tls_;
  std::atomic<int> pings_{0};
  std::atomic<int> pongs_{0};
};

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 30s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

std::string open_url(const FakeSlack& fake) {
  auto result = api_form(fake, "apps.connections.open", "", fake.options().app_token);
  auto body = result.json();
  if (!body.at("ok").as_bool())
    throw std::runtime_error("apps.connections.open failed: " + result.body);
  return str(body.at("url"));
}

// ---- Web API ----

TEST(FakeSlackWebApi, AuthTestAndPostMessageWithJsonAndFormBodies) {
  FakeSlack fake;
  const std::string bot = fake.options().bot_token;

  auto auth = api_json(fake, "auth.test", {}, bot);
  EXPECT_EQ(auth.status, 200);
  auto who = auth.json();
  EXPECT_TRUE(who.at("ok").as_bool());
  EXPECT_EQ(str(who.at("user_id")), "UBOT");
  EXPECT_EQ(str(who.at("bot_id")), "B1");
  EXPECT_EQ(str(who.at("team_id")), "T1");
  EXPECT_EQ(str(who.at("user")), "shipmate");

  auto first =
      api_json(fake, "chat.postMessage",
               {{"channel", "C1"},
                {"text", "hi"},
                {"blocks", json::array{{{"type", "section"},
                                        {"text", {{"type", "mrkdwn"}, {"text", "*hi*"}}}}}}},
               bot)
          .json();
  ASSERT_TRUE(first.at("ok").as_bool()) << json::serialize(first);
  EXPECT_EQ(str(first.at("channel")), "C1");
  const std::string ts1 = str(first.at("ts"));
  EXPECT_TRUE(std::regex_match(ts1, std::regex(R"(\d{10}\.\d{6})"))) << ts1;
  EXPECT_EQ(str(first.at("message").at("text")), "hi");
  EXPECT_EQ(first.at("message").at("blocks").as_array().size(), 1u);

  // Form body: blocks travel as a JSON string, as the official client sends them.
  auto second = api_form(fake, "chat.postMessage",
                         "channel=C1&text=reply+%F0%9F%9A%80&thread_ts=" + ts1 +
                             "&blocks=%5B%7B%22type%22%3A%22divider%22%7D%5D",
                         bot)
                    .json();
  ASSERT_TRUE(second.at("ok").as_bool()) << json::serialize(second);
  const std::string ts2 = str(second.at("ts"));
  EXPECT_GT(ts2, ts1);
  EXPECT_EQ(str(second.at("message").at("text")), "reply \xF0\x9F\x9A\x80");
  EXPECT_EQ(str(second.at("message").at("thread_ts")), ts1);
  EXPECT_EQ(str(second.at("message").at("blocks").at(0).at("type")), "divider");

  auto calls = fake.calls("chat.postMessage");
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].authorization, "Bearer " + bot);
  EXPECT_EQ(calls[0].token, bot);
  EXPECT_TRUE(calls[0].params.at("blocks").is_array());
  EXPECT_EQ(calls[1].content_type, "application/x-www-form-urlencoded");
  EXPECT_EQ(calls[1].param("thread_ts"), ts1);
  EXPECT_TRUE(calls[1].params.at("blocks").is_string());
  EXPECT_EQ(str(calls[1].param_json("blocks").at(0).at("type")), "divider");
  EXPECT_NE(calls[1].body.find("thread_ts="), std::string::npos);
  EXPECT_EQ(fake.calls().size(), 3u);

  // Neither text nor blocks, and no channel.
  EXPECT_EQ(error_of(api_json(fake, "chat.postMessage", {{"channel", "C1"}}, bot)), "no_text");
  EXPECT_EQ(error_of(api_json(fake, "chat.postMessage", {{"text", "x"}}, bot)),
            "channel_not_found");
}

TEST(FakeSlackWebApi, UpdateAndEphemeral) {
  FakeSlack fake;
  const std::string bot = fake.options().bot_token;
  auto posted = api_json(fake, "chat.postMessage",
                         {{"channel", "C1"}, {"text", "deploying"}, {"blocks", json::array{}}}, bot)
                    .json();
  const std::string ts = str(posted.at("ts"));

  auto updated =
      api_form(fake, "chat.update", "channel=C1&ts=" + ts + "&text=deployed", bot).json();
  ASSERT_TRUE(updated.at("ok").as_bool()) << json::serialize(updated);
  EXPECT_EQ(str(updated.at("ts")), ts);
  EXPECT_EQ(str(updated.at("text")), "deployed");
  auto message = fake.message("C1", ts);
  ASSERT_TRUE(message);
  EXPECT_EQ(message->text, "deployed");
  EXPECT_EQ(message->updates, 1);

  EXPECT_EQ(error_of(api_form(fake, "chat.update", "channel=C1&ts=1.000001&text=x", bot)),
            "message_not_found");
  EXPECT_EQ(error_of(api_form(fake, "chat.update", "channel=C2&ts=" + ts + "&text=x", bot)),
            "message_not_found");
  EXPECT_EQ(error_of(api_form(fake, "chat.update", "channel=C1&text=x", bot)), "invalid_arguments");

  auto ephemeral = api_json(fake, "chat.postEphemeral",
                            {{"channel", "C1"}, {"user", "U1"}, {"text", "only you"}}, bot)
                       .json();
  ASSERT_TRUE(ephemeral.at("ok").as_bool());
  EXPECT_FALSE(str(ephemeral.at("message_ts")).empty());
  EXPECT_EQ(error_of(api_json(fake, "chat.postEphemeral", {{"channel", "C1"}, {"text", "x"}}, bot)),
            "invalid_arguments");
  EXPECT_EQ(fake.messages().back().ephemeral_user, "U1");
}

TEST(FakeSlackWebApi, TokenErrors) {
  FakeSlack fake;
  const auto& o = fake.options();
  EXPECT_EQ(error_of(api_json(fake, "auth.test", {}, "")), "not_authed");
  EXPECT_EQ(error_of(api_json(fake, "auth.test", {}, "xoxb-wrong")), "invalid_auth");
  EXPECT_EQ(
      error_of(api_json(fake, "chat.postMessage", {{"channel", "C1"}, {"text", "x"}}, o.app_token)),
      "not_allowed_token_type");
  EXPECT_EQ(error_of(api_form(fake, "apps.connections.open", "", o.bot_token)),
            "not_allowed_token_type");
  EXPECT_EQ(error_of(api_form(fake, "apps.connections.open", "", "xapp-wrong")), "invalid_auth");
  // A form field token works for bot methods, not for apps.connections.open.
  EXPECT_EQ(error_of(api_form(fake, "auth.test", "token=" + o.bot_token, "")), "");
  EXPECT_EQ(error_of(api_form(fake, "apps.connections.open", "token=" + o.app_token, "")),
            "not_authed");
  EXPECT_EQ(error_of(api_json(fake, "no.such.method", {}, o.bot_token)), "unknown_method");
  EXPECT_EQ(
      error_of(post(fake, "/api/auth.test", "application/json", "{nope", "Bearer " + o.bot_token)),
      "invalid_json");
  EXPECT_EQ(
      error_of(post(fake, "/api/auth.test", "application/json", "[1]", "Bearer " + o.bot_token)),
      "json_not_object");
  for (const auto& call : fake.calls())
    EXPECT_EQ(call.status, 200) << call.method;
}

TEST(FakeSlackWebApi, RateLimitInjectionAnswers429WithRetryAfter) {
  FakeSlack fake;
  const std::string bot = fake.options().bot_token;
  fake.rate_limit_next("chat.postMessage", 7, 2);
  json::object params{{"channel", "C1"}, {"text", "x"}};
  for (int i = 0; i < 2; ++i) {
    auto limited = api_json(fake, "chat.postMessage", params, bot);
    EXPECT_EQ(limited.status, 429);
    EXPECT_EQ(limited.retry_after, "7");
    EXPECT_EQ(error_of(limited), "ratelimited");
  }
  EXPECT_EQ(api_json(fake, "auth.test", {}, bot).status, 200);  // other methods unaffected
  auto through = api_json(fake, "chat.postMessage", params, bot);
  EXPECT_EQ(through.status, 200);
  EXPECT_EQ(error_of(through), "");
  auto calls = fake.calls("chat.postMessage");
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0].status, 429);
  EXPECT_EQ(calls[2].status, 200);
}

TEST(FakeSlackWebApi, FailureInjection) {
  FakeSlack fake;
  const auto& o = fake.options();
  fake.fail_next("chat.postMessage", "channel_not_found", 1);
  json::object params{{"channel", "C1"}, {"text", "x"}};
  EXPECT_EQ(error_of(api_json(fake, "chat.postMessage", params, o.bot_token)), "channel_not_found");
  EXPECT_EQ(error_of(api_json(fake, "chat.postMessage", params, o.bot_token)), "");

  fake.set_connections_open_error("invalid_auth");
  EXPECT_EQ(error_of(api_form(fake, "apps.connections.open", "", o.app_token)), "invalid_auth");
  EXPECT_EQ(error_of(api_form(fake, "apps.connections.open", "", o.app_token)), "invalid_auth");
  fake.set_connections_open_error("");
  EXPECT_EQ(error_of(api_form(fake, "apps.connections.open", "", o.app_token)), "");
}

TEST(FakeSlackWebApi, ConversationsCreateAndInvite) {
  FakeSlack fake;
  const std::string bot = fake.options().bot_token;
  auto created = api_json(fake, "conversations.create", {{"name", "inc-42_db-down"}}, bot).json();
  ASSERT_TRUE(created.at("ok").as_bool()) << json::serialize(created);
  const std::string id = str(created.at("channel").at("id"));
  EXPECT_EQ(id.front(), 'C');
  EXPECT_EQ(str(created.at("channel").at("name")), "inc-42_db-down");

  auto create = [&](const std::string& name) {
    return error_of(api_json(fake, "conversations.create", {{"name", name}}, bot));
  };
  EXPECT_EQ(create("inc-42_db-down"), "name_taken");
  EXPECT_EQ(create("Inc-43"), "invalid_name_specials");
  EXPECT_EQ(create("inc 43"), "invalid_name_specials");
  EXPECT_EQ(create("inc.43"), "invalid_name_specials");
  EXPECT_EQ(create(""), "invalid_name_required");
  EXPECT_EQ(create(std::string(81, 'a')), "invalid_name_maxlength");
  EXPECT_EQ(create(std::string(80, 'a')), "");

  auto invited = api_form(fake, "conversations.invite", "channel=" + id + "&users=U1%2CU2", bot);
  EXPECT_EQ(error_of(invited), "");
  auto members = fake.channel_members().at(id);
  EXPECT_EQ(members, (std::vector<std::string>{"UBOT", "U1", "U2"}));
  auto again = api_form(fake, "conversations.invite", "channel=" + id + "&users=U2,U3", bot).json();
  EXPECT_EQ(str(again.at("error")), "already_in_channel");
  EXPECT_EQ(str(again.at("errors").at(0).at("user")), "U2");
  EXPECT_EQ(fake.channel_members().at(id).back(), "U3");
  EXPECT_EQ(error_of(api_form(fake, "conversations.invite", "channel=" + id, bot)), "no_user");
}

TEST(FakeSlackWebApi, FileUploadFlow) {
  FakeSlack fake;
  const std::string bot = fake.options().bot_token;
  auto got =
      api_form(fake, "files.getUploadURLExternal", "filename=deploy.log&length=5", bot).json();
  ASSERT_TRUE(got.at("ok").as_bool()) << json::serialize(got);
  const std::string file_id = str(got.at("file_id"));
  const std::string upload_url = str(got.at("upload_url"));
  ASSERT_EQ(upload_url.rfind(fake.base_url() + "/", 0), 0u) << upload_url;

  // Completing before the bytes arrive fails.
  std::string files = R"([{"id":")" + file_id + R"(","title":"Deploy log"}])";
  EXPECT_EQ(error_of(api_json(fake, "files.completeUploadExternal",
                              {{"files", json::parse(files)}, {"channel_id", "C1"}}, bot)),
            "file_not_found");

  auto uploaded =
      post(fake, url_target(upload_url), "application/octet-stream", "hello", "Bearer " + bot);
  EXPECT_EQ(uploaded.status, 200);
  auto done =
      api_json(fake, "files.completeUploadExternal",
               {{"files", json::parse(files)}, {"channel_id", "C1"}, {"initial_comment", "logs"}},
               bot)
          .json();
  ASSERT_TRUE(done.at("ok").as_bool()) << json::serialize(done);
  EXPECT_EQ(str(done.at("files").at(0).at("id")), file_id);
  auto uploads = fake.uploads();
  ASSERT_EQ(uploads.size(), 1u);
  EXPECT_EQ(uploads[0].bytes, "hello");
  EXPECT_EQ(uploads[0].filename, "deploy.log");
  EXPECT_EQ(uploads[0].title, "Deploy log");
  EXPECT_EQ(uploads[0].channel_id, "C1");
  EXPECT_TRUE(uploads[0].completed);

  // Multipart bodies (what the official client sends) keep only the file part.
  auto second = api_form(fake, "files.getUploadURLExternal", "filename=b.txt&length=3", bot).json();
  std::string multipart =
      "--XyZ\r\nContent-Disposition: form-data; name=\"body\"; filename=\"b.txt\"\r\n"
      "Content-Type: application/octet-stream\r\n\r\nabc\r\n--XyZ--\r\n";
  post(fake, url_target(str(second.at("upload_url"))), "multipart/form-data; boundary=XyZ",
       multipart);
  EXPECT_EQ(fake.uploads().at(1).bytes, "abc");
  EXPECT_EQ(error_of(api_form(fake, "files.getUploadURLExternal", "filename=x", bot)),
            "invalid_arguments");
}

TEST(FakeSlackWebApi, TimestampsStayUniqueAcrossThreads) {
  FakeSlack fake;
  const std::string bot = fake.options().bot_token;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i)
        api_json(fake, "chat.postMessage", {{"channel", "C1"}, {"text", "x"}}, bot);
    });
  }
  for (auto& thread : threads)
    thread.join();
  std::set<std::string> seen;
  std::string previous;
  for (const auto& message : fake.messages()) {
    EXPECT_TRUE(seen.insert(message.ts).second) << message.ts;
    EXPECT_GT(message.ts, previous);
    previous = message.ts;
  }
  EXPECT_EQ(seen.size(), 40u);
}

// ---- Socket Mode ----

TEST(FakeSlackSocketMode, ConnectHelloEnvelopeAck) {
  FakeSlack fake;
  const std::string url = open_url(fake);
  EXPECT_TRUE(
      std::regex_match(url, std::regex(R"(ws://127\.0\.0\.1:)" + std::to_string(fake.port()) +
                                       R"(/link/\?ticket=[0-9a-f-]+&app_id=A1)")))
      << url;
  EXPECT_EQ(fake.calls("apps.connections.open").at(0).authorization,
            "Bearer " + fake.options().app_token);

  WsClient client(fake);
  ASSERT_EQ(client.connect(url), "");
  ASSERT_TRUE(fake.wait_for_connections(1));
  auto hello = client.read_json();
  EXPECT_EQ(str(hello.at("type")), "hello");
  EXPECT_EQ(hello.at("num_connections").as_int64(), 1);
  EXPECT_EQ(str(hello.at("connection_info").at("app_id")), "A1");
  EXPECT_EQ(str(hello.at("debug_info").at("host")), "fake");
  EXPECT_EQ(hello.at("debug_info").at("approximate_connection_time").as_int64(), 3600);

  FakeSlack::MentionSpec mention;
  mention.text = "<@UBOT> deploy api 1.2.3 to staging";
  const std::string id = fake.send_envelope("events_api", FakeSlack::app_mention_event(mention));
  auto envelope = client.read_json();
  EXPECT_EQ(str(envelope.at("envelope_id")), id);
  EXPECT_EQ(str(envelope.at("type")), "events_api");
  EXPECT_FALSE(envelope.at("accepts_response_payload").as_bool());
  EXPECT_EQ(envelope.at("retry_attempt").as_int64(), 0);
  EXPECT_EQ(str(envelope.at("retry_reason")), "");
  EXPECT_EQ(str(envelope.at("payload").at("event").at("text")), mention.text);

  client.write(R"({"envelope_id":")" + id + R"(","payload":{}})");
  client.write("not json");
  ASSERT_TRUE(fake.wait_for_acks(1));
  auto acks = fake.acks();
  EXPECT_EQ(acks[0].envelope_id, id);
  EXPECT_EQ(acks[0].payload, "{}");
  EXPECT_EQ(acks[0].connection, 0);
  EXPECT_EQ(fake.ack_count(id), 1);
  EXPECT_EQ(fake.ack_counts().at(id), 1);

  // A redelivery with the same id, and a slash command that accepts a response payload.
  fake.send_envelope("events_api", FakeSlack::app_mention_event(mention), 1, "timeout", id);
  auto redelivery = client.read_json();
  EXPECT_EQ(str(redelivery.at("envelope_id")), id);
  EXPECT_EQ(redelivery.at("retry_attempt").as_int64(), 1);
  EXPECT_EQ(str(redelivery.at("retry_reason")), "timeout");
  client.write(R"({"envelope_id":")" + id + R"(","payload":{}})");
  const std::string slash = fake.send_envelope("slash_commands", FakeSlack::slash_command({}));
  EXPECT_TRUE(client.read_json().at("accepts_response_payload").as_bool());
  client.write(R"({"envelope_id":")" + slash + R"(","payload":{"text":"ok"}})");
  ASSERT_TRUE(fake.wait_for_acks(3));
  EXPECT_EQ(fake.ack_count(id), 2);
  EXPECT_EQ(fake.acks()[2].payload, R"({"text":"ok"})");
  auto frames = fake.client_frames();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].text, "not json");
  EXPECT_EQ(fake.envelopes().size(), 3u);

  client.close();
  EXPECT_TRUE(fake.wait_for_closed(0));
  EXPECT_EQ(fake.connection_count(), 0);
}

TEST(FakeSlackSocketMode, TicketsAreSingleUse) {
  FakeSlack fake;
  const std::string url = open_url(fake);
  WsClient first(fake);
  ASSERT_EQ(first.connect(url), "");
  int status = 0;
  WsClient reused(fake);
  EXPECT_NE(reused.connect(url, &status), "");
  EXPECT_EQ(status, 403);
  WsClient unknown(fake);
  std::string forged = url.substr(0, url.find("ticket=") + 7) + "forged&app_id=A1";
  EXPECT_NE(unknown.connect(forged, &status), "");
  EXPECT_EQ(status, 401);
  EXPECT_EQ(fake.rejected_upgrades(), 2);
  EXPECT_EQ(fake.total_connections(), 1);
  EXPECT_NE(open_url(fake), url);
}

TEST(FakeSlackSocketMode, DisconnectFrameThenClientCloses) {
  FakeSlack fake;
  WsClient client(fake);
  ASSERT_EQ(client.connect(open_url(fake)), "");
  client.read_json();  // hello
  fake.send_disconnect("refresh_requested");
  auto frame = client.read_json();
  EXPECT_EQ(json::serialize(frame),
            R"({"type":"disconnect","reason":"refresh_requested","debug_info":{"host":"fake"}})");
  client.close();
  EXPECT_TRUE(fake.wait_for_closed(0));
}

TEST(FakeSlackSocketMode, CutIsAnErrorForTheClient) {
  FakeSlack fake;
  WsClient client(fake);
  ASSERT_EQ(client.connect(open_url(fake)), "");
  client.read_json();  // hello
  ASSERT_TRUE(fake.wait_for_connections(1));
  fake.cut(0);
  EXPECT_EQ(fake.connection_count(), 0);
  beast::error_code ec;
  EXPECT_FALSE(client.read(&ec));
  EXPECT_TRUE(ec);
  EXPECT_NE(ec, websocket::error::closed) << "a cut must not look like a clean close";
  EXPECT_NE(ec, net::error::timed_out);
  EXPECT_THROW(fake.send_envelope("events_api", "{}"), std::logic_error);
  EXPECT_THROW(fake.send_raw("x", 0), std::out_of_range);
}

TEST(FakeSlackSocketMode, CloseSendsTheCode) {
  FakeSlack fake;
  WsClient client(fake);
  ASSERT_EQ(client.connect(open_url(fake)), "");
  client.read_json();  // hello
  fake.close(0, 4001);
  beast::error_code ec;
  EXPECT_FALSE(client.read(&ec));
  EXPECT_EQ(ec, websocket::error::closed);
  EXPECT_EQ(client.reason().code, 4001);
  EXPECT_TRUE(fake.wait_for_closed(0));
}

TEST(FakeSlackSocketMode, PingsBothWaysAndRoundRobin) {
  FakeSlack::Options options;
  options.server_ping_interval = 100ms;
  FakeSlack fake(options);
  WsClient a(fake);
  WsClient b(fake);
  ASSERT_EQ(a.connect(open_url(fake)), "");
  EXPECT_EQ(a.read_json().at("num_connections").as_int64(), 1);
  ASSERT_EQ(b.connect(open_url(fake)), "");
  EXPECT_EQ(b.read_json().at("num_connections").as_int64(), 2);
  ASSERT_TRUE(fake.wait_for_connections(2));
  EXPECT_EQ(fake.open_connections(), (std::vector<int>{0, 1}));

  // Round robin: one envelope each.
  fake.send_envelope("interactive", FakeSlack::block_actions({}));
  fake.send_envelope("interactive", FakeSlack::block_actions({}));
  EXPECT_EQ(str(a.read_json().at("type")), "interactive");
  EXPECT_EQ(str(b.read_json().at("type")), "interactive");
  auto envelopes = fake.envelopes();
  EXPECT_NE(envelopes[0].connection, envelopes[1].connection);

  // Server pings arrive (Beast answers them while reading); client pings get pongs.
  a.ping();
  fake.send_raw(R"({"type":"marker"})", 0);
  EXPECT_EQ(str(a.read_json().at("type")), "marker");
  // Markers until the server's 100 ms pings have arrived twice (a condition, not a sleep: the
  // client sees pings only while it reads).
  EXPECT_TRUE(eventually([&] {
    fake.send_raw(R"({"type":"marker"})", 0);
    EXPECT_EQ(str(a.read_json().at("type")), "marker");
    return a.pings() >= 2;
  }));
  EXPECT_GE(a.pings(), 2);
  EXPECT_GE(a.pongs(), 1);
  EXPECT_GE(fake.pings_from_clients(), 1);
  // The client's pongs reach the fake a moment after the marker reached the client.
  EXPECT_TRUE(eventually([&] { return fake.pongs_from_clients() >= 2; }));
}

// ---- payload builders ----

TEST(FakeSlackBuilders, ShapesFollowTheProtocol) {
  FakeSlack::MentionSpec mention;
  mention.thread_ts = "1700000000.000001";
  auto callback = json::parse(FakeSlack::app_mention_event(mention)).as_object();
  EXPECT_EQ(str(callback.at("type")), "event_callback");
  EXPECT_EQ(str(callback.at("event_id")), "Ev0001");
  EXPECT_EQ(callback.at("event_time").as_int64(), 1700000000);
  EXPECT_EQ(str(callback.at("authorizations").at(0).at("user_id")), "UBOT");
  const auto& event = callback.at("event").as_object();
  EXPECT_EQ(str(event.at("type")), "app_mention");
  for (const char* key : {"user", "text", "ts", "channel", "event_ts", "thread_ts"})
    EXPECT_TRUE(event.contains(key)) << key;

  FakeSlack::MessageSpec dm;
  dm.subtype = "bot_message";
  dm.bot_id = "B9";
  auto message = json::parse(FakeSlack::message_event(dm)).at("event").as_object();
  EXPECT_EQ(str(message.at("type")), "message");
  EXPECT_EQ(str(message.at("channel_type")), "im");
  EXPECT_EQ(str(message.at("subtype")), "bot_message");
  EXPECT_EQ(str(message.at("bot_id")), "B9");
  EXPECT_FALSE(
      json::parse(FakeSlack::message_event({})).at("event").as_object().contains("subtype"));

  auto slash = json::parse(FakeSlack::slash_command({})).as_object();
  for (const char* key : {"user_id", "channel_id", "text", "command", "trigger_id", "response_url",
                          "team_id", "api_app_id"})
    EXPECT_TRUE(slash.contains(key)) << key;
  EXPECT_EQ(str(slash.at("command")), "/shipmate");

  FakeSlack::BlockActionSpec click;
  click.value = "42";
  auto actions = json::parse(FakeSlack::block_actions(click)).as_object();
  EXPECT_EQ(str(actions.at("type")), "block_actions");
  EXPECT_EQ(str(actions.at("user").at("id")), "U1");
  EXPECT_EQ(str(actions.at("channel").at("id")), "C1");
  EXPECT_EQ(str(actions.at("container").at("message_ts")), click.message_ts);
  const auto& action = actions.at("actions").at(0).as_object();
  EXPECT_EQ(str(action.at("value")), "42");
  EXPECT_EQ(str(action.at("action_id")), "approve");
  EXPECT_EQ(str(action.at("type")), "button");
  EXPECT_TRUE(action.contains("action_ts"));
  EXPECT_FALSE(str(actions.at("trigger_id")).empty());
}

TEST(FakeSlackWebApi, ResponseUrlPostsAreRecorded) {
  FakeSlack fake;
  const std::string url = fake.response_url();
  auto answer =
      post(fake, url_target(url), "application/json", R"({"text":"done","replace_original":true})");
  EXPECT_EQ(answer.status, 200);
  auto calls = fake.calls("response_url");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].param("text"), "done");
}

// ---- TLS ----

TEST(FakeSlackTls, WebApiAndSocketModeWithTheTestCa) {
  FakeSlack::Options options;
  options.tls = true;
  FakeSlack fake(options);
  EXPECT_EQ(fake.api_url().rfind("https://127.0.0.1:", 0), 0u);
  EXPECT_NE(fake.ca_pem().find("BEGIN CERTIFICATE"), std::string::npos);
  EXPECT_EQ(error_of(api_json(fake, "auth.test", {}, options.bot_token)), "");
  const std::string url = open_url(fake);
  EXPECT_EQ(url.rfind("wss://127.0.0.1:", 0), 0u) << url;

  WsClient client(fake);
  ASSERT_EQ(client.connect(url), "");
  EXPECT_EQ(str(client.read_json().at("type")), "hello");
  const std::string id = fake.send_envelope("events_api", FakeSlack::message_event({}));
  EXPECT_EQ(str(client.read_json().at("envelope_id")), id);
  client.write(R"({"envelope_id":")" + id + R"(","payload":{}})");
  ASSERT_TRUE(fake.wait_for_acks(1));
  EXPECT_EQ(fake.ack_count(id), 1);
  fake.cut(0);
  beast::error_code ec;
  EXPECT_FALSE(client.read(&ec));
  EXPECT_TRUE(ec);
  EXPECT_NE(ec, websocket::error::closed);
}

// ---- the official client ----

// Why the official-client tests cannot run, or "" when they can.
std::string official_client_missing() {
  const std::string node_dir = source_dir() + "/tests/node";
  if (!std::filesystem::exists(node_dir + "/node_modules/@slack/socket-mode") ||
      !std::filesystem::exists(node_dir + "/node_modules/@slack/web-api"))
    return "tests/node/node_modules is missing: run scripts/install-deps";
  // tests/node pins clients that run on Debian 12's Node 18 (what scripts/install-deps installs).
  auto [status, version] =
      run_command({"/usr/bin/env", "node", "-p", "process.versions.node.split('.')[0]"});
  if (status != 0 || std::atoi(version.c_str()) < 18)
    return "needs Node.js 18 or newer (found: " + version + ")";
  return "";
}

std::unique_ptr<Subprocess> run_official_client(const FakeSlack& fake) {
  const std::string node_dir = source_dir() + "/tests/node";
  return std::make_unique<Subprocess>(
      std::vector<std::string>{"/usr/bin/env", "node", node_dir + "/socket_mode_check.mjs",
                               fake.api_url(), fake.options().app_token, fake.options().bot_token},
      std::map<std::string, std::string>{}, node_dir);
}

TEST(OfficialClient, SocketModeClientConnectsAcksAndPosts) {
  if (auto missing = official_client_missing(); !missing.empty())
    GTEST_SKIP() << missing;

  FakeSlack::Options options;
  options.server_ping_interval = 500ms;  // the script gives up after 2 s without a server ping
  FakeSlack fake(options);
  auto child = run_official_client(fake);
  Subprocess& node = *child;
  ASSERT_TRUE(node.wait_for_output("CONNECTED", 30s)) << node.output();
  ASSERT_TRUE(fake.wait_for_connections(1));

  // Stay connected long enough for the client's ping checks to fire several times: it pings every
  // 500 ms and drops a link whose pong is late (a reconnect would show here), and it answers our
  // pings. (Its 2 s server-ping timer only starts at the first server ping, so a fake that never
  // pings is caught by the pong count, not by a reconnect.)
  // Waits on the counts, not a fixed 3 s, so a loaded machine only makes it slower.
  ASSERT_TRUE(eventually(
      [&] { return fake.pings_from_clients() >= 4 && fake.pongs_from_clients() >= 3; }, 60s))
      << node.output();
  EXPECT_EQ(fake.total_connections(), 1) << node.output();

  FakeSlack::MentionSpec mention;
  mention.channel = "C42";
  mention.user = "U7";
  mention.ts = "1700000123.000400";
  mention.text = "<@UBOT> status";
  const std::string id = fake.send_envelope("events_api", FakeSlack::app_mention_event(mention));
  ASSERT_TRUE(node.wait_for_output("RESULT ok=true", 30s)) << node.output();
  EXPECT_EQ(node.wait(30s), 0) << node.output();
  EXPECT_NE(node.output().find("SLACK_EVENT events_api " + id), std::string::npos) << node.output();
  EXPECT_NE(node.output().find("ACKED " + id + " retry_num=0 retry_reason="), std::string::npos)
      << node.output();

  ASSERT_TRUE(fake.wait_for_acks(1));
  EXPECT_EQ(fake.ack_count(id), 1);
  EXPECT_EQ(fake.acks()[0].payload, "{}");

  auto open_calls = fake.calls("apps.connections.open");
  ASSERT_EQ(open_calls.size(), 1u);
  EXPECT_EQ(open_calls[0].target, "/api/apps.connections.open");
  EXPECT_EQ(open_calls[0].authorization, "Bearer " + options.app_token);
  EXPECT_EQ(open_calls[0].content_type, "application/x-www-form-urlencoded");

  auto posts = fake.calls("chat.postMessage");
  ASSERT_EQ(posts.size(), 1u);
  EXPECT_EQ(posts[0].authorization, "Bearer " + options.bot_token);
  EXPECT_EQ(posts[0].content_type, "application/x-www-form-urlencoded");
  EXPECT_EQ(posts[0].param("channel"), "C42");
  EXPECT_EQ(posts[0].param("thread_ts"), mention.ts);
  EXPECT_EQ(posts[0].param("text"), "hello <@U7>");
  ASSERT_EQ(fake.messages().size(), 1u);
  EXPECT_NE(node.output().find("ts=" + fake.messages()[0].ts), std::string::npos);

  // filesUploadV2: both Web API calls, and the bytes POSTed (multipart) to the upload URL.
  auto url_calls = fake.calls("files.getUploadURLExternal");
  ASSERT_EQ(url_calls.size(), 1u);
  EXPECT_EQ(url_calls[0].param("filename"), "status.txt");
  EXPECT_EQ(url_calls[0].param("length"), "9");
  auto uploads = fake.uploads();
  ASSERT_EQ(uploads.size(), 1u);
  EXPECT_EQ(uploads[0].bytes, "all good\n");
  EXPECT_TRUE(uploads[0].completed);
  EXPECT_EQ(uploads[0].title, "Status");
  EXPECT_EQ(uploads[0].channel_id, "C42");
  EXPECT_EQ(uploads[0].thread_ts, mention.ts);
  EXPECT_EQ(uploads[0].initial_comment, "status attached");
  EXPECT_NE(node.output().find("file=" + uploads[0].file_id), std::string::npos) << node.output();
  // The client closed its websocket cleanly when it disconnected.
  EXPECT_TRUE(fake.wait_for_closed(0));
}

TEST(OfficialClient, ReconnectsAfterDisconnectFrameWithAFreshTicket) {
  if (auto missing = official_client_missing(); !missing.empty())
    GTEST_SKIP() << missing;
  FakeSlack::Options options;
  options.server_ping_interval = 500ms;
  FakeSlack fake(options);
  auto node = run_official_client(fake);
  ASSERT_TRUE(node->wait_for_output("CONNECTED", 30s)) << node->output();
  ASSERT_TRUE(fake.wait_for_connections(1));

  // The client closes on "disconnect", waits clientPingTimeout (1.5 s), and opens a new link.
  fake.send_disconnect("refresh_requested", 0);
  EXPECT_TRUE(fake.wait_for_closed(0, 30s)) << node->output();
  ASSERT_TRUE(eventually([&] { return fake.total_connections() == 2; }, 30s)) << node->output();
  ASSERT_TRUE(fake.wait_for_connections(1));
  EXPECT_EQ(fake.open_connections(), (std::vector<int>{1}));
  auto opens = fake.calls("apps.connections.open");
  ASSERT_EQ(opens.size(), 2u);
  EXPECT_NE(opens[0].response, opens[1].response);  // each open hands out a new ticket
  EXPECT_EQ(fake.rejected_upgrades(), 0);

  const std::string id = fake.send_envelope("events_api", FakeSlack::app_mention_event({}));
  ASSERT_TRUE(node->wait_for_output("RESULT ok=true", 30s)) << node->output();
  EXPECT_EQ(node->wait(30s), 0) << node->output();
  EXPECT_EQ(fake.ack_count(id), 1);
  EXPECT_EQ(fake.acks().at(0).connection, 1);
}

// Incident rooms: the methods Shipmate's Slack transport calls for a room, made by Slack's own
// WebClient against the fake. A machine without the client fails here instead of skipping.
TEST(OfficialClient, WebClientCreatesInvitesSetsTopicPinsListsAndReadsHistory) {
  const std::string missing = official_client_missing();
  ASSERT_EQ(missing, "") << "the @slack/web-api cross-check cannot run: " << missing;
  FakeSlack fake;
  const std::string existing = fake.add_channel("incidents");
  const std::string node_dir = source_dir() + "/tests/node";
  Subprocess node(
      std::vector<std::string>{"/usr/bin/env", "node", node_dir + "/slack_rooms_check.mjs",
                               fake.api_url(), fake.options().bot_token,
                               "inc-20261206-checkout-errors", "U1,U2", existing},
      std::map<std::string, std::string>{}, node_dir);
  ASSERT_TRUE(node.wait_for_output("RESULT ok=true", 60s)) << node.output();
  EXPECT_EQ(node.wait(30s), 0) << node.output();
  const std::string out = node.output();

  auto created = fake.calls("conversations.create");
  ASSERT_EQ(created.size(), 3u);  // the room, the name_taken retry, the private room
  EXPECT_EQ(created[0].param("name"), "inc-20261206-checkout-errors");
  EXPECT_NE(out.find("SECOND CREATE name_taken"), std::string::npos) << out;
  const auto members = fake.channel_members();
  std::string room;
  for (const auto& [id, users] : members) {
    if (std::find(users.begin(), users.end(), "U1") != users.end())
      room = id;
  }
  ASSERT_FALSE(room.empty());
  EXPECT_NE(out.find("CREATED " + room + " inc-20261206-checkout-errors"), std::string::npos);
  EXPECT_EQ(members.at(room), (std::vector<std::string>{"UBOT", "U1", "U2"}));
  EXPECT_NE(out.find("INVITED ok=true"), std::string::npos) << out;
  EXPECT_NE(out.find("INVITE AGAIN already_in_channel"), std::string::npos) << out;
  EXPECT_EQ(fake.channel_topics().at(room), "INC-1 sev2 investigating");
  EXPECT_NE(out.find("TOPIC INC-1 sev2 investigating"), std::string::npos) << out;
  ASSERT_EQ(fake.channel_pins().at(room).size(), 1u);
  const std::string pinned = fake.channel_pins().at(room)[0];
  EXPECT_NE(out.find("PINNED ok=true ts=" + pinned), std::string::npos) << out;
  EXPECT_NE(out.find("PIN AGAIN already_pinned"), std::string::npos) << out;
  // One channel per page: the client followed next_cursor until it was empty.
  EXPECT_NE(
      out.find("LISTED pages=2 incidents=" + existing + " inc-20261206-checkout-errors=" + room),
      std::string::npos)
      << out;
  // Two pages, then one listing after the archive.
  EXPECT_EQ(fake.calls("conversations.list").size(), 3u);
  EXPECT_NE(out.find("HISTORY 1 " + pinned + " summary card"), std::string::npos) << out;
  EXPECT_NE(
      out.find("INFO " + room + " creator=UBOT created=true " + existing + " creator=U0PERSON"),
      std::string::npos)
      << out;
  EXPECT_NE(out.find("INFO MISSING channel_not_found"), std::string::npos) << out;
  // A private room, and the first room archived.
  EXPECT_EQ(created[2].param("is_private"), "true");
  EXPECT_NE(out.find(" is_private=true"), std::string::npos) << out;
  EXPECT_NE(out.find("ARCHIVED ok=true"), std::string::npos) << out;
  EXPECT_NE(out.find("ARCHIVE AGAIN already_archived"), std::string::npos) << out;
  EXPECT_NE(out.find("POST ARCHIVED is_archived"), std::string::npos) << out;
  EXPECT_NE(out.find("LISTED AFTER ARCHIVE incidents inc-20261206-checkout-errors-private"),
            std::string::npos)
      << out;
  EXPECT_EQ(fake.archived_channels(), (std::set<std::string>{room}));
  // The client sends forms with the bot token in the header, as Shipmate must be ready for.
  for (const auto& call : fake.calls()) {
    EXPECT_EQ(call.authorization, "Bearer " + fake.options().bot_token) << call.method;
    EXPECT_EQ(call.content_type, "application/x-www-form-urlencoded") << call.method;
  }
}

}  // namespace
}  // namespace shipmate::testing

namespace shipmate::testing {
namespace {

// What the reply outbox relies on (message metadata listed by conversations.history/replies),
// checked with Slack's own WebClient so the fake cannot drift from Slack.
TEST(OfficialClient, MessageMetadataIsListedByHistoryAndRepliesOnlyWhenAskedFor) {
  if (auto missing = official_client_missing(); !missing.empty())
    GTEST_SKIP() << missing;
  FakeSlack fake;
  const std::string node_dir = source_dir() + "/tests/node";
  Subprocess node({"/usr/bin/env", "node", node_dir + "/outbox_metadata_check.mjs", fake.api_url(),
                   fake.options().bot_token, "C9"},
                  {}, node_dir);
  ASSERT_TRUE(node.wait_for_output("RESULT ok", 60s)) << node.output();
  EXPECT_EQ(node.wait(30s), 0) << node.output();
  const std::string out = node.output();
  const auto messages = fake.messages();
  ASSERT_EQ(messages.size(), 2u);
  const std::string top = messages[0].ts;
  const std::string reply = messages[1].ts;
  // History: the channel's message with its key, not the thread reply.
  EXPECT_NE(out.find("HISTORY " + top + " k#0"), std::string::npos) << out;
  EXPECT_EQ(out.find("HISTORY " + reply), std::string::npos) << out;
  // Replies: the parent, then the reply, both with their keys.
  EXPECT_NE(out.find("REPLIES " + top + " k#0"), std::string::npos) << out;
  EXPECT_NE(out.find("REPLIES " + reply + " k#1"), std::string::npos) << out;
  // Without include_all_metadata, no metadata.
  EXPECT_NE(out.find("PLAIN " + top + " -"), std::string::npos) << out;
  EXPECT_NE(messages[0].metadata.find("shipmate_reply"), std::string::npos);
}

}  // namespace
}  // namespace shipmate::testing
