// The shared block's making and checking, its published snapshot (the lock-free lookup every
// request makes) and the operators' figures. The layout is drawn in deny_region_layout.hpp;
// the notes tables and the activity table have files of their own.
#include "sg/deny_region.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <new>
#include <utility>

#include "deny_region_layout.hpp"

namespace sg {

using namespace region;

namespace {
std::size_t buffer_bytes(const RegionCapacity& c, bool& ok) {
  std::size_t sessions = 0, users = 0, total = 0;
  ok = checked_mul(c.sessions, sizeof(SessionEntry), sessions) && checked_mul(c.users, sizeof(UserEntry), users) &&
       checked_add(sessions, users, total) && checked_add(total, 64, total);
  return align64(total);
}
}  // namespace

std::size_t DenyRegion::required_size(const RegionCapacity& capacity) {
  if (capacity.sessions == 0 || capacity.users == 0 || capacity.activity == 0 || capacity.local == 0 ||
      capacity.sightings == 0) {
    return 0;
  }
  bool ok = true;
  std::size_t buffer = buffer_bytes(capacity, ok);
  std::size_t activity = 0, local = 0, sightings = 0, total = align64(sizeof(Header));
  ok = ok && checked_mul(capacity.activity, sizeof(ActivitySlot), activity) &&
       checked_mul(capacity.local, sizeof(NoteSlot), local) &&
       checked_mul(capacity.sightings, sizeof(NoteSlot), sightings) && checked_add(total, buffer, total) &&
       checked_add(total, buffer, total) && checked_add(total, activity, total) && checked_add(total, local, total) &&
       checked_add(total, sightings, total);
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
  h->local_offset = h->activity_offset + static_cast<std::uint64_t>(capacity.activity) * sizeof(ActivitySlot);
  h->sighting_offset = h->local_offset + static_cast<std::uint64_t>(capacity.local) * sizeof(NoteSlot);
  h->started_at.store(now);
  DenyRegion region(base);
  for (std::uint32_t i = 0; i < 2; ++i) new (region.buffer(i)) Buffer{};
  for (std::uint32_t i = 0; i < capacity.activity; ++i) new (region.activity_slots() + i) ActivitySlot{};
  for (std::uint32_t i = 0; i < capacity.local; ++i) new (region.local_slots() + i) NoteSlot{};
  for (std::uint32_t i = 0; i < capacity.sightings; ++i) new (region.sighting_slots() + i) NoteSlot{};
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
      h->activity_offset != h->buffer_offset[1] + h->buffer_size ||
      h->local_offset != h->activity_offset + static_cast<std::uint64_t>(h->capacity.activity) * sizeof(ActivitySlot) ||
      h->sighting_offset != h->local_offset + static_cast<std::uint64_t>(h->capacity.local) * sizeof(NoteSlot) ||
      h->sighting_offset + static_cast<std::uint64_t>(h->capacity.sightings) * sizeof(NoteSlot) != h->total_size) {
    return "offsets do not match capacity";
  }
  for (std::uint32_t i = 0; i < h->capacity.local; ++i) {
    std::uint32_t reason = local_slots()[i].reason.load();
    if (reason > static_cast<std::uint32_t>(Reason::refused)) return "local revocation with an unknown reason";
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

DenyRegion::NoteSlot* DenyRegion::local_slots() const {
  return reinterpret_cast<NoteSlot*>(base_ + header()->local_offset);
}

DenyRegion::NoteSlot* DenyRegion::sighting_slots() const {
  return reinterpret_cast<NoteSlot*>(base_ + header()->sighting_offset);
}

Reason DenyRegion::session_revoked(const Fingerprint& fp) const {
  Reason published = read_consistent([&](const SnapshotView& view) {
    auto* last = view.sessions + view.session_count;
    auto* it = std::lower_bound(view.sessions, last, fp,
                                [](const SessionEntry& e, const Fingerprint& key) { return e.fingerprint < key; });
    return (it != last && it->fingerprint == fp) ? static_cast<Reason>(it->reason) : Reason::none;
  });
  if (published != Reason::none || header()->local_hint.load(std::memory_order_acquire) == 0) return published;
  return local_revoked(fp);
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
  s.revocations_dropped = h->revocations_dropped.load();
  s.local_revocations = h->local_revocations.load();
  s.local_overwritten = h->local_overwritten.load();
  for (std::uint32_t i = 0; i < h->capacity.local; ++i) {
    if (local_slots()[i].tag.load(std::memory_order_relaxed) != kEmptyTag) ++s.local_pending;
  }
  s.last_poll = h->last_poll.load();
  s.activity_used = h->activity_used.load();
  s.journal_pending = h->journal_pending.load();
  // Bounded: a poller killed inside the write leaves the sequence odd, and a status page
  // must not spin on it forever.
  for (int attempt = 0; attempt < kReadRetries; ++attempt) {
    std::uint64_t before = h->db_error_sequence.load(std::memory_order_acquire);
    if (before % 2 != 0) continue;
    Micros at = h->db_error_at.load(std::memory_order_relaxed);
    std::uint32_t length = std::min<std::uint32_t>(h->db_error_length.load(std::memory_order_relaxed), kMaxErrorText);
    char text[kMaxErrorText];
    std::memcpy(text, h->db_error, length);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (h->db_error_sequence.load(std::memory_order_relaxed) != before) continue;
    s.db_error_at = at;
    s.db_error.assign(text, length);
    break;
  }
  return s;
}

void DenyRegion::note_poll(Micros now, std::string_view error) {
  Header* h = header();
  h->last_poll.store(now, std::memory_order_release);
  if (error.empty()) return;
  std::size_t length = std::min(error.size(), kMaxErrorText);
  std::uint64_t sequence = h->db_error_sequence.load(std::memory_order_relaxed);
  if (sequence % 2 != 0) ++sequence;  // left odd by a poller that died inside: take it over
  h->db_error_sequence.store(sequence + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  std::memcpy(h->db_error, error.data(), length);
  h->db_error_length.store(static_cast<std::uint32_t>(length), std::memory_order_relaxed);
  h->db_error_at.store(now, std::memory_order_relaxed);
  h->db_error_sequence.store(sequence + 2, std::memory_order_release);
}

void DenyRegion::set_journal_pending(std::uint32_t records) {
  header()->journal_pending.store(records, std::memory_order_relaxed);
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

void DenyRegion::set_revocations_dropped(std::uint64_t dropped) {
  header()->revocations_dropped.store(dropped, std::memory_order_relaxed);
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
  out.audit_logged = audit_logged();
  return out;
}

void DenyRegion::restore(const DenySnapshot& snapshot) {
  publish(snapshot.sessions, snapshot.blocked_users);
  if (snapshot.audit_logged) set_audit_logged(*snapshot.audit_logged);
  mark_refreshed(snapshot.refreshed_at);
}

void DenyRegion::mark_refreshed(Micros now) { header()->last_refresh.store(now, std::memory_order_release); }

std::optional<std::uint64_t> DenyRegion::audit_logged() const {
  std::uint64_t stored = header()->audit_logged.load(std::memory_order_acquire);
  return stored == 0 ? std::nullopt : std::optional<std::uint64_t>(stored - 1);
}

void DenyRegion::set_audit_logged(std::uint64_t id) {
  if (id < std::numeric_limits<std::uint64_t>::max()) header()->audit_logged.store(id + 1, std::memory_order_release);
}

}  // namespace sg
