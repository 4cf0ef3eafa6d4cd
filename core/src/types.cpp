#include "sg/types.hpp"

#include "sg/crypto.hpp"

namespace sg {

std::string_view to_string(Reason reason) {
  switch (reason) {
    case Reason::none: return "none";
    case Reason::killed: return "killed";
    case Reason::blocked: return "blocked";
    case Reason::superseded: return "superseded";
    case Reason::expired: return "expired";
    case Reason::logged_out: return "logged_out";
    case Reason::unavailable: return "unavailable";
    case Reason::refused: return "refused";
    case Reason::sso_logout: return "sso_logout";
  }
  return "none";
}

std::optional<Reason> reason_from_string(std::string_view text) {
  for (Reason r : {Reason::killed, Reason::blocked, Reason::superseded, Reason::expired, Reason::logged_out,
                   Reason::unavailable, Reason::refused, Reason::sso_logout}) {
    if (to_string(r) == text) return r;
  }
  return std::nullopt;
}

namespace {
constexpr char kUpperHex[] = "0123456789ABCDEF";
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::string Fingerprint::hex() const {
  return to_hex(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

std::string Fingerprint::short_id() const {
  std::string out;
  for (int i = 0; i < 4; ++i) {
    out.push_back(kUpperHex[bytes[i] >> 4]);
    out.push_back(kUpperHex[bytes[i] & 15]);
  }
  return out;
}

std::optional<Fingerprint> Fingerprint::from_hex(std::string_view hex) {
  if (hex.size() != 64) return std::nullopt;
  Fingerprint fp;
  for (std::size_t i = 0; i < 32; ++i) {
    int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    fp.bytes[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return fp;
}

}  // namespace sg
