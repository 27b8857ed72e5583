// bot/listeners.h: which listener each HTTP owner mounts on, row by row.
#include "bot/listeners.h"

#include <gtest/gtest.h>

#include "integrations/net/http_server.h"

namespace shipmate::bot {
namespace {

using Kind = ListenerChoice::Kind;

HttpConfig shared_on(int port) {
  HttpConfig http;
  http.enabled = true;
  http.bind = "127.0.0.1";
  http.port = port;
  return http;
}

TEST(ChooseListener, EveryRowOfTheRule) {
  const HttpConfig none;  // no http: block
  const ListenAddress old_default{"0.0.0.0", 3000};
  struct Row {
    const char* what;
    HttpConfig http;
    std::optional<ListenAddress> own;
    std::optional<ListenAddress> fallback;
    Kind kind;
    std::string bind;
    int port;
  };
  const std::vector<Row> rows = {
      {"no http:, no address: the old default", none, std::nullopt, old_default, Kind::own,
       "0.0.0.0", 3000},
      {"no http:, no address, no default (alerts): none", none, std::nullopt, std::nullopt,
       Kind::none, "", 0},
      {"no http:, an address: that address", none, ListenAddress{"127.0.0.1", 9000}, old_default,
       Kind::own, "127.0.0.1", 9000},
      {"http:, no address: shared", shared_on(8080), std::nullopt, old_default, Kind::shared, "",
       0},
      {"http:, no address, no default: shared", shared_on(8080), std::nullopt, std::nullopt,
       Kind::shared, "", 0},
      {"http:, the same address: shared", shared_on(8080), ListenAddress{"127.0.0.1", 8080},
       old_default, Kind::shared, "", 0},
      {"http:, another port: its own", shared_on(8080), ListenAddress{"127.0.0.1", 9464},
       old_default, Kind::own, "127.0.0.1", 9464},
      {"http:, same port on another bind: its own (the bind then fails, saying so)",
       shared_on(8080), ListenAddress{"0.0.0.0", 8080}, old_default, Kind::own, "0.0.0.0", 8080},
      {"http: on port 0 and an own port 0: never the same listener", shared_on(0),
       ListenAddress{"127.0.0.1", 0}, old_default, Kind::own, "127.0.0.1", 0},
  };
  for (const auto& row : rows) {
    const ListenerChoice choice = choose_listener(row.http, row.own, row.fallback);
    EXPECT_EQ(choice.kind, row.kind) << row.what;
    if (row.kind == Kind::own) {
      EXPECT_EQ(choice.address.bind, row.bind) << row.what;
      EXPECT_EQ(choice.address.port, row.port) << row.what;
    }
  }
}

TEST(ChooseListener, TheSharedListenerTakesTheHttpBlocksSettings) {
  HttpConfig http = shared_on(8443);
  http.tls_cert_file = "/etc/shipmate/cert.pem";
  http.tls_key_file = "/etc/shipmate/key.pem";
  http.header_timeout_ms = 2500;
  http.body_timeout_ms = 7000;
  http.idle_timeout_ms = 90'000;
  const auto options = shared_listener_options(http);
  EXPECT_EQ(options.name, "http");
  EXPECT_EQ(options.bind_address, "127.0.0.1");
  EXPECT_EQ(options.port, 8443);
  EXPECT_EQ(options.tls_cert_file, "/etc/shipmate/cert.pem");
  EXPECT_EQ(options.tls_key_file, "/etc/shipmate/key.pem");
  EXPECT_EQ(options.header_timeout, std::chrono::milliseconds(2500));
  EXPECT_EQ(options.body_timeout, std::chrono::milliseconds(7000));
  EXPECT_EQ(options.idle_timeout, std::chrono::milliseconds(90'000));
}

}  // namespace
}  // namespace shipmate::bot
