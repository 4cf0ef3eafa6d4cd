#include "sg/signout_link.hpp"

#include <vector>

#include "sg/crypto.hpp"

namespace sg {

namespace {
std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (;;) {
    std::size_t end = text.find(sep, start);
    parts.push_back(text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}
}  // namespace

std::string new_tracking_value(std::string_view key) {
  std::string nonce = random_hex(16);
  return nonce + "." + hmac_sha256_hex(key, "sg_session." + nonce).substr(0, 32);
}

bool tracking_value_issued(std::string_view key, std::string_view value) {
  if (value.size() != 65 || value[32] != '.') return false;
  std::string expected = hmac_sha256_hex(key, "sg_session." + std::string(value.substr(0, 32))).substr(0, 32);
  return equal_in_constant_time(expected, value.substr(33));
}

std::string make_signout_token(std::string_view key, const SignoutClaim& claim) {
  std::string body = "v1." + to_hex(claim.user) + "." + std::to_string(claim.expires_at / kMicrosPerSecond) + "." +
                     claim.nonce;
  return body + "." + hmac_sha256_hex(key, body);
}

TokenCheck check_signout_token(std::string_view key, std::string_view token, Micros now, SignoutClaim& claim) {
  if (key.empty() || token.size() > 1000) return TokenCheck::malformed;
  auto parts = split(token, '.');
  if (parts.size() != 5 || parts[0] != "v1" || parts[1].empty() || parts[2].empty() || parts[2].size() > 12 ||
      parts[3].size() != 32 || parts[4].size() != 64)
    return TokenCheck::malformed;
  for (char c : parts[2])
    if (c < '0' || c > '9') return TokenCheck::malformed;
  if (!from_hex(parts[3])) return TokenCheck::malformed;
  auto user = from_hex(parts[1]);
  if (!user) return TokenCheck::malformed;
  std::string_view body = token.substr(0, token.size() - 65);
  std::string expected = hmac_sha256_hex(key, body);
  if (!equal_in_constant_time(expected, parts[4])) return TokenCheck::bad_signature;
  claim.user = *user;
  claim.expires_at = static_cast<Micros>(std::stoll(std::string(parts[2]))) * kMicrosPerSecond;
  claim.nonce = std::string(parts[3]);
  if (now >= claim.expires_at) return TokenCheck::expired;
  return TokenCheck::ok;
}

}  // namespace sg
