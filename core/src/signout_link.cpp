#include "sg/signout_link.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <stdexcept>

#include <vector>

namespace sg {

namespace {
const char kDigits[] = "0123456789abcdef";

std::string to_hex(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

int nibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

std::string mac_of(std::string_view key, std::string_view message) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(message.data()),
       message.size(), mac, &size);
  return to_hex(std::string_view(reinterpret_cast<const char*>(mac), size));
}

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

std::string hmac_sha256_hex(std::string_view key, std::string_view message) { return mac_of(key, message); }

std::string new_tracking_value(std::string_view key) {
  std::string nonce = random_hex(16);
  return nonce + "." + mac_of(key, "sg_session." + nonce).substr(0, 32);
}

bool tracking_value_issued(std::string_view key, std::string_view value) {
  if (value.size() != 65 || value[32] != '.') return false;
  std::string expected = mac_of(key, "sg_session." + std::string(value.substr(0, 32))).substr(0, 32);
  return CRYPTO_memcmp(expected.data(), value.data() + 33, 32) == 0;
}

std::string random_hex(std::size_t bytes) {
  std::string buffer(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(buffer.data()), static_cast<int>(bytes)) != 1)
    throw std::runtime_error("no random bytes available");
  return to_hex(buffer);
}

std::string make_signout_token(std::string_view key, const SignoutClaim& claim) {
  std::string body = "v1." + to_hex(claim.user) + "." + std::to_string(claim.expires_at / kMicrosPerSecond) + "." +
                     claim.nonce;
  return body + "." + mac_of(key, body);
}

TokenCheck check_signout_token(std::string_view key, std::string_view token, Micros now, SignoutClaim& claim) {
  if (key.empty() || token.size() > 1000) return TokenCheck::malformed;
  auto parts = split(token, '.');
  if (parts.size() != 5 || parts[0] != "v1" || parts[1].empty() || parts[2].empty() || parts[2].size() > 12 ||
      parts[3].size() != 32 || parts[4].size() != 64)
    return TokenCheck::malformed;
  for (char c : parts[2])
    if (c < '0' || c > '9') return TokenCheck::malformed;
  for (char c : parts[3])
    if (nibble(c) < 0) return TokenCheck::malformed;
  auto user = from_hex(parts[1]);
  if (!user) return TokenCheck::malformed;
  std::string_view body = token.substr(0, token.size() - 65);
  std::string expected = mac_of(key, body);
  if (CRYPTO_memcmp(expected.data(), parts[4].data(), expected.size()) != 0) return TokenCheck::bad_signature;
  claim.user = *user;
  claim.expires_at = static_cast<Micros>(std::stoll(std::string(parts[2]))) * kMicrosPerSecond;
  claim.nonce = std::string(parts[3]);
  if (now >= claim.expires_at) return TokenCheck::expired;
  return TokenCheck::ok;
}

}  // namespace sg
