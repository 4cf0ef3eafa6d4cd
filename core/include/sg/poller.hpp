// Keeps the shared deny-list in step with the database. Runs in exactly one thread per
// Apache instance; driven by an injected store and clock so every path is unit-tested.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "sg/deny_region.hpp"
#include "sg/types.hpp"

namespace sg {

struct StoreError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct DenyEvent {
  std::uint64_t id = 0;
  bool user_changed = false;  // a user's blocked state changed; the feed's current state is the truth
  Fingerprint fingerprint;    // for session revocations
  Reason reason = Reason::killed;
};

// What the poller needs from the database. Every method may throw StoreError.
class DenyFeed {
 public:
  virtual ~DenyFeed() = default;
  virtual std::uint64_t max_event_id() = 0;
  // Session revocations, newest first.
  virtual std::vector<DenyEvent> recent_revocations(std::size_t limit) = 0;
  virtual std::vector<std::string> blocked_users() = 0;
  // Events with after < id <= up_to (up_to == 0: no upper bound), in id order.
  virtual std::vector<DenyEvent> events(std::uint64_t after, std::uint64_t up_to, std::size_t limit) = 0;
  virtual void record_activity(const std::vector<ActivityRecord>& activity) = 0;
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
  // How long an id below the highest seen may stay missing before we stop waiting for it
  // (a transaction still open, or a Galera id that will never exist).
  Micros gap_timeout = 30 * kMicrosPerSecond;
  // After a full load, ids this close to the top are re-read: they may belong to
  // transactions that were open during the load.
  std::uint64_t resync_overlap = 256;
  std::size_t batch_limit = 1000;
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
  std::size_t sessions_expired = 0;
  std::string error;  // the StoreError text when !ok
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
  void apply(const DenyEvent& event, bool& users_changed, TickResult& result);
  void publish();
  void flush_activity(Micros now, TickResult& result);
  void learn_users(const std::vector<ActivityRecord>& flushed, Micros now);

  DenyFeed& feed_;
  Clock& clock_;
  DenyRegion& region_;
  PollerSettings settings_;
  std::map<Fingerprint, std::pair<std::uint64_t, Reason>> revoked_;  // fingerprint -> (event id, reason)
  std::vector<std::string> blocked_users_;
  std::uint64_t max_seen_ = 0;
  std::map<std::uint64_t, Micros> missing_;  // id -> when we first noticed it absent
  Micros next_full_resync_ = 0;
  Micros next_expiry_ = 0;
  Micros next_activity_flush_ = 0;
  bool dirty_ = false;
  bool users_stale_ = false;  // a user event was applied but the accounts read has not succeeded yet
};

}  // namespace sg
