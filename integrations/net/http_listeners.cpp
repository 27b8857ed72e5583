#include "integrations/net/http_listeners.h"

namespace shipmate::integrations::net {

HttpListeners::HttpListeners(boost::asio::any_io_executor executor)
    : executor_(std::move(executor)) {}

HttpListeners::~HttpListeners() {
  stop();
}

void HttpListeners::set_shared(HttpServerOptions options) {
  shared_options_ = std::move(options);
}

bool HttpListeners::has_shared() const {
  return shared_options_.has_value();
}

Result<HttpServer*> HttpListeners::shared() {
  if (shared_)
    return shared_;
  if (shared_error_)
    return *shared_error_;
  if (!shared_options_)
    return make_error("no shared http: listener is configured", ErrorKind::invalid);
  auto started = start(*shared_options_);
  if (!started) {
    shared_error_ = started.error();
    return started.error();
  }
  shared_ = *started;
  return shared_;
}

Result<HttpServer*> HttpListeners::listen(HttpServerOptions options) {
  if (options.port != 0) {
    // The shared listener counts as open at its configured address even before first use.
    if (shared_options_ && !shared_ && shared_options_->port == options.port &&
        shared_options_->bind_address == options.bind_address) {
      auto shared_listener = shared();
      if (!shared_listener)
        return shared_listener.error();
    }
    for (auto& entry : entries_) {
      if (entry.options.port != options.port || entry.options.bind_address != options.bind_address)
        continue;
      if (entry.options.tls_cert_file != options.tls_cert_file ||
          entry.options.tls_key_file != options.tls_key_file) {
        const auto scheme = [](const HttpServerOptions& o) {
          return o.tls_cert_file.empty() ? std::string("plain HTTP")
                                         : "HTTPS with " + o.tls_cert_file;
        };
        return make_error(options.name + " and " + entry.options.name + " both listen on " +
                              options.bind_address + ":" + std::to_string(options.port) +
                              " but ask for different TLS (" + scheme(options) + " against " +
                              scheme(entry.options) +
                              "); give them one TLS setting or different ports",
                          ErrorKind::invalid);
      }
      return entry.server.get();
    }
  }
  return start(std::move(options));
}

Result<HttpServer*> HttpListeners::start(HttpServerOptions options) {
  auto started = HttpServer::start(executor_, options);
  if (!started)
    return started.error();
  entries_.push_back(Entry{std::move(options), std::move(*started)});
  return entries_.back().server.get();
}

void HttpListeners::stop() {
  for (auto& entry : entries_)
    entry.server->stop();
}

std::vector<HttpServer*> HttpListeners::open() const {
  std::vector<HttpServer*> out;
  for (const auto& entry : entries_)
    out.push_back(entry.server.get());
  return out;
}

}  // namespace shipmate::integrations::net
