#include "sg/fingerprint.hpp"

#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include <string>

namespace sg {

namespace {
// The low-level SHA-256 is deprecated in OpenSSL 3 in favour of EVP, but EVP looks up an
// engine and allocates a provider context on every digest, which cost this module ~5% of
// Apache's throughput on small requests (bench/). The primitive itself is the same code.
Fingerprint sha256(std::string_view a, std::string_view separator, std::string_view b) {
  Fingerprint fp;
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, a.data(), a.size());
  SHA256_Update(&ctx, separator.data(), separator.size());
  SHA256_Update(&ctx, b.data(), b.size());
  SHA256_Final(fp.bytes.data(), &ctx);
  return fp;
}
}  // namespace

Fingerprint session_fingerprint(std::string_view cookie_name, std::string_view cookie_value) {
  return sha256(cookie_name, "=", cookie_value);
}

Fingerprint user_key(std::string_view username) { return sha256("user:", "", username); }

}  // namespace sg
