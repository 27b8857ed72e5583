// The read-only web view (web/site.h) mounted on the ops listener (bot/ops_server.h).
//
// Contract
// - Threading: mounted and served on the event loop. Each GET is answered by WebView::handle()
//   on the loop (bounded reads; see web/site.h); nothing is awaited.
// - Routes: GET for each of WebView::paths() ("/", "/deploys", "/deploy", "/incidents",
//   "/incident", "/runbooks", "/runbook-run", "/dora", "/style.css"); other methods get 405 from
//   the server. Request bodies are refused over 1 KiB.
// - A refused request (401/403) is logged in one line with the peer and the reason, never with
//   what it sent. Off unless `ops: web:` is configured (bot/config_web.cpp).
// - Errors: mount_web_view() fails when a path is already mounted on the server.
#pragma once

#include <memory>

#include "common/result.h"

namespace shipmate::integrations::net {
class HttpServer;
}
namespace shipmate::web {
class WebView;
}

namespace shipmate::bot {

Status mount_web_view(integrations::net::HttpServer& server, std::shared_ptr<web::WebView> view);

}  // namespace shipmate::bot
