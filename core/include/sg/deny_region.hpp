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
  std::uint32_t activity = 65536;   // bound sessions whose last access is tracked between flushes
  std::uint32_t local = 1024;       // revocations made by this instance's children, until the feed has them
  std::uint32_t sightings = 512;    // sessions seen here but not bound here, until the poller asks the database
  bool operator==(const RegionCapacity& o) const {
    return sessions == o.sessions && users == o.users && activity == o.activity && local == o.local &&
           sightings == o.sightings;
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
  std::optional<std::uint64_t> audit_logged;  // see DenyRegion::audit_logged
};

std::string serialize_snapshot(const DenySnapshot& snapshot);
// Rejects anything truncated, malformed, out of range or stamped later than `now` plus
// kSnapshotClockSkew: a half-written or altered file must never shrink the list silently,
// nor be trusted, nor stop a start. Never throws; `why` (if given) says what was wrong.
std::optional<DenySnapshot> parse_snapshot(std::string_view text, Micros now, std::string* why = nullptr) noexcept;
constexpr Micros kSnapshotClockSkew = 5 * 60 * kMicrosPerSecond;

// The state file. Its directory must be writable by the process that saves it (the
// poller, as the server's user): each save is a new file renamed over the old one, so a
// crash or a full disk leaves the previous file whole, never a torn one.
struct SnapshotFile {
  std::optional<DenySnapshot> snapshot;
  bool missing = false;  // no file at all: nothing to warn about
  std::string error;     // why the file is ignored
};
// Refuses a symbolic link or anything but a regular file (it is read by root at start-up).
SnapshotFile load_snapshot_file(const std::string& path, Micros now) noexcept;
// Empty when written, else what failed.
std::string save_snapshot_file(const std::string& path, const DenySnapshot& snapshot) noexcept;
// Creates the file's directory (mode 0700, then given to uid/gid unless they are -1) when it
// does not exist; refuses a directory that is a symbolic link. Empty when usable.
std::string prepare_snapshot_directory(const std::string& path, long uid, long gid) noexcept;

struct RegionStats {
  Micros last_refresh = 0;
  Micros started_at = 0;
  std::uint64_t publications = 0;
  std::uint32_t revoked_sessions = 0;
  std::uint32_t blocked_users = 0;
  std::uint64_t activity_dropped = 0;
  // Revocations within retention that did not fit (the poller's count at its last
  // publication): non-zero means SessionGuardDenyListSize is too small.
  std::uint64_t revocations_dropped = 0;
  std::uint64_t local_revocations = 0;   // revoke_locally calls recorded
  std::uint32_t local_pending = 0;       // local revocations the feed has not brought yet
  std::uint64_t local_overwritten = 0;   // local revocations pushed out before the feed had them
  // For operators (server-status, the instance's health row): see note_poll.
  Micros last_poll = 0;                  // the poller's last tick, whatever its outcome
  std::uint32_t activity_used = 0;       // activity slots claimed, as of the poller's last flush
  std::uint32_t journal_pending = 0;     // journal records not yet replayed, as of the last look
  Micros db_error_at = 0;                // 0: no database error since the block was created
  std::string db_error;                  // the last one, cut to DenyRegion::kMaxErrorText bytes
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
  // The published snapshot, then this instance's local revocations.
  Reason session_revoked(const Fingerprint& fingerprint) const;
  bool user_blocked(const Fingerprint& user_key) const;
  Micros last_refresh() const;
  Micros started_at() const;
  RegionStats stats() const;

  // --- any child: lock-free writes ---
  // Revokes a session on this instance at once, before the database feed brings it (a
  // login refused or superseded here). Kept until a publication contains the fingerprint or
  // kLocalRetention passes. False only when every slot the fingerprint may use is being
  // written at this moment; the database's revocation still arrives with the next poll.
  bool revoke_locally(const Fingerprint& fingerprint, Reason reason, Micros now);
  static constexpr Micros kLocalRetention = 10 * 60 * kMicrosPerSecond;

  // Notes that a request of this session arrived. Only sessions bound on this instance have
  // a slot; any other fingerprint is only noted as a sighting (a lossy table the poller
  // drains, asking the database which of them are live sessions), so a client sending
  // random cookie values cannot fill the table.
  void record_activity(const Fingerprint& fingerprint, Micros now);
  // True when this process already bound the session to this user (avoids a DB write per request).
  bool bound_to(const Fingerprint& fingerprint, const Fingerprint& user_key) const;
  // Claims the session's slot: `username` is kept (up to kMaxSlotUser bytes) so any child
  // can tell the app who it is.
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
  // every guarded request needs. Claims nothing for an unbound session.
  std::optional<Owner> touch(const Fingerprint& fingerprint, Micros now);
  // Activity closer together than this is not written again: every child writing the same
  // cache line on every request costs more than a last access exact to the millisecond.
  static constexpr Micros kActivityResolution = 500 * 1000;
  static constexpr std::size_t kMaxSlotUser = 64;

  // --- the single writer: the poller ---
  // Inputs need not be sorted; entries beyond capacity are dropped (the poller never gives
  // more: it chooses which revocations to keep, see select_revocations in poller.hpp).
  void publish(std::vector<RevokedSession> sessions, std::vector<Fingerprint> blocked_users);
  void set_revocations_dropped(std::uint64_t dropped);
  // Frees local revocations the published snapshot now holds, and (when `expire` is set,
  // i.e. the database answered) those older than kLocalRetention; repairs slots left half
  // written by a process that died inside revoke_locally.
  void sweep_local(Micros now, bool expire);
  // Sessions seen since the last call that have no slot here, oldest sighting kept.
  std::vector<ActivityRecord> take_sightings();
  DenySnapshot snapshot() const;
  void restore(const DenySnapshot& snapshot);
  void mark_refreshed(Micros now);
  // After every tick: `error` empty when the database answered. The last error is kept (with
  // its time) after the database recovers, so an operator sees what the last outage was.
  void note_poll(Micros now, std::string_view error);
  void set_journal_pending(std::uint32_t records);
  static constexpr std::size_t kMaxErrorText = 240;
  // Activity not yet flushed; forget entries idle since before `forget_before` once flushed.
  std::vector<ActivityRecord> pending_activity(Micros forget_before);
  void mark_flushed(const std::vector<ActivityRecord>& flushed);

  // The id of the last audit line written to this instance's error log: a poller that
  // replaces another (killed, or after a graceful restart) goes on from there. Empty until
  // a poller has set it (0 is a position: an empty audit table).
  std::optional<std::uint64_t> audit_logged() const;
  void set_audit_logged(std::uint64_t id);

 private:
  explicit DenyRegion(unsigned char* base) : base_(base) {}
  struct Header;
  struct Buffer;
  struct ActivitySlot;
  struct NoteSlot;
  // A slot found for a fingerprint, with the generation it had then: a slot the poller
  // frees and another session claims gets a new generation, so a late write is detected.
  struct Found {
    ActivitySlot* slot = nullptr;
    std::uint64_t generation = 0;
  };
  Header* header() const;
  Buffer* buffer(std::uint32_t index) const;
  ActivitySlot* activity_slots() const;
  NoteSlot* local_slots() const;
  NoteSlot* sighting_slots() const;
  Found find_activity(const Fingerprint& fingerprint, bool create, Micros now) const;
  void note_sighting(const Fingerprint& fingerprint, Micros now);
  Reason local_revoked(const Fingerprint& fingerprint) const;
  template <typename Read>
  auto read_consistent(Read&& read) const;
  static std::optional<Owner> read_owner(const ActivitySlot& slot, std::uint64_t generation);

  unsigned char* base_;
};

}  // namespace sg
