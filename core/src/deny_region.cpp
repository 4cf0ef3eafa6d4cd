#include "sg/deny_region.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <new>

#include "sg/fingerprint.hpp"

namespace sg {

namespace {
constexpr std::uint64_t kMagic = 0x5347524547494f4eULL;  // "SGREGION"
constexpr std::uint32_t kVersion = 3;
constexpr std::uint64_t kEmptyTag = 0;
constexpr std::uint64_t kClaimingTag = 1;
constexpr int kActivityProbe = 32;

struct SessionEntry {
  Fingerprint fingerprint;
  std::uint8_t reason;
  std::uint8_t pad[7];
};

struct UserEntry {
  Fingerprint key;
};

std::size_t align64(std::size_t n) { return (n + 63) & ~static_cast<std::size_t>(63); }

std::uint64_t tag_of(const Fingerprint& fp) {
  std::uint64_t tag;
  std::memcpy(&tag, fp.bytes.data(), sizeof tag);
  return tag < 2 ? tag + 2 : tag;  // 0 and 1 mark empty and claiming slots
}

bool checked_add(std::size_t a, std::size_t b, std::size_t& out) {
  if (a > std::numeric_limits<std::size_t>::max() - b) return false;
  out = a + b;
  return true;
}

bool checked_mul(std::size_t a, std::size_t b, std::size_t& out) {
  if (a != 0 && b > std::numeric_limits<std::size_t>::max() / a) return false;
  out = a * b;
  return true;
}
}  // namespace

struct DenyRegion::Header {
  std::uint64_t magic;
  std::uint32_t version;
  std::uint32_t pad;
  RegionCapacity capacity;
  std::uint64_t total_size;
  std::uint64_t buffer_offset[2];
  std::uint64_t buffer_size;
  std::uint64_t activity_offset;
  std::atomic<std::uint32_t> active_buffer;
  std::atomic<std::int32_t> login_slots_in_use;
  std::atomic<Micros> last_refresh;
  std::atomic<Micros> started_at;
  std::atomic<std::uint64_t> publications;
  std::atomic<std::uint64_t> activity_dropped;
};

// Entries follow the buffer header: sessions sorted by fingerprint, then users sorted by key.
struct DenyRegion::Buffer {
  std::atomic<std::uint64_t> sequence;  // odd while the writer is inside
  std::atomic<std::uint32_t> session_count;
  std::atomic<std::uint32_t> user_count;
};

struct DenyRegion::ActivitySlot {
  std::atomic<std::uint64_t> tag;
  Fingerprint fingerprint;
  std::atomic<Micros> last_seen;
  std::atomic<Micros> flushed;
  std::atomic<std::uint64_t> bound_user_tag;
  std::atomic<std::uint32_t> user_length;
  Fingerprint user_key;
  char user[DenyRegion::kMaxSlotUser];
};

static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "shared memory needs lock-free atomics");
static_assert(std::atomic<std::int64_t>::is_always_lock_free, "shared memory needs lock-free atomics");

namespace {
std::size_t buffer_bytes(const RegionCapacity& c, bool& ok) {
  std::size_t sessions = 0, users = 0, total = 0;
  ok = checked_mul(c.sessions, sizeof(SessionEntry), sessions) && checked_mul(c.users, sizeof(UserEntry), users) &&
       checked_add(sessions, users, total) && checked_add(total, 64, total);
  return align64(total);
}
}  // namespace

std::size_t DenyRegion::required_size(const RegionCapacity& capacity) {
  if (capacity.sessions == 0 || capacity.users == 0 || capacity.activity == 0) return 0;
  bool ok = true;
  std::size_t buffer = buffer_bytes(capacity, ok);
  std::size_t activity = 0, total = align64(sizeof(Header));
  ok = ok && checked_mul(capacity.activity, sizeof(ActivitySlot), activity) && checked_add(total, buffer, total) &&
       checked_add(total, buffer, total) && checked_add(total, activity, total);
  return ok ? total : 0;
}

DenyRegion DenyRegion::create(void* memory, std::size_t size, const RegionCapacity& capacity, Micros now) {
  std::size_t needed = required_size(capacity);
  if (needed == 0 || size < needed) throw std::bad_alloc();
  auto* base = static_cast<unsigned char*>(memory);
  std::memset(base, 0, needed);
  auto* h = new (base) Header{};
  h->magic = kMagic;
  h->version = kVersion;
  h->capacity = capacity;
  h->total_size = needed;
  bool ok = true;
  h->buffer_size = buffer_bytes(capacity, ok);
  h->buffer_offset[0] = align64(sizeof(Header));
  h->buffer_offset[1] = h->buffer_offset[0] + h->buffer_size;
  h->activity_offset = h->buffer_offset[1] + h->buffer_size;
  h->started_at.store(now);
  DenyRegion region(base);
  for (std::uint32_t i = 0; i < 2; ++i) new (region.buffer(i)) Buffer{};
  for (std::uint32_t i = 0; i < capacity.activity; ++i) new (region.activity_slots() + i) ActivitySlot{};
  return region;
}

std::optional<DenyRegion> DenyRegion::attach(void* memory, std::size_t size) {
  if (memory == nullptr || size < sizeof(Header)) return std::nullopt;
  DenyRegion region(static_cast<unsigned char*>(memory));
  if (region.header()->total_size > size || !region.validate().empty()) return std::nullopt;
  return region;
}

std::string DenyRegion::validate() const {
  const Header* h = header();
  if (h->magic != kMagic) return "bad magic";
  if (h->version != kVersion) return "unknown layout version";
  if (required_size(h->capacity) != h->total_size) return "size does not match capacity";
  bool ok = true;
  if (h->buffer_size != buffer_bytes(h->capacity, ok) || h->buffer_offset[0] != align64(sizeof(Header)) ||
      h->buffer_offset[1] != h->buffer_offset[0] + h->buffer_size ||
      h->activity_offset != h->buffer_offset[1] + h->buffer_size) {
    return "offsets do not match capacity";
  }
  if (h->active_buffer.load() > 1) return "active buffer index out of range";
  for (std::uint32_t i = 0; i < 2; ++i) {
    const Buffer* b = buffer(i);
    if (b->session_count.load() > h->capacity.sessions) return "session count beyond capacity";
    if (b->user_count.load() > h->capacity.users) return "user count beyond capacity";
    if (b->sequence.load() % 2 != 0) return "a publication was left half written";
    auto* sessions = reinterpret_cast<const SessionEntry*>(b + 1);
    for (std::uint32_t j = 1; j < b->session_count.load(); ++j) {
      if (!(sessions[j - 1].fingerprint < sessions[j].fingerprint)) return "sessions not sorted";
    }
  }
  return {};
}

RegionCapacity DenyRegion::capacity() const { return header()->capacity; }

DenyRegion::Header* DenyRegion::header() const { return reinterpret_cast<Header*>(base_); }

DenyRegion::Buffer* DenyRegion::buffer(std::uint32_t index) const {
  return reinterpret_cast<Buffer*>(base_ + header()->buffer_offset[index]);
}

DenyRegion::ActivitySlot* DenyRegion::activity_slots() const {
  return reinterpret_cast<ActivitySlot*>(base_ + header()->activity_offset);
}

namespace {
// One consistent view of the published snapshot. The writer only ever fills the inactive
// buffer and then flips, so a reader almost never retries; if it raced a publication, the
// buffer's sequence number changed and it reads again.
struct SnapshotView {
  const SessionEntry* sessions;
  std::uint32_t session_count;
  const UserEntry* users;
  std::uint32_t user_count;
};
}  // namespace

template <typename Read>
auto DenyRegion::read_consistent(Read&& read) const {
  const Header* h = header();
  for (;;) {
    const Buffer* b = buffer(h->active_buffer.load(std::memory_order_acquire));
    std::uint64_t before = b->sequence.load(std::memory_order_acquire);
    if (before % 2 != 0) continue;
    auto* sessions = reinterpret_cast<const SessionEntry*>(b + 1);
    SnapshotView view{sessions, std::min(b->session_count.load(std::memory_order_relaxed), h->capacity.sessions),
                      reinterpret_cast<const UserEntry*>(sessions + h->capacity.sessions),
                      std::min(b->user_count.load(std::memory_order_relaxed), h->capacity.users)};
    auto result = read(view);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (b->sequence.load(std::memory_order_relaxed) == before) return result;
  }
}

Reason DenyRegion::session_revoked(const Fingerprint& fp) const {
  return read_consistent([&](const SnapshotView& view) {
    auto* last = view.sessions + view.session_count;
    auto* it = std::lower_bound(view.sessions, last, fp,
                                [](const SessionEntry& e, const Fingerprint& key) { return e.fingerprint < key; });
    return (it != last && it->fingerprint == fp) ? static_cast<Reason>(it->reason) : Reason::none;
  });
}

bool DenyRegion::user_blocked(const Fingerprint& key) const {
  return read_consistent([&](const SnapshotView& view) {
    return std::binary_search(view.users, view.users + view.user_count, UserEntry{key},
                              [](const UserEntry& a, const UserEntry& z) { return a.key < z.key; });
  });
}

Micros DenyRegion::last_refresh() const { return header()->last_refresh.load(std::memory_order_acquire); }
Micros DenyRegion::started_at() const { return header()->started_at.load(std::memory_order_relaxed); }

RegionStats DenyRegion::stats() const {
  const Header* h = header();
  const Buffer* b = buffer(h->active_buffer.load());
  RegionStats s;
  s.last_refresh = h->last_refresh.load();
  s.started_at = h->started_at.load();
  s.publications = h->publications.load();
  s.revoked_sessions = b->session_count.load();
  s.blocked_users = b->user_count.load();
  s.activity_dropped = h->activity_dropped.load();
  return s;
}

void DenyRegion::publish(std::vector<RevokedSession> sessions, std::vector<Fingerprint> blocked_users) {
  Header* h = header();
  if (sessions.size() > h->capacity.sessions) sessions.resize(h->capacity.sessions);
  if (blocked_users.size() > h->capacity.users) blocked_users.resize(h->capacity.users);
  std::sort(sessions.begin(), sessions.end(),
            [](const RevokedSession& a, const RevokedSession& b) { return a.fingerprint < b.fingerprint; });
  sessions.erase(std::unique(sessions.begin(), sessions.end(),
                             [](const RevokedSession& a, const RevokedSession& b) { return a.fingerprint == b.fingerprint; }),
                 sessions.end());
  std::sort(blocked_users.begin(), blocked_users.end());
  blocked_users.erase(std::unique(blocked_users.begin(), blocked_users.end()), blocked_users.end());

  std::uint32_t target = 1 - h->active_buffer.load(std::memory_order_relaxed);
  Buffer* b = buffer(target);
  b->sequence.fetch_add(1, std::memory_order_acq_rel);
  std::atomic_thread_fence(std::memory_order_release);
  auto* session_entries = reinterpret_cast<SessionEntry*>(b + 1);
  for (std::size_t i = 0; i < sessions.size(); ++i) {
    session_entries[i] = SessionEntry{sessions[i].fingerprint, static_cast<std::uint8_t>(sessions[i].reason), {}};
  }
  auto* user_entries = reinterpret_cast<UserEntry*>(session_entries + h->capacity.sessions);
  for (std::size_t i = 0; i < blocked_users.size(); ++i) user_entries[i] = UserEntry{blocked_users[i]};
  b->session_count.store(static_cast<std::uint32_t>(sessions.size()), std::memory_order_relaxed);
  b->user_count.store(static_cast<std::uint32_t>(blocked_users.size()), std::memory_order_relaxed);
  b->sequence.fetch_add(1, std::memory_order_release);
  h->active_buffer.store(target, std::memory_order_release);
  h->publications.fetch_add(1, std::memory_order_relaxed);
}

DenySnapshot DenyRegion::snapshot() const {
  DenySnapshot out = read_consistent([&](const SnapshotView& view) {
    DenySnapshot copy;
    for (std::uint32_t i = 0; i < view.session_count; ++i) {
      copy.sessions.push_back(RevokedSession{view.sessions[i].fingerprint, static_cast<Reason>(view.sessions[i].reason)});
    }
    for (std::uint32_t i = 0; i < view.user_count; ++i) copy.blocked_users.push_back(view.users[i].key);
    return copy;
  });
  out.refreshed_at = header()->last_refresh.load(std::memory_order_acquire);
  return out;
}

void DenyRegion::restore(const DenySnapshot& snapshot) {
  publish(snapshot.sessions, snapshot.blocked_users);
  mark_refreshed(snapshot.refreshed_at);
}

std::string serialize_snapshot(const DenySnapshot& snapshot) {
  std::string out = "session-guard-deny-list 1 " + std::to_string(snapshot.refreshed_at) + "\n";
  out.reserve(out.size() + snapshot.sessions.size() * 68 + snapshot.blocked_users.size() * 66 + 32);
  for (const auto& s : snapshot.sessions) {
    out += "s " + s.fingerprint.hex() + " " + std::to_string(static_cast<int>(s.reason)) + "\n";
  }
  for (const auto& u : snapshot.blocked_users) out += "u " + u.hex() + "\n";
  out += "end " + std::to_string(snapshot.sessions.size() + snapshot.blocked_users.size()) + "\n";
  return out;
}

std::optional<DenySnapshot> parse_snapshot(std::string_view text) {
  DenySnapshot snapshot;
  std::size_t lines = 0;
  bool ended = false;
  while (!text.empty()) {
    std::size_t newline = text.find('\n');
    if (newline == std::string_view::npos || ended) return std::nullopt;  // torn last line, or data after the end
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline + 1);
    if (lines++ == 0) {
      constexpr std::string_view kHead = "session-guard-deny-list 1 ";
      if (line.substr(0, kHead.size()) != kHead) return std::nullopt;
      std::string_view time = line.substr(kHead.size());
      if (time.empty() || time.size() > 18 || time.find_first_not_of("0123456789") != std::string_view::npos) {
        return std::nullopt;
      }
      snapshot.refreshed_at = std::stoll(std::string(time));
    } else if (line.size() == 66 + 2 && line.substr(0, 2) == "s ") {
      auto fp = Fingerprint::from_hex(line.substr(2, 64));
      if (!fp || line[66] != ' ' || line[67] < '1' || line[67] > '7') return std::nullopt;
      snapshot.sessions.push_back(RevokedSession{*fp, static_cast<Reason>(line[67] - '0')});
    } else if (line.size() == 66 && line.substr(0, 2) == "u ") {
      auto key = Fingerprint::from_hex(line.substr(2));
      if (!key) return std::nullopt;
      snapshot.blocked_users.push_back(*key);
    } else if (line.substr(0, 4) == "end ") {
      if (line.substr(4) != std::to_string(snapshot.sessions.size() + snapshot.blocked_users.size())) return std::nullopt;
      ended = true;
    } else {
      return std::nullopt;
    }
  }
  if (!ended) return std::nullopt;
  return snapshot;
}

void DenyRegion::mark_refreshed(Micros now) { header()->last_refresh.store(now, std::memory_order_release); }

DenyRegion::ActivitySlot* DenyRegion::find_activity(const Fingerprint& fp, bool create, Micros now) const {
  const Header* h = header();
  std::uint64_t tag = tag_of(fp);
  ActivitySlot* slots = activity_slots();
  std::uint32_t capacity = h->capacity.activity;
  ActivitySlot* empty = nullptr;
  // Scan the whole probe window rather than stopping at a hole: the poller frees slots,
  // so a hole does not prove the key is absent further on.
  for (int i = 0; i < kActivityProbe; ++i) {
    ActivitySlot* slot = &slots[(tag + static_cast<std::uint64_t>(i)) % capacity];
    std::uint64_t seen = slot->tag.load(std::memory_order_acquire);
    if (seen == tag && slot->fingerprint == fp) return slot;
    if (seen == kEmptyTag && empty == nullptr) empty = slot;
  }
  if (!create) return nullptr;
  for (int attempt = 0; empty != nullptr && attempt < 2; ++attempt) {
    std::uint64_t expected = kEmptyTag;
    if (empty->tag.compare_exchange_strong(expected, kClaimingTag, std::memory_order_acq_rel)) {
      empty->fingerprint = fp;
      empty->last_seen.store(now, std::memory_order_relaxed);
      empty->flushed.store(0, std::memory_order_relaxed);
      empty->bound_user_tag.store(0, std::memory_order_relaxed);
      empty->user_length.store(0, std::memory_order_relaxed);
      empty->tag.store(tag, std::memory_order_release);
      return empty;
    }
    empty = nullptr;
    for (int i = 0; i < kActivityProbe && empty == nullptr; ++i) {
      ActivitySlot* slot = &slots[(tag + static_cast<std::uint64_t>(i)) % capacity];
      if (slot->tag.load(std::memory_order_acquire) == kEmptyTag) empty = slot;
    }
  }
  header()->activity_dropped.fetch_add(1, std::memory_order_relaxed);
  return nullptr;
}

namespace {
template <typename Slot>
void note_seen(Slot& slot, Micros now) {
  Micros seen = slot.last_seen.load(std::memory_order_relaxed);
  if (now - seen >= DenyRegion::kActivityResolution) slot.last_seen.store(now, std::memory_order_relaxed);
}
}  // namespace

void DenyRegion::record_activity(const Fingerprint& fp, Micros now) {
  if (ActivitySlot* slot = find_activity(fp, true, now)) slot->last_seen.store(now, std::memory_order_relaxed);
}

std::optional<DenyRegion::Owner> DenyRegion::touch(const Fingerprint& fp, Micros now) {
  ActivitySlot* slot = find_activity(fp, true, now);
  if (slot == nullptr) return std::nullopt;
  note_seen(*slot, now);
  return read_owner(*slot);
}

bool DenyRegion::bound_to(const Fingerprint& fp, const Fingerprint& user) const {
  const ActivitySlot* slot = find_activity(fp, false, 0);
  return slot != nullptr && slot->bound_user_tag.load(std::memory_order_acquire) == tag_of(user);
}

void DenyRegion::mark_bound(const Fingerprint& fp, const Fingerprint& user, Micros now, std::string_view username) {
  if (ActivitySlot* slot = find_activity(fp, true, now)) {
    std::size_t length = username.size() <= kMaxSlotUser ? username.size() : 0;
    // Unbind first: a reader that copied the name meanwhile sees the tag change and gives up.
    slot->bound_user_tag.store(0, std::memory_order_release);
    std::atomic_thread_fence(std::memory_order_release);
    if (length > 0) std::memcpy(slot->user, username.data(), length);  // data() may be null when empty
    slot->user_key = user;
    slot->user_length.store(static_cast<std::uint32_t>(length), std::memory_order_relaxed);
    slot->bound_user_tag.store(tag_of(user), std::memory_order_release);
  }
}

std::optional<DenyRegion::Owner> DenyRegion::read_owner(const ActivitySlot& slot) {
  std::uint64_t tag = slot.bound_user_tag.load(std::memory_order_acquire);
  if (tag == 0) return std::nullopt;
  std::uint32_t length = std::min<std::uint32_t>(slot.user_length.load(std::memory_order_relaxed), kMaxSlotUser);
  Owner owner{std::string(slot.user, length), slot.user_key};
  std::atomic_thread_fence(std::memory_order_acquire);
  if (length == 0 || slot.bound_user_tag.load(std::memory_order_relaxed) != tag || tag_of(owner.key) != tag) {
    return std::nullopt;
  }
  return owner;
}

std::optional<DenyRegion::Owner> DenyRegion::owner(const Fingerprint& fp) const {
  const ActivitySlot* slot = find_activity(fp, false, 0);
  if (slot == nullptr) return std::nullopt;
  return read_owner(*slot);
}

std::string DenyRegion::bound_user(const Fingerprint& fp) const {
  auto found = owner(fp);
  return found ? found->name : std::string();
}

std::vector<ActivityRecord> DenyRegion::pending_activity(Micros forget_before) {
  std::vector<ActivityRecord> pending;
  ActivitySlot* slots = activity_slots();
  for (std::uint32_t i = 0; i < header()->capacity.activity; ++i) {
    ActivitySlot& slot = slots[i];
    if (slot.tag.load(std::memory_order_acquire) < 2) continue;
    Micros seen = slot.last_seen.load(std::memory_order_relaxed);
    Micros flushed = slot.flushed.load(std::memory_order_relaxed);
    if (seen > flushed) {
      pending.push_back(ActivityRecord{slot.fingerprint, seen});
    } else if (seen < forget_before) {
      slot.tag.store(kEmptyTag, std::memory_order_release);
    }
  }
  // Two children may claim slots for one new session at the same moment: report it once.
  std::sort(pending.begin(), pending.end(), [](const ActivityRecord& a, const ActivityRecord& b) {
    return a.fingerprint < b.fingerprint || (a.fingerprint == b.fingerprint && a.last_seen > b.last_seen);
  });
  pending.erase(std::unique(pending.begin(), pending.end(),
                            [](const ActivityRecord& a, const ActivityRecord& b) { return a.fingerprint == b.fingerprint; }),
                pending.end());
  return pending;
}

void DenyRegion::mark_flushed(const std::vector<ActivityRecord>& flushed) {
  ActivitySlot* slots = activity_slots();
  const std::uint32_t capacity = header()->capacity.activity;
  for (const auto& record : flushed) {
    const std::uint64_t tag = tag_of(record.fingerprint);
    for (int i = 0; i < kActivityProbe; ++i) {
      ActivitySlot* slot = &slots[(tag + static_cast<std::uint64_t>(i)) % capacity];
      if (slot->tag.load(std::memory_order_acquire) != tag || !(slot->fingerprint == record.fingerprint)) continue;
      Micros current = slot->flushed.load(std::memory_order_relaxed);
      if (record.last_seen > current) slot->flushed.store(record.last_seen, std::memory_order_relaxed);
    }
  }
}

bool DenyRegion::try_acquire_login_slot(std::int32_t limit) {
  auto& in_use = header()->login_slots_in_use;
  std::int32_t current = in_use.load(std::memory_order_relaxed);
  while (current < limit) {
    if (in_use.compare_exchange_weak(current, current + 1, std::memory_order_acq_rel)) return true;
  }
  return false;
}

void DenyRegion::release_login_slot() { header()->login_slots_in_use.fetch_sub(1, std::memory_order_acq_rel); }

}  // namespace sg
