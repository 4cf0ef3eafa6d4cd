#include "csrf.hpp"

#include "sg/crypto.hpp"

namespace sg::admin {

std::string csrf_token(std::string_view key, std::string_view nonce, std::string_view user) {
  return sg::hmac_sha256_hex(key, std::string(nonce) + "\n" + std::string(user));
}

bool csrf_valid(std::string_view key, std::string_view nonce, std::string_view user, std::string_view token) {
  if (key.empty() || !plausible_nonce(nonce) || user.empty()) return false;
  return sg::equal_in_constant_time(csrf_token(key, nonce, user), token);
}

bool plausible_nonce(std::string_view nonce) {
  if (nonce.size() != 32) return false;
  for (char c : nonce) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace sg::admin
