// The shared block's layout: private to core/src/deny_region*.cpp, which read and write it.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <limits>

#include "sg/deny_region.hpp"

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
namespace sg::region {

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

inline std::size_t align64(std::size_t n) { return (n + 63) & ~static_cast<std::size_t>(63); }

inline std::uint64_t tag_of(const Fingerprint& fp) {
  std::uint64_t tag;
  std::memcpy(&tag, fp.bytes.data(), sizeof tag);
  return tag < 2 ? tag + 2 : tag;  // 0 and 1 mark empty and claiming slots
}

inline bool checked_add(std::size_t a, std::size_t b, std::size_t& out) {
  if (a > std::numeric_limits<std::size_t>::max() - b) return false;
  out = a + b;
  return true;
}

inline bool checked_mul(std::size_t a, std::size_t b, std::size_t& out) {
  if (a != 0 && b > std::numeric_limits<std::size_t>::max() / a) return false;
  out = a * b;
  return true;
}

}  // namespace sg::region

namespace sg {

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

namespace region {
// One consistent view of the published snapshot. The writer only ever fills the inactive
// buffer and then flips, so a reader almost never retries; if it raced a publication, the
// buffer's sequence number changed and it reads again.
struct SnapshotView {
  const SessionEntry* sessions;
  std::uint32_t session_count;
  const UserEntry* users;
  std::uint32_t user_count;
};
}  // namespace region

template <typename Read>
auto DenyRegion::read_consistent(Read&& read) const {
  using namespace region;
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

}  // namespace sg
