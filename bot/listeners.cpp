#include "bot/listeners.h"

#include "integrations/net/http_listeners.h"
#include "integrations/net/http_server.h"

namespace shipmate::bot {
namespace net = integrations::net;

ListenerChoice choose_listener(const HttpConfig& http, const std::optional<ListenAddress>& own,
                               const std::optional<ListenAddress>& fallback) {
  if (own) {
    // A port-0 request never matches the shared listener (it asks for a port of its own).
    if (http.enabled && own->port != 0 && own->port == http.port && own->bind == http.bind)
      return {ListenerChoice::Kind::shared, {}};
    return {ListenerChoice::Kind::own, *own};
  }
  if (http.enabled)
    return {ListenerChoice::Kind::shared, {}};
  if (fallback)
    return {ListenerChoice::Kind::own, *fallback};
  return {};
}

net::HttpServerOptions shared_listener_options(const HttpConfig& http) {
  net::HttpServerOptions options;
  options.name = "http";
  options.bind_address = http.bind;
  options.port = http.port;
  options.tls_cert_file = http.tls_cert_file;
  options.tls_key_file = http.tls_key_file;
  options.header_timeout = std::chrono::milliseconds(http.header_timeout_ms);
  options.body_timeout = std::chrono::milliseconds(http.body_timeout_ms);
  options.idle_timeout = std::chrono::milliseconds(http.idle_timeout_ms);
  return options;
}

Result<net::HttpServer*> listener_for(net::HttpListeners& listeners, const ListenerChoice& choice,
                                      const std::string& name) {
  switch (choice.kind) {
    case ListenerChoice::Kind::shared:
      return listeners.shared();
    case ListenerChoice::Kind::own: {
      net::HttpServerOptions options;
      options.name = name;
      options.bind_address = choice.address.bind;
      options.port = choice.address.port;
      return listeners.listen(std::move(options));
    }
    case ListenerChoice::Kind::none:
      break;
  }
  return make_error(name + ": no listener is configured", ErrorKind::invalid);
}

}  // namespace shipmate::bot
