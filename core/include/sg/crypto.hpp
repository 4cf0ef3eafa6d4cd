// The one home of hex, random bytes and MACs (OpenSSL's libcrypto): session-cookie
// fingerprints, CSRF tokens, nonces, the sign-out links and the tracking cookie all use these.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace sg {

// Lowercase hex of `bytes`, and back (nullopt unless an even count of lowercase hex digits).
std::string to_hex(std::string_view bytes);
std::optional<std::string> from_hex(std::string_view hex);

// `bytes` random bytes (OpenSSL's RAND_bytes) as lowercase hex: nonces and keys. Throws
// std::runtime_error when the generator has no entropy to give.
std::string random_hex(std::size_t bytes);

// HMAC-SHA256 of `message` under `key`, as lowercase hex: every MAC of the project.
std::string hmac_sha256_hex(std::string_view key, std::string_view message);

// Equal contents, compared in constant time (a MAC or token against the expected one).
bool equal_in_constant_time(std::string_view a, std::string_view b);

}  // namespace sg
