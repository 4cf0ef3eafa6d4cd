// How long history is kept (issue 10, item 8). Pure policy: the database side deletes what
// retention_cutoffs says is old enough, in small batches.
#pragma once
#include <cstdint>
#include <optional>

#include "sg/config.hpp"
#include "sg/types.hpp"

namespace sg {

// Ages after which history is deleted. Pending mail and active sessions are never deleted;
// a revocation is kept as long as any instance may still enforce it.
struct RetentionPolicy {
  Micros ended_sessions = 90 * 24 * 3600 * kMicrosPerSecond;
  Micros audit = 365 * 24 * 3600 * kMicrosPerSecond;
  Micros finished_mail = 30 * 24 * 3600 * kMicrosPerSecond;  // sent or failed for good
  Micros activity_samples = 30 * 24 * 3600 * kMicrosPerSecond;
  // Block and unblock events: the pollers read the blocked list from accounts; the events
  // are history once every poller has passed them.
  Micros user_events = 90 * 24 * 3600 * kMicrosPerSecond;
  // Instances whose health row is this old are gone; their row goes too.
  Micros silent_instances = 30 * 24 * 3600 * kMicrosPerSecond;
  // The administrator's word for the longest SessionGuardRevocationRetention in the farm
  // (the directive's default here). What instances report can only raise it: the module's
  // account, which any PHP code can read, may write instance_health, so a report must never
  // be able to make a revocation go sooner.
  Micros revocations = ServerConfig::kDefaultRevocationRetention;
};

// What instance_health says of the instances' retentions.
struct ReportedRetentions {
  std::uint64_t instances = 0;  // rows
  Micros shortest = 0;          // 0 or less: an instance reports none (a module older than sql/100)
  Micros longest = 0;
};


// The age before which a session revocation may be deleted: the policy's floor or the
// longest retention an instance reports, whichever is longer, plus an hour of margin for
// clock skew and a late report. None, so no revocation is deleted, when no instance has
// reported, when one reports none, or when a report is outside the directive's range
// (ServerConfig::kMaxRevocationRetention): that is no module's report.
std::optional<Micros> revocation_prune_age(const RetentionPolicy& policy, const ReportedRetentions& reported);

}  // namespace sg
