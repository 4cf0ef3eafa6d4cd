// Deleting history older than the retention policy (sg/retention.hpp), in small batches so
// no delete holds many row locks or a long Galera write set.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>

#include "mariadb.hpp"
#include "sg/retention.hpp"

namespace sg::db {

struct PruneCounts {
  std::uint64_t ended_sessions = 0;
  std::uint64_t revocations = 0;
  std::uint64_t user_events = 0;
  std::uint64_t audit = 0;
  std::uint64_t finished_mail = 0;
  std::uint64_t activity_samples = 0;
  std::uint64_t silent_instances = 0;
  std::uint64_t ticket_ties = 0;
  std::uint64_t total() const {
    return ended_sessions + revocations + user_events + audit + finished_mail + activity_samples + silent_instances +
           ticket_ties;
  }
  PruneCounts& operator+=(const PruneCounts& more);
};

class RetentionStore {
 public:
  explicit RetentionStore(Connection& db) : db_(db) {}
  // Every instance's reported SessionGuardRevocationRetention, however long ago it reported
  // (an instance that is down still enforces its revocations when it comes back).
  ReportedRetentions reported_retentions();
  // At most `batch` rows of each kind, each kind its own statement (autocommit).
  PruneCounts prune_batch(const RetentionPolicy& policy, std::size_t batch);
  // Batches until nothing is older than the policy or `max_batches` ran.
  PruneCounts prune(const RetentionPolicy& policy, std::size_t batch, std::size_t max_batches);

 private:
  Connection& db_;
};

}  // namespace sg::db
