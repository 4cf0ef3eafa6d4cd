// The users page (accounts, their state, limits and actions) and the audit page (admin
// actions and the mail outbox).
#include "context.hpp"
#include "html.hpp"

namespace sg::admin {

// --- users -------------------------------------------------------------------------------------

Response App::users_page(Context& ctx) {
  db::UserQuery q = user_params(ctx);
  q.limit = 50;
  auto users = backend_.users(q);
  const std::string base = settings_.prefix + "/users";
  const std::string confirm = settings_.prefix + "/confirm";
  std::string out = "<h1>Users</h1>\n" + notice_html(ctx);
  out += "<form class=\"filters\" method=\"get\" action=\"" + h(base) + "\" role=\"search\"><label>Name <input type=\"search\" name=\"q\" value=\"" +
         h(q.search) + "\" maxlength=\"190\"></label><label>State <select name=\"state\"><option value=\"\">all</option>";
  for (const char* s : {"active", "blocked"}) {
    out += std::string("<option") + (q.state == s ? " selected" : "") + ">" + s + "</option>";
  }
  out += "</select></label><button type=\"submit\">Show</button></form>\n";
  out += table_start("Accounts", {{"User"}, {"Email", true}, {"State"}, {"Blocked by"}, {"Blocked at (UTC)", true},
                                  {"Reason"}, {"Live sessions"}, {"Session limit"}, {"Last login (UTC)", true}, {"Actions"}});
  if (users.empty()) out += empty_row(10, "No accounts match.");
  for (const auto& u : users) {
    out += "<tr data-user=\"" + h(u.username) + "\"><td>" + h(u.username) +
           (u.is_admin ? " <span class=\"badge admin\">admin</span>" : "") + "</td><td class=\"opt\">" + h(u.email) + "</td>";
    out += u.active ? "<td><span class=\"badge active\">active</span></td><td></td><td class=\"opt\"></td><td></td>"
                    : "<td><span class=\"badge blocked\">blocked</span></td><td>" + h(u.blocked_by) + "</td><td class=\"opt\">" +
                          h(format_time(u.blocked_at)) + "</td><td>" + h(u.block_reason) + "</td>";
    out += "<td><a href=\"" + h(url_with(settings_.prefix + "/sessions", {{"user", u.username}})) + "\">" +
           format_count(u.live_sessions) + "</a></td><td class=\"limit\">" +
           h(!u.max_sessions ? std::string("server default") : *u.max_sessions == 0 ? std::string("no limit") : std::to_string(*u.max_sessions)) +
           "</td><td class=\"opt\">" + h(format_time(u.last_login_at)) + "</td><td class=\"actions\">";
    out += "<a href=\"" + h(url_with(confirm, {{"action", "set_limit"}, {"user", u.username}, {"back", "users"}})) +
           "\">Set limit</a>";
    if (u.live_sessions > 0) {
      out += "<a href=\"" + h(url_with(confirm, {{"action", "kill_user"}, {"user", u.username}, {"back", "users"}})) +
             "\">Kill sessions</a>";
    }
    if (u.active && u.username != ctx.user) {
      out += "<a href=\"" + h(url_with(confirm, {{"action", "block"}, {"user", u.username}, {"back", "users"}})) + "\">Block</a>";
    } else if (!u.active) {
      out += "<a href=\"" + h(url_with(confirm, {{"action", "unblock"}, {"user", u.username}, {"back", "users"}})) + "\">Unblock</a>";
    }
    out += "</td></tr>\n";
  }
  out += "</tbody></table></div>\n";
  if (users.size() == q.limit) {
    out += "<nav class=\"pager\"><a href=\"" +
           h(url_with(base, {{"q", q.search}, {"state", q.state}, {"after", users.back().username}})) + "\">Next ›</a></nav>\n";
  }
  return html(ctx, "Users", "users", out);
}

// --- audit -------------------------------------------------------------------------------------

Response App::audit_page(Context& ctx) {
  db::AuditQuery q = audit_params(ctx);
  q.limit = 50;
  auto entries = backend_.audit(q);
  auto actions = backend_.audit_actions();
  auto mails = backend_.outbox(20, 0);
  const std::string base = settings_.prefix + "/audit";
  std::string out = "<h1>Audit log</h1>\n";
  out += "<form class=\"filters\" method=\"get\" action=\"" + h(base) + "\" role=\"search\"><label>Admin <input type=\"text\" name=\"admin\" value=\"" +
         h(q.actor) + "\" maxlength=\"190\"></label><label>User <input type=\"text\" name=\"user\" value=\"" + h(q.user) +
         "\" maxlength=\"190\"></label><label>Action <select name=\"action\"><option value=\"\">all</option>";
  for (const auto& a : actions) {
    out += "<option" + std::string(a == q.action ? " selected" : "") + " value=\"" + h(a) + "\">" + h(a) + "</option>";
  }
  out += "</select></label><button type=\"submit\">Show</button></form>\n";
  out += table_start("Admin actions", {{"When (UTC)"}, {"Admin"}, {"From", true}, {"Action"}, {"User"}, {"Session"},
                                       {"Reason / subject"}, {"What happened"}, {"Email"}},
                     "audit-body");
  if (entries.empty()) out += empty_row(9, "No entries match.");
  for (const auto& a : entries) {
    out += "<tr><td>" + h(format_time(a.at)) + "</td><td>" + h(a.actor) + "</td><td class=\"opt\">" + h(a.actor_ip) +
           (a.actor_ip.empty() ? "" : " ") + "<span class=\"badge\">" + h(a.source) + "</span></td><td>" + h(a.action) +
           "</td><td>" + h(a.target_user) + "</td><td class=\"mono\">" + h(upper(a.target_session.substr(0, 8))) + "</td><td>" +
           h(a.reason) + "</td><td>" + h(a.message) + "</td><td>" + h(a.mail_state) + "</td></tr>\n";
  }
  out += "</tbody></table></div>\n";
  if (entries.size() == q.limit) {
    out += "<nav class=\"pager\"><a href=\"" +
           h(url_with(base, {{"admin", q.actor}, {"user", q.user}, {"action", q.action},
                             {"before", std::to_string(entries.back().id)}})) +
           "\">Older entries ›</a></nav>\n";
  }
  out += "<h2 id=\"outbox\">Mail outbox</h2>\n" +
         table_start("Latest mails", {{"Queued (UTC)"}, {"Kind"}, {"To"}, {"Subject"}, {"State"}, {"Attempts"},
                                      {"Sent / next try (UTC)", true}, {"Last error"}},
                     "outbox-body");
  if (mails.empty()) out += empty_row(8, "No mail yet.");
  for (const auto& m : mails) {
    out += "<tr><td>" + h(format_time(m.created_at)) + "</td><td>" + h(m.kind) + "</td><td>" + h(m.recipient) + "</td><td>" +
           h(m.subject) + "</td><td><span class=\"badge" + std::string(m.state == "sent" ? " active" : m.state == "failed" ? " blocked" : "") +
           "\">" + h(m.state) + "</span></td><td>" + std::to_string(m.attempts) + "</td><td class=\"opt\">" +
           h(m.state == "sent" ? format_time(m.sent_at) : m.state == "pending" ? format_time(m.next_try_at) : "") + "</td><td>" +
           h(m.last_error) + "</td></tr>\n";
  }
  out += "</tbody></table></div>\n";
  return html(ctx, "Audit", "audit", out);
}

}  // namespace sg::admin
