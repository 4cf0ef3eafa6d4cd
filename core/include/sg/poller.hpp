// Keeps the shared deny-list in step with the database. Runs in exactly one thread per
// Apache instance; driven by an injected store and clock so every path is unit-tested.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "sg/deny_region.hpp"
#include "sg/store_error.hpp"
#include "sg/types.hpp"

namespace sg {

struct DenyEvent {
  std::uint64_t id = 0;
  bool user_changed = false;  // a user's blocked state changed; the feed's current state is the truth
  Fingerprint fingerprint;    // for session revocations
  Reason reason = Reason::killed;
  std::string username;       // whose session: no user may push out the others' revocations
  Micros at = 0;              // when it was revoked (0: unknown, taken as when the poller saw it)
};

struct RevocationLoad {
  std::vector<DenyEvent> events;   // at most the limit asked for, chosen as select_revocations does
  std::uint64_t within_retention = 0;  // how many there are in all
};

// Keeps at most `capacity` of `events` (distinct fingerprints) and returns how many it
// dropped. Newest first, one round per user: every user's newest revocation, then every
// user's second newest, and so on. The user with the most revocations loses their oldest
// first, and nobody's few revocations are pushed out by another user's many.
std::size_t select_revocations(std::vector<DenyEvent>& events, std::size_t capacity);

// What the poller needs from the database. Every method may throw StoreError.
class DenyFeed {
 public:
  virtual ~DenyFeed() = default;
  virtual std::uint64_t max_event_id() = 0;
  // Session revocations made less than `retention` ago; when there are more than `limit`,
  // the ones select_revocations would keep.
  virtual RevocationLoad revocations_within(Micros retention, std::size_t limit) = 0;
  virtual std::vector<std::string> blocked_users() = 0;
  // Events with after < id <= up_to (up_to == 0: no upper bound), in id order.
  virtual std::vector<DenyEvent> events(std::uint64_t after, std::uint64_t up_to, std::size_t limit) = 0;
  // How many events with after < id <= up_to are committed (a count, not a read of them).
  virtual std::uint64_t count_events(std::uint64_t after, std::uint64_t up_to) {
    return events(after, up_to, static_cast<std::size_t>(up_to - after)).size();
  }
  // Writes what it can without waiting for a row another transaction holds; returns the
  // sessions it left for a later flush (their rows were locked).
  virtual std::vector<Fingerprint> record_activity(const std::vector<ActivityRecord>& activity) = 0;
  // Users of those sessions the database knows as active, so every child can name them.
  virtual std::vector<std::pair<Fingerprint, std::string>> session_users(const std::vector<Fingerprint>&) {
    return {};
  }
  // Ends sessions past their idle or absolute deadline and returns how many; their
  // revocations reach every poller through the event feed like any other.
  virtual std::size_t expire_sessions(std::size_t /*limit*/) { return 0; }
};

class Clock {
 public:
  virtual ~Clock() = default;
  virtual Micros now() = 0;
};

struct PollerSettings {
  Micros full_resync_interval = 60 * kMicrosPerSecond;
  // Ids this far below the highest seen that have not been seen are watched, however long
  // ago they went missing (a transaction still open, or a Galera id that will never exist):
  // each poll counts the committed events from the lowest of them up, and re-reads that
  // window only when the count says one of them has arrived.
  std::uint64_t gap_window = 4096;
  // After a full load, ids this close to the top are re-read: they may belong to
  // transactions that were open during the load.
  std::uint64_t resync_overlap = 256;
  std::size_t batch_limit = 1000;
  // A revocation is kept while the cookie it ended could still work (the directive
  // SessionGuardRevocationRetention).
  Micros revocation_retention = 7 * 24 * 3600 * kMicrosPerSecond;
  Micros activity_retention = 3600 * kMicrosPerSecond;
  // Flushing scans the whole activity table; timeouts are minutes, so Apache does it once a
  // second rather than on every poll (0: every tick).
  Micros activity_flush_interval = 0;
  Micros expiry_interval = kMicrosPerSecond;
  std::size_t expiry_batch = 500;
};

struct TickResult {
  bool ok = true;
  bool full_resync = false;
  bool published = false;
  std::size_t events_applied = 0;
  std::size_t activity_flushed = 0;
  std::size_t activity_deferred = 0;  // sessions whose rows were locked: flushed later
  bool window_reread = false;         // the count of the gap window changed: it was read again
  std::size_t sessions_expired = 0;
  // Revocations within retention that this tick's publication left out for lack of room
  // (a full load counts all of them again): the deny-list is too small, say so loudly.
  std::size_t revocations_dropped = 0;
  std::string error;  // the StoreError text when !ok
  // A failed activity flush or deadline sweep: it does not fail the refresh (the deny-list
  // is fresh) and is retried at its next interval; nothing pending is dropped.
  std::string write_error;
};

class Poller {
 public:
  Poller(DenyFeed& feed, Clock& clock, DenyRegion& region, PollerSettings settings = {});
  TickResult tick();
  std::size_t missing_ids() const { return missing_.size(); }
  std::uint64_t max_seen() const { return max_seen_; }
  // Forces the next tick to reload everything (after a reconnect, say).
  void request_full_resync() { next_full_resync_ = 0; }

 private:
  void full_resync(Micros now, TickResult& result);
  void incremental(Micros now, TickResult& result);
  void apply(const DenyEvent& event, Micros now, bool& users_changed, TickResult& result);
  void publish(Micros now, TickResult& result);
  void learn_sightings();
  void flush_activity(Micros now, TickResult& result);
  void learn_users(const std::vector<ActivityRecord>& flushed, Micros now);
  void note_gap(std::uint64_t below);
  void check_window(Micros now, bool& users_changed, TickResult& result);

  DenyFeed& feed_;
  Clock& clock_;
  DenyRegion& region_;
  PollerSettings settings_;
  std::map<Fingerprint, DenyEvent> revoked_;
  std::uint64_t revocations_dropped_ = 0;  // within retention, not published (the region's stat)
  std::vector<std::string> blocked_users_;
  std::uint64_t max_seen_ = 0;
  // Ids within gap_window below max_seen_ not seen committed; every other id of that range
  // has been seen, so the window's committed count tells when one of these arrives.
  std::set<std::uint64_t> missing_;
  Micros next_full_resync_ = 0;
  Micros next_expiry_ = 0;
  Micros next_activity_flush_ = 0;
  bool dirty_ = false;
  bool users_stale_ = false;  // a user event was applied but the accounts read has not succeeded yet
};

}  // namespace sg
