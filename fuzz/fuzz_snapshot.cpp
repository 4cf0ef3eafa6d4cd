// The state file (sg::parse_snapshot in core/include/sg/deny_region.hpp): what a cold start
// reads from disk. Input: the file's text. Whatever parses must survive serialize -> parse
// unchanged and load into a region that then enforces it.
#include <cstring>
#include <memory>
#include <string>

#include <limits>

#include "fuzz.hpp"
#include "sg/deny_region.hpp"

namespace {
bool same(const sg::DenySnapshot& a, const sg::DenySnapshot& b) {
  if (a.refreshed_at != b.refreshed_at || a.sessions.size() != b.sessions.size() ||
      a.blocked_users != b.blocked_users)
    return false;
  for (std::size_t i = 0; i < a.sessions.size(); ++i) {
    if (a.sessions[i].fingerprint != b.sessions[i].fingerprint || a.sessions[i].reason != b.sessions[i].reason)
      return false;
  }
  return true;
}

// A small region, laid out once and reused: restore() replaces all of its contents.
sg::DenyRegion& region() {
  static const sg::RegionCapacity capacity{256, 64, 64};
  static const std::size_t size = sg::DenyRegion::required_size(capacity);
  static auto* memory = new unsigned char[size]();
  static sg::DenyRegion r = sg::DenyRegion::create(memory, size, capacity, 0);
  return r;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text = fuzz::as_text(data, size);
  // Any time the file may claim: a clock far ahead accepts every refresh time in range.
  constexpr sg::Micros kNow = std::numeric_limits<sg::Micros>::max() / 2;
  auto parsed = sg::parse_snapshot(text, kNow);
  if (!parsed) return 0;

  FUZZ_CHECK(parsed->refreshed_at >= 0);
  FUZZ_CHECK(!text.empty() && text.back() == '\n');
  std::string written = sg::serialize_snapshot(*parsed);
  auto again = sg::parse_snapshot(written, kNow);
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(same(*parsed, *again));
  FUZZ_CHECK(sg::serialize_snapshot(*again) == written);

  sg::DenyRegion& r = region();
  r.restore(*parsed);
  FUZZ_CHECK(r.validate().empty());
  FUZZ_CHECK(r.last_refresh() == parsed->refreshed_at);
  const auto capacity = r.capacity();
  if (parsed->sessions.size() <= capacity.sessions) {
    for (const auto& s : parsed->sessions) FUZZ_CHECK(r.session_revoked(s.fingerprint) != sg::Reason::none);
  }
  if (parsed->blocked_users.size() <= capacity.users) {
    for (const auto& u : parsed->blocked_users) FUZZ_CHECK(r.user_blocked(u));
  }
  return 0;
}
