// Vocabulary shared by every layer: reasons a session ends, fingerprints, time.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sg {

// Seconds are too coarse for "within a second" guarantees; microseconds match
// DATETIME(6) in MariaDB and apr_time_t in httpd.
using Micros = std::int64_t;
constexpr Micros kMicrosPerSecond = 1000000;

enum class Reason : std::uint8_t {
  none = 0,
  killed = 1,
  blocked = 2,
  superseded = 3,
  expired = 4,
  logged_out = 5,
  unavailable = 6,  // deny-list too stale and fail mode is closed
  refused = 7,      // a login that policy does not allow
  sso_logout = 8,   // the identity provider said the user signed out (back-channel logout)
};

std::string_view to_string(Reason reason);
std::optional<Reason> reason_from_string(std::string_view text);

// SHA-256 of the session cookie ("name=value"); the raw value never leaves the request.
struct Fingerprint {
  std::array<std::uint8_t, 32> bytes{};
  bool operator==(const Fingerprint& other) const { return bytes == other.bytes; }
  bool operator!=(const Fingerprint& other) const { return bytes != other.bytes; }
  bool operator<(const Fingerprint& other) const { return bytes < other.bytes; }
  std::string hex() const;    // 64 lowercase hex digits, as stored in the DB
  std::string short_id() const;  // 8 uppercase hex digits, as shown to people
  static std::optional<Fingerprint> from_hex(std::string_view hex);
};

}  // namespace sg
