// The route table and what every response goes through: errors caught once and rendered as
// a page or JSON, the security headers, the CSRF nonce cookie, authorisation.
#include <algorithm>

#include "context.hpp"
#include "csrf.hpp"
#include "html.hpp"
#include "sg/text.hpp"

namespace sg::admin {

namespace {
// Who may reach a route, and how we learn who they are.
enum class Access {
  anyone,         // static files, the redirect home; the single sign-out receivers (sso.cpp:
                  // a signature or the caller's address authorises them, not Apache)
  link_holder,    // a "This wasn't me" link: its signed token names the user
  session_owner,  // my-sessions: the module's SESSION_GUARD_* variables name the user
  admin,          // Apache authenticates (REMOTE_USER), the admin role authorises
};
enum class Match { exact, prefix };
}  // namespace

struct App::Route {
  Match match;
  std::string path;
  Access access;
  std::string methods;  // what the Allow header lists; "" = any (the handler answers)
  bool forms;           // a page whose forms need the browser's CSRF nonce
  Response (App::*handler)(Context&);
  const Command* command;
};

const std::vector<App::Route>& App::routes() {
  static const std::vector<Route> table = [] {
    const std::string read = "GET, HEAD";
    std::vector<Route> r = {
        {Match::exact, "", Access::anyone, read, false, &App::home, nullptr},
        {Match::exact, "/", Access::anyone, read, false, &App::home, nullptr},
        {Match::prefix, "/static/", Access::anyone, read, false, &App::static_file, nullptr},
        // Reached from inside a guarded app without Basic auth: who the user is comes from the
        // module (SESSION_GUARD_*) or the link, never from REMOTE_USER or a request header.
        {Match::exact, "/my-sessions", Access::session_owner, read, true, &App::my_sessions, nullptr},
        {Match::exact, "/my-sessions/sign-out", Access::session_owner, "POST", false, &App::my_sessions_sign_out, nullptr},
        {Match::exact, "/my-sessions/sign-out-others", Access::session_owner, "POST", false, &App::my_sessions_sign_out,
         nullptr},
        {Match::prefix, "/my-sessions/", Access::session_owner, "", false, &App::not_found, nullptr},
        // Called by the identity provider, not a browser: no CSRF nonce (sso.hpp says why).
        {Match::exact, "/sso/oidc-logout", Access::anyone, "POST", false, &App::oidc_logout, nullptr},
        {Match::exact, "/sso/cas-logout", Access::anyone, "POST", false, &App::cas_logout, nullptr},
        {Match::exact, "/wasnt-me", Access::link_holder, "GET, HEAD, POST", false, &App::wasnt_me, nullptr},
        {Match::exact, "/sessions", Access::admin, read, true, &App::sessions_page, nullptr},
        {Match::exact, "/users", Access::admin, read, true, &App::users_page, nullptr},
        {Match::exact, "/audit", Access::admin, read, true, &App::audit_page, nullptr},
        {Match::exact, "/health", Access::admin, read, true, &App::health_page, nullptr},
        {Match::exact, "/confirm", Access::admin, read, true, &App::confirm_page, nullptr},
        {Match::exact, "/api/sessions", Access::admin, read, false, &App::api_sessions, nullptr},
        {Match::exact, "/api/users", Access::admin, read, false, &App::api_users, nullptr},
        {Match::exact, "/api/audit", Access::admin, read, false, &App::api_audit, nullptr},
        {Match::exact, "/api/outbox", Access::admin, read, false, &App::api_outbox, nullptr},
        {Match::exact, "/api/health", Access::admin, read, false, &App::api_health, nullptr},
    };
    for (const Command& command : commands()) {
      r.push_back({Match::exact, std::string("/actions/") + command.name, Access::admin, "POST", false, &App::action,
                   &command});
      r.push_back({Match::exact, std::string("/api/") + command.name, Access::admin, "POST", false, &App::api_command,
                   &command});
    }
    // Anything else is unknown, but only an admin learns that.
    r.push_back({Match::prefix, "", Access::admin, "", false, &App::not_found, nullptr});
    return r;
  }();
  return table;
}

Response App::route(Context& ctx) {
  const auto& table = routes();
  const Route& route = *std::find_if(table.begin(), table.end(), [&](const Route& r) {
    return r.match == Match::exact ? ctx.path == r.path : ctx.path.compare(0, r.path.size(), r.path) == 0;
  });
  switch (route.access) {
    case Access::anyone: break;
    case Access::link_holder: ctx.self_service = true; break;
    case Access::session_owner: identify_self(ctx); break;
    case Access::admin: authorise_admin(ctx); break;
  }
  if (!route.methods.empty()) {
    std::string allowed = ", " + route.methods + ",";
    if (allowed.find(", " + ctx.method + ",") == std::string::npos) throw MethodNotAllowed(route.methods);
  }
  if (route.forms) ensure_nonce(ctx);
  ctx.command = route.command;
  return (this->*route.handler)(ctx);
}

void App::authorise_admin(Context& ctx) {
  // Authentication is Apache's; authorisation is ours.
  ctx.user = ctx.request.param("REMOTE_USER");
  if (ctx.user.empty()) {
    throw Forbidden("No signed-in user reached fcgi_admin: the web server must authenticate this location "
                    "(for example with Basic auth) and pass REMOTE_USER.",
                    "not_authenticated");
  }
  if (!backend_.is_admin(ctx.user)) {
    std::string who = ctx.user;
    ctx.user.clear();  // no navigation for a non-admin
    throw Forbidden("The account '" + who + "' does not have the Session Guard administrator role. "
                    "Ask an administrator to grant it (accounts.is_admin).",
                    "not_admin");
  }
}

void App::identify_self(Context& ctx) {
  ctx.self_service = true;
  // Set by mod_session_guard for a guarded request whose session it knows the owner of. The
  // module sets them as environment variables, which a client cannot send (headers arrive
  // as HTTP_*), and REMOTE_USER is deliberately not accepted here.
  const std::string user = ctx.request.param("SESSION_GUARD_USER");
  const std::string session_id = ctx.request.param("SESSION_GUARD_SESSION");
  if (!user.empty() && user.size() <= 190 && session_id.size() == 8) ctx.own_sessions = backend_.user_sessions(user);
  // This device: the caller's own active session with the id the module reported (it
  // computed the id from the cookie it judged, however the client spelled it). Nobody
  // else's session can match, since only this user's sessions are searched.
  for (const auto& s : ctx.own_sessions) {
    if (s.short_id() == session_id) ctx.this_device = s.fingerprint;
  }
  if (ctx.this_device.empty()) {
    throw Unauthorized("This page lists the sessions of the account you are signed in with, but this request does not "
                       "come from a signed-in session. Sign in to the application first, then open this page again "
                       "in the same browser.");
  }
  ctx.self_user = user;
  ctx.csrf_scope = "self\n" + user;
}

// ---------------------------------------------------------------------------------------------

void App::handle(Request& request) noexcept {
  Response response = respond(request);
  try {
    request.send(response);
  } catch (...) {
  }
}

Response App::respond(Request& request) noexcept {
  Context ctx(request);
  Response response;
  try {
    try {
      ctx.method = request.param("REQUEST_METHOD");
      ctx.ip = request.param("REMOTE_ADDR");
      std::string uri = request.param("REQUEST_URI");
      std::string path = uri.substr(0, uri.find('?'));
      ctx.query = sg::parse_form(request.param("QUERY_STRING"));
      const std::string& prefix = settings_.prefix;
      if (path.compare(0, prefix.size(), prefix) != 0) throw NotFound("There is no page at this address.");
      ctx.path = path.substr(prefix.size());
      ctx.api = ctx.path.compare(0, 5, "/api/") == 0;
      response = route(ctx);
    } catch (const OperationError& e) {
      throw HttpError(status_of(e), code_of(e), e.what());
    } catch (const StoreError& e) {
      request.log("database unavailable: " + std::string(e.what()));
      throw ServiceUnavailable(
          "The Session Guard database cannot be reached right now, so sessions cannot be shown or changed. "
          "Nothing was changed. Please try again in a moment.");
    }
  } catch (const HttpError& e) {
    response = error_response(ctx, e.status(), e.code(), e.what());
    for (const auto& header : e.extra_headers) response.headers.push_back(header);
  } catch (const std::exception& e) {
    request.log(std::string("internal error: ") + e.what());
    response = error_response(ctx, 500, "internal_error", "Something went wrong on the server; the error log says what.");
  } catch (...) {
    response = error_response(ctx, 500, "internal_error", "Something went wrong on the server.");
  }
  if (ctx.new_nonce) {
    std::string cookie = std::string(kCsrfCookie) + "=" + ctx.nonce + "; Path=" + settings_.prefix +
                         "/; HttpOnly; SameSite=Strict";
    if (request.param("HTTPS") == "on") cookie += "; Secure";
    response.header("Set-Cookie", cookie);
  }
  response.header("Content-Security-Policy", kContentSecurityPolicy);
  response.header("X-Content-Type-Options", "nosniff");
  response.header("X-Frame-Options", "DENY");
  response.header("Referrer-Policy", "same-origin");
  if (response.header_value("Cache-Control").empty()) response.header("Cache-Control", "no-store");
  return response;
}

Response App::error_response(Context& ctx, int status, const std::string& code, const std::string& message) {
  if (ctx.api) return json_response(nlohmann::json{{"error", code}, {"message", message}}, status);
  std::string title = std::to_string(status) + " " + status_text(status);
  std::string content = "<h1>" + h(status == 503 ? std::string("Database unavailable") : title) +
                        "</h1>\n<div class=\"error\" role=\"alert\">" + h(message) + "</div>\n";
  if (status == 503) content += "<p><a class=\"button\" href=\"\">Try again</a></p>\n";
  else if (!ctx.self_service) content += "<p><a href=\"" + h(settings_.prefix) + "/sessions\">Back to the sessions</a></p>\n";
  return html(ctx, title, "", content, status);
}

Response App::html(Context& ctx, const std::string& title, const std::string& active, const std::string& content,
                   int status, int refresh) {
  Response r;
  r.status = status;
  r.header("Content-Type", "text/html; charset=utf-8");
  r.body = page(PageFrame{title, settings_.prefix, active, ctx.user, refresh, ctx.self_service}, content);
  return r;
}

Response App::redirect(const std::string& location, int status) {
  Response r;
  r.status = status;
  r.header("Location", location);
  r.header("Content-Type", "text/plain; charset=utf-8");
  r.body = "See " + location + "\n";
  return r;
}

Response App::home(Context&) { return redirect(settings_.prefix + "/sessions", 302); }

Response App::static_file(Context& ctx) {
  const std::string name = ctx.path.substr(std::string("/static/").size());
  Response r;
  if (name == "admin.css") {
    r.header("Content-Type", "text/css; charset=utf-8");
    r.body = kAdminCss;
  } else if (name == "admin.js") {
    r.header("Content-Type", "text/javascript; charset=utf-8");
    r.body = kAdminJs;
  } else {
    throw NotFound("There is no file at this address.");
  }
  r.header("Cache-Control", "private, max-age=300");
  return r;
}

Response App::not_found(Context& ctx) {
  if (ctx.path.compare(0, 5, "/api/") == 0) throw NotFound("There is no API endpoint '" + ctx.path.substr(5) + "'.");
  if (ctx.path.compare(0, 9, "/actions/") == 0) throw NotFound("There is no action '" + ctx.path.substr(9) + "'.");
  throw NotFound("There is no page at this address.");
}

// --- forms and CSRF ----------------------------------------------------------------------------

std::string App::csrf_field(Context& ctx) {
  if (ctx.csrf_key.empty()) ctx.csrf_key = backend_.csrf_key();
  const std::string& scope = ctx.csrf_scope.empty() ? ctx.user : ctx.csrf_scope;
  return "<input type=\"hidden\" name=\"csrf\" value=\"" + h(csrf_token(ctx.csrf_key, ctx.nonce, scope)) + "\">";
}

Form App::read_form(Context& ctx) {
  std::string type = sg::to_lower(ctx.request.param("CONTENT_TYPE"));
  if (type.compare(0, 33, "application/x-www-form-urlencoded") != 0) {
    throw UnsupportedMediaType("Forms must be sent as application/x-www-form-urlencoded.");
  }
  return sg::parse_form(ctx.request.body(settings_.max_body));
}

void App::require_csrf(Context& ctx, const Form& form) {
  // A browser that sends Origin on a POST tells us where the form came from.
  std::string origin = ctx.request.param("HTTP_ORIGIN");
  std::string host = ctx.request.param("HTTP_HOST");
  if (!origin.empty() && origin != "null") {
    std::size_t scheme = origin.find("://");
    std::string origin_host = scheme == std::string::npos ? origin : origin.substr(scheme + 3);
    if (origin_host != host) throw Forbidden("This form was posted from another site (" + origin + ").", "csrf");
  }
  std::string nonce = cookie_nonce(ctx.request.param("HTTP_COOKIE"));
  if (ctx.csrf_key.empty()) ctx.csrf_key = backend_.csrf_key();
  if (!csrf_valid(ctx.csrf_key, nonce, ctx.csrf_scope.empty() ? ctx.user : ctx.csrf_scope, field(form, "csrf"))) {
    throw Forbidden("The form's security token is missing or expired, so nothing was changed. "
                    "Reload the page and try again.",
                    "csrf");
  }
  ctx.nonce = nonce;
}

void App::changed(Context& ctx, const ActionResult& result) {
  for (const auto& line : result.log_lines) ctx.request.log(line);
  if (on_change) on_change();
}

}  // namespace sg::admin
