#include "listing.hpp"

#include <algorithm>
#include <chrono>

#include "html.hpp"

namespace sg::admin {

const char* default_order(std::string_view sort) {
  for (const char* ascending : {"user", "ip", "device", "browser", "server", "session", "time_left"})
    if (sort == ascending) return "asc";
  return "desc";
}

nlohmann::json session_json(const db::SessionRow& s, Micros now) {
  using nlohmann::json;
  return json{{"id", s.short_id()},
              {"fingerprint", s.fingerprint},
              {"user", s.username},
              {"admin", s.is_admin},
              {"state", s.state},
              {"login_at", format_iso(s.login_at)},
              {"last_access", format_iso(s.last_access)},
              {"idle_seconds", std::max<Micros>(0, now - s.last_access) / kMicrosPerSecond},
              {"ip", s.client_ip},
              {"user_agent", s.user_agent},
              {"device", s.device},
              {"browser", s.browser},
              {"os", s.os},
              {"server", s.server_name},
              {"idle_timeout", s.idle_timeout},
              {"max_lifetime", s.max_lifetime},
              {"deadline", s.deadline() == 0 ? json(nullptr) : json(format_iso(s.deadline()))},
              {"time_left_seconds",
               s.deadline() == 0 ? json(nullptr) : json(std::max<Micros>(0, s.deadline() - now) / kMicrosPerSecond)}};
}

bool health_stale(const db::InstanceHealthRow& row) {
  // An interval of 0 would flag every row: the module's own is 10 s.
  const std::int64_t interval = row.figures.report_interval_ms > 0 ? row.figures.report_interval_ms : 10000;
  return row.report_age_ms > kHealthStaleIntervals * interval;
}

nlohmann::json health_json(const db::InstanceHealthRow& row) {
  using nlohmann::json;
  const db::InstanceHealth& h = row.figures;
  return json{{"instance", h.instance},
              {"reported_at", format_iso(row.reported_at)},
              {"report_age_ms", row.report_age_ms},
              {"report_interval_ms", h.report_interval_ms},
              {"stale", health_stale(row)},
              {"revoked_sessions", h.revoked_sessions},
              {"blocked_users", h.blocked_users},
              {"deny_list_capacity", h.deny_list_capacity},
              {"revocations_dropped", h.revocations_dropped},
              {"deny_list_age_ms", h.deny_list_age_ms},
              {"poll_lag_ms", h.poll_lag_ms},
              {"last_db_error", h.last_db_error.empty() ? json(nullptr) : json(h.last_db_error)},
              {"last_db_error_at", h.last_db_error_at == 0 ? json(nullptr) : json(format_iso(h.last_db_error_at))},
              {"activity_slots_used", h.activity_slots_used},
              {"activity_slots", h.activity_slots},
              {"activity_dropped", h.activity_dropped},
              {"login_connections_in_use", h.login_connections_in_use},
              {"login_connections", h.login_connections},
              {"journal_bytes", h.journal_bytes},
              {"journal_records_pending", h.journal_records_pending}};
}

}  // namespace sg::admin
