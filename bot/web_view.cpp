#include "bot/web_view.h"

#include <spdlog/spdlog.h>

#include <boost/asio/awaitable.hpp>

#include "integrations/net/http_server.h"
#include "web/site.h"

namespace shipmate::bot {
namespace net = integrations::net;

Status mount_web_view(net::HttpServer& server, std::shared_ptr<web::WebView> view) {
  for (const auto& path : web::WebView::paths()) {
    auto mounted = server.mount(
        "GET", path,
        [view](net::ServerRequest request) -> boost::asio::awaitable<net::ServerResponse> {
          web::WebRequest in{request.path, request.query, request.header("Accept"),
                             request.header("Authorization"), request.peer};
          web::WebResponse out = view->handle(in);
          if (!out.refusal.empty()) {
            spdlog::warn("web view: refused GET {} from {} ({}): {}", request.path, request.peer,
                         out.status, out.refusal);
          }
          net::ServerResponse response;
          response.status = out.status;
          response.headers = std::move(out.headers);
          response.body = std::move(out.body);
          co_return response;
        },
        net::RouteOptions{1024});
    if (!mounted)
      return mounted.error();
  }
  return Ok{};
}

}  // namespace shipmate::bot
