// How long history is kept (issue 10, item 8). Pure policy: the database side deletes what
// retention_cutoffs says is old enough, in small batches.
#pragma once
#include <optional>

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
};

// The age before which a session revocation may be deleted: the longest retention any
// instance reports (SessionGuardRevocationRetention) plus an hour of margin for clock skew
// and an instance that reports late (they report every few seconds). None when no instance has reported one: then no
// revocation is deleted, since the pruner cannot know what is still enforced.
std::optional<Micros> revocation_prune_age(std::optional<Micros> longest_reported_retention);

}  // namespace sg
