// tls_certs.hpp: throwaway certificates for the TLS tests, made at test time with
// OpenSSL's API (no key is ever committed): a CA, certificates it signs with any
// names and validity window, and self-signed ones, as PEM files in a temporary
// directory that goes away with the object.
#pragma once

#include <string>
#include <vector>

namespace tls_test {

// A certificate and its key, as PEM files.
struct CertFiles {
  std::string cert;  // the certificate (PEM)
  std::string key;   // its private key (PEM)
};

// What a certificate says.
struct CertSpec {
  std::string common_name = "localhost";
  std::vector<std::string> dns = {"localhost"};  // subjectAltName DNS entries
  std::vector<std::string> ips = {"127.0.0.1"};  // subjectAltName IP entries
  long not_before = -3600;                       // seconds from now
  long not_after = 86400;                        // seconds from now
  bool client = false;                           // clientAuth instead of serverAuth
};

// A temporary directory holding a CA and what it issued; removed by the destructor.
class TestPki {
 public:
  // Makes the directory and the CA ("grove test CA <name>").
  explicit TestPki(const std::string& name = "root");
  ~TestPki();
  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  // The CA's certificate (PEM), for ca_file.
  const std::string& ca_file() const { return ca_.cert; }
  // The directory.
  const std::string& dir() const { return dir_; }
  // A certificate signed by this CA, written as <file>.pem / <file>.key.
  CertFiles issue(const std::string& file, const CertSpec& spec = {});
  // A self-signed certificate (no CA), written as <file>.pem / <file>.key.
  CertFiles self_signed(const std::string& file, const CertSpec& spec = {});
  // Writes `text` to <file> in the directory; returns its path.
  std::string write(const std::string& file, const std::string& text);

 private:
  std::string dir_;
  CertFiles ca_;
  void* ca_key_ = nullptr;   // EVP_PKEY*
  void* ca_cert_ = nullptr;  // X509*
};

}  // namespace tls_test
