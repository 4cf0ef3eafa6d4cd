#include "sg/deny_region.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <utility>

#include "sg/fingerprint.hpp"

// The shared block, one per Apache instance, made by the parent in the process pool (so it
// outlives graceful restarts) and mapped by every child and both pollers. Offsets, never
// pointers: each process maps it at its own address.
//
//  +---------------------------+  0
//  | Header                    |  magic, layout version, capacity, section offsets, which
//  |                           |  buffer is live, the operators' figures, audit position
//  +---------------------------+  buffer_offset[0]   (64-byte aligned)
//  | Buffer 0                  |  sequence (odd while the poller writes it), counts,
//  |   SessionEntry[sessions]  |  then sorted revoked fingerprints + reasons,
//  |   UserEntry[users]        |  then sorted blocked-user keys: binary search, no lock
//  +---------------------------+  buffer_offset[1]
//  | Buffer 1                  |  the same; the poller fills the idle one, then flips
//  +---------------------------+  activity_offset
//  | ActivitySlot[activity]    |  open addressing on the fingerprint's first 8 bytes;
//  |                           |  claimed by CAS (tag), generation per claim, last seen,
//  |                           |  flushed, the bound user: children write, the poller drains
//  +---------------------------+  local_offset
//  | NoteSlot[local]           |  revocations made here before the database has them
//  +---------------------------+  sighting_offset
//  | NoteSlot[sightings]       |  lossy: sessions seen with no slot, for the poller to ask
//  +---------------------------+  total_size           the database who owns them
//
// Readers retry a buffer whose sequence changed under them; a slot whose sequence stays odd
// (its writer died inside) is passed over after kReadRetries reads, never waited on.
namespace sg {

namespace {
constexpr std::uint64_t kMagic = 0x5347524547494f4eULL;  // "SGREGION"
constexpr std::uint32_t kVersion = 6;  // 6: operators' figures (last poll, database error)
constexpr std::uint64_t kEmptyTag = 0;
constexpr std::uint64_t kClaimingTag = 1;
constexpr std::uint64_t kBindingTag = 1;  // bound_user_tag while one writer rewrites the owner
constexpr int kActivityProbe = 32;
constexpr int kLocalProbe = 16;
constexpr int kSightingProbe = 4;
// A reader meeting a slot being written waits this many re-reads (a write is a few stores),
// then passes over it: a writer that died inside must not hang every request.
constexpr int kReadRetries = 64;

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
  std::uint64_t local_offset;
  std::uint64_t sighting_offset;
  std::atomic<std::uint32_t> active_buffer;
  // One more than the last audit line the instance's error log has (0: not known yet).
  std::atomic<std::uint64_t> audit_logged;
  std::atomic<Micros> last_refresh;
  std::atomic<Micros> started_at;
  std::atomic<std::uint64_t> publications;
  std::atomic<std::uint64_t> activity_dropped;
  std::atomic<std::uint64_t> revocations_dropped;
  std::atomic<std::uint64_t> local_revocations;
  std::atomic<std::uint64_t> local_overwritten;
  // Never less than the number of live local revocations, so a reader that sees 0 may skip
  // the local table (the common case: one load per request).
  std::atomic<std::uint32_t> local_hint;
  // The poller writes these alone; server-status reads them from any child. The error text
  // is a seqlock (odd while written) so a reader never shows half of two messages.
  std::atomic<Micros> last_poll;
  std::atomic<std::uint32_t> activity_used;
  std::atomic<std::uint32_t> journal_pending;
  std::atomic<std::uint64_t> db_error_sequence;
  std::atomic<Micros> db_error_at;
  std::atomic<std::uint32_t> db_error_length;
  char db_error[DenyRegion::kMaxErrorText];
};

// Entries follow the buffer header: sessions sorted by fingerprint, then users sorted by key.
struct DenyRegion::Buffer {
  std::atomic<std::uint64_t> sequence;  // odd while the writer is inside
  std::atomic<std::uint32_t> session_count;
  std::atomic<std::uint32_t> user_count;
};

struct DenyRegion::ActivitySlot {
  std::atomic<std::uint64_t> tag;
  std::atomic<std::uint64_t> generation;  // advanced on every claim and every free
  Fingerprint fingerprint;
  std::atomic<Micros> last_seen;
  std::atomic<Micros> flushed;
  std::atomic<std::uint64_t> bound_user_tag;  // 0 unbound, kBindingTag while rewritten
  std::atomic<std::uint64_t> bound_generation;  // the slot's generation the binding belongs to
  std::atomic<std::uint32_t> user_length;
  Fingerprint user_key;
  char user[DenyRegion::kMaxSlotUser];
};

// A fingerprint noted by a child for the poller: a local revocation, or a sighting of a
// session with no slot here. A per-slot sequence (odd while written) makes each slot a
// seqlock claimed by compare-and-swap.
struct DenyRegion::NoteSlot {
  std::atomic<std::uint64_t> sequence;
  std::atomic<std::uint64_t> tag;  // kEmptyTag when free
  Fingerprint fingerprint;
  std::atomic<Micros> at;
  std::atomic<std::uint32_t> reason;
  std::uint32_t pad;
  std::uint64_t stuck;  // the poller's alone: an odd sequence seen at its previous sweep
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
  Reason published = read_consistent([&](const SnapshotView& view) {
    auto* last = view.sessions + view.session_count;
    auto* it = std::lower_bound(view.sessions, last, fp,
                                [](const SessionEntry& e, const Fingerprint& key) { return e.fingerprint < key; });
    return (it != last && it->fingerprint == fp) ? static_cast<Reason>(it->reason) : Reason::none;
  });
  if (published != Reason::none || header()->local_hint.load(std::memory_order_acquire) == 0) return published;
  return local_revoked(fp);
}

namespace {
struct NoteCopy {
  bool stable = false;  // false: being written (or left half written) the whole time we looked
  std::uint64_t sequence = 0;
  std::uint64_t tag = 0;
  Fingerprint fingerprint;
  Micros at = 0;
  std::uint32_t reason = 0;
};

template <typename Slot>
NoteCopy read_note(const Slot& slot) {
  NoteCopy copy;
  for (int attempt = 0; attempt < kReadRetries; ++attempt) {
    std::uint64_t before = slot.sequence.load(std::memory_order_acquire);
    if (before % 2 != 0) continue;
    copy.tag = slot.tag.load(std::memory_order_relaxed);
    copy.fingerprint = slot.fingerprint;
    copy.at = slot.at.load(std::memory_order_relaxed);
    copy.reason = slot.reason.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (slot.sequence.load(std::memory_order_relaxed) == before) {
      copy.stable = true;
      copy.sequence = before;
      return copy;
    }
  }
  return copy;
}

// Takes a slot whose sequence is still `sequence` (even) for writing; the caller ends with
// end_note_write. Another writer, or the poller, got there first when this fails.
template <typename Slot>
bool begin_note_write(Slot& slot, std::uint64_t sequence) {
  return slot.sequence.compare_exchange_strong(sequence, sequence + 1, std::memory_order_acq_rel);
}

template <typename Slot>
void end_note_write(Slot& slot, std::uint64_t sequence) {
  // A CAS rather than a store: if the poller took this slot for a dead writer's meanwhile,
  // its repair stands and this write is lost (the database still has the revocation).
  std::uint64_t writing = sequence + 1;
  slot.sequence.compare_exchange_strong(writing, sequence + 2, std::memory_order_acq_rel);
}
}  // namespace

Reason DenyRegion::local_revoked(const Fingerprint& fp) const {
  const std::uint64_t tag = tag_of(fp);
  const NoteSlot* slots = local_slots();
  const std::uint32_t capacity = header()->capacity.local;
  for (int i = 0; i < kLocalProbe; ++i) {
    const NoteSlot& slot = slots[(tag + static_cast<std::uint64_t>(i)) % capacity];
    if (slot.tag.load(std::memory_order_acquire) != tag) continue;
    NoteCopy copy = read_note(slot);
    if (copy.stable && copy.tag == tag && copy.fingerprint == fp && copy.reason != 0 &&
        copy.reason <= static_cast<std::uint32_t>(Reason::refused)) {
      return static_cast<Reason>(copy.reason);
    }
  }
  return Reason::none;
}

bool DenyRegion::revoke_locally(const Fingerprint& fp, Reason reason, Micros now) {
  if (reason == Reason::none) return false;
  Header* h = header();
  const std::uint64_t tag = tag_of(fp);
  NoteSlot* slots = local_slots();
  const std::uint32_t capacity = h->capacity.local;
  // Counted before the entry exists, so no reader ever skips the table while it is live.
  h->local_hint.fetch_add(1, std::memory_order_seq_cst);
  for (int attempt = 0; attempt < 3; ++attempt) {
    // The fingerprint's own slot if it has one, else a free one, else the oldest entry.
    NoteSlot* best = nullptr;
    NoteCopy best_copy;
    int best_rank = 3;
    for (int i = 0; i < kLocalProbe; ++i) {
      NoteSlot& slot = slots[(tag + static_cast<std::uint64_t>(i)) % capacity];
      NoteCopy copy = read_note(slot);
      if (!copy.stable) continue;
      int rank = (copy.tag == tag && copy.fingerprint == fp) ? 0 : copy.tag == kEmptyTag ? 1 : 2;
      if (rank < best_rank || (rank == 2 && best_rank == 2 && copy.at < best_copy.at)) {
        best = &slot;
        best_copy = copy;
        best_rank = rank;
      }
      if (rank == 0) break;
    }
    if (best == nullptr || !begin_note_write(*best, best_copy.sequence)) continue;
    best->tag.store(kEmptyTag, std::memory_order_relaxed);
    best->fingerprint = fp;
    best->at.store(now, std::memory_order_relaxed);
    best->reason.store(static_cast<std::uint32_t>(reason), std::memory_order_relaxed);
    best->tag.store(tag, std::memory_order_release);
    end_note_write(*best, best_copy.sequence);
    // The entry this one replaced was counted by its own writer.
    if (best_copy.tag != kEmptyTag) h->local_hint.fetch_sub(1, std::memory_order_acq_rel);
    if (best_rank == 2) h->local_overwritten.fetch_add(1, std::memory_order_relaxed);
    h->local_revocations.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  h->local_hint.fetch_sub(1, std::memory_order_acq_rel);
  return false;
}

void DenyRegion::sweep_local(Micros now, bool expire) {
  Header* h = header();
  for (std::uint32_t i = 0; i < h->capacity.local; ++i) {
    NoteSlot& slot = local_slots()[i];
    std::uint64_t sequence = slot.sequence.load(std::memory_order_acquire);
    if (sequence % 2 != 0) {
      // A write takes nanoseconds; odd at two sweeps in a row is a writer that died inside.
      if (slot.stuck == sequence) {
        slot.tag.store(kEmptyTag, std::memory_order_relaxed);
        std::uint64_t expected = sequence;
        slot.sequence.compare_exchange_strong(expected, sequence + 1, std::memory_order_acq_rel);
      }
      slot.stuck = sequence;
      continue;
    }
    slot.stuck = 0;
    NoteCopy copy = read_note(slot);
    if (!copy.stable || copy.tag == kEmptyTag) continue;
    bool published = read_consistent([&](const SnapshotView& view) {
      return std::binary_search(view.sessions, view.sessions + view.session_count, SessionEntry{copy.fingerprint, 0, {}},
                                [](const SessionEntry& a, const SessionEntry& b) { return a.fingerprint < b.fingerprint; });
    });
    if (!published && !(expire && copy.at < now - kLocalRetention)) continue;
    if (!begin_note_write(slot, copy.sequence)) continue;  // rewritten meanwhile: next sweep
    slot.tag.store(kEmptyTag, std::memory_order_release);
    end_note_write(slot, copy.sequence);
    h->local_hint.fetch_sub(1, std::memory_order_acq_rel);
  }
  for (std::uint32_t i = 0; i < h->capacity.sightings; ++i) {
    NoteSlot& slot = sighting_slots()[i];
    std::uint64_t sequence = slot.sequence.load(std::memory_order_acquire);
    if (sequence % 2 != 0 && slot.stuck == sequence) {
      slot.tag.store(kEmptyTag, std::memory_order_relaxed);
      std::uint64_t expected = sequence;
      slot.sequence.compare_exchange_strong(expected, sequence + 1, std::memory_order_acq_rel);
    }
    slot.stuck = sequence % 2 != 0 ? sequence : 0;
  }
}

void DenyRegion::note_sighting(const Fingerprint& fp, Micros now) {
  const std::uint64_t tag = tag_of(fp);
  NoteSlot* slots = sighting_slots();
  const std::uint32_t capacity = header()->capacity.sightings;
  NoteSlot* target = nullptr;
  std::uint64_t sequence = 0;
  for (int i = 0; i < kSightingProbe; ++i) {
    NoteSlot& slot = slots[(tag + static_cast<std::uint64_t>(i)) % capacity];
    std::uint64_t seen = slot.tag.load(std::memory_order_acquire);
    if (seen == tag) return;  // noted already (a rare tag collision only delays a lookup)
    if (target == nullptr && seen == kEmptyTag) {
      target = &slot;
      sequence = slot.sequence.load(std::memory_order_acquire);
    }
  }
  // Full: lossy by design, the next request of a real session notes it again.
  if (target == nullptr || sequence % 2 != 0 || !begin_note_write(*target, sequence)) return;
  target->fingerprint = fp;
  target->at.store(now, std::memory_order_relaxed);
  target->tag.store(tag, std::memory_order_release);
  end_note_write(*target, sequence);
}

std::vector<ActivityRecord> DenyRegion::take_sightings() {
  std::vector<ActivityRecord> seen;
  for (std::uint32_t i = 0; i < header()->capacity.sightings; ++i) {
    NoteSlot& slot = sighting_slots()[i];
    if (slot.tag.load(std::memory_order_acquire) == kEmptyTag) continue;
    NoteCopy copy = read_note(slot);
    if (!copy.stable || copy.tag == kEmptyTag || !begin_note_write(slot, copy.sequence)) continue;
    slot.tag.store(kEmptyTag, std::memory_order_release);
    end_note_write(slot, copy.sequence);
    seen.push_back(ActivityRecord{copy.fingerprint, copy.at});
  }
  return seen;
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

std::string serialize_snapshot(const DenySnapshot& snapshot) {
  std::string out = "session-guard-deny-list 1 " + std::to_string(snapshot.refreshed_at) + "\n";
  out.reserve(out.size() + snapshot.sessions.size() * 68 + snapshot.blocked_users.size() * 66 + 32);
  for (const auto& s : snapshot.sessions) {
    out += "s " + s.fingerprint.hex() + " " + std::to_string(static_cast<int>(s.reason)) + "\n";
  }
  for (const auto& u : snapshot.blocked_users) out += "u " + u.hex() + "\n";
  if (snapshot.audit_logged) out += "a " + std::to_string(*snapshot.audit_logged) + "\n";
  out += "end " + std::to_string(snapshot.sessions.size() + snapshot.blocked_users.size()) + "\n";
  return out;
}

namespace {
// Digits only, no sign, within [0, max]: std::stoll would throw on 9999999999999999999.
std::optional<std::uint64_t> parse_decimal(std::string_view text, std::uint64_t max) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    auto digit = static_cast<std::uint64_t>(c - '0');
    if (value > (max - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

std::optional<DenySnapshot> parse_snapshot_lines(std::string_view text, Micros now, std::string& why) {
  DenySnapshot snapshot;
  std::size_t lines = 0;
  bool ended = false;
  while (!text.empty()) {
    std::size_t newline = text.find('\n');
    if (ended) return why = "data after the end line", std::nullopt;
    if (newline == std::string_view::npos) return why = "torn last line", std::nullopt;
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline + 1);
    if (lines++ == 0) {
      constexpr std::string_view kHead = "session-guard-deny-list 1 ";
      if (line.substr(0, kHead.size()) != kHead) return why = "not a deny-list (bad header)", std::nullopt;
      auto time = parse_decimal(line.substr(kHead.size()),
                                static_cast<std::uint64_t>(std::numeric_limits<Micros>::max()));
      if (!time) return why = "refresh time out of range", std::nullopt;
      snapshot.refreshed_at = static_cast<Micros>(*time);
      // A time ahead of ours is a forged file or a clock gone wrong; either way, not trusted.
      if (now > std::numeric_limits<Micros>::max() - kSnapshotClockSkew ||
          snapshot.refreshed_at > now + kSnapshotClockSkew) {
        return why = "refresh time in the future", std::nullopt;
      }
    } else if (line.size() == 66 + 2 && line.substr(0, 2) == "s ") {
      auto fp = Fingerprint::from_hex(line.substr(2, 64));
      if (!fp || line[66] != ' ' || line[67] < '1' || line[67] > '7') return why = "bad session line", std::nullopt;
      snapshot.sessions.push_back(RevokedSession{*fp, static_cast<Reason>(line[67] - '0')});
    } else if (line.size() == 66 && line.substr(0, 2) == "u ") {
      auto key = Fingerprint::from_hex(line.substr(2));
      if (!key) return why = "bad user line", std::nullopt;
      snapshot.blocked_users.push_back(*key);
    } else if (line.substr(0, 2) == "a ") {
      auto id = parse_decimal(line.substr(2), std::numeric_limits<std::uint64_t>::max());
      if (!id) return why = "bad audit line", std::nullopt;
      snapshot.audit_logged = *id;
    } else if (line.substr(0, 4) == "end ") {
      auto count = parse_decimal(line.substr(4), std::numeric_limits<std::uint64_t>::max());
      if (!count || *count != snapshot.sessions.size() + snapshot.blocked_users.size()) {
        return why = "line count does not match", std::nullopt;
      }
      ended = true;
    } else {
      return why = "unknown line " + std::to_string(lines), std::nullopt;
    }
  }
  if (lines == 0) return why = "empty file", std::nullopt;
  if (!ended) return why = "no end line", std::nullopt;
  return snapshot;
}
}  // namespace

std::optional<DenySnapshot> parse_snapshot(std::string_view text, Micros now, std::string* why) noexcept {
  try {
    std::string reason;
    auto snapshot = parse_snapshot_lines(text, now, reason);
    if (why != nullptr) *why = reason;
    return snapshot;
  } catch (...) {  // bad_alloc on a huge file: ignored like any other bad file
    if (why != nullptr) why->clear();
    return std::nullopt;
  }
}

namespace {
// Far beyond any real list (10 million entries are about 700 MB): refuse rather than read.
constexpr off_t kMaxSnapshotFile = off_t{1} << 30;

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

std::string directory_of(const std::string& path) {
  std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};
}  // namespace

SnapshotFile load_snapshot_file(const std::string& path, Micros now) noexcept {
  SnapshotFile result;
  try {
    Fd file;
    file.fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (file.fd < 0) {
      if (errno == ENOENT) {
        result.missing = true;
      } else {
        result.error = errno == ELOOP ? "a symbolic link, not followed" : errno_text("cannot open");
      }
      return result;
    }
    struct stat info {};
    if (fstat(file.fd, &info) != 0) return result.error = errno_text("cannot stat"), result;
    if (!S_ISREG(info.st_mode)) return result.error = "not a regular file", result;
    if (info.st_size > kMaxSnapshotFile) return result.error = "larger than any deny-list", result;
    std::string text(static_cast<std::size_t>(info.st_size), '\0');
    std::size_t got = 0;
    while (got < text.size()) {
      ssize_t n = ::read(file.fd, &text[got], text.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return result.error = errno_text("cannot read"), result;
      if (n == 0) break;
      got += static_cast<std::size_t>(n);
    }
    text.resize(got);
    result.snapshot = parse_snapshot(text, now, &result.error);
  } catch (...) {
    result.snapshot.reset();
    result.error = "out of memory";
  }
  return result;
}

std::string save_snapshot_file(const std::string& path, const DenySnapshot& snapshot) noexcept {
  try {
    std::string text = serialize_snapshot(snapshot);
    std::string name = path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
    std::string temp = directory_of(path) + "/." + name + ".XXXXXX";
    Fd file;
    // mkostemp creates with O_EXCL (mode 0600): it never opens an existing file or a link.
    file.fd = mkostemp(&temp[0], O_CLOEXEC);
    if (file.fd < 0) return errno_text("cannot create a file beside " + path);
    std::string error;
    for (std::size_t done = 0; done < text.size() && error.empty();) {
      ssize_t n = ::write(file.fd, text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) error = errno_text("cannot write " + temp);
      else done += static_cast<std::size_t>(n);
    }
    if (error.empty() && fsync(file.fd) != 0) error = errno_text("cannot sync " + temp);
    if (error.empty() && ::close(std::exchange(file.fd, -1)) != 0) error = errno_text("cannot close " + temp);
    // rename replaces the name itself, even when it is a link: nothing outside is written.
    if (error.empty() && ::rename(temp.c_str(), path.c_str()) != 0) error = errno_text("cannot rename onto " + path);
    if (!error.empty()) ::unlink(temp.c_str());
    return error;
  } catch (...) {
    return "out of memory";
  }
}

std::string prepare_snapshot_directory(const std::string& path, long uid, long gid) noexcept {
  try {
    std::string directory = directory_of(path);
    struct stat info {};
    if (::lstat(directory.c_str(), &info) == 0) {
      if (S_ISLNK(info.st_mode)) return directory + " is a symbolic link";
      if (!S_ISDIR(info.st_mode)) return directory + " is not a directory";
      return {};
    }
    if (errno != ENOENT) return errno_text("cannot inspect " + directory);
    if (::mkdir(directory.c_str(), 0700) != 0 && errno != EEXIST) return errno_text("cannot create " + directory);
    Fd dir;
    dir.fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir.fd < 0) return errno_text("cannot open " + directory);
    if (uid >= 0 && fchown(dir.fd, static_cast<uid_t>(uid), static_cast<gid_t>(gid)) != 0) {
      return errno_text("cannot hand " + directory + " to the server's user");
    }
    return {};
  } catch (...) {
    return "out of memory";
  }
}

void DenyRegion::mark_refreshed(Micros now) { header()->last_refresh.store(now, std::memory_order_release); }

DenyRegion::Found DenyRegion::find_activity(const Fingerprint& fp, bool create, Micros now) const {
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
    if (seen == tag) {
      std::uint64_t generation = slot->generation.load(std::memory_order_acquire);
      bool same = slot->fingerprint == fp;
      std::atomic_thread_fence(std::memory_order_acquire);
      // Still the same claim after reading the fingerprint: freed and claimed again between
      // the loads would have moved the tag through empty and the generation on.
      if (same && slot->tag.load(std::memory_order_relaxed) == tag &&
          slot->generation.load(std::memory_order_relaxed) == generation) {
        return Found{slot, generation};
      }
    }
    if (seen == kEmptyTag && empty == nullptr) empty = slot;
  }
  if (!create) return {};
  for (int attempt = 0; empty != nullptr && attempt < 2; ++attempt) {
    std::uint64_t expected = kEmptyTag;
    if (empty->tag.compare_exchange_strong(expected, kClaimingTag, std::memory_order_acq_rel)) {
      empty->fingerprint = fp;
      empty->last_seen.store(now, std::memory_order_relaxed);
      empty->flushed.store(0, std::memory_order_relaxed);
      empty->bound_user_tag.store(0, std::memory_order_relaxed);
      empty->bound_generation.store(0, std::memory_order_relaxed);
      empty->user_length.store(0, std::memory_order_relaxed);
      std::uint64_t generation = empty->generation.fetch_add(1, std::memory_order_acq_rel) + 1;
      empty->tag.store(tag, std::memory_order_release);
      return Found{empty, generation};
    }
    empty = nullptr;
    for (int i = 0; i < kActivityProbe && empty == nullptr; ++i) {
      ActivitySlot* slot = &slots[(tag + static_cast<std::uint64_t>(i)) % capacity];
      if (slot->tag.load(std::memory_order_acquire) == kEmptyTag) empty = slot;
    }
  }
  header()->activity_dropped.fetch_add(1, std::memory_order_relaxed);
  return {};
}

namespace {
// A compare-and-swap from the value read: if the poller freed the slot and another session
// claimed it meanwhile, the claim reset last_seen and this write is dropped, not misfiled.
template <typename Slot>
void note_seen(Slot& slot, Micros now, Micros resolution) {
  Micros seen = slot.last_seen.load(std::memory_order_relaxed);
  while (now - seen >= resolution) {
    if (slot.last_seen.compare_exchange_weak(seen, now, std::memory_order_relaxed)) return;
  }
}
}  // namespace

void DenyRegion::record_activity(const Fingerprint& fp, Micros now) {
  Found found = find_activity(fp, false, now);
  if (found.slot == nullptr) return note_sighting(fp, now);
  note_seen(*found.slot, now, 1);
}

std::optional<DenyRegion::Owner> DenyRegion::touch(const Fingerprint& fp, Micros now) {
  Found found = find_activity(fp, false, now);
  if (found.slot == nullptr) {
    note_sighting(fp, now);
    return std::nullopt;
  }
  note_seen(*found.slot, now, kActivityResolution);
  return read_owner(*found.slot, found.generation);
}

bool DenyRegion::bound_to(const Fingerprint& fp, const Fingerprint& user) const {
  Found found = find_activity(fp, false, 0);
  if (found.slot == nullptr) return false;
  const ActivitySlot& slot = *found.slot;
  std::uint64_t tag = slot.bound_user_tag.load(std::memory_order_acquire);
  std::uint64_t bound_generation = slot.bound_generation.load(std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_acquire);
  return tag == tag_of(user) && bound_generation == found.generation &&
         slot.bound_user_tag.load(std::memory_order_relaxed) == tag &&
         slot.generation.load(std::memory_order_relaxed) == found.generation;
}

void DenyRegion::mark_bound(const Fingerprint& fp, const Fingerprint& user, Micros now, std::string_view username) {
  Found found = find_activity(fp, true, now);
  if (found.slot == nullptr) return;
  ActivitySlot& slot = *found.slot;
  // One writer of the owner at a time, so a name and a key from two writers never mix; a
  // writer that died holding it is taken over after a while rather than waited for.
  std::uint64_t current = slot.bound_user_tag.load(std::memory_order_acquire);
  for (int spins = 0;; ++spins) {
    if (current == kBindingTag && spins < 100000) {
      current = slot.bound_user_tag.load(std::memory_order_acquire);
      continue;
    }
    if (slot.bound_user_tag.compare_exchange_weak(current, kBindingTag, std::memory_order_acq_rel)) break;
  }
  std::size_t length = username.size() <= kMaxSlotUser ? username.size() : 0;
  if (length > 0) std::memcpy(slot.user, username.data(), length);  // data() may be null when empty
  slot.user_key = user;
  slot.user_length.store(static_cast<std::uint32_t>(length), std::memory_order_relaxed);
  // Names the claim this binding is for: if the slot was freed and claimed by another
  // session since find_activity, readers of that session reject this binding.
  slot.bound_generation.store(found.generation, std::memory_order_relaxed);
  slot.bound_user_tag.store(tag_of(user), std::memory_order_release);
}

std::optional<DenyRegion::Owner> DenyRegion::read_owner(const ActivitySlot& slot, std::uint64_t generation) {
  std::uint64_t tag = slot.bound_user_tag.load(std::memory_order_acquire);
  if (tag < 2) return std::nullopt;
  std::uint32_t length = std::min<std::uint32_t>(slot.user_length.load(std::memory_order_relaxed), kMaxSlotUser);
  Owner owner{std::string(slot.user, length), slot.user_key};
  std::uint64_t bound_generation = slot.bound_generation.load(std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_acquire);
  if (length == 0 || slot.bound_user_tag.load(std::memory_order_relaxed) != tag || tag_of(owner.key) != tag ||
      bound_generation != generation || slot.generation.load(std::memory_order_relaxed) != generation) {
    return std::nullopt;
  }
  return owner;
}

std::optional<DenyRegion::Owner> DenyRegion::owner(const Fingerprint& fp) const {
  Found found = find_activity(fp, false, 0);
  if (found.slot == nullptr) return std::nullopt;
  return read_owner(*found.slot, found.generation);
}

std::string DenyRegion::bound_user(const Fingerprint& fp) const {
  auto found = owner(fp);
  return found ? found->name : std::string();
}

std::vector<ActivityRecord> DenyRegion::pending_activity(Micros forget_before) {
  std::vector<ActivityRecord> pending;
  ActivitySlot* slots = activity_slots();
  std::uint32_t used = 0;  // counted here, where the whole table is walked anyway
  for (std::uint32_t i = 0; i < header()->capacity.activity; ++i) {
    ActivitySlot& slot = slots[i];
    std::uint64_t tag = slot.tag.load(std::memory_order_acquire);
    if (tag < 2) continue;
    ++used;
    Micros seen = slot.last_seen.load(std::memory_order_relaxed);
    Micros flushed = slot.flushed.load(std::memory_order_relaxed);
    if (seen > flushed) {
      pending.push_back(ActivityRecord{slot.fingerprint, seen});
    } else if (seen < forget_before && slot.tag.compare_exchange_strong(tag, kClaimingTag, std::memory_order_acq_rel)) {
      --used;
      // Held as claiming, so no child claims it while the generation moves on; a child
      // still holding the old generation can no longer bind it or count it as seen.
      slot.generation.fetch_add(1, std::memory_order_acq_rel);
      slot.bound_user_tag.store(0, std::memory_order_relaxed);
      slot.tag.store(kEmptyTag, std::memory_order_release);
    }
  }
  header()->activity_used.store(used, std::memory_order_relaxed);
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

std::optional<std::uint64_t> DenyRegion::audit_logged() const {
  std::uint64_t stored = header()->audit_logged.load(std::memory_order_acquire);
  return stored == 0 ? std::nullopt : std::optional<std::uint64_t>(stored - 1);
}

void DenyRegion::set_audit_logged(std::uint64_t id) {
  if (id < std::numeric_limits<std::uint64_t>::max()) header()->audit_logged.store(id + 1, std::memory_order_release);
}

}  // namespace sg
