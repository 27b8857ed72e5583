#include "integrations/net/tls.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>

#include "common/strings.h"

namespace shipmate::integrations::net::detail {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;

namespace {

std::string openssl_reason(unsigned long code) {
  const char* reason = ERR_reason_error_string(code);
  if (reason != nullptr)
    return reason;
  char buffer[256];
  ERR_error_string_n(code, buffer, sizeof buffer);
  return buffer;
}

}  // namespace

bool is_ip_literal(const std::string& host) {
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

Result<std::shared_ptr<ssl::context>> make_client_tls_context(const std::string& ca_file,
                                                              bool verify_peer) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX* native = context->native_handle();
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1)
    return make_error("TLS setup failed: cannot require TLS 1.2", ErrorKind::tls);
  context->set_options(ssl::context::default_workarounds | ssl::context::no_compression);

  boost::system::error_code ec;
  if (verify_peer) {
    // A machine without a system store still works when the caller brings its own CA bundle.
    context->set_default_verify_paths(ec);
    if (ec && ca_file.empty())
      return make_error("TLS setup failed: cannot load the system trust store: " + ec.message(),
                        ErrorKind::tls);
    ec.clear();
  }
  if (!ca_file.empty()) {
    context->load_verify_file(ca_file, ec);
    if (ec) {
      return make_error(
          "TLS setup failed: cannot load CA file " + ca_file + ": " + to_lower(ec.message()),
          ErrorKind::tls);
    }
  }
  context->set_verify_mode(verify_peer ? ssl::verify_peer : ssl::verify_none);
  return context;
}

Status prepare_tls_connection(SSL* ssl, const std::string& host, bool verify_peer) {
  bool ip = is_ip_literal(host);
  // RFC 6066 forbids IP literals in SNI.
  if (!ip && SSL_set_tlsext_host_name(ssl, host.c_str()) != 1)
    return make_error("TLS setup failed: cannot set server name " + host, ErrorKind::tls);
  if (!verify_peer)
    return Ok{};
  // OpenSSL's own matching (RFC 6125): the mismatch then surfaces as a verify result that
  // describe_tls_error() can name, which a verify callback would hide.
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str())
              : X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
  if (ok != 1)
    return make_error("TLS setup failed: cannot set expected peer name " + host, ErrorKind::tls);
  return Ok{};
}

std::string describe_tls_error(const boost::system::error_code& ec, SSL* ssl) {
  if (ec == ssl::error::stream_truncated)
    return "connection closed during the TLS handshake";
  if (ec.category() == asio::error::get_ssl_category()) {
    auto code = static_cast<unsigned long>(static_cast<unsigned int>(ec.value()));
    if (ERR_GET_REASON(code) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
      std::string out = "certificate verify failed";
      long verify = ssl != nullptr ? SSL_get_verify_result(ssl) : X509_V_OK;
      if (verify != X509_V_OK)
        out += std::string(": ") + X509_verify_cert_error_string(verify);
      return out;
    }
    return to_lower(openssl_reason(code));
  }
  return describe_network_error(ec);
}

std::string describe_network_error(const boost::system::error_code& ec) {
  if (ec == asio::error::connection_refused)
    return "connection refused";
  if (ec == asio::error::connection_reset)
    return "connection reset";
  if (ec == asio::error::broken_pipe)
    return "connection closed by peer (broken pipe)";
  if (ec == asio::error::eof)
    return "connection closed by peer";
  if (ec == asio::error::host_unreachable)
    return "host unreachable";
  if (ec == asio::error::network_unreachable)
    return "network unreachable";
  if (ec == asio::error::host_not_found || ec == asio::error::host_not_found_try_again)
    return "host not found";
  return to_lower(ec.message());
}

}  // namespace shipmate::integrations::net::detail
