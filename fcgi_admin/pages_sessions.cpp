// The sessions page: statistics, filters, the sortable table with its per-row actions, and
// keyset paging.
#include <algorithm>
#include <map>

#include "context.hpp"
#include "html.hpp"
#include "listing.hpp"
#include "sg/text.hpp"

namespace sg::admin {

namespace {

std::string timeout_text(const db::SessionRow& s) {
  std::string out;
  if (s.idle_timeout > 0) out = format_duration(Micros(s.idle_timeout) * kMicrosPerSecond) + " idle";
  if (s.max_lifetime > 0) {
    if (!out.empty()) out += ", ";
    out += format_duration(Micros(s.max_lifetime) * kMicrosPerSecond) + " max";
  }
  return out.empty() ? "none" : out;
}

// "12m 30s" until the sooner deadline, "no limit" without one; which deadline in `which`.
std::string time_left_text(const db::SessionRow& s, Micros now, std::string* which = nullptr) {
  Micros deadline = s.deadline();
  if (which) *which = deadline == 0 ? "" : deadline == s.idle_deadline ? "idle timeout" : "maximum lifetime";
  if (deadline == 0) return "no limit";
  if (deadline <= now) return "ending now";
  return format_duration(deadline - now);
}


std::string chart_svg(const db::ActivityStats& stats, Micros now) {
  // 24 hourly bars, the current hour last; hours with no sample stay empty.
  const Micros hour = 3600 * kMicrosPerSecond;
  Micros current = now / hour * hour;
  std::uint64_t peak = 0;
  std::map<Micros, std::uint64_t> by_hour;
  for (const auto& [at, n] : stats.chart) {
    by_hour[at] = n;
    peak = std::max(peak, n);
  }
  std::string svg = "<svg viewBox=\"0 0 240 48\" preserveAspectRatio=\"none\" role=\"img\" aria-labelledby=\"chart-title\">"
                    "<title id=\"chart-title\">Active sessions per hour over the last 24 hours (peak " +
                    format_count(peak) + ")</title>";
  for (int i = 0; i < 24; ++i) {
    Micros at = current - (23 - i) * hour;
    auto it = by_hour.find(at);
    if (it == by_hour.end()) continue;
    int height = static_cast<int>(std::max<std::uint64_t>(1, it->second * 46 / std::max<std::uint64_t>(1, peak)));
    svg += "<rect x=\"" + std::to_string(i * 10 + 1) + "\" y=\"" + std::to_string(48 - height) + "\" width=\"8\" height=\"" +
           std::to_string(height) + "\"" + (i == 23 ? " class=\"now\"" : "") + "><title>" +
           h(format_time(at).substr(11, 5)) + " UTC: " + format_count(it->second) + "</title></rect>";
  }
  svg += "</svg>";
  return svg;
}

// How many sessions the list has, as the pager says it.
struct Total {
  std::uint64_t counted = 0;
  std::uint64_t cap = 0;
  bool uncounted = false;  // a search that could not be counted in its time budget
  bool capped = false;     // more than `cap`
  bool estimated = false;  // capped, and the latest activity sample says about how many
  std::uint64_t active_sessions = 0;

  std::string text() const {
    if (uncounted) return "many (too many to count quickly)";
    if (estimated) return "about " + format_count(active_sessions);
    if (capped) return "more than " + format_count(cap);
    return format_count(counted);
  }
  // Where the last page starts, 0 when the count does not say.
  std::uint64_t last_start(std::size_t limit) const {
    if ((capped && !estimated) || uncounted) return 0;
    std::uint64_t known = estimated ? active_sessions : counted;
    return known > limit ? known - limit : 0;
  }
};

std::string stats_section(const db::ActivityStats& stats, Micros now) {
  return "<section id=\"stats\" class=\"stats\" aria-label=\"Summary\">"
         "<div class=\"stat\"><span class=\"n\" id=\"stat-sessions\">" +
         format_count(stats.active_sessions) + "</span><span class=\"l\">active sessions</span></div>"
         "<div class=\"stat\"><span class=\"n\" id=\"stat-users\">" +
         format_count(stats.active_users) + "</span><span class=\"l\">users signed in</span></div>"
         "<div class=\"stat chart\">" +
         chart_svg(stats, now) + "<span class=\"l\">last 24 hours · counted " + h(format_time(stats.measured_at)) +
         " UTC</span></div></section>\n";
}

std::string filters_form(const std::string& base, const ListParams& p) {
  const db::SessionQuery& q = p.query;
  std::string out = "<form class=\"filters\" method=\"get\" action=\"" + h(base) + "\" role=\"search\">"
                    "<label>User <input type=\"text\" name=\"user\" value=\"" + h(q.user) + "\" maxlength=\"190\"></label>"
                    "<label>Search user, IP or device <input type=\"search\" name=\"q\" value=\"" + h(q.search) +
                    "\" maxlength=\"200\"></label><label>Per page <select name=\"limit\">";
  for (int n : {10, 25, 50, 100}) {
    out += "<option" + std::string(static_cast<int>(q.limit) == n ? " selected" : "") + ">" + std::to_string(n) + "</option>";
  }
  out += "</select></label><input type=\"hidden\" name=\"sort\" value=\"" + h(q.sort) +
         "\"><input type=\"hidden\" name=\"order\" value=\"" + h(p.order_text) +
         "\"><button type=\"submit\">Show</button>";
  if (!q.user.empty() || !q.search.empty()) out += "<a class=\"button\" href=\"" + h(base) + "\">Clear</a>";
  return out + "</form>\n";
}

std::string bulk_form(const std::string& confirm) {
  return "<form id=\"bulk\" class=\"bulk\" method=\"get\" action=\"" + h(confirm) +
         "\"><input type=\"hidden\" name=\"action\" value=\"kill_many\">"
         "<button type=\"submit\" class=\"danger\">Kill selected sessions</button>"
         "<span id=\"selected-count\" class=\"muted\" aria-live=\"polite\"></span>"
         "<span id=\"refreshed\" class=\"muted\" aria-live=\"off\"></span>"
         "<span class=\"spacer\"></span><a class=\"button\" href=\"" +
         h(url_with(confirm, {{"action", "end_idle"}})) + "\">End idle sessions…</a><a class=\"button\" href=\"" +
         h(url_with(confirm, {{"action", "sign_out_all"}})) + "\">Sign out everyone…</a></form>\n";
}

// The filters and order of this page, which every sort and paging link keeps.
Form kept_params(const ListParams& p) {
  const db::SessionQuery& q = p.query;
  return {{"user", q.user}, {"q", q.search}, {"sort", q.sort}, {"order", p.order_text},
          {"limit", q.limit == 25 ? "" : std::to_string(q.limit)}};
}

std::string table_head(const std::string& base, const ListParams& p) {
  const db::SessionQuery& q = p.query;
  auto header = [&](const std::string& key, const std::string& label, bool optional = false) {
    bool current = q.sort == key;
    Form params = kept_params(p);
    params[2].second = key;
    params[3].second = current ? (q.descending ? "asc" : "desc") : default_order(key);
    std::string aria = current ? (q.descending ? " aria-sort=\"descending\"" : " aria-sort=\"ascending\"") : "";
    std::string arrow = current ? (q.descending ? " ▼" : " ▲") : "";
    return "<th scope=\"col\"" + aria + (optional ? " class=\"opt\"" : "") + "><a href=\"" + h(url_with(base, params)) +
           "\">" + h(label) + arrow + "</a></th>";
  };
  return "<thead><tr>"
         "<th scope=\"col\"><input type=\"checkbox\" id=\"pick-all\" aria-label=\"Select all sessions on this page\"></th>" +
         header("session", "Session") + header("user", "User") + header("admin", "Admin", true) +
         header("login", "Login (UTC)", true) + header("last_access", "Last access (UTC)") + header("idle", "Idle") +
         header("time_left", "Time left") + header("ip", "Client IP") + header("device", "Device") +
         header("browser", "Browser", true) + header("server", "Server", true) + header("timeout", "Timeout", true) +
         "<th scope=\"col\">Actions</th></tr></thead>\n";
}

// The links to what an admin may do to the session; no "Block user" on the admin's own.
std::string row_actions(const db::SessionRow& s, const std::string& confirm, const std::string& admin) {
  std::string out = "<td class=\"actions\"><a href=\"" + h(url_with(confirm, {{"action", "kill"}, {"id", s.fingerprint}})) +
                    "\" aria-label=\"Kill session " + h(s.short_id()) + " of " + h(s.username) + "\">Kill</a>";
  out += "<a href=\"" + h(url_with(confirm, {{"action", "kill_user"}, {"user", s.username}})) + "\">Kill all of user</a>";
  out += "<a href=\"" + h(url_with(confirm, {{"action", "logout_request"}, {"id", s.fingerprint}})) + "\">Ask to log out</a>";
  if (s.username != admin) {
    out += "<a href=\"" + h(url_with(confirm, {{"action", "block"}, {"user", s.username}})) + "\">Block user</a>";
  }
  return out + "</td>";
}

std::string session_row(const db::SessionRow& s, Micros now, const std::string& confirm, const std::string& admin) {
  const std::string fp = h(s.fingerprint);
  std::string out = "<tr data-fingerprint=\"" + fp + "\">";
  out += "<td><input type=\"checkbox\" class=\"pick\" name=\"id\" value=\"" + fp + "\" form=\"bulk\" aria-label=\"Select session " +
         h(s.short_id()) + " of " + h(s.username) + "\"></td>";
  out += "<td class=\"mono\">" + h(s.short_id()) + "</td>";
  out += "<td>" + h(s.username) + (s.is_admin ? " <span class=\"badge admin\">admin</span>" : "") + "</td>";
  out += "<td class=\"opt\">" + std::string(s.is_admin ? "yes" : "no") + "</td>";
  out += "<td class=\"opt\">" + h(format_time(s.login_at)) + "</td>";
  out += "<td>" + h(format_time(s.last_access)) + "</td>";
  out += "<td>" + h(format_duration(now - s.last_access)) + "</td>";
  std::string which;
  std::string left = time_left_text(s, now, &which);
  out += "<td class=\"time-left\"" + (which.empty() ? std::string() : " title=\"" + h("until the " + which) + "\"") + ">" +
         h(left) + "</td>";
  out += "<td class=\"mono\">" + h(s.client_ip) + "</td>";
  out += "<td>" + h(s.device) + "<span class=\"ua\" title=\"" + h(s.user_agent) + "\">" + h(s.user_agent.substr(0, 80)) +
         "</span></td>";
  out += "<td class=\"opt\">" + h(s.browser) + (s.os.empty() ? "" : " · " + h(s.os)) + "</td>";
  out += "<td class=\"opt\">" + h(s.server_name) + "</td>";
  out += "<td class=\"opt\">" + h(timeout_text(s)) + "</td>";
  return out + row_actions(s, confirm, admin) + "</tr>\n";
}

// Keyset paging: links carry the first/last row id of this page; "start" only numbers rows.
std::string pager(const std::string& base, const ListParams& p, const db::SessionPage& page, const Total& total) {
  const auto& rows = page.rows;
  const std::size_t limit = p.query.limit;
  const std::uint64_t last = p.start + rows.size();
  std::string out = "<nav class=\"pager\" aria-label=\"Pages\"><span id=\"pager-summary\">";
  if (rows.empty()) out += "0 sessions";
  else out += "Sessions " + format_count(p.start + 1) + "–" + format_count(last) + " of " + total.text();
  out += "</span>";
  auto link = [&](const std::string& label, const Form& extra, bool enabled) {
    if (!enabled) return "<span class=\"muted\">" + h(label) + "</span>";
    Form params = kept_params(p);
    params.insert(params.end(), extra.begin(), extra.end());
    return "<a href=\"" + h(url_with(base, params)) + "\">" + h(label) + "</a>";
  };
  const std::uint64_t prev_start = p.start > limit ? p.start - limit : 0;
  out += link("« First", {}, page.has_prev);
  out += link("‹ Previous",
              rows.empty() ? Form{} : Form{{"before", std::to_string(rows.front().id)}, {"start", std::to_string(prev_start)}},
              page.has_prev);
  out += link("Next ›", rows.empty() ? Form{} : Form{{"after", std::to_string(rows.back().id)}, {"start", std::to_string(last)}},
              page.has_next);
  out += link("Last »", {{"last", "1"}, {"start", std::to_string(total.last_start(limit))}}, page.has_next);
  return out + "</nav>\n";
}

}  // namespace

Response App::sessions_page(Context& ctx) {
  ListParams p = session_params(ctx);
  const db::SessionQuery& q = p.query;
  const std::string base = settings_.prefix + "/sessions";
  const std::string confirm = settings_.prefix + "/confirm";
  auto page = backend_.sessions(q);
  // Counting is the one part of the page that grows with the table: exact for one user (an
  // index range), capped otherwise; past the cap the unfiltered total comes from the latest
  // activity sample, marked "about".
  Total total;
  total.cap = count_cap(q);
  total.counted = backend_.count_sessions(q, total.cap);
  total.uncounted = total.counted == db::kCountUnknown;
  total.capped = total.cap != 0 && total.counted > total.cap && !total.uncounted;
  auto stats = backend_.activity();
  total.active_sessions = stats.active_sessions;
  total.estimated = total.capped && q.user.empty() && q.search.empty() && stats.active_sessions > total.cap;
  const Micros now = sg::wall_clock_micros();

  std::string out = "<h1>Active sessions</h1>\n" + notice_html(ctx) + stats_section(stats, now) + filters_form(base, p) +
                    bulk_form(confirm);
  out += "<div class=\"table-wrap\"><table>\n<caption class=\"sr-only\">Active sessions</caption>\n" + table_head(base, p);
  out += "<tbody id=\"sessions-body\">\n";
  if (page.rows.empty()) out += empty_row(14, "No active sessions match.");
  for (const auto& s : page.rows) out += session_row(s, now, confirm, ctx.user);
  out += "</tbody></table></div>\n" + pager(base, p, page, total);
  return html(ctx, "Sessions", "sessions", out, 200, settings_.refresh_seconds);
}

}  // namespace sg::admin
