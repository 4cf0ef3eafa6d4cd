#include "app.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>

#include "csrf.hpp"
#include "html.hpp"
#include "sg/cookie.hpp"
#include "sg/fingerprint.hpp"
#include "sg/mail.hpp"
#include "sg/text.hpp"

namespace sg::admin {

using nlohmann::json;
using Form = std::vector<std::pair<std::string, std::string>>;

struct App::Context {
  Request& request;
  std::string method;
  std::string path;  // after the prefix, e.g. "/sessions"
  Form query;
  std::string user;  // REMOTE_USER, an admin once authorised
  std::string ip;
  bool api = false;
  std::string nonce;   // CSRF cookie value (existing or new)
  bool new_nonce = false;
  std::string csrf_key;
  bool self_service = false;  // my-sessions or a "This wasn't me" link: no admin around
  std::string csrf_scope;     // what CSRF tokens are bound to when it is not the admin's name

  std::string get(const std::string& name) const {
    for (const auto& [k, v] : query)
      if (k == name) return v;
    return "";
  }
  std::vector<std::string> all(const std::string& name) const {
    std::vector<std::string> out;
    for (const auto& [k, v] : query)
      if (k == name) out.push_back(v);
    return out;
  }
  db::Actor actor() const { return db::Actor{user, ip, api ? "api" : "web"}; }
};

namespace {

Micros now_micros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string field(const Form& form, const std::string& name) {
  for (const auto& [k, v] : form)
    if (k == name) return v;
  return "";
}

std::vector<std::string> fields(const Form& form, const std::string& name) {
  std::vector<std::string> out;
  for (const auto& [k, v] : form)
    if (k == name) out.push_back(v);
  return out;
}

std::uint64_t parse_id(const std::string& text, const char* what) {
  if (text.empty()) return 0;
  if (text.size() > 19 || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    throw BadRequest(std::string("The ") + what + " must be a row number.");
  return std::stoull(text);
}

void check_length(const std::string& value, std::size_t max, const char* what) {
  if (value.size() > max) throw BadRequest(std::string("The ") + what + " is too long.");
}

int status_of(const db::OperationError& e) {
  switch (e.kind) {
    case db::OperationError::Kind::bad_input: return 400;
    case db::OperationError::Kind::not_found: return 404;
    case db::OperationError::Kind::conflict: return 409;
    case db::OperationError::Kind::gone: return 410;
  }
  return 400;
}

const char* code_of(const db::OperationError& e) {
  switch (e.kind) {
    case db::OperationError::Kind::bad_input: return "bad_request";
    case db::OperationError::Kind::not_found: return "not_found";
    case db::OperationError::Kind::conflict: return "conflict";
    case db::OperationError::Kind::gone: return "gone";
  }
  return "bad_request";
}

std::string cookie_nonce(const std::string& header) {
  auto value = sg::find_cookie(header, kCsrfCookie);
  return value ? std::string(*value) : std::string();
}

// Whether the browser that sent this request holds the session (one of its cookies hashes to it).
bool is_current_session(const std::string& cookie_header, const std::string& fingerprint) {
  for (const auto& [name, value] : sg::parse_cookie_header(cookie_header)) {
    if (sg::session_fingerprint(name, value).hex() == fingerprint) return true;
  }
  return false;
}

json session_json(const db::SessionRow& s, Micros now) {
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

std::string upper(std::string text) {
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

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

std::optional<int> parse_limit(const std::string& raw) {
  std::string text(sg::trim(raw));
  if (text.empty() || sg::to_lower(text) == "none") return std::nullopt;
  if (text.size() > 4 || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      std::stoi(text) > 1000)
    throw BadRequest("The session limit must be a number from 0 (no limit) to 1000, or empty / none for the server's setting.");
  return std::stoi(text);
}

int parse_minutes(const std::string& raw) {
  std::string text(sg::trim(raw));
  if (text.empty() || text.size() > 6 || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      std::stoi(text) < 1 || std::stoi(text) > 525600)
    throw BadRequest("The idle time must be a whole number of minutes from 1 to 525600.");
  return std::stoi(text);
}

// 0 (exact) for one user's sessions, else counting stops after this many rows.
std::uint64_t count_cap(const db::SessionQuery& q) { return !q.user.empty() && q.search.empty() ? 0 : 10000; }

struct ListParams {
  db::SessionQuery query;
  std::uint64_t start = 0;
  std::string order_text;
};

ListParams session_params(const App::Context& ctx) {
  ListParams p;
  db::SessionQuery& q = p.query;
  q.user = ctx.get("user");
  q.search = std::string(sg::trim(ctx.get("q")));
  check_length(q.user, 190, "user filter");
  check_length(q.search, 200, "search text");
  std::string sort = ctx.get("sort");
  if (!sort.empty()) {
    if (!db::valid_session_sort(sort)) throw BadRequest("Unknown sort column '" + sort + "'.");
    q.sort = sort;
  }
  std::string order = ctx.get("order");
  if (order.empty()) order = (q.sort == "user" || q.sort == "ip" || q.sort == "device" || q.sort == "browser" ||
                              q.sort == "server" || q.sort == "session" || q.sort == "time_left")
                                 ? "asc"
                                 : "desc";
  if (order != "asc" && order != "desc") throw BadRequest("The order must be asc or desc.");
  q.descending = order == "desc";
  p.order_text = order;
  std::string limit = ctx.get("limit");
  if (limit.empty()) q.limit = 25;
  else if (limit == "10" || limit == "25" || limit == "50" || limit == "100") q.limit = std::stoul(limit);
  else throw BadRequest("Rows per page must be 10, 25, 50 or 100.");
  q.after_id = parse_id(ctx.get("after"), "paging cursor");
  q.before_id = parse_id(ctx.get("before"), "paging cursor");
  q.last_page = ctx.get("last") == "1";
  p.start = parse_id(ctx.get("start"), "start position");
  return p;
}

std::string url_with(const std::string& base, const std::vector<std::pair<std::string, std::string>>& params) {
  std::string url = base;
  char sep = '?';
  for (const auto& [k, v] : params) {
    if (v.empty()) continue;
    url += sep + sg::url_encode(k) + "=" + sg::url_encode(v);
    sep = '&';
  }
  return url;
}

std::string notice_text(const App::Context& ctx) {
  std::string code = ctx.get("notice");
  if (code.empty()) return "";
  std::string n = ctx.get("n");
  if (!std::all_of(n.begin(), n.end(), [](char c) { return c >= '0' && c <= '9'; }) || n.size() > 9) n = "";
  std::string user = ctx.get("u").substr(0, 190);
  std::string mails = ctx.get("m") == "1" ? " An email notice has been queued." : "";
  std::string text;
  if (code == "killed") text = "The session has been killed.";
  else if (code == "killed_many") text = (n.empty() ? "The" : n) + " selected sessions have been killed.";
  else if (code == "killed_user") text = "All sessions of " + user + " have been killed (" + (n.empty() ? "0" : n) + ").";
  else if (code == "blocked") text = user + " has been blocked; " + (n.empty() ? "0" : n) + " sessions ended.";
  else if (code == "unblocked") text = user + " has been unblocked and may sign in again.";
  else if (code == "limit_set") text = "The session limit of " + user + " has been changed; it applies from their next sign-in.";
  else if (code == "ended_idle") text = (n.empty() ? "0" : n) + " idle sessions have been ended.";
  else if (code == "signed_out_all") text = (n.empty() ? "0" : n) + " sessions have been signed out; yours were kept.";
  else if (code == "logout_sent") text = "The logout request email to " + user + " has been queued.", mails = "";
  else return "";
  return "<div class=\"notice\" role=\"status\">" + h(text + mails) + "</div>\n";
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

}  // namespace

// ---------------------------------------------------------------------------------------------

void App::handle(Request& request) noexcept {
  Response response = respond(request);
  try {
    request.send(response);
  } catch (...) {
  }
}

Response App::respond(Request& request) noexcept {
  Context ctx{request, {}, {}, {}, {}, {}, false, {}, false, {}, false, {}};
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
    } catch (const db::OperationError& e) {
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
  if (ctx.api) {
    Response r;
    r.status = status;
    r.header("Content-Type", "application/json");
    r.body = json{{"error", code}, {"message", message}}.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
    return r;
  }
  std::string title = std::to_string(status) + " " + status_text(status);
  std::string content = "<h1>" + h(status == 503 ? std::string("Database unavailable") : title) + "</h1>\n<div class=\"error\" role=\"alert\">" +
                        h(message) + "</div>\n";
  if (status == 503) content += "<p><a class=\"button\" href=\"\">Try again</a></p>\n";
  else if (ctx.self_service) content += "";
  else content += "<p><a href=\"" + h(settings_.prefix) + "/sessions\">Back to the sessions</a></p>\n";
  PageFrame frame{title, settings_.prefix, "", ctx.user, 0, ctx.self_service};
  Response r;
  r.status = status;
  r.header("Content-Type", "text/html; charset=utf-8");
  r.body = page(frame, content);
  return r;
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

Response App::route(Context& ctx) {
  const std::string& path = ctx.path;
  const bool read = ctx.method == "GET" || ctx.method == "HEAD";
  if (path.compare(0, 8, "/static/") == 0) {
    if (!read) throw MethodNotAllowed("GET, HEAD");
    return static_file(ctx, path.substr(8));
  }
  if (path.empty() || path == "/") {
    if (!read) throw MethodNotAllowed("GET, HEAD");
    return redirect(settings_.prefix + "/sessions", 302);
  }
  // Self-service: reached from inside a guarded app without Basic auth. Who the user is comes
  // from the module (SESSION_GUARD_*), never from REMOTE_USER or a request header.
  if (path == "/my-sessions" || path.compare(0, 13, "/my-sessions/") == 0) return my_sessions(ctx);
  if (path == "/wasnt-me") return wasnt_me(ctx);
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
  if (ctx.api) {
    return api(ctx, path.substr(5));
  }
  if (path.compare(0, 9, "/actions/") == 0) {
    if (ctx.method != "POST") throw MethodNotAllowed("POST");
    return action(ctx, path.substr(9));
  }
  if (!read) throw MethodNotAllowed("GET, HEAD");
  // Pages carry forms: make sure this browser holds a CSRF nonce.
  ctx.nonce = cookie_nonce(ctx.request.param("HTTP_COOKIE"));
  if (!plausible_nonce(ctx.nonce)) {
    ctx.nonce = random_hex(16);
    ctx.new_nonce = true;
  }
  if (path == "/sessions") return sessions_page(ctx);
  if (path == "/users") return users_page(ctx);
  if (path == "/audit") return audit_page(ctx);
  if (path == "/confirm") return confirm_page(ctx);
  throw NotFound("There is no page at this address.");
}

Response App::static_file(Context&, const std::string& name) {
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

std::string App::csrf_field(Context& ctx) {
  if (ctx.csrf_key.empty()) ctx.csrf_key = backend_.csrf_key();
  const std::string& scope = ctx.csrf_scope.empty() ? ctx.user : ctx.csrf_scope;
  return "<input type=\"hidden\" name=\"csrf\" value=\"" + h(csrf_token(ctx.csrf_key, ctx.nonce, scope)) + "\">";
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

std::string App::confirm_form(Context& ctx, const std::string& action, const std::string& fields_html,
                              const std::string& button, bool danger) {
  std::string back = ctx.get("back") == "users" ? "users" : "sessions";
  return "<form method=\"post\" action=\"" + h(settings_.prefix + "/actions/" + action) + "\" class=\"done-selection\">\n" +
         csrf_field(ctx) + "<input type=\"hidden\" name=\"back\" value=\"" + back + "\">\n" + fields_html +
         "<div class=\"buttons\"><button type=\"submit\" class=\"" + (danger ? "danger" : "primary") + "\">" + h(button) +
         "</button><a class=\"button\" href=\"" + h(settings_.prefix + "/" + back) + "\">Cancel</a></div>\n</form>\n";
}

void App::changed(Context& ctx, const db::ActionResult& result) {
  for (const auto& line : result.log_lines) ctx.request.log(line);
  if (on_change) on_change();
}

// --- sessions ----------------------------------------------------------------------------------

Response App::sessions_page(Context& ctx) {
  ListParams p = session_params(ctx);
  const db::SessionQuery& q = p.query;
  const std::string base = settings_.prefix + "/sessions";
  auto page_data = backend_.sessions(q);
  // Counting is the one part of the page that grows with the table: exact for one user (an
  // index range), capped otherwise; past the cap the unfiltered total comes from the latest
  // activity sample, marked "about".
  const std::uint64_t cap = count_cap(q);
  std::uint64_t total = backend_.count_sessions(q, cap);
  const bool uncounted = total == db::kCountUnknown;
  bool capped = cap != 0 && total > cap && !uncounted;
  auto stats = backend_.activity();
  bool estimated = capped && q.user.empty() && q.search.empty() && stats.active_sessions > cap;
  const Micros now = now_micros();
  std::vector<std::pair<std::string, std::string>> keep = {
      {"user", q.user}, {"q", q.search}, {"sort", q.sort}, {"order", p.order_text},
      {"limit", q.limit == 25 ? "" : std::to_string(q.limit)}};

  std::string out;
  out += "<h1>Active sessions</h1>\n" + notice_text(ctx);
  out += "<section id=\"stats\" class=\"stats\" aria-label=\"Summary\">"
         "<div class=\"stat\"><span class=\"n\" id=\"stat-sessions\">" +
         format_count(stats.active_sessions) + "</span><span class=\"l\">active sessions</span></div>"
         "<div class=\"stat\"><span class=\"n\" id=\"stat-users\">" +
         format_count(stats.active_users) + "</span><span class=\"l\">users signed in</span></div>"
         "<div class=\"stat chart\">" +
         chart_svg(stats, now) + "<span class=\"l\">last 24 hours · counted " + h(format_time(stats.measured_at)) +
         " UTC</span></div></section>\n";

  out += "<form class=\"filters\" method=\"get\" action=\"" + h(base) + "\" role=\"search\">"
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
  out += "</form>\n";

  out += "<form id=\"bulk\" class=\"bulk\" method=\"get\" action=\"" + h(settings_.prefix + "/confirm") +
         "\"><input type=\"hidden\" name=\"action\" value=\"kill_many\">"
         "<button type=\"submit\" class=\"danger\">Kill selected sessions</button>"
         "<span id=\"selected-count\" class=\"muted\" aria-live=\"polite\"></span>"
         "<span id=\"refreshed\" class=\"muted\" aria-live=\"off\"></span>"
         "<span class=\"spacer\"></span><a class=\"button\" href=\"" +
         h(url_with(settings_.prefix + "/confirm", {{"action", "end_idle"}})) + "\">End idle sessions…</a><a class=\"button\" href=\"" +
         h(url_with(settings_.prefix + "/confirm", {{"action", "sign_out_all"}})) + "\">Sign out everyone…</a></form>\n";

  auto header = [&](const std::string& key, const std::string& label, bool optional = false) {
    bool current = q.sort == key;
    std::string order = current ? (q.descending ? "asc" : "desc")
                                 : ((key == "user" || key == "ip" || key == "device" || key == "browser" ||
                                     key == "server" || key == "session" || key == "time_left")
                                        ? "asc"
                                        : "desc");
    std::vector<std::pair<std::string, std::string>> params = keep;
    params[2].second = key;
    params[3].second = order;
    std::string aria = current ? (q.descending ? " aria-sort=\"descending\"" : " aria-sort=\"ascending\"") : "";
    std::string arrow = current ? (q.descending ? " ▼" : " ▲") : "";
    return "<th scope=\"col\"" + aria + (optional ? " class=\"opt\"" : "") + "><a href=\"" + h(url_with(base, params)) +
           "\">" + h(label) + arrow + "</a></th>";
  };
  out += "<div class=\"table-wrap\"><table>\n<caption class=\"sr-only\">Active sessions</caption>\n<thead><tr>"
         "<th scope=\"col\"><input type=\"checkbox\" id=\"pick-all\" aria-label=\"Select all sessions on this page\"></th>" +
         header("session", "Session") + header("user", "User") + header("admin", "Admin", true) +
         header("login", "Login (UTC)", true) + header("last_access", "Last access (UTC)") + header("idle", "Idle") + header("time_left", "Time left") +
         header("ip", "Client IP") + header("device", "Device") + header("browser", "Browser", true) +
         header("server", "Server", true) + header("timeout", "Timeout", true) + "<th scope=\"col\">Actions</th></tr></thead>\n";
  out += "<tbody id=\"sessions-body\">\n";
  if (page_data.rows.empty()) {
    out += "<tr><td colspan=\"14\" class=\"muted\">No active sessions match.</td></tr>\n";
  }
  for (const auto& s : page_data.rows) {
    const std::string fp = h(s.fingerprint);
    const std::string confirm = settings_.prefix + "/confirm";
    out += "<tr data-fingerprint=\"" + fp + "\">";
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
    out += "<td class=\"actions\"><a href=\"" + h(url_with(confirm, {{"action", "kill"}, {"id", s.fingerprint}})) +
           "\" aria-label=\"Kill session " + h(s.short_id()) + " of " + h(s.username) + "\">Kill</a>";
    out += "<a href=\"" + h(url_with(confirm, {{"action", "kill_user"}, {"user", s.username}})) + "\">Kill all of user</a>";
    out += "<a href=\"" + h(url_with(confirm, {{"action", "logout_request"}, {"id", s.fingerprint}})) + "\">Ask to log out</a>";
    if (s.username != ctx.user) {
      out += "<a href=\"" + h(url_with(confirm, {{"action", "block"}, {"user", s.username}})) + "\">Block user</a>";
    }
    out += "</td></tr>\n";
  }
  out += "</tbody></table></div>\n";

  // Keyset paging: links carry the first/last row id of this page; "start" only numbers rows.
  std::uint64_t first = page_data.rows.empty() ? 0 : p.start + 1;
  std::uint64_t last = p.start + page_data.rows.size();
  out += "<nav class=\"pager\" aria-label=\"Pages\"><span id=\"pager-summary\">";
  if (page_data.rows.empty()) out += "0 sessions";
  else
    out += "Sessions " + format_count(first) + "–" + format_count(last) + " of " +
           (uncounted ? std::string("many (too many to count quickly)")
            : estimated ? "about " + format_count(stats.active_sessions)
                      : capped ? "more than " + format_count(cap) : format_count(total));
  out += "</span>";
  auto link = [&](const std::string& label, std::vector<std::pair<std::string, std::string>> extra, bool enabled) {
    if (!enabled) return "<span class=\"muted\">" + h(label) + "</span>";
    auto params = keep;
    params.insert(params.end(), extra.begin(), extra.end());
    return "<a href=\"" + h(url_with(base, params)) + "\">" + h(label) + "</a>";
  };
  const auto& rows = page_data.rows;
  std::uint64_t prev_start = p.start > q.limit ? p.start - q.limit : 0;
  std::uint64_t known = estimated ? stats.active_sessions : total;
  std::uint64_t last_start = known > q.limit ? known - q.limit : 0;
  if ((capped && !estimated) || uncounted) last_start = 0;
  out += link("« First", {}, page_data.has_prev);
  out += link("‹ Previous",
              rows.empty() ? std::vector<std::pair<std::string, std::string>>{}
                           : std::vector<std::pair<std::string, std::string>>{{"before", std::to_string(rows.front().id)},
                                                                              {"start", std::to_string(prev_start)}},
              page_data.has_prev);
  out += link("Next ›",
              rows.empty() ? std::vector<std::pair<std::string, std::string>>{}
                           : std::vector<std::pair<std::string, std::string>>{{"after", std::to_string(rows.back().id)},
                                                                              {"start", std::to_string(last)}},
              page_data.has_next);
  out += link("Last »", {{"last", "1"}, {"start", std::to_string(last_start)}}, page_data.has_next);
  out += "</nav>\n";
  return html(ctx, "Sessions", "sessions", out, 200, settings_.refresh_seconds);
}

// --- users -------------------------------------------------------------------------------------

Response App::users_page(Context& ctx) {
  db::UserQuery q;
  q.search = std::string(sg::trim(ctx.get("q")));
  q.state = ctx.get("state");
  q.after = ctx.get("after");
  check_length(q.search, 190, "search text");
  check_length(q.after, 190, "paging cursor");
  if (!q.state.empty() && q.state != "active" && q.state != "blocked") throw BadRequest("The state must be active or blocked.");
  q.limit = 50;
  auto users = backend_.users(q);
  const std::string base = settings_.prefix + "/users";
  const std::string confirm = settings_.prefix + "/confirm";
  std::string out = "<h1>Users</h1>\n" + notice_text(ctx);
  out += "<form class=\"filters\" method=\"get\" action=\"" + h(base) + "\" role=\"search\"><label>Name <input type=\"search\" name=\"q\" value=\"" +
         h(q.search) + "\" maxlength=\"190\"></label><label>State <select name=\"state\"><option value=\"\">all</option>";
  for (const char* s : {"active", "blocked"}) {
    out += std::string("<option") + (q.state == s ? " selected" : "") + ">" + s + "</option>";
  }
  out += "</select></label><button type=\"submit\">Show</button></form>\n";
  out += "<div class=\"table-wrap\"><table><caption class=\"sr-only\">Accounts</caption><thead><tr><th scope=\"col\">User</th>"
         "<th scope=\"col\" class=\"opt\">Email</th><th scope=\"col\">State</th><th scope=\"col\">Blocked by</th>"
         "<th scope=\"col\" class=\"opt\">Blocked at (UTC)</th><th scope=\"col\">Reason</th><th scope=\"col\">Live sessions</th><th scope=\"col\">Session limit</th>"
         "<th scope=\"col\" class=\"opt\">Last login (UTC)</th><th scope=\"col\">Actions</th></tr></thead><tbody>\n";
  if (users.empty()) out += "<tr><td colspan=\"10\" class=\"muted\">No accounts match.</td></tr>\n";
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
  db::AuditQuery q;
  q.actor = ctx.get("admin");
  q.user = ctx.get("user");
  q.action = ctx.get("action");
  check_length(q.actor, 190, "admin filter");
  check_length(q.user, 190, "user filter");
  check_length(q.action, 32, "action filter");
  q.before_id = parse_id(ctx.get("before"), "paging cursor");
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
  out += "<div class=\"table-wrap\"><table><caption class=\"sr-only\">Admin actions</caption><thead><tr><th scope=\"col\">When (UTC)</th>"
         "<th scope=\"col\">Admin</th><th scope=\"col\" class=\"opt\">From</th><th scope=\"col\">Action</th><th scope=\"col\">User</th>"
         "<th scope=\"col\">Session</th><th scope=\"col\">Reason / subject</th><th scope=\"col\">What happened</th>"
         "<th scope=\"col\">Email</th></tr></thead><tbody id=\"audit-body\">\n";
  if (entries.empty()) out += "<tr><td colspan=\"9\" class=\"muted\">No entries match.</td></tr>\n";
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
  out += "<h2 id=\"outbox\">Mail outbox</h2>\n<div class=\"table-wrap\"><table><caption class=\"sr-only\">Latest mails</caption><thead><tr>"
         "<th scope=\"col\">Queued (UTC)</th><th scope=\"col\">Kind</th><th scope=\"col\">To</th><th scope=\"col\">Subject</th>"
         "<th scope=\"col\">State</th><th scope=\"col\">Attempts</th><th scope=\"col\" class=\"opt\">Sent / next try (UTC)</th>"
         "<th scope=\"col\">Last error</th></tr></thead><tbody id=\"outbox-body\">\n";
  if (mails.empty()) out += "<tr><td colspan=\"8\" class=\"muted\">No mail yet.</td></tr>\n";
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

// --- confirmation pages ------------------------------------------------------------------------

Response App::confirm_page(Context& ctx) {
  const std::string what = ctx.get("action");
  auto session_facts = [&](const db::SessionRow& s) {
    return "<dl class=\"facts\"><dt>Session</dt><dd class=\"mono\">" + h(s.short_id()) + "</dd><dt>User</dt><dd>" +
           h(s.username) + "</dd><dt>Client IP</dt><dd>" + h(s.client_ip) + "</dd><dt>Device</dt><dd>" + h(s.device) +
           " · " + h(s.browser) + " · " + h(s.os) + "</dd><dt>Server</dt><dd>" + h(s.server_name) +
           "</dd><dt>Last access</dt><dd>" + h(format_time(s.last_access)) + " UTC</dd></dl>\n";
  };
  auto own_warning = [&](bool current, const std::string& text) {
    return "<div class=\"warning\" role=\"alert\">" + h(current ? "This is your current session: " + text : text) +
           "</div>\n<label class=\"check\"><span><input type=\"checkbox\" name=\"confirm_self\" value=\"1\" required> "
           "Yes, end my own session</span></label>\n";
  };
  const std::string cookies = ctx.request.param("HTTP_COOKIE");
  std::string out = "<div class=\"confirm\">";
  std::string title;
  if (what == "kill") {
    std::string id = ctx.get("id");
    auto s = backend_.find_session(id);
    title = "Kill session " + s.short_id() + "?";
    out += "<h1>" + h(title) + "</h1>\n" + session_facts(s) +
           "<p>" + h(s.username) + " will be signed out on the next request and told why.</p>\n";
    std::string extra = "<input type=\"hidden\" name=\"id\" value=\"" + h(s.fingerprint) + "\">\n";
    if (s.username == ctx.user) {
      extra += own_warning(is_current_session(cookies, s.fingerprint),
                           "you are signed in as " + ctx.user + ", and this session is yours. Killing it signs you out.");
    }
    out += confirm_form(ctx, "kill", extra, "Kill session", true);
  } else if (what == "kill_many") {
    auto ids = ctx.all("id");
    if (ids.empty()) throw BadRequest("Select at least one session first.");
    if (ids.size() > 1000) throw BadRequest("At most 1000 sessions can be killed at once.");
    std::string list, extra;
    bool own = false, current = false;
    for (const auto& id : ids) {
      auto s = backend_.find_session(id);
      list += "<li><span class=\"mono\">" + h(s.short_id()) + "</span> " + h(s.username) + " · " + h(s.client_ip) + " · " +
              h(s.device) + "</li>";
      extra += "<input type=\"hidden\" name=\"id\" value=\"" + h(s.fingerprint) + "\">\n";
      own = own || s.username == ctx.user;
      current = current || is_current_session(cookies, s.fingerprint);
    }
    title = "Kill " + std::to_string(ids.size()) + (ids.size() == 1 ? " session?" : " sessions?");
    out += "<h1>" + h(title) + "</h1>\n<ul>" + list + "</ul>\n";
    if (own) extra += own_warning(current, "the selection includes a session of your own account (" + ctx.user + ").");
    out += confirm_form(ctx, "kill-many", extra, "Kill selected sessions", true);
  } else if (what == "kill_user" || what == "block" || what == "unblock") {
    std::string name = ctx.get("user");
    check_length(name, 190, "user name");
    auto u = backend_.user(name);
    if (!u) throw NotFound("There is no account named '" + name + "'.");
    std::string extra = "<input type=\"hidden\" name=\"user\" value=\"" + h(u->username) + "\">\n";
    std::string facts = "<dl class=\"facts\"><dt>User</dt><dd>" + h(u->username) + "</dd><dt>Email</dt><dd>" + h(u->email) +
                        "</dd><dt>Live sessions</dt><dd>" + format_count(u->live_sessions) + "</dd><dt>State</dt><dd>" +
                        (u->active ? "active" : "blocked by " + h(u->blocked_by) + ": " + h(u->block_reason)) + "</dd></dl>\n";
    if (what == "kill_user") {
      title = "Kill all sessions of " + u->username + "?";
      out += "<h1>" + h(title) + "</h1>\n" + facts;
      if (u->username == ctx.user) extra += own_warning(false, "these are your own sessions (" + ctx.user + "). Killing them signs you out.");
      out += confirm_form(ctx, "kill-user", extra, "Kill all sessions", true);
    } else if (what == "block") {
      if (u->username == ctx.user) throw Conflict("You cannot block your own account.", "self_block");
      title = "Block " + u->username + "?";
      out += "<h1>" + h(title) + "</h1>\n" + facts +
             "<p>All their sessions end now and new sign-ins are refused until the account is unblocked.</p>\n";
      extra += "<label>Reason (required, shown to the user) <textarea name=\"reason\" required maxlength=\"1000\"></textarea></label>\n";
      out += confirm_form(ctx, "block", extra, "Block user", true);
    } else {
      title = "Unblock " + u->username + "?";
      out += "<h1>" + h(title) + "</h1>\n" + facts;
      out += confirm_form(ctx, "unblock", extra, "Unblock user", false);
    }
  } else if (what == "set_limit") {
    std::string name = ctx.get("user");
    check_length(name, 190, "user name");
    auto u = backend_.user(name);
    if (!u) throw NotFound("There is no account named '" + name + "'.");
    title = "Session limit of " + u->username;
    std::string current = !u->max_sessions ? "the server's setting (SessionGuardMaxSessions)"
                          : *u->max_sessions == 0 ? "no limit" : std::to_string(*u->max_sessions) + " at a time";
    out += "<h1>" + h(title) + "</h1>\n<dl class=\"facts\"><dt>User</dt><dd>" + h(u->username) +
           "</dd><dt>Live sessions</dt><dd>" + format_count(u->live_sessions) + "</dd><dt>Limit now</dt><dd>" + h(current) +
           "</dd></dl>\n<p>The new limit applies from the user's next sign-in, on every server; sessions that are open now "
           "are not ended. Whether a sign-in over the limit ends the oldest session or is refused is the server's "
           "setting (SessionGuardMaxSessionsAction).</p>\n";
    std::string extra = "<input type=\"hidden\" name=\"user\" value=\"" + h(u->username) + "\">\n"
                        "<label>Concurrent sessions (a number; 0 = no limit for this user; empty = the server's setting) "
                        "<input type=\"text\" name=\"limit\" inputmode=\"numeric\" maxlength=\"4\" pattern=\"[0-9]{0,4}|none\" value=\"" +
                        h(u->max_sessions ? std::to_string(*u->max_sessions) : std::string()) + "\"></label>\n";
    out += confirm_form(ctx, "set-limit", extra, "Set limit", false);
  } else if (what == "end_idle") {
    title = "End idle sessions?";
    out += "<h1>" + h(title) + "</h1>\n<p>Every session, of every user and on every server, that has had no request for "
           "longer than the time below ends now. Each user is told on their next request that an administrator ended "
           "the session.</p>\n";
    std::string minutes = ctx.get("minutes").empty() ? "30" : ctx.get("minutes");
    out += confirm_form(ctx, "end-idle",
                        "<label>Idle longer than (minutes) <input type=\"number\" name=\"minutes\" min=\"1\" max=\"525600\" "
                        "required value=\"" + h(minutes.substr(0, 6)) + "\"></label>\n",
                        "End idle sessions", true);
  } else if (what == "sign_out_all") {
    title = "Sign out everyone?";
    auto servers = backend_.active_servers();
    out += "<h1>" + h(title) + "</h1>\n<p>Every active session ends now, on every server, except your own (" + h(ctx.user) +
           "). Each user is told on their next request that an administrator ended the session.</p>\n";
    std::string select = "<label>Virtual host <select name=\"server\"><option value=\"\">all virtual hosts</option>";
    for (const auto& server : servers) select += "<option value=\"" + h(server) + "\">" + h(server) + "</option>";
    select += "</select></label>\n";
    out += confirm_form(ctx, "sign-out-all", select, "Sign out everyone", true);
  } else if (what == "logout_request") {
    auto s = backend_.find_session(ctx.get("id"));
    auto u = backend_.user(s.username);
    title = "Ask " + s.username + " to log out";
    std::map<std::string, std::string> values = {{"user", s.username},
                                                 {"admin", ctx.user},
                                                 {"session", s.short_id()},
                                                 {"server", s.server_name.empty() ? "the application" : s.server_name}};
    out += "<h1>" + h(title) + "</h1>\n" + session_facts(s);
    if (!u || u->email.empty()) out += "<div class=\"warning\">" + h(s.username) + " has no email address on file.</div>\n";
    else out += "<p>The email goes to <strong>" + h(u->email) + "</strong>.</p>\n";
    std::string extra = "<input type=\"hidden\" name=\"id\" value=\"" + h(s.fingerprint) + "\">\n"
                        "<label>Subject (required) <input type=\"text\" name=\"subject\" required maxlength=\"255\" value=\"" +
                        h(mail::expand(settings_.policy.logout_request.subject, values)) +
                        "\"></label>\n<label>Message (required) <textarea name=\"message\" required maxlength=\"20000\">" +
                        h(mail::expand(settings_.policy.logout_request.body, values)) + "</textarea></label>\n";
    out += confirm_form(ctx, "logout-request", extra, "Send logout request", false);
  } else {
    throw BadRequest("Unknown action '" + what + "'.");
  }
  out += "</div>\n";
  return html(ctx, title, "", out);
}

// --- form actions (POST) -----------------------------------------------------------------------

Response App::action(Context& ctx, const std::string& name) {
  std::string type = sg::to_lower(ctx.request.param("CONTENT_TYPE"));
  if (type.compare(0, 33, "application/x-www-form-urlencoded") != 0) {
    throw UnsupportedMediaType("Forms must be sent as application/x-www-form-urlencoded.");
  }
  Form form = sg::parse_form(ctx.request.body(settings_.max_body));
  require_csrf(ctx, form);
  const std::string back = field(form, "back") == "users" ? "users" : "sessions";
  const bool confirm_self = field(form, "confirm_self") == "1";
  auto done = [&](const std::string& notice, const db::ActionResult& result, const std::string& user) {
    changed(ctx, result);
    return redirect(url_with(settings_.prefix + "/" + back,
                             {{"notice", notice},
                              {"n", std::to_string(result.sessions_ended)},
                              {"u", user},
                              {"m", result.mails_queued > 0 ? "1" : ""}}));
  };
  // Killing one's own session is allowed, but only when asked twice.
  auto ask_again = [&](const std::string& what, const std::string& hidden) {
    ctx.nonce = cookie_nonce(ctx.request.param("HTTP_COOKIE"));
    std::string out = "<div class=\"confirm\"><h1>This includes your own session</h1>\n<div class=\"warning\" role=\"alert\">" +
                      h("You are signed in as " + ctx.user + ", and " + what +
                        " Nothing has been changed yet. Confirm again to go ahead.") +
                      "</div>\n";
    std::string extra = hidden + "<input type=\"hidden\" name=\"confirm_self\" value=\"1\">\n";
    out += confirm_form(ctx, name, extra, "Yes, end it", true) + "</div>\n";
    return html(ctx, "Confirm again", "", out, 409);
  };
  if (name == "kill") {
    std::string id = field(form, "id");
    auto s = backend_.find_session(id);
    if (s.username == ctx.user && !confirm_self) {
      return ask_again("session " + s.short_id() + " is yours: killing it signs you out.",
                       "<input type=\"hidden\" name=\"id\" value=\"" + h(s.fingerprint) + "\">\n");
    }
    return done("killed", backend_.kill_session(s.fingerprint, ctx.actor()), s.username);
  }
  if (name == "kill-many") {
    auto ids = fields(form, "id");
    if (ids.empty()) throw BadRequest("Select at least one session first.");
    if (ids.size() > 1000) throw BadRequest("At most 1000 sessions can be killed at once.");
    bool own = false;
    std::string hidden;
    for (const auto& id : ids) {
      auto s = backend_.find_session(id);
      own = own || s.username == ctx.user;
      hidden += "<input type=\"hidden\" name=\"id\" value=\"" + h(s.fingerprint) + "\">\n";
    }
    if (own && !confirm_self) return ask_again("the selection includes one of your own sessions.", hidden);
    return done("killed_many", backend_.kill_sessions(ids, ctx.actor()), "");
  }
  if (name == "kill-user") {
    std::string user = field(form, "user");
    db::validate_username(user);
    if (user == ctx.user && !confirm_self) {
      return ask_again("these are your own sessions.", "<input type=\"hidden\" name=\"user\" value=\"" + h(user) + "\">\n");
    }
    return done("killed_user", backend_.kill_user(user, ctx.actor()), user);
  }
  if (name == "block") {
    std::string user = field(form, "user");
    return done("blocked", backend_.block_user(user, field(form, "reason"), ctx.actor()), user);
  }
  if (name == "unblock") {
    std::string user = field(form, "user");
    return done("unblocked", backend_.unblock_user(user, ctx.actor()), user);
  }
  if (name == "set-limit") {
    std::string user = field(form, "user");
    db::validate_username(user);
    auto result = backend_.set_user_limit(user, parse_limit(field(form, "limit")), ctx.actor());
    changed(ctx, result);
    return redirect(url_with(settings_.prefix + "/users", {{"notice", "limit_set"}, {"u", user}}));
  }
  if (name == "end-idle") return done("ended_idle", backend_.end_idle(parse_minutes(field(form, "minutes")), ctx.actor()), "");
  if (name == "sign-out-all") {
    std::string server = field(form, "server");
    check_length(server, 255, "server name");
    return done("signed_out_all", backend_.sign_out_everyone(server, ctx.actor()), "");
  }
  if (name == "logout-request") {
    std::string id = field(form, "id");
    auto s = backend_.find_session(id);
    return done("logout_sent", backend_.logout_request(s.fingerprint, field(form, "subject"), field(form, "message"), ctx.actor()),
                s.username);
  }
  throw NotFound("There is no action '" + name + "'.");
}

// --- JSON API ----------------------------------------------------------------------------------

Response App::api(Context& ctx, const std::string& name) {
  auto reply = [](const json& body, int status = 200) {
    Response r;
    r.status = status;
    r.header("Content-Type", "application/json");
    r.body = body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
    return r;
  };
  const bool read = ctx.method == "GET" || ctx.method == "HEAD";
  static const std::vector<std::string> reads = {"sessions", "users", "audit", "outbox"};
  static const std::vector<std::string> writes = {"kill",           "kill-many", "kill-user", "block",       "unblock",
                                                  "logout-request", "set-limit", "end-idle",  "sign-out-all"};
  const Micros now = now_micros();
  if (std::find(reads.begin(), reads.end(), name) != reads.end()) {
    if (!read) throw MethodNotAllowed("GET, HEAD");
    if (name == "sessions") {
      ListParams p = session_params(ctx);
      auto page_data = backend_.sessions(p.query);
      const std::uint64_t cap = count_cap(p.query);
      std::uint64_t total = backend_.count_sessions(p.query, cap);
      json list = json::array();
      for (const auto& s : page_data.rows) list.push_back(session_json(s, now));
      const bool uncounted = total == db::kCountUnknown;
      json body{{"sessions", list},
                {"total", uncounted ? json(nullptr) : json(total)},
                {"total_is_lower_bound", cap != 0 && total > cap && !uncounted},
                {"sort", p.query.sort},
                {"order", p.order_text},
                {"limit", p.query.limit}};
      body["next_after"] = page_data.has_next && !page_data.rows.empty() ? json(page_data.rows.back().id) : json(nullptr);
      body["prev_before"] = page_data.has_prev && !page_data.rows.empty() ? json(page_data.rows.front().id) : json(nullptr);
      return reply(body);
    }
    if (name == "users") {
      db::UserQuery q;
      q.search = ctx.get("q");
      q.state = ctx.get("state");
      q.after = ctx.get("after");
      check_length(q.search, 190, "search text");
      check_length(q.after, 190, "paging cursor");
      if (!q.state.empty() && q.state != "active" && q.state != "blocked") throw BadRequest("The state must be active or blocked.");
      std::string limit = ctx.get("limit");
      q.limit = limit.empty() ? 100 : std::clamp<std::uint64_t>(parse_id(limit, "limit"), 1, 1000);
      json list = json::array();
      for (const auto& u : backend_.users(q)) {
        list.push_back(json{{"user", u.username},
                            {"email", u.email},
                            {"admin", u.is_admin},
                            {"blocked", !u.active},
                            {"blocked_by", u.blocked_by},
                            {"blocked_at", format_iso(u.blocked_at)},
                            {"block_reason", u.block_reason},
                            {"live_sessions", u.live_sessions},
                            {"last_login_at", format_iso(u.last_login_at)},
                            {"max_sessions", u.max_sessions ? json(*u.max_sessions) : json(nullptr)}});
      }
      return reply(json{{"users", list}});
    }
    if (name == "audit") {
      db::AuditQuery q;
      q.actor = ctx.get("admin");
      q.user = ctx.get("user");
      q.action = ctx.get("action");
      check_length(q.actor, 190, "admin filter");
      check_length(q.user, 190, "user filter");
      check_length(q.action, 32, "action filter");
      q.before_id = parse_id(ctx.get("before"), "paging cursor");
      std::string limit = ctx.get("limit");
      q.limit = limit.empty() ? 50 : std::clamp<std::uint64_t>(parse_id(limit, "limit"), 1, 1000);
      auto rows = backend_.audit(q);
      json list = json::array();
      for (const auto& a : rows) {
        list.push_back(json{{"id", a.id},
                            {"at", format_iso(a.at)},
                            {"admin", a.actor},
                            {"admin_ip", a.actor_ip},
                            {"source", a.source},
                            {"action", a.action},
                            {"user", a.target_user},
                            {"session", a.target_session.empty() ? json(nullptr) : json(upper(a.target_session.substr(0, 8)))},
                            {"fingerprint", a.target_session},
                            {"reason", a.reason},
                            {"message", a.message},
                            {"mail", a.mail_state}});
      }
      json body{{"entries", list}};
      body["next_before"] = rows.size() == q.limit ? json(rows.back().id) : json(nullptr);
      return reply(body);
    }
    json list = json::array();
    for (const auto& m : backend_.outbox(100, parse_id(ctx.get("before"), "paging cursor"))) {
      list.push_back(json{{"id", m.id},
                          {"kind", m.kind},
                          {"created_at", format_iso(m.created_at)},
                          {"to", m.recipient},
                          {"user", m.target_user},
                          {"subject", m.subject},
                          {"state", m.state},
                          {"attempts", m.attempts},
                          {"sent_at", format_iso(m.sent_at)},
                          {"last_error", m.last_error}});
    }
    return reply(json{{"mails", list}});
  }
  if (std::find(writes.begin(), writes.end(), name) == writes.end()) throw NotFound("There is no API endpoint '" + name + "'.");
  if (ctx.method != "POST") throw MethodNotAllowed("POST");
  // Requiring JSON is the API's CSRF defence: a cross-site form cannot send it without CORS.
  std::string type = sg::to_lower(ctx.request.param("CONTENT_TYPE"));
  std::string base_type(sg::trim(type.substr(0, type.find(';'))));
  if (base_type != "application/json") throw UnsupportedMediaType("API requests that change something must send Content-Type: application/json.");
  std::string body = ctx.request.body(settings_.max_body);
  json in = json::parse(body, nullptr, false);
  if (in.is_discarded() || !in.is_object()) throw BadRequest("The body must be a JSON object.", "invalid_json");
  auto text = [&](const char* key, bool required) -> std::string {
    auto it = in.find(key);
    if (it == in.end() || it->is_null()) {
      if (required) throw BadRequest(std::string("'") + key + "' is required.", "missing_field");
      return "";
    }
    if (!it->is_string()) throw BadRequest(std::string("'") + key + "' must be a string.", "invalid_field");
    return it->get<std::string>();
  };
  bool confirm_self = in.contains("confirm_self") && in["confirm_self"].is_boolean() && in["confirm_self"].get<bool>();
  auto result_json = [&](const db::ActionResult& r) {
    changed(ctx, r);
    return reply(json{{"ok", true}, {"message", r.message}, {"sessions_ended", r.sessions_ended}, {"mails_queued", r.mails_queued}});
  };
  auto own = [&](const std::string& what) {
    return Conflict(what + " belongs to you (" + ctx.user + "); send \"confirm_self\": true to end it anyway.", "own_session");
  };
  if (name == "kill") {
    auto s = backend_.find_session(text("id", true));
    if (s.username == ctx.user && !confirm_self) throw own("Session " + s.short_id());
    return result_json(backend_.kill_session(s.fingerprint, ctx.actor()));
  }
  if (name == "kill-many") {
    auto it = in.find("ids");
    if (it == in.end() || !it->is_array()) throw BadRequest("'ids' must be an array of session ids.", "invalid_field");
    std::vector<std::string> ids;
    for (const auto& v : *it) {
      if (!v.is_string()) throw BadRequest("'ids' must contain strings.", "invalid_field");
      ids.push_back(v.get<std::string>());
    }
    if (ids.empty()) throw BadRequest("'ids' is empty.", "invalid_field");
    if (ids.size() > 1000) throw BadRequest("At most 1000 sessions at once.", "invalid_field");
    for (const auto& id : ids) {
      auto s = backend_.find_session(id);
      if (s.username == ctx.user && !confirm_self) throw own("Session " + s.short_id());
    }
    return result_json(backend_.kill_sessions(ids, ctx.actor()));
  }
  if (name == "kill-user") {
    std::string user = text("user", true);
    db::validate_username(user);
    if (user == ctx.user && !confirm_self) throw own("Every session of this user");
    if (!backend_.user(user)) throw NotFound("There is no account named '" + user + "'.");
    return result_json(backend_.kill_user(user, ctx.actor()));
  }
  if (name == "block") {
    std::string user = text("user", true);
    db::validate_username(user);
    if (user == ctx.user) throw Conflict("You cannot block your own account.", "self_block");
    return result_json(backend_.block_user(user, text("reason", false), ctx.actor()));
  }
  if (name == "unblock") return result_json(backend_.unblock_user(text("user", true), ctx.actor()));
  if (name == "set-limit") {
    std::string user = text("user", true);
    db::validate_username(user);
    auto it = in.find("max_sessions");
    if (it == in.end()) throw BadRequest("'max_sessions' is required (a number, or null for the server's setting).", "missing_field");
    std::optional<int> limit;
    if (it->is_number_integer()) {
      auto n = it->get<long long>();
      if (n < 0 || n > 1000) throw BadRequest("'max_sessions' must be from 0 (no limit) to 1000, or null.", "invalid_field");
      limit = static_cast<int>(n);
    } else if (!it->is_null()) {
      throw BadRequest("'max_sessions' must be a whole number or null.", "invalid_field");
    }
    return result_json(backend_.set_user_limit(user, limit, ctx.actor()));
  }
  if (name == "end-idle") {
    auto it = in.find("minutes");
    if (it == in.end() || !it->is_number_integer() || it->get<long long>() < 1 || it->get<long long>() > 525600)
      throw BadRequest("'minutes' must be a whole number from 1 to 525600.", "invalid_field");
    return result_json(backend_.end_idle(static_cast<int>(it->get<long long>()), ctx.actor()));
  }
  if (name == "sign-out-all") {
    std::string server = text("server", false);
    check_length(server, 255, "server name");
    return result_json(backend_.sign_out_everyone(server, ctx.actor()));
  }
  // logout-request
  auto s = backend_.find_session(text("id", true));
  return result_json(backend_.logout_request(s.fingerprint, text("subject", true), text("message", true), ctx.actor()));
}


// --- self-service: my-sessions and "This wasn't me" links (no Basic auth) --------------------

namespace {
std::string device_text(const db::SessionRow& s) {
  std::string text = s.device;
  if (!s.browser.empty()) text += " · " + s.browser;
  if (!s.os.empty()) text += " · " + s.os;
  return text;
}

// Pages that carry forms but have no admin: make sure this browser holds a CSRF nonce.
void ensure_nonce(App::Context& ctx) {
  ctx.nonce = cookie_nonce(ctx.request.param("HTTP_COOKIE"));
  if (!plausible_nonce(ctx.nonce)) {
    ctx.nonce = random_hex(16);
    ctx.new_nonce = true;
  }
}
}  // namespace

Response App::my_sessions(Context& ctx) {
  ctx.self_service = true;
  // Set by mod_session_guard for a guarded request whose session it knows the owner of. The
  // module sets them as environment variables, which a client cannot send (headers arrive
  // as HTTP_*), and REMOTE_USER is deliberately not accepted here.
  const std::string user = ctx.request.param("SESSION_GUARD_USER");
  const std::string session_id = ctx.request.param("SESSION_GUARD_SESSION");
  std::vector<db::SessionRow> sessions;
  if (!user.empty() && user.size() <= 190 && session_id.size() == 8) sessions = backend_.user_sessions(user);
  // This device: the caller's own active session with the id the module reported (it
  // computed the id from the cookie it judged, however the client spelled it). Nobody
  // else's session can match, since only this user's sessions are searched.
  std::string current;
  for (const auto& s : sessions) {
    if (s.short_id() == session_id) current = s.fingerprint;
  }
  if (current.empty()) {
    throw Unauthorized("This page lists the sessions of the account you are signed in with, but this request does not "
                       "come from a signed-in session. Sign in to the application first, then open this page again "
                       "in the same browser.");
  }
  ctx.csrf_scope = "self\n" + user;
  const std::string base = settings_.prefix + "/my-sessions";
  const std::string sub = ctx.path.substr(std::string("/my-sessions").size());
  db::Actor actor{user, ctx.ip, "self"};
  if (!sub.empty()) {
    if (sub != "/sign-out" && sub != "/sign-out-others") throw NotFound("There is no page at this address.");
    if (ctx.method != "POST") throw MethodNotAllowed("POST");
    std::string type = sg::to_lower(ctx.request.param("CONTENT_TYPE"));
    if (type.compare(0, 33, "application/x-www-form-urlencoded") != 0)
      throw UnsupportedMediaType("Forms must be sent as application/x-www-form-urlencoded.");
    Form form = sg::parse_form(ctx.request.body(settings_.max_body));
    require_csrf(ctx, form);
    db::ActionResult result;
    if (sub == "/sign-out") {
      std::string id = sg::to_lower(field(form, "id"));
      // The action takes any prefix of a fingerprint (the 8-digit id people see), so the
      // guard does too: comparing whole fingerprints let "85c8a1f2" end this very session.
      // The operation checks again on the session the id resolves to.
      if (!id.empty() && current.compare(0, id.size(), id) == 0) {
        throw Conflict("This is the session you are using now. To end it, sign out in the application.", "own_session");
      }
      result = backend_.self_end_session(user, id, current, actor);
    } else {
      result = backend_.self_end_others(user, current, actor);
    }
    changed(ctx, result);
    return redirect(url_with(base, {{"notice", sub == "/sign-out" ? "one" : "others"},
                                    {"n", std::to_string(result.sessions_ended)}}));
  }
  if (ctx.method != "GET" && ctx.method != "HEAD") throw MethodNotAllowed("GET, HEAD");
  ensure_nonce(ctx);
  const Micros now = now_micros();
  std::string out = "<h1>Your sessions</h1>\n";
  std::string notice = ctx.get("notice");
  std::string n = ctx.get("n");
  if (n.size() > 6 || !std::all_of(n.begin(), n.end(), [](char c) { return c >= '0' && c <= '9'; })) n = "";
  if (notice == "one") out += "<div class=\"notice\" role=\"status\">The session has been signed out.</div>\n";
  if (notice == "others")
    out += "<div class=\"notice\" role=\"status\">" + h((n.empty() ? "All" : n) + " other sessions have been signed out.") +
           "</div>\n";
  out += "<p>Signed in as <strong>" + h(user) + "</strong>. These are the sessions of your account that are open now, on "
         "every server. If you do not recognise one, sign it out and change your password.</p>\n";
  out += "<div class=\"table-wrap\"><table><caption class=\"sr-only\">Your active sessions</caption><thead><tr>"
         "<th scope=\"col\">Session</th><th scope=\"col\">Device</th><th scope=\"col\">IP address</th>"
         "<th scope=\"col\">Signed in (UTC)</th><th scope=\"col\">Last access (UTC)</th><th scope=\"col\"></th></tr></thead>"
         "<tbody id=\"my-sessions-body\">\n";
  std::size_t others = 0;
  const std::string field_html = csrf_field(ctx);
  for (const auto& s : sessions) {
    const bool mine = s.fingerprint == current;
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
  if (sessions.empty()) out += "<tr><td colspan=\"6\" class=\"muted\">No active sessions.</td></tr>\n";
  out += "</tbody></table></div>\n";
  (void)now;
  if (others > 0) {
    out += "<form method=\"post\" action=\"" + h(base + "/sign-out-others") + "\" class=\"bulk\">" + field_html +
           "<button type=\"submit\" class=\"danger\">Sign out all other sessions (" + std::to_string(others) +
           ")</button></form>\n";
  }
  return html(ctx, "Your sessions", "", out);
}

Response App::wasnt_me(Context& ctx) {
  ctx.self_service = true;
  const bool post = ctx.method == "POST";
  if (!post && ctx.method != "GET" && ctx.method != "HEAD") throw MethodNotAllowed("GET, HEAD, POST");
  Form form;
  std::string token;
  if (post) {
    std::string type = sg::to_lower(ctx.request.param("CONTENT_TYPE"));
    if (type.compare(0, 33, "application/x-www-form-urlencoded") != 0)
      throw UnsupportedMediaType("Forms must be sent as application/x-www-form-urlencoded.");
    form = sg::parse_form(ctx.request.body(settings_.max_body));
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
    db::Actor actor{user, ctx.ip, "link"};
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
