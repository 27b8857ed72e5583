// Client-side TLS and connection helpers shared by the HTTP and WebSocket clients (internal).
//
// Contract
// - make_client_tls_context(): TLS 1.2 or newer, the system trust store plus an optional extra
//   PEM bundle, peer verification on unless `verify_peer` is false. The context is shared by
//   every connection of one client.
// - prepare_tls_connection(): call on each new SSL object before the handshake; sets SNI (for
//   names, never for IP literals) and the name or address the certificate must match.
// - describe_tls_error(): one lowercase cause for a failed handshake, with OpenSSL's verify
//   result when verification failed ("certificate verify failed: hostname mismatch").
// - describe_network_error(): the same for socket errors ("connection refused").
// Only shipmate_net's own sources include this header; it keeps OpenSSL types out of the public
// headers.
#pragma once

#include <memory>
#include <string>

#include <openssl/ssl.h>
#include <boost/system/error_code.hpp>

#include "common/result.h"

namespace boost::asio::ssl {
class context;
}

namespace shipmate::integrations::net::detail {

Result<std::shared_ptr<boost::asio::ssl::context>> make_client_tls_context(
    const std::string& ca_file, bool verify_peer);

Status prepare_tls_connection(SSL* ssl, const std::string& host, bool verify_peer);

std::string describe_tls_error(const boost::system::error_code& ec, SSL* ssl);

std::string describe_network_error(const boost::system::error_code& ec);

// True when `host` is an IPv4 or IPv6 literal (no brackets).
bool is_ip_literal(const std::string& host);

}  // namespace shipmate::integrations::net::detail
