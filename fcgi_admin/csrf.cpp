#include "csrf.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <stdexcept>
#include <vector>

namespace sg::admin {

namespace {
std::string hex(const unsigned char* data, std::size_t size) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < size; ++i) {
    out.push_back(digits[data[i] >> 4]);
    out.push_back(digits[data[i] & 15]);
  }
  return out;
}
}  // namespace

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> buffer(bytes);
  if (RAND_bytes(buffer.data(), static_cast<int>(bytes)) != 1) throw std::runtime_error("no random bytes available");
  return hex(buffer.data(), bytes);
}

std::string csrf_token(std::string_view key, std::string_view nonce, std::string_view user) {
  std::string message = std::string(nonce) + "\n" + std::string(user);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(message.data()),
       message.size(), mac, &mac_size);
  return hex(mac, mac_size);
}

bool csrf_valid(std::string_view key, std::string_view nonce, std::string_view user, std::string_view token) {
  if (key.empty() || !plausible_nonce(nonce) || user.empty()) return false;
  std::string expected = csrf_token(key, nonce, user);
  return token.size() == expected.size() && CRYPTO_memcmp(token.data(), expected.data(), expected.size()) == 0;
}

bool plausible_nonce(std::string_view nonce) {
  if (nonce.size() != 32) return false;
  for (char c : nonce) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace sg::admin
