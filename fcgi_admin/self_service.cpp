// Self-service, reached without Basic auth from inside a guarded app: a user's own sessions
// (my-sessions, the user named by the module) and the "This wasn't me" link (the user named
// by the link's signed token). Who the user is is settled by the route (routes.cpp).
#include <algorithm>

#include "context.hpp"
#include "html.hpp"
#include "sg/text.hpp"

namespace sg::admin {

namespace {
std::string device_text(const db::SessionRow& s) {
  std::string text = s.device;
  if (!s.browser.empty()) text += " · " + s.browser;
  if (!s.os.empty()) text += " · " + s.os;
  return text;
}
}  // namespace

Response App::my_sessions(Context& ctx) {
  const std::string base = settings_.prefix + "/my-sessions";
  std::string out = "<h1>Your sessions</h1>\n";
  std::string notice = ctx.get("notice");
  std::string n = ctx.get("n");
  if (n.size() > 6 || !std::all_of(n.begin(), n.end(), [](char c) { return c >= '0' && c <= '9'; })) n = "";
  if (notice == "one") out += "<div class=\"notice\" role=\"status\">The session has been signed out.</div>\n";
  if (notice == "others")
    out += "<div class=\"notice\" role=\"status\">" + h((n.empty() ? "All" : n) + " other sessions have been signed out.") +
           "</div>\n";
  out += "<p>Signed in as <strong>" + h(ctx.self_user) + "</strong>. These are the sessions of your account that are open now, on "
         "every server. If you do not recognise one, sign it out and change your password.</p>\n";
  out += table_start("Your active sessions",
                     {{"Session"}, {"Device"}, {"IP address"}, {"Signed in (UTC)"}, {"Last access (UTC)"}, {""}},
                     "my-sessions-body");
  std::size_t others = 0;
  const std::string field_html = csrf_field(ctx);
  for (const auto& s : ctx.own_sessions) {
    const bool mine = s.fingerprint == ctx.this_device;
    out += "<tr data-session=\"" + h(s.short_id()) + "\"" + (mine ? " class=\"current\"" : "") + "><td class=\"mono\">" +
           h(s.short_id()) + "</td><td>" + h(device_text(s)) + "<span class=\"ua\">" + h(s.user_agent.substr(0, 120)) +
           "</span></td><td class=\"mono\">" + h(s.client_ip) + "</td><td>" + h(format_time(s.login_at)) + "</td><td>" +
           h(format_time(s.last_access)) + "</td><td>";
    if (mine) {
      out += "<span class=\"this-device\">This device</span>";
    } else {
      ++others;
      out += "<form class=\"inline\" method=\"post\" action=\"" + h(base + "/sign-out") + "\">" + field_html +
             "<input type=\"hidden\" name=\"id\" value=\"" + h(s.fingerprint) + "\"><button type=\"submit\" class=\"danger\" "
             "aria-label=\"Sign out session " + h(s.short_id()) + "\">Sign out</button></form>";
    }
    out += "</td></tr>\n";
  }
  if (ctx.own_sessions.empty()) out += empty_row(6, "No active sessions.");
  out += "</tbody></table></div>\n";
  if (others > 0) {
    out += "<form method=\"post\" action=\"" + h(base + "/sign-out-others") + "\" class=\"bulk\">" + field_html +
           "<button type=\"submit\" class=\"danger\">Sign out all other sessions (" + std::to_string(others) +
           ")</button></form>\n";
  }
  return html(ctx, "Your sessions", "", out);
}

Response App::my_sessions_sign_out(Context& ctx) {
  Form form = read_form(ctx);
  require_csrf(ctx, form);
  const Actor actor{ctx.self_user, ctx.ip, "self"};
  const bool one = ctx.path == "/my-sessions/sign-out";
  ActionResult result;
  if (one) {
    std::string id = sg::to_lower(field(form, "id"));
    // The action takes any prefix of a fingerprint (the 8-digit id people see), so the
    // guard does too: comparing whole fingerprints let "85c8a1f2" end this very session.
    // The operation checks again on the session the id resolves to.
    if (!id.empty() && ctx.this_device.compare(0, id.size(), id) == 0) {
      throw Conflict("This is the session you are using now. To end it, sign out in the application.", "own_session");
    }
    result = backend_.self_end_session(ctx.self_user, id, ctx.this_device, actor);
  } else {
    result = backend_.self_end_others(ctx.self_user, ctx.this_device, actor);
  }
  changed(ctx, result);
  return redirect(url_with(settings_.prefix + "/my-sessions",
                           {{"notice", one ? "one" : "others"}, {"n", std::to_string(result.sessions_ended)}}));
}

Response App::wasnt_me(Context& ctx) {
  const bool post = ctx.method == "POST";
  Form form;
  std::string token;
  if (post) {
    form = read_form(ctx);
    token = field(form, "t");
  } else {
    token = ctx.get("t");
  }
  if (token.empty()) throw BadRequest("This link is incomplete: it carries no token. Nothing was changed.");
  check_length(token, 1000, "link");
  ctx.csrf_scope = "link\n" + token;
  // Signature, expiry and use are checked before anything is shown or changed.
  const std::string user = backend_.check_signout_link(token);
  if (post) {
    require_csrf(ctx, form);
    Actor actor{user, ctx.ip, "link"};
    auto result = backend_.use_signout_link(token, actor);
    changed(ctx, result);
    std::string out = "<div class=\"confirm\"><h1>You have been signed out everywhere</h1>\n<div class=\"notice\" role=\"status\">" +
                      h("All sessions of the account " + user + " have ended (" + std::to_string(result.sessions_ended) +
                        "), on every server.") +
                      "</div>\n<p>Please sign in again and change your password, and tell your helpdesk that someone else "
                      "may have used your account.</p></div>\n";
    return html(ctx, "Signed out everywhere", "", out);
  }
  ensure_nonce(ctx);
  std::string out = "<div class=\"confirm\"><h1>Sign out everywhere?</h1>\n<p>This link was sent to the account <strong>" +
                    h(user) + "</strong> after an administrator ended one of its sessions or blocked it.</p>\n"
                    "<p>If that was not you, confirm below: every session of the account ends now, on every server, "
                    "including any that someone else may have open. The link works once.</p>\n";
  out += "<form method=\"post\" action=\"" + h(settings_.prefix + "/wasnt-me") + "\">" + csrf_field(ctx) +
         "<input type=\"hidden\" name=\"t\" value=\"" + h(token) + "\">\n<div class=\"buttons\"><button type=\"submit\" "
         "class=\"danger\">Sign me out everywhere</button></div>\n</form></div>\n";
  return html(ctx, "Sign out everywhere", "", out);
}

}  // namespace sg::admin
