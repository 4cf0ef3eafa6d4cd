// The instance's figures for operators: a section of mod_status's server-status page (HTML,
// and "Key: value" lines for ?auto, as mod_socache_shmcb's status function does), and the
// same figures as the row the poller reports to the database for the admin's Health panel.
// Everything is read from the shared block, the lock file and the journal's size: no
// database, no lock, nothing that can make a status request wait.
#include "internal.hpp"

#include <mod_status.h>

#include <cinttypes>
#include <cstdio>

namespace sg::apache {

namespace {

std::int64_t age_ms(sg::Micros now, sg::Micros then) { return then > 0 && now > then ? (now - then) / 1000 : 0; }

// A figure: its ?auto key, its label in HTML and, for HTML, a hint on when to worry.
struct Line {
  const char* key;
  const char* label;
  std::string value;
};

std::vector<Line> lines_of(const sg::db::InstanceHealth& h, sg::Micros now) {
  auto n = [](std::int64_t v) { return std::to_string(v); };
  std::vector<Line> lines = {
      {"SessionGuardInstance", "instance", h.instance},
      {"SessionGuardRevokedSessions", "revoked sessions in the deny-list", n(h.revoked_sessions)},
      {"SessionGuardBlockedUsers", "blocked users in the deny-list", n(h.blocked_users)},
      {"SessionGuardDenyListCapacity", "deny-list capacity (sessions)", n(h.deny_list_capacity)},
      {"SessionGuardRevocationsDropped", "revocations that did not fit", n(h.revocations_dropped)},
      {"SessionGuardDenyListAgeMs", "deny-list age (ms since the last successful refresh)", n(h.deny_list_age_ms)},
      {"SessionGuardPollLagMs", "poll lag (ms since the poller's last tick)", n(h.poll_lag_ms)},
      {"SessionGuardLastDatabaseError", "last database error", h.last_db_error.empty() ? "none" : h.last_db_error},
      {"SessionGuardLastDatabaseErrorAgeMs", "last database error (ms ago)",
       h.last_db_error_at > 0 ? n(age_ms(now, h.last_db_error_at)) : "-"},
      {"SessionGuardActivitySlotsUsed", "activity slots used", n(h.activity_slots_used)},
      {"SessionGuardActivitySlots", "activity slots", n(h.activity_slots)},
      {"SessionGuardActivityDropped", "activity dropped (table full)", n(h.activity_dropped)},
      {"SessionGuardLoginConnectionsInUse", "login connections in use", n(h.login_connections_in_use)},
      {"SessionGuardLoginConnections", "login connections allowed", n(h.login_connections)},
      {"SessionGuardJournalBytes", "journal size (bytes)", n(h.journal_bytes)},
      {"SessionGuardJournalRecordsPending", "journal records waiting for replay", n(h.journal_records_pending)},
  };
  return lines;
}

// Registered with mod_status. It writes nothing it could not escape and never throws.
int status_hook(request_rec* r, int flags) noexcept {
  if (!g_process.region) return OK;  // not configured in this server: no section
  try {
    sg::Micros now = sg::wall_clock_micros();
    std::vector<Line> lines = lines_of(instance_health(now), now);
    if (flags & AP_STATUS_SHORT) {
      // One line per figure: no newline may come from a value (an error message could hold one).
      for (const Line& line : lines) {
        std::string value = line.value;
        for (char& c : value) {
          if (c == '\n' || c == '\r') c = ' ';
        }
        ap_rprintf(r, "%s: %s\n", line.key, value.c_str());
      }
      return OK;
    }
    ap_rputs("<hr>\n<h2>Session Guard</h2>\n<table border=\"0\">\n", r);
    for (const Line& line : lines) {
      ap_rprintf(r, "<tr><td>%s</td><td><b>%s</b></td></tr>\n", ap_escape_html(r->pool, line.label),
                 ap_escape_html(r->pool, line.value.c_str()));
    }
    ap_rputs("</table>\n", r);
  } catch (...) {
    // Allocation failure, in practice: the rest of server-status is still worth having.
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "session guard: server-status section not written");
  }
  return OK;
}

}  // namespace

sg::db::InstanceHealth instance_health(sg::Micros now) {
  const sg::DenyRegion& region = *g_process.region;
  sg::RegionStats stats = region.stats();
  sg::RegionCapacity capacity = region.capacity();
  sg::db::InstanceHealth h;
  h.instance = g_process.instance_name;
  h.report_interval_ms = kHealthReportInterval / 1000;
  h.revoked_sessions = stats.revoked_sessions;
  h.blocked_users = stats.blocked_users;
  h.deny_list_capacity = capacity.sessions;
  // Never refreshed since the block was made: as old as the block, which is what the fail
  // mode's staleness measures too.
  h.deny_list_age_ms = age_ms(now, stats.last_refresh > 0 ? stats.last_refresh : stats.started_at);
  h.poll_lag_ms = age_ms(now, stats.last_poll > 0 ? stats.last_poll : stats.started_at);
  h.last_db_error = stats.db_error;
  h.last_db_error_at = stats.db_error_at;
  h.activity_slots_used = stats.activity_used;
  h.activity_slots = capacity.activity;
  h.activity_dropped = static_cast<std::int64_t>(stats.activity_dropped);
  h.revocations_dropped = static_cast<std::int64_t>(stats.revocations_dropped);
  if (g_process.login_slots) {
    h.login_connections_in_use = g_process.login_slots->in_use();
    h.login_connections = g_process.login_slots->count();
  }
  h.journal_bytes = static_cast<std::int64_t>(journal_bytes());
  h.journal_records_pending = stats.journal_pending;
  h.revocation_retention_ms = g_process.config.revocation_retention_or_default() / 1000;
  return h;
}

void register_status_hook() {
  APR_OPTIONAL_HOOK(ap, status_hook, status_hook, nullptr, nullptr, APR_HOOK_MIDDLE);
}

}  // namespace sg::apache
