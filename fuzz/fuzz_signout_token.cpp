// The "this wasn't me" link token (core/include/sg/signout_link.hpp).
// Input: the token as it arrives in a URL, checked against a fixed key. A token that checks
// out (only seeds made with this key can: fuzz/seeds.py) must be exactly what
// make_signout_token writes for its claim, and a one-byte change of it must not check out.
// The input is also used as a claim (user = first line) for a make -> check round trip.
#include <string>

#include "fuzz.hpp"
#include "sg/signout_link.hpp"

namespace {
constexpr std::string_view kKey = "fuzz-key-0123456789abcdef0123456789abcdef";
constexpr sg::Micros kNow = 1800000000LL * sg::kMicrosPerSecond;  // 2027-01-15

std::string hex_of(std::string_view bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view token = fuzz::as_text(data, size);

  sg::SignoutClaim claim;
  auto result = sg::check_signout_token(kKey, token, kNow, claim);
  if (result == sg::TokenCheck::ok || result == sg::TokenCheck::expired) {
    FUZZ_CHECK((result == sg::TokenCheck::ok) == (kNow < claim.expires_at));
    FUZZ_CHECK(!claim.user.empty() && claim.nonce.size() == 32);
    sg::SignoutClaim again;
    std::string remade = sg::make_signout_token(kKey, claim);
    FUZZ_CHECK(sg::check_signout_token(kKey, remade, kNow, again) == result);
    FUZZ_CHECK(again.user == claim.user && again.expires_at == claim.expires_at && again.nonce == claim.nonce);
    // Another key never accepts it.
    FUZZ_CHECK(sg::check_signout_token("another key", token, kNow, again) != sg::TokenCheck::ok);
  }

  // Round trip of a claim built from the input.
  std::string_view rest = token;
  std::string_view user = fuzz::take_line(rest);
  if (user.empty() || user.size() > 400) return 0;
  sg::SignoutClaim made;
  made.user = std::string(user);
  std::uint64_t seconds = fuzz::number_from(rest);
  made.expires_at = static_cast<sg::Micros>(seconds % 1000000000000ULL) * sg::kMicrosPerSecond;
  made.nonce = hex_of(std::string(rest.substr(0, 16)) + std::string(16, '\0')).substr(0, 32);
  std::string made_token = sg::make_signout_token(kKey, made);
  sg::SignoutClaim read;
  auto made_result = sg::check_signout_token(kKey, made_token, kNow, read);
  FUZZ_CHECK(made_result == (kNow < made.expires_at ? sg::TokenCheck::ok : sg::TokenCheck::expired));
  FUZZ_CHECK(read.user == made.user && read.expires_at == made.expires_at && read.nonce == made.nonce);
  // Any single-byte change is refused (position and byte from the input).
  if (!rest.empty()) {
    std::string altered = made_token;
    std::size_t at = static_cast<unsigned char>(rest.back()) * 7u % altered.size();
    altered[at] = static_cast<char>(altered[at] ^ (rest.front() | 1));
    FUZZ_CHECK(sg::check_signout_token(kKey, altered, kNow, read) != sg::TokenCheck::ok);
  }
  return 0;
}
