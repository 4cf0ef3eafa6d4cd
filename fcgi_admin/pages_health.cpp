// The Health page: one row per Apache instance, from the figures each poller reports to
// instance_health about every 10 s (the same figures as its server-status section).
#include "context.hpp"
#include "html.hpp"
#include "listing.hpp"

namespace sg::admin {

namespace {
std::string ms_text(std::int64_t ms) { return format_duration(static_cast<Micros>(ms) * 1000); }
std::string of(std::int64_t used, std::int64_t total) {
  return format_count(static_cast<std::uint64_t>(used)) + " / " + format_count(static_cast<std::uint64_t>(total));
}
}  // namespace

Response App::health_page(Context& ctx) {
  auto rows = backend_.instance_health();
  std::string out = "<h1>Health</h1>\n<p class=\"muted\">What each Apache instance's poller last reported (about every 10 s). "
                    "An instance is <em>stale</em> when it has not reported for " +
                    std::to_string(kHealthStaleIntervals) +
                    " intervals: its poller is not running or cannot reach the database.</p>\n";
  out += "<div class=\"table-wrap\"><table class=\"health\"><caption class=\"sr-only\">Apache instances</caption><thead><tr>"
         "<th scope=\"col\">Instance</th><th scope=\"col\">Reported</th><th scope=\"col\">Deny-list</th>"
         "<th scope=\"col\">Deny-list age</th><th scope=\"col\">Poll lag</th><th scope=\"col\">Last database error</th>"
         "<th scope=\"col\">Activity slots</th><th scope=\"col\">Login connections</th><th scope=\"col\">Journal</th>"
         "</tr></thead><tbody>\n";
  if (rows.empty()) out += empty_row(9, "No instance has reported yet.");
  for (const auto& row : rows) {
    const db::InstanceHealth& f = row.figures;
    const bool stale = health_stale(row);
    out += "<tr data-instance=\"" + h(f.instance) + "\"" + (stale ? " class=\"stale\"" : "") + "><td>" + h(f.instance) +
           (stale ? " <span class=\"badge blocked\">stale</span>" : " <span class=\"badge active\">reporting</span>") +
           "</td><td>" + h(ms_text(row.report_age_ms)) + " ago</td>";
    out += "<td>" + h(format_count(static_cast<std::uint64_t>(f.revoked_sessions))) + " sessions, " +
           h(format_count(static_cast<std::uint64_t>(f.blocked_users))) + " users" +
           (f.revocations_dropped > 0 ? ", " + h(std::to_string(f.revocations_dropped)) + " did not fit" : "") + "</td>";
    out += "<td>" + h(ms_text(f.deny_list_age_ms)) + "</td><td>" + h(ms_text(f.poll_lag_ms)) + "</td>";
    out += f.last_db_error.empty() ? std::string("<td class=\"muted\">none</td>")
                                   : "<td>" + h(f.last_db_error) + " <span class=\"muted\">(" +
                                         h(format_time(f.last_db_error_at)) + " UTC)</span></td>";
    out += "<td>" + h(of(f.activity_slots_used, f.activity_slots)) +
           (f.activity_dropped > 0 ? ", " + h(std::to_string(f.activity_dropped)) + " dropped" : "") + "</td>";
    out += "<td>" + h(of(f.login_connections_in_use, f.login_connections)) + "</td>";
    out += "<td>" + h(format_count(static_cast<std::uint64_t>(f.journal_bytes))) + " bytes, " +
           h(format_count(static_cast<std::uint64_t>(f.journal_records_pending))) + " waiting</td></tr>\n";
  }
  out += "</tbody></table></div>\n";
  return html(ctx, "Health", "health", out);
}

}  // namespace sg::admin
