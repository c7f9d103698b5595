// tls_certs.cpp: TestPki (tls_certs.hpp), with OpenSSL's EVP / X509 API: EC P-256
// keys (fast to make), v3 extensions as a real CA would set them.
#include "tls_certs.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace tls_test {

namespace {

[[noreturn]] void fail(const char* what) { throw std::runtime_error(std::string("tls_certs: ") + what); }

EVP_PKEY* new_key() {
  EVP_PKEY* k = EVP_EC_gen("P-256");
  if (!k) fail("EVP_EC_gen");
  return k;
}

void add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) fail("X509V3_EXT_conf_nid");
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A certificate for `key` named by `spec`, signed by issuer_key (issuer: nullptr for
// self-signed). `ca` makes it a CA.
X509* make_cert(EVP_PKEY* key, const CertSpec& spec, X509* issuer, EVP_PKEY* issuer_key, bool ca) {
  static long serial = 1;
  X509* c = X509_new();
  X509_set_version(c, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(c), serial++ + (static_cast<long>(std::rand()) << 8));
  X509_gmtime_adj(X509_getm_notBefore(c), spec.not_before);
  X509_gmtime_adj(X509_getm_notAfter(c), spec.not_after);
  X509_set_pubkey(c, key);
  X509_NAME* name = X509_get_subject_name(c);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(spec.common_name.c_str()),
                             -1, -1, 0);
  X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : name);
  X509* iss = issuer ? issuer : c;
  add_ext(c, iss, NID_subject_key_identifier, "hash");
  if (issuer) add_ext(c, iss, NID_authority_key_identifier, "keyid:always");
  if (ca) {
    add_ext(c, iss, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(c, iss, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_ext(c, iss, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(c, iss, NID_key_usage, "critical,digitalSignature");
    add_ext(c, iss, NID_ext_key_usage, spec.client ? "clientAuth" : "serverAuth");
    std::string san;
    auto add = [&san](const char* kind, const std::string& v) {
      if (!san.empty()) san.push_back(',');
      san.append(kind).append(v);
    };
    for (const std::string& d : spec.dns) add("DNS:", d);
    for (const std::string& ip : spec.ips) add("IP:", ip);
    if (!san.empty()) add_ext(c, iss, NID_subject_alt_name, san);
  }
  if (!X509_sign(c, issuer_key ? issuer_key : key, EVP_sha256())) fail("X509_sign");
  return c;
}

void write_pem(const std::string& path, X509* cert, EVP_PKEY* key) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) fail("fopen");
  const bool ok = cert ? PEM_write_X509(f, cert) : PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  if (!ok) fail("PEM_write");
}

CertFiles write_pair(const std::string& dir, const std::string& file, X509* cert, EVP_PKEY* key) {
  CertFiles out{dir + "/" + file + ".pem", dir + "/" + file + ".key"};
  write_pem(out.cert, cert, nullptr);
  write_pem(out.key, nullptr, key);
  return out;
}

}  // namespace

TestPki::TestPki(const std::string& name) {
  char tmpl[] = "/tmp/grove-tls-XXXXXX";
  if (!::mkdtemp(tmpl)) fail("mkdtemp");
  dir_ = tmpl;
  EVP_PKEY* key = new_key();
  CertSpec spec;
  spec.common_name = "grove test CA " + name;
  spec.not_after = 7 * 86400;
  X509* cert = make_cert(key, spec, nullptr, nullptr, /*ca=*/true);
  ca_ = write_pair(dir_, "ca-" + name, cert, key);
  ca_key_ = key;
  ca_cert_ = cert;
}

TestPki::~TestPki() {
  X509_free(static_cast<X509*>(ca_cert_));
  EVP_PKEY_free(static_cast<EVP_PKEY*>(ca_key_));
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

CertFiles TestPki::issue(const std::string& file, const CertSpec& spec) {
  EVP_PKEY* key = new_key();
  X509* cert = make_cert(key, spec, static_cast<X509*>(ca_cert_), static_cast<EVP_PKEY*>(ca_key_), false);
  CertFiles out = write_pair(dir_, file, cert, key);
  X509_free(cert);
  EVP_PKEY_free(key);
  return out;
}

CertFiles TestPki::self_signed(const std::string& file, const CertSpec& spec) {
  EVP_PKEY* key = new_key();
  X509* cert = make_cert(key, spec, nullptr, nullptr, false);
  CertFiles out = write_pair(dir_, file, cert, key);
  X509_free(cert);
  EVP_PKEY_free(key);
  return out;
}

std::string TestPki::write(const std::string& file, const std::string& text) {
  const std::string path = dir_ + "/" + file;
  std::ofstream(path) << text;
  return path;
}

}  // namespace tls_test
