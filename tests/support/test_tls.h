// Certificates for TLS tests, made at run time so nothing secret or expiring is committed.
#pragma once

#include <string>

namespace shipmate::testing {

struct TestCertificates {
  std::string ca_path;    // PEM of the CA certificate (what clients trust)
  std::string cert_path;  // PEM server certificate for "localhost" and 127.0.0.1, signed by the CA
  std::string key_path;   // PEM private key of the server certificate
  std::string ca_pem, cert_pem, key_pem;  // the same, as text
};

// Creates a fresh CA and server certificate (valid from an hour ago for a day) under `dir`.
// Throws std::runtime_error when OpenSSL fails.
TestCertificates make_test_certificates(const std::string& dir);

}  // namespace shipmate::testing
