// The deny-list and the activity table, laid out in one block of process-shared memory.
//
// Readers (every request in every child) never lock: the snapshot is double-buffered and
// each buffer carries a sequence counter, so a reader that raced a publication retries.
// Everything is addressed by offsets from the start of the block, because children may map
// it at different addresses. The block survives graceful restarts, so enforcement never
// pauses while Apache reloads.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sg/types.hpp"

namespace sg {

struct RegionCapacity {
  std::uint32_t sessions = 100000;  // revoked fingerprints kept
  std::uint32_t users = 10000;      // blocked users kept
  std::uint32_t activity = 65536;   // sessions whose last access is tracked between flushes
  bool operator==(const RegionCapacity& o) const {
    return sessions == o.sessions && users == o.users && activity == o.activity;
  }
};

struct RevokedSession {
  Fingerprint fingerprint;
  Reason reason = Reason::killed;
};

struct ActivityRecord {
  Fingerprint fingerprint;
  Micros last_seen = 0;
};

// What a region enforces, as a value: written to disk after each change so that a cold
// start (not only a graceful one) enforces the last known list before the database answers.
struct DenySnapshot {
  Micros refreshed_at = 0;
  std::vector<RevokedSession> sessions;
  std::vector<Fingerprint> blocked_users;
};

std::string serialize_snapshot(const DenySnapshot& snapshot);
// Rejects anything truncated or malformed: a half-written file must never shrink the list
// silently, nor be trusted.
std::optional<DenySnapshot> parse_snapshot(std::string_view text);

struct RegionStats {
  Micros last_refresh = 0;
  Micros started_at = 0;
  std::uint64_t publications = 0;
  std::uint32_t revoked_sessions = 0;
  std::uint32_t blocked_users = 0;
  std::uint64_t activity_dropped = 0;
};

class DenyRegion {
 public:
  // Bytes needed for the capacity, or 0 when the sizes overflow.
  static std::size_t required_size(const RegionCapacity& capacity);

  // Lays out a fresh region in `memory` (zeroed by the caller or not).
  static DenyRegion create(void* memory, std::size_t size, const RegionCapacity& capacity, Micros now);
  // Adopts a region laid out before (by another process, or before a graceful restart).
  static std::optional<DenyRegion> attach(void* memory, std::size_t size);

  // Structural check of a region, for tests and after attach; empty string when sound.
  std::string validate() const;
  RegionCapacity capacity() const;

  // --- readers: any process, no locks ---
  Reason session_revoked(const Fingerprint& fingerprint) const;
  bool user_blocked(const Fingerprint& user_key) const;
  Micros last_refresh() const;
  Micros started_at() const;
  RegionStats stats() const;

  // Notes that a request of this session arrived; lossy by design when the table is full.
  void record_activity(const Fingerprint& fingerprint, Micros now);
  // True when this process already bound the session to this user (avoids a DB write per request).
  bool bound_to(const Fingerprint& fingerprint, const Fingerprint& user_key) const;
  // `username` is kept (up to kMaxSlotUser bytes) so any child can tell the app who it is.
  void mark_bound(const Fingerprint& fingerprint, const Fingerprint& user_key, Micros now,
                  std::string_view username = {});
  // The user a session is bound to, as far as this instance knows; empty when unknown.
  std::string bound_user(const Fingerprint& fingerprint) const;
  struct Owner {
    std::string name;
    Fingerprint key;  // user_key(name), kept so the request path need not hash it again
  };
  std::optional<Owner> owner(const Fingerprint& fingerprint) const;
  // record_activity (to kActivityResolution) and owner in one probe of the table: what
  // every guarded request needs.
  std::optional<Owner> touch(const Fingerprint& fingerprint, Micros now);
  // Activity closer together than this is not written again: every child writing the same
  // cache line on every request costs more than a last access exact to the millisecond.
  static constexpr Micros kActivityResolution = 500 * 1000;
  static constexpr std::size_t kMaxSlotUser = 64;

  // --- the single writer: the poller ---
  // Inputs need not be sorted; entries beyond capacity are dropped (sessions: the caller
  // orders newest first so the oldest revocations are the ones that go).
  void publish(std::vector<RevokedSession> sessions, std::vector<Fingerprint> blocked_users);
  DenySnapshot snapshot() const;
  void restore(const DenySnapshot& snapshot);
  void mark_refreshed(Micros now);
  // Activity not yet flushed; forget entries idle since before `forget_before` once flushed.
  std::vector<ActivityRecord> pending_activity(Micros forget_before);
  void mark_flushed(const std::vector<ActivityRecord>& flushed);

  // Cross-process counter bounding concurrent login writes per instance.
  bool try_acquire_login_slot(std::int32_t limit);
  void release_login_slot();

 private:
  explicit DenyRegion(unsigned char* base) : base_(base) {}
  struct Header;
  struct Buffer;
  struct ActivitySlot;
  Header* header() const;
  Buffer* buffer(std::uint32_t index) const;
  ActivitySlot* activity_slots() const;
  ActivitySlot* find_activity(const Fingerprint& fingerprint, bool create, Micros now) const;
  template <typename Read>
  auto read_consistent(Read&& read) const;
  static std::optional<Owner> read_owner(const ActivitySlot& slot);

  unsigned char* base_;
};

}  // namespace sg
