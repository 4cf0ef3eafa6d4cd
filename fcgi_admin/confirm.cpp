// Confirmation pages: what an action would do, and its form. They change nothing; the form
// posts to /actions/NAME (actions.cpp). Each page refuses what its action would refuse, by
// reading the parameters with the action's own rules.
#include <map>

#include "context.hpp"
#include "html.hpp"
#include "sg/mail.hpp"

namespace sg::admin {

namespace {

// One confirmation page being built: its title, its content so far, and how to end it with
// the action's form.
struct Confirm {
  App::Context& ctx;
  Backend& backend;
  const Settings& settings;
  std::function<std::string(const std::string& fields, const std::string& button, bool danger)> form;
  std::string title;
  std::string out;

  void heading(const std::string& text) {
    title = text;
    out += "<h1>" + h(title) + "</h1>\n";
  }
};

std::string hidden(const std::string& name, const std::string& value) {
  return "<input type=\"hidden\" name=\"" + h(name) + "\" value=\"" + h(value) + "\">\n";
}

std::string session_facts(const db::SessionRow& s) {
  return "<dl class=\"facts\"><dt>Session</dt><dd class=\"mono\">" + h(s.short_id()) + "</dd><dt>User</dt><dd>" +
         h(s.username) + "</dd><dt>Client IP</dt><dd>" + h(s.client_ip) + "</dd><dt>Device</dt><dd>" + h(s.device) +
         " · " + h(s.browser) + " · " + h(s.os) + "</dd><dt>Server</dt><dd>" + h(s.server_name) +
         "</dd><dt>Last access</dt><dd>" + h(format_time(s.last_access)) + " UTC</dd></dl>\n";
}

std::string own_warning(bool current, const std::string& text) {
  return "<div class=\"warning\" role=\"alert\">" + h(current ? "This is your current session: " + text : text) +
         "</div>\n<label class=\"check\"><span><input type=\"checkbox\" name=\"confirm_self\" value=\"1\" required> "
         "Yes, end my own session</span></label>\n";
}

void kill(Confirm& c, const Values& v) {
  auto s = c.backend.find_session(v.at("id").text);
  c.heading("Kill session " + s.short_id() + "?");
  c.out += session_facts(s) + "<p>" + h(s.username) + " will be signed out on the next request and told why.</p>\n";
  std::string extra = hidden("id", s.fingerprint);
  if (s.username == c.ctx.user) {
    extra += own_warning(is_current_session(c.ctx.request.param("HTTP_COOKIE"), s.fingerprint),
                         "you are signed in as " + c.ctx.user + ", and this session is yours. Killing it signs you out.");
  }
  c.out += c.form(extra, "Kill session", true);
}

void kill_many(Confirm& c, const Values& v) {
  const auto& ids = v.at("ids").list;
  const std::string cookies = c.ctx.request.param("HTTP_COOKIE");
  std::string list, extra;
  bool own = false, current = false;
  for (const auto& id : ids) {
    auto s = c.backend.find_session(id);
    list += "<li><span class=\"mono\">" + h(s.short_id()) + "</span> " + h(s.username) + " · " + h(s.client_ip) + " · " +
            h(s.device) + "</li>";
    extra += hidden("id", s.fingerprint);
    own = own || s.username == c.ctx.user;
    current = current || is_current_session(cookies, s.fingerprint);
  }
  c.heading("Kill " + std::to_string(ids.size()) + (ids.size() == 1 ? " session?" : " sessions?"));
  c.out += "<ul>" + list + "</ul>\n";
  if (own) extra += own_warning(current, "the selection includes a session of your own account (" + c.ctx.user + ").");
  c.out += c.form(extra, "Kill selected sessions", true);
}

db::UserRow account(Confirm& c, const Values& v) {
  const std::string& name = v.at("user").text;
  auto u = c.backend.user(name);
  if (!u) throw NotFound("There is no account named '" + name + "'.");
  return *u;
}

std::string user_facts(const db::UserRow& u) {
  return "<dl class=\"facts\"><dt>User</dt><dd>" + h(u.username) + "</dd><dt>Email</dt><dd>" + h(u.email) +
         "</dd><dt>Live sessions</dt><dd>" + format_count(u.live_sessions) + "</dd><dt>State</dt><dd>" +
         (u.active ? "active" : "blocked by " + h(u.blocked_by) + ": " + h(u.block_reason)) + "</dd></dl>\n";
}

void kill_user(Confirm& c, const Values& v) {
  auto u = account(c, v);
  c.heading("Kill all sessions of " + u.username + "?");
  c.out += user_facts(u);
  std::string extra = hidden("user", u.username);
  if (u.username == c.ctx.user)
    extra += own_warning(false, "these are your own sessions (" + c.ctx.user + "). Killing them signs you out.");
  c.out += c.form(extra, "Kill all sessions", true);
}

void block(Confirm& c, const Values& v) {
  auto u = account(c, v);
  if (u.username == c.ctx.user) throw Conflict("You cannot block your own account.", "self_block");
  c.heading("Block " + u.username + "?");
  c.out += user_facts(u) + "<p>All their sessions end now and new sign-ins are refused until the account is unblocked.</p>\n";
  c.out += c.form(hidden("user", u.username) +
                      "<label>Reason (required, shown to the user) <textarea name=\"reason\" required "
                      "maxlength=\"1000\"></textarea></label>\n",
                  "Block user", true);
}

void unblock(Confirm& c, const Values& v) {
  auto u = account(c, v);
  c.heading("Unblock " + u.username + "?");
  c.out += user_facts(u) + c.form(hidden("user", u.username), "Unblock user", false);
}

void set_limit(Confirm& c, const Values& v) {
  auto u = account(c, v);
  c.heading("Session limit of " + u.username);
  std::string current = !u.max_sessions ? "the server's setting (SessionGuardMaxSessions)"
                        : *u.max_sessions == 0 ? "no limit" : std::to_string(*u.max_sessions) + " at a time";
  c.out += "<dl class=\"facts\"><dt>User</dt><dd>" + h(u.username) + "</dd><dt>Live sessions</dt><dd>" +
           format_count(u.live_sessions) + "</dd><dt>Limit now</dt><dd>" + h(current) +
           "</dd></dl>\n<p>The new limit applies from the user's next sign-in, on every server; sessions that are open "
           "now are not ended. Whether a sign-in over the limit ends the oldest session or is refused is the server's "
           "setting (SessionGuardMaxSessionsAction).</p>\n";
  c.out += c.form(hidden("user", u.username) +
                      "<label>Concurrent sessions (a number; 0 = no limit for this user; empty = the server's setting) "
                      "<input type=\"text\" name=\"limit\" inputmode=\"numeric\" maxlength=\"4\" "
                      "pattern=\"[0-9]{0,4}|none\" value=\"" +
                      h(u.max_sessions ? std::to_string(*u.max_sessions) : std::string()) + "\"></label>\n",
                  "Set limit", false);
}

void end_idle(Confirm& c, const Values&) {
  c.heading("End idle sessions?");
  c.out += "<p>Every session, of every user and on every server, that has had no request for longer than the time "
           "below ends now. Each user is told on their next request that an administrator ended the session.</p>\n";
  std::string minutes = c.ctx.get("minutes").empty() ? "30" : c.ctx.get("minutes");
  c.out += c.form("<label>Idle longer than (minutes) <input type=\"number\" name=\"minutes\" min=\"1\" max=\"525600\" "
                  "required value=\"" + h(minutes.substr(0, 6)) + "\"></label>\n",
                  "End idle sessions", true);
}

void sign_out_all(Confirm& c, const Values&) {
  c.heading("Sign out everyone?");
  c.out += "<p>Every active session ends now, on every server, except your own (" + h(c.ctx.user) +
           "). Each user is told on their next request that an administrator ended the session.</p>\n";
  std::string select = "<label>Virtual host <select name=\"server\"><option value=\"\">all virtual hosts</option>";
  for (const auto& server : c.backend.active_servers())
    select += "<option value=\"" + h(server) + "\">" + h(server) + "</option>";
  c.out += c.form(select + "</select></label>\n", "Sign out everyone", true);
}

void logout_request(Confirm& c, const Values& v) {
  auto s = c.backend.find_session(v.at("id").text);
  auto u = c.backend.user(s.username);
  c.heading("Ask " + s.username + " to log out");
  std::map<std::string, std::string> values = {{"user", s.username},
                                               {"admin", c.ctx.user},
                                               {"session", s.short_id()},
                                               {"server", s.server_name.empty() ? "the application" : s.server_name}};
  c.out += session_facts(s);
  if (!u || u->email.empty()) c.out += "<div class=\"warning\">" + h(s.username) + " has no email address on file.</div>\n";
  else c.out += "<p>The email goes to <strong>" + h(u->email) + "</strong>.</p>\n";
  const auto& mail = c.settings.policy.logout_request;
  c.out += c.form(hidden("id", s.fingerprint) +
                      "<label>Subject (required) <input type=\"text\" name=\"subject\" required maxlength=\"255\" value=\"" +
                      h(mail::expand(mail.subject, values)) +
                      "\"></label>\n<label>Message (required) <textarea name=\"message\" required maxlength=\"20000\">" +
                      h(mail::expand(mail.body, values)) + "</textarea></label>\n",
                  "Send logout request", false);
}

// Pages by the action's name; the query spells it with '_' (action=kill_many).
const std::map<std::string, void (*)(Confirm&, const Values&)>& pages() {
  static const std::map<std::string, void (*)(Confirm&, const Values&)> table = {
      {"kill", kill},       {"kill-many", kill_many},       {"kill-user", kill_user},         {"block", block},
      {"unblock", unblock}, {"set-limit", set_limit},       {"end-idle", end_idle},
      {"sign-out-all", sign_out_all}, {"logout-request", logout_request}};
  return table;
}

}  // namespace

Response App::confirm_page(Context& ctx) {
  std::string name = ctx.get("action");
  for (char& c : name)
    if (c == '_') c = '-';
  const Command* command = find_command(name);
  auto page = pages().find(name);
  if (command == nullptr || page == pages().end()) throw BadRequest("Unknown action '" + ctx.get("action") + "'.");
  // The page needs the parameters that say which session or user; the rest is what the
  // admin fills in on it.
  Command identifying = *command;
  identifying.params.clear();
  Inputs inputs;
  for (const auto& p : command->params) {
    if (p.kind != ParamKind::session_id && p.kind != ParamKind::session_ids && p.kind != ParamKind::user) continue;
    identifying.params.push_back(p);
    auto given = ctx.all(p.field);
    if (!given.empty()) inputs[p.key] = given;
  }
  Values values;
  try {
    values = read_params(identifying, inputs);
  } catch (const CommandError& e) {
    throw HttpError(e.status, e.code, e.what());
  }
  Confirm c{ctx, backend_, settings_,
            [&](const std::string& fields, const std::string& button, bool danger) {
              return confirm_form(ctx, command->name, fields, button, danger);
            },
            "", ""};
  page->second(c, values);
  return html(ctx, c.title, "", "<div class=\"confirm\">" + c.out + "</div>\n");
}

std::string App::confirm_form(Context& ctx, const std::string& action, const std::string& fields_html,
                              const std::string& button, bool danger) {
  std::string back = ctx.get("back") == "users" ? "users" : "sessions";
  return "<form method=\"post\" action=\"" + h(settings_.prefix + "/actions/" + action) + "\" class=\"done-selection\">\n" +
         csrf_field(ctx) + "<input type=\"hidden\" name=\"back\" value=\"" + back + "\">\n" + fields_html +
         "<div class=\"buttons\"><button type=\"submit\" class=\"" + (danger ? "danger" : "primary") + "\">" + h(button) +
         "</button><a class=\"button\" href=\"" + h(settings_.prefix + "/" + back) + "\">Cancel</a></div>\n</form>\n";
}

}  // namespace sg::admin
