// Which HTTP listener each owner (Slack's HTTP mode, Teams, the alert webhooks, the ops
// endpoints) mounts its routes on, decided from the configuration, and the listener itself from
// the process's HttpListeners (integrations/net/http_listeners.h).
//
// The rule, one for every owner (choose_listener() is pure and tested row by row):
//   1. the owner's section names an address (`listen:`, an old alias such as slack http_port, or
//      Teams' PORT): that address. When it is the http: block's address, it is the shared
//      listener; otherwise a listener of its own (separate ports keep working);
//   2. otherwise, with an http: block: the shared listener;
//   3. otherwise the owner's old default address, or none (the alert webhooks, which listen only
//      when asked).
//
// Contract: pure, except listener_for(), which starts or finds the listener (event-loop thread).
// Errors are the listener's own one-line reasons.
#pragma once

#include <optional>
#include <string>

#include "bot/config.h"
#include "common/result.h"

namespace shipmate::integrations::net {
class HttpListeners;
class HttpServer;
struct HttpServerOptions;
}  // namespace shipmate::integrations::net

namespace shipmate::bot {

struct ListenerChoice {
  enum class Kind { none, shared, own };
  Kind kind = Kind::none;
  ListenAddress address;  // for own
};

// `own`: the address the owner's section asks for; `fallback`: its address when there is no
// http: block (nullopt: it does not listen then).
ListenerChoice choose_listener(const HttpConfig& http, const std::optional<ListenAddress>& own,
                               const std::optional<ListenAddress>& fallback);

// The shared listener's options from the http: block.
integrations::net::HttpServerOptions shared_listener_options(const HttpConfig& http);

// The listener `choice` names: the shared one, or one at its own address named `name` ("ops
// http"), shared with any other owner of that address. An Error for Kind::none.
Result<integrations::net::HttpServer*> listener_for(integrations::net::HttpListeners& listeners,
                                                    const ListenerChoice& choice,
                                                    const std::string& name);

}  // namespace shipmate::bot
