// One Apache instance's figures (its server-status section), as the poller writes them to
// instance_health (sql/050) and the admin side reads them back.
#pragma once
#include <cstdint>
#include <string>

#include "sg/types.hpp"

namespace sg::db {

// One instance's figures, as its server-status section shows them (sql/050).
struct InstanceHealth {
  std::string instance;  // host name ":" port
  std::int64_t report_interval_ms = 0;
  std::int64_t revoked_sessions = 0;
  std::int64_t blocked_users = 0;
  std::int64_t deny_list_capacity = 0;
  std::int64_t deny_list_age_ms = 0;
  std::int64_t poll_lag_ms = 0;
  std::string last_db_error;  // empty: none
  Micros last_db_error_at = 0;  // µs since the epoch; 0: none
  std::int64_t activity_slots_used = 0;
  std::int64_t activity_slots = 0;
  std::int64_t activity_dropped = 0;
  std::int64_t revocations_dropped = 0;
  std::int64_t login_connections_in_use = 0;
  std::int64_t login_connections = 0;
  std::int64_t journal_bytes = 0;
  std::int64_t journal_records_pending = 0;
  // SessionGuardRevocationRetention: session-guard-prune keeps revocations this long (sql/100).
  std::int64_t revocation_retention_ms = 0;
};

// A row as read back: the figures and how old they are by the database's clock.
struct InstanceHealthRow {
  InstanceHealth figures;
  Micros reported_at = 0;
  std::int64_t report_age_ms = 0;
};

}  // namespace sg::db
