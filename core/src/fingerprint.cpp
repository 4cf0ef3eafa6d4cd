#include "sg/fingerprint.hpp"

#include <openssl/evp.h>

#include <memory>
#include <new>
#include <string>

namespace sg {

namespace {
// Fetching the digest is a provider lookup under a lock in OpenSSL 3: do it once. The
// context is per thread and reused, so hashing a cookie allocates nothing.
const EVP_MD* sha256_md() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

Fingerprint sha256(std::string_view a, std::string_view separator, std::string_view b) {
  thread_local std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  Fingerprint fp;
  unsigned int length = 0;
  if (!ctx || sha256_md() == nullptr || EVP_DigestInit_ex(ctx.get(), sha256_md(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), a.data(), a.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), separator.data(), separator.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), b.data(), b.size()) != 1 || EVP_DigestFinal_ex(ctx.get(), fp.bytes.data(), &length) != 1) {
    throw std::bad_alloc();
  }
  return fp;
}
}  // namespace

Fingerprint session_fingerprint(std::string_view cookie_name, std::string_view cookie_value) {
  return sha256(cookie_name, "=", cookie_value);
}

Fingerprint user_key(std::string_view username) { return sha256("user:", "", username); }

}  // namespace sg
