#include "tests/support/test_tls.h"

#include <sys/stat.h>

#include <fstream>
#include <memory>
#include <stdexcept>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace shipmate::testing {

namespace {

template <class T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION, X509_EXTENSION_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;

[[noreturn]] void fail(const std::string& what) {
  std::string message = "make_test_certificates: " + what;
  unsigned long code = ERR_get_error();
  if (code != 0) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof buffer);
    message += ": ";
    message += buffer;
  }
  ERR_clear_error();
  throw std::runtime_error(message);
}

void check(int ok, const char* what) {
  if (ok != 1)
    fail(what);
}

// EC P-256: fast to generate (RSA 2048 takes noticeable time per test) and accepted by every
// TLS 1.2/1.3 stack.
PkeyPtr make_key() {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_EC, nullptr));
  if (!ctx)
    fail("EVP_PKEY_CTX_new_id");
  check(EVP_PKEY_keygen_init(ctx.get()), "EVP_PKEY_keygen_init");
  check(EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx.get(), NID_X9_62_prime256v1), "set curve P-256");
  EVP_PKEY* raw = nullptr;
  check(EVP_PKEY_keygen(ctx.get(), &raw), "EVP_PKEY_keygen");
  return PkeyPtr(raw);
}

void set_random_serial(X509* cert) {
  unsigned char bytes[16];
  check(RAND_bytes(bytes, sizeof bytes), "RAND_bytes");
  bytes[0] &= 0x7f;  // serials must be positive
  bytes[0] |= 0x01;  // and not start with a zero byte
  BnPtr bn(BN_bin2bn(bytes, sizeof bytes, nullptr));
  if (!bn || BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) == nullptr)
    fail("serial number");
}

void set_name(X509_NAME* name, const char* common_name) {
  check(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>("Shipmate tests"), -1, -1,
                                   0),
        "subject O");
  check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0),
        "subject CN");
}

void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (!ext)
    fail(std::string("extension ") + OBJ_nid2sn(nid) + "=" + value);
  check(X509_add_ext(cert, ext.get(), -1), "X509_add_ext");
}

// `issuer` null means self-signed (the CA).
X509Ptr make_certificate(EVP_PKEY* key, const char* common_name, X509* issuer,
                         EVP_PKEY* issuer_key) {
  X509Ptr cert(X509_new());
  if (!cert)
    fail("X509_new");
  check(X509_set_version(cert.get(), 2), "X509_set_version");  // v3
  set_random_serial(cert.get());
  // Valid from an hour ago, so clock skew between test processes cannot matter.
  if (X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60L * 60) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24L * 60 * 60) == nullptr)
    fail("validity");
  check(X509_set_pubkey(cert.get(), key), "X509_set_pubkey");
  set_name(X509_get_subject_name(cert.get()), common_name);
  X509* signer = issuer != nullptr ? issuer : cert.get();
  check(X509_set_issuer_name(cert.get(), X509_get_subject_name(signer)), "X509_set_issuer_name");

  if (issuer == nullptr) {
    add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
    add_extension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
    add_extension(cert.get(), signer, NID_subject_key_identifier, "hash");
  } else {
    add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
    add_extension(cert.get(), signer, NID_key_usage, "critical,digitalSignature");
    add_extension(cert.get(), signer, NID_ext_key_usage, "serverAuth");
    add_extension(cert.get(), signer, NID_subject_alt_name,
                  "DNS:localhost,IP:127.0.0.1,IP:0:0:0:0:0:0:0:1");
    add_extension(cert.get(), signer, NID_subject_key_identifier, "hash");
    add_extension(cert.get(), signer, NID_authority_key_identifier, "keyid:always");
  }
  if (X509_sign(cert.get(), issuer_key, EVP_sha256()) <= 0)
    fail("X509_sign");
  return cert;
}

std::string read_bio(BIO* bio) {
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  if (size <= 0 || data == nullptr)
    fail("empty PEM output");
  return std::string(data, static_cast<std::size_t>(size));
}

std::string cert_pem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio)
    fail("BIO_new");
  check(PEM_write_bio_X509(bio.get(), cert), "PEM_write_bio_X509");
  return read_bio(bio.get());
}

std::string key_pem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio)
    fail("BIO_new");
  check(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr),
        "PEM_write_bio_PrivateKey");
  return read_bio(bio.get());
}

void write_pem(const std::string& path, const std::string& pem, bool secret) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << pem;
    out.close();
    if (!out)
      throw std::runtime_error("make_test_certificates: cannot write " + path);
  }
  if (secret)
    ::chmod(path.c_str(), 0600);
}

}  // namespace

TestCertificates make_test_certificates(const std::string& dir) {
  ERR_clear_error();
  PkeyPtr ca_key = make_key();
  X509Ptr ca = make_certificate(ca_key.get(), "Shipmate Test CA", nullptr, ca_key.get());
  PkeyPtr server_key = make_key();
  X509Ptr server = make_certificate(server_key.get(), "localhost", ca.get(), ca_key.get());

  TestCertificates out;
  out.ca_pem = cert_pem(ca.get());
  out.cert_pem = cert_pem(server.get());
  out.key_pem = key_pem(server_key.get());
  out.ca_path = dir + "/test-ca.pem";
  out.cert_path = dir + "/test-server.pem";
  out.key_path = dir + "/test-server-key.pem";
  write_pem(out.ca_path, out.ca_pem, false);
  write_pem(out.cert_path, out.cert_pem, false);
  write_pem(out.key_path, out.key_pem, true);
  return out;
}

}  // namespace shipmate::testing
