#include "sg/fingerprint.hpp"

#include <openssl/evp.h>

#include <string>

namespace sg {

namespace {
Fingerprint sha256(std::string_view a, std::string_view separator, std::string_view b) {
  Fingerprint fp;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  unsigned int length = 0;
  // The one-shot EVP_Digest cannot hash three pieces without a copy of the cookie.
  if (ctx == nullptr || EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx, a.data(), a.size()) != 1 ||
      EVP_DigestUpdate(ctx, separator.data(), separator.size()) != 1 ||
      EVP_DigestUpdate(ctx, b.data(), b.size()) != 1 || EVP_DigestFinal_ex(ctx, fp.bytes.data(), &length) != 1) {
    EVP_MD_CTX_free(ctx);
    throw std::bad_alloc();
  }
  EVP_MD_CTX_free(ctx);
  return fp;
}
}  // namespace

Fingerprint session_fingerprint(std::string_view cookie_name, std::string_view cookie_value) {
  return sha256(cookie_name, "=", cookie_value);
}

Fingerprint user_key(std::string_view username) { return sha256("user:", "", username); }

}  // namespace sg
