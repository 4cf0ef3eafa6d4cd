// fcgi_admin's application without FastCGI or MariaDB: routing, authorisation, rendering and
// escaping, CSRF, paging and sorting parameters, the JSON API and its status codes.
#include <regex>

#include "admin_fakes.hpp"
#include "app.hpp"
#include "csrf.hpp"
#include "sg/crypto.hpp"
// Last: cmocka defines a `fail` macro that must not meet the C++ headers.
#include "unit.hpp"

namespace {

using sg::admin::App;
using sg::admin::Response;

struct Call {
  Call(std::string m, std::string u, std::string who = "admin", std::string c = "")
      : method(std::move(m)), uri(std::move(u)), user(std::move(who)), cookie(std::move(c)) {}
  std::string method;
  std::string uri;
  std::string user;
  std::string cookie;
  std::string content_type;
  std::string body;
  std::string origin;
};

Response run(fake::Backend& backend, const Call& call, fake::Request* out = nullptr) {
  sg::admin::Settings settings;
  App app(settings, backend);
  fake::Request request;
  request.params["REQUEST_METHOD"] = call.method;
  request.params["REQUEST_URI"] = call.uri;
  auto q = call.uri.find('?');
  request.params["QUERY_STRING"] = q == std::string::npos ? "" : call.uri.substr(q + 1);
  if (!call.user.empty()) request.params["REMOTE_USER"] = call.user;
  request.params["REMOTE_ADDR"] = "198.51.100.7";
  request.params["HTTP_HOST"] = "admin.example.test";
  if (!call.cookie.empty()) request.params["HTTP_COOKIE"] = call.cookie;
  if (!call.content_type.empty()) request.params["CONTENT_TYPE"] = call.content_type;
  if (!call.origin.empty()) request.params["HTTP_ORIGIN"] = call.origin;
  request.params["CONTENT_LENGTH"] = std::to_string(call.body.size());
  request.body_text = call.body;
  app.handle(request);
  assert_int_equal(request.sends, 1);
  if (out != nullptr) *out = request;
  return request.sent;
}

const std::string kNonce = "0123456789abcdef0123456789abcdef";
const std::string kCookie = std::string(sg::admin::kCsrfCookie) + "=" + kNonce;

std::string token(const std::string& user = "admin") { return sg::admin::csrf_token("unit-test-key", kNonce, user); }

fake::Backend with_sessions() {
  fake::Backend b;
  b.rows.push_back(fake::session(1, "alice", fake::hex_id(0xa1)));
  b.rows.push_back(fake::session(2, "bob", fake::hex_id(0xb2)));
  b.rows.push_back(fake::session(3, "admin", fake::hex_id(0xad)));
  return b;
}

Call post(const std::string& action, const std::string& body) {
  Call c("POST", "/session-guard/actions/" + action, "admin", kCookie);
  c.content_type = "application/x-www-form-urlencoded";
  c.body = body;
  return c;
}

Call api_post(const std::string& endpoint, const std::string& json) {
  Call c("POST", "/session-guard/api/" + endpoint);
  c.content_type = "application/json";
  c.body = json;
  return c;
}

}  // namespace

SG_TEST(routes_and_redirects) {
  fake::Backend b = with_sessions();
  Response r = run(b, {"GET", "/session-guard/"});
  assert_int_equal(r.status, 302);
  assert_str_eq(r.header_value("Location"), "/session-guard/sessions");
  assert_int_equal(run(b, {"GET", "/session-guard/nowhere"}).status, 404);
  assert_int_equal(run(b, {"GET", "/elsewhere/sessions"}).status, 404);
  assert_int_equal(run(b, {"DELETE", "/session-guard/sessions"}).status, 405);
  assert_str_eq(run(b, {"DELETE", "/session-guard/sessions"}).header_value("Allow"), "GET, HEAD");
}

SG_TEST(static_assets_need_no_database) {
  fake::Backend b;
  b.down = true;
  Response css = run(b, {"GET", "/session-guard/static/admin.css"});
  assert_int_equal(css.status, 200);
  assert_contains(css.header_value("Content-Type"), "text/css");
  Response js = run(b, {"GET", "/session-guard/static/admin.js"});
  assert_int_equal(js.status, 200);
  assert_contains(js.body, "sessionStorage");
  assert_int_equal(run(b, {"GET", "/session-guard/static/../../etc/passwd"}).status, 404);
}

SG_TEST(authorisation_comes_from_the_admin_role) {
  fake::Backend b = with_sessions();
  Call anonymous{"GET", "/session-guard/sessions", ""};
  Response r = run(b, anonymous);
  assert_int_equal(r.status, 403);
  assert_contains(r.body, "must authenticate");
  r = run(b, {"GET", "/session-guard/sessions", "alice"});
  assert_int_equal(r.status, 403);
  assert_contains(r.body, "The account &#39;alice&#39; does not have the Session Guard administrator role");
  assert_not_contains(r.body, "<nav");
  r = run(b, {"GET", "/session-guard/api/sessions", "alice"});
  assert_int_equal(r.status, 403);
  assert_contains(r.header_value("Content-Type"), "application/json");
  assert_contains(r.body, "\"error\":\"not_admin\"");
  // A blocked admin is no admin.
  b.accounts["admin"].active = false;
  assert_int_equal(run(b, {"GET", "/session-guard/sessions"}).status, 403);
}

SG_TEST(database_down_is_a_503_that_says_so) {
  fake::Backend b = with_sessions();
  b.down = true;
  fake::Request seen;
  Response r = run(b, {"GET", "/session-guard/sessions"}, &seen);
  assert_int_equal(r.status, 503);
  assert_contains(r.body, "database cannot be reached");
  assert_str_eq(r.header_value("Retry-After"), "5");
  assert_true(!seen.logged.empty());
  assert_contains(seen.logged[0], "database unavailable");
  r = run(b, api_post("kill", "{\"id\":\"00000000000000a1\"}"));
  assert_int_equal(r.status, 503);
  assert_contains(r.body, "\"error\":\"database_unavailable\"");
  assert_true(b.calls.empty());
}

SG_TEST(sessions_page_lists_escapes_and_sets_security_headers) {
  fake::Backend b = with_sessions();
  b.rows[0].user_agent = "<script>alert(1)</script>\"><img src=x onerror=alert(1)>";
  b.rows[0].username = "x' OR '1'='1<b>";
  Response r = run(b, {"GET", "/session-guard/sessions"});
  assert_int_equal(r.status, 200);
  assert_contains(r.body, "00000000"); // short ids of the fake fingerprints
  assert_contains(r.body, "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(1)&gt;");
  assert_not_contains(r.body, "<script>alert");
  assert_not_contains(r.body, "<img src=x");
  assert_contains(r.body, "x&#39; OR &#39;1&#39;=&#39;1&lt;b&gt;");
  std::string csp = r.header_value("Content-Security-Policy");
  assert_contains(csp, "script-src 'self'");
  assert_not_contains(csp, "unsafe-inline");
  assert_str_eq(r.header_value("X-Content-Type-Options"), "nosniff");
  assert_str_eq(r.header_value("Cache-Control"), "no-store");
  // No inline script or style anywhere (checked on a page without hostile data, whose
  // escaped text would contain " onerror=" as inert characters).
  fake::Backend clean = with_sessions();
  assert_false(std::regex_search(run(clean, {"GET", "/session-guard/sessions"}).body,
                                 std::regex("<script>|<style| style=|\\son[a-z]+=")));
  // First visit: the CSRF nonce cookie is handed out, HttpOnly and SameSite=Strict.
  std::string cookie = r.header_value("Set-Cookie");
  assert_contains(cookie, sg::admin::kCsrfCookie);
  assert_contains(cookie, "HttpOnly");
  assert_contains(cookie, "SameSite=Strict");
  Call again{"GET", "/session-guard/sessions", "admin", kCookie};
  assert_str_eq(run(b, again).header_value("Set-Cookie"), "");
}

SG_TEST(sort_order_and_paging_parameters) {
  fake::Backend b = with_sessions();
  assert_int_equal(run(b, {"GET", "/session-guard/sessions?sort=ip&order=asc&limit=10&after=17"}).status, 200);
  assert_str_eq(b.last_query.sort, "ip");
  assert_false(b.last_query.descending);
  assert_int_equal(b.last_query.limit, 10);
  assert_int_equal(b.last_query.after_id, 17);
  run(b, {"GET", "/session-guard/sessions?sort=user"});
  assert_false(b.last_query.descending);  // text columns start ascending
  run(b, {"GET", "/session-guard/sessions"});
  assert_str_eq(b.last_query.sort, "last_access");
  assert_true(b.last_query.descending);
  assert_int_equal(b.last_query.limit, 25);
  run(b, {"GET", "/session-guard/sessions?last=1&before=0"});
  assert_true(b.last_query.last_page);
  for (const char* bad : {"sort=password", "sort=s.username%20DESC--", "order=sideways", "limit=7", "limit=1000000",
                          "after=12x", "before=-1", "start=abc", "after=99999999999999999999"}) {
    Response r = run(b, {"GET", std::string("/session-guard/sessions?") + bad});
    if (r.status != 400) fail_msg("%s gave %d", bad, r.status);
  }
  // Every sortable header links to its column; the current one carries aria-sort.
  Response r = run(b, {"GET", "/session-guard/sessions?sort=login&order=desc"});
  assert_contains(r.body, "aria-sort=\"descending\"");
  assert_contains(r.body, "sort=login&amp;order=asc");
  for (const char* key : {"session", "user", "admin", "login", "last_access", "idle", "ip", "device", "browser", "server", "timeout"})
    assert_contains(r.body, std::string("sort=") + key + "&amp;");
}

SG_TEST(next_link_carries_the_keyset_cursor) {
  fake::Backend b;
  for (int i = 1; i <= 30; ++i) b.rows.push_back(fake::session(i, "alice", fake::hex_id(i)));
  Response r = run(b, {"GET", "/session-guard/sessions?limit=10"});
  assert_contains(r.body, "Sessions 1–10 of 30");
  assert_contains(r.body, "after=10&amp;start=10\">Next ›</a>");
  assert_not_contains(r.body, "\">‹ Previous</a>");
}

SG_TEST(forms_need_the_csrf_token_of_this_browser_and_user) {
  fake::Backend b = with_sessions();
  const std::string fp = fake::hex_id(0xa1);
  assert_int_equal(run(b, post("kill", "id=" + fp)).status, 403);
  assert_int_equal(run(b, post("kill", "id=" + fp + "&csrf=" + std::string(64, '0'))).status, 403);
  assert_int_equal(run(b, post("kill", "id=" + fp + "&csrf=" + token("alice"))).status, 403);
  Call no_cookie = post("kill", "id=" + fp + "&csrf=" + token());
  no_cookie.cookie.clear();
  assert_int_equal(run(b, no_cookie).status, 403);
  Call cross_site = post("kill", "id=" + fp + "&csrf=" + token());
  cross_site.origin = "https://evil.example";
  Response r = run(b, cross_site);
  assert_int_equal(r.status, 403);
  assert_contains(r.body, "another site");
  assert_true(b.calls.empty());
  Call same_site = post("kill", "id=" + fp + "&csrf=" + token());
  same_site.origin = "https://admin.example.test";
  fake::Request seen;
  r = run(b, same_site, &seen);
  assert_int_equal(r.status, 303);
  assert_str_eq(r.header_value("Location"), "/session-guard/sessions?notice=killed&n=1&u=alice");
  assert_int_equal(b.calls.size(), 1);
  assert_str_eq(b.calls[0], "kill:" + fp + ":web");
  assert_str_eq(seen.logged.at(0), "Session 00000000 terminated by administrator admin");
}

SG_TEST(actions_refuse_get_wrong_types_and_big_bodies) {
  fake::Backend b = with_sessions();
  const std::string fp = fake::hex_id(0xa1);
  Response r = run(b, {"GET", "/session-guard/actions/kill?id=" + fp + "&csrf=" + token(), "admin", kCookie});
  assert_int_equal(r.status, 405);
  assert_str_eq(r.header_value("Allow"), "POST");
  Call text = post("kill", "id=" + fp + "&csrf=" + token());
  text.content_type = "text/plain";
  assert_int_equal(run(b, text).status, 415);
  Call big = post("block", "user=bob&csrf=" + token() + "&reason=" + std::string(1024 * 1024, 'x'));
  assert_int_equal(run(b, big).status, 413);
  assert_int_equal(run(b, post("kill", "id=not-hex&csrf=" + token())).status, 400);
  assert_int_equal(run(b, post("kill", "id=ffffffffffffffff&csrf=" + token())).status, 404);
  assert_int_equal(run(b, post("block", "user=bob&reason=%20%20&csrf=" + token())).status, 400);
  assert_int_equal(run(b, post("frobnicate", "csrf=" + token())).status, 404);
  assert_true(b.calls.empty());
}

SG_TEST(own_session_is_killed_only_when_asked_twice) {
  fake::Backend b = with_sessions();
  const std::string mine = fake::hex_id(0xad);
  // The confirmation page warns up front.
  Call page{"GET", "/session-guard/confirm?action=kill&id=" + mine};
  assert_contains(run(b, page).body, "this session is yours");
  Response r = run(b, post("kill", "id=" + mine + "&csrf=" + token()));
  assert_int_equal(r.status, 409);
  assert_contains(r.body, "Confirm again");
  assert_contains(r.body, "name=\"confirm_self\" value=\"1\"");
  assert_true(b.calls.empty());
  r = run(b, post("kill", "id=" + mine + "&confirm_self=1&csrf=" + token()));
  assert_int_equal(r.status, 303);
  assert_int_equal(b.calls.size(), 1);
}

SG_TEST(confirmation_pages_change_nothing) {
  fake::Backend b = with_sessions();
  Response r = run(b, {"GET", "/session-guard/confirm?action=block&user=bob"});
  assert_int_equal(r.status, 200);
  assert_contains(r.body, "<textarea name=\"reason\" required");
  assert_contains(r.body, "name=\"csrf\"");
  r = run(b, {"GET", "/session-guard/confirm?action=block&user=admin"});
  assert_int_equal(r.status, 409);
  r = run(b, {"GET", "/session-guard/confirm?action=logout_request&id=" + fake::hex_id(0xa1)});
  assert_contains(r.body, "value=\"Please sign out\"");
  assert_contains(r.body, "alice@example.test");
  assert_int_equal(run(b, {"GET", "/session-guard/confirm?action=kill_many"}).status, 400);
  assert_int_equal(run(b, {"GET", "/session-guard/confirm?action=explode"}).status, 400);
  assert_int_equal(run(b, {"GET", "/session-guard/confirm?action=unblock&user=nobody"}).status, 404);
  r = run(b, {"GET", "/session-guard/confirm?action=kill_many&id=" + fake::hex_id(0xa1) + "&id=" + fake::hex_id(0xb2)});
  assert_contains(r.body, "Kill 2 sessions?");
  assert_true(b.calls.empty());
}

SG_TEST(notices_are_escaped) {
  fake::Backend b = with_sessions();
  Response r = run(b, {"GET", "/session-guard/users?notice=blocked&u=%3Cscript%3Ex%3C/script%3E&n=2"});
  assert_contains(r.body, "&lt;script&gt;x&lt;/script&gt; has been blocked; 2 sessions ended.");
  assert_not_contains(r.body, "<script>x");
  assert_not_contains(run(b, {"GET", "/session-guard/sessions?notice=madeup"}).body, "class=\"notice\"");
}

SG_TEST(api_changes_need_json_and_map_errors_to_statuses) {
  fake::Backend b = with_sessions();
  const std::string fp = fake::hex_id(0xa1);
  Call form = api_post("kill", "id=" + fp);
  form.content_type = "application/x-www-form-urlencoded";
  assert_int_equal(run(b, form).status, 415);
  assert_int_equal(run(b, api_post("kill", "{broken")).status, 400);
  assert_int_equal(run(b, api_post("kill", "[1,2]")).status, 400);
  assert_int_equal(run(b, api_post("kill", "{\"id\":5}")).status, 400);
  assert_int_equal(run(b, api_post("kill", "{}")).status, 400);
  assert_int_equal(run(b, api_post("kill", "{\"id\":\"xyz\"}")).status, 400);
  Response r = run(b, api_post("kill", "{\"id\":\"ffffffffffffffff\"}"));
  assert_int_equal(r.status, 404);
  assert_contains(r.body, "\"error\":\"not_found\"");
  r = run(b, api_post("block", "{\"user\":\"admin\",\"reason\":\"x\"}"));
  assert_int_equal(r.status, 409);
  assert_contains(r.body, "self_block");
  // issue 9 case 9: "Admin" and "admin " are other names, passed on exactly (never folded
  // onto the acting admin) and, having no account, refused with nothing changed.
  for (const char* other : {"Admin", "ADMIN", "admin "}) {
    r = run(b, api_post("block", std::string("{\"user\":\"") + other + "\",\"reason\":\"x\"}"));
    assert_int_equal(r.status, 404);
    assert_contains(r.body, "\"error\":\"not_found\"");
    assert_contains(r.body, std::string("no user named ") + other);
  }
  assert_true(b.accounts.at("admin").active);
  assert_int_equal(run(b, api_post("kill", "{\"id\":\"" + fake::hex_id(0xad) + "\"}")).status, 409);
  assert_int_equal(run(b, {"GET", "/session-guard/api/kill"}).status, 405);
  assert_int_equal(run(b, api_post("sessions", "{}")).status, 405);
  assert_true(b.calls.empty());
  r = run(b, api_post("kill", "{\"id\":\"" + fp + "\"}"));
  assert_int_equal(r.status, 200);
  assert_contains(r.body, "\"ok\":true");
  assert_str_eq(b.calls.at(0), "kill:" + fp + ":api");
  b.rows.push_back(fake::session(4, "alice", fake::hex_id(0xa4)));
  r = run(b, api_post("kill-many", "{\"ids\":[\"" + fake::hex_id(0xa4) + "\",\"" + fake::hex_id(0xb2) + "\"]}"));
  assert_int_equal(r.status, 200);
  assert_int_equal(run(b, api_post("kill-many", "{\"ids\":\"" + fp + "\"}")).status, 400);
  b.rows.push_back(fake::session(5, "bob", fake::hex_id(0xb5)));
  r = run(b, api_post("logout-request", "{\"id\":\"" + fake::hex_id(0xb5) + "\",\"subject\":\"S\",\"message\":\"M\"}"));
  assert_int_equal(r.status, 200);
}

SG_TEST(api_lists_sessions_as_json) {
  fake::Backend b = with_sessions();
  b.rows[1].user_agent = "bad \xff\xfe bytes \"quoted\" <tag>";
  Response r = run(b, {"GET", "/session-guard/api/sessions?user=bob"});
  assert_int_equal(r.status, 200);
  assert_contains(r.body, "\"total\":1");
  assert_contains(r.body, "\"user\":\"bob\"");
  assert_contains(r.body, "\\\"quoted\\\"");
  assert_contains(r.body, "\"next_after\":null");
  assert_int_equal(run(b, {"GET", "/session-guard/api/sessions?sort=nope"}).status, 400);
  assert_int_equal(run(b, {"GET", "/session-guard/api/nothing"}).status, 404);
}

namespace {
sg::db::InstanceHealthRow health_row(const std::string& instance, std::int64_t age_ms) {
  sg::db::InstanceHealthRow row;
  row.figures.instance = instance;
  row.figures.report_interval_ms = 10000;
  row.figures.revoked_sessions = 12;
  row.figures.activity_slots_used = 3;
  row.figures.activity_slots = 65536;
  row.figures.login_connections = 4;
  row.report_age_ms = age_ms;
  return row;
}
}  // namespace

SG_TEST(api_health_lists_instances_and_flags_the_stale) {
  fake::Backend b;
  b.health.push_back(health_row("web1:80", 4000));
  b.health.push_back(health_row("web2:80", 31000));  // over 3 intervals of 10 s
  b.health[1].figures.last_db_error = "Can't connect \"db\"";
  b.health[1].figures.last_db_error_at = 1700000000LL * 1000000;
  Response r = run(b, {"GET", "/session-guard/api/health"});
  assert_int_equal(r.status, 200);
  assert_contains(r.body, "{\"activity_dropped\":0,\"activity_slots\":65536,\"activity_slots_used\":3,");
  assert_contains(r.body, "\"instance\":\"web1:80\",\"journal_bytes\":0,\"journal_records_pending\":0,"
                          "\"last_db_error\":null,\"last_db_error_at\":null,");
  assert_contains(r.body, "\"report_age_ms\":4000,\"report_interval_ms\":10000,\"reported_at\":\"\","
                          "\"revocations_dropped\":0,\"revoked_sessions\":12,\"stale\":false}");
  assert_contains(r.body, "\"last_db_error\":\"Can't connect \\\"db\\\"\",\"last_db_error_at\":\"2023-11-14T22:13:20Z\"");
  assert_contains(r.body, "\"report_age_ms\":31000,\"report_interval_ms\":10000,\"reported_at\":\"\","
                          "\"revocations_dropped\":0,\"revoked_sessions\":12,\"stale\":true}");
  // Admins only, like every read.
  assert_int_equal(run(b, {"GET", "/session-guard/api/health", "alice"}).status, 403);
}

SG_TEST(health_page_shows_one_escaped_row_per_instance) {
  fake::Backend b;
  b.health.push_back(health_row("web1:80", 4000));
  b.health.push_back(health_row("<b>web2</b>:80", 45000));
  b.health[1].figures.last_db_error = "<script>x</script>";
  b.health[1].figures.last_db_error_at = 1700000000LL * 1000000;
  Response r = run(b, {"GET", "/session-guard/health"});
  assert_int_equal(r.status, 200);
  assert_contains(r.body, "aria-current=\"page\">Health</a>");
  assert_contains(r.body, "<tr data-instance=\"web1:80\"><td>web1:80 <span class=\"badge active\">reporting</span>");
  assert_contains(r.body, "<tr data-instance=\"&lt;b&gt;web2&lt;/b&gt;:80\" class=\"stale\">");
  assert_contains(r.body, "<span class=\"badge blocked\">stale</span>");
  assert_contains(r.body, "&lt;script&gt;x&lt;/script&gt;");
  assert_not_contains(r.body, "<script>x");
  assert_not_contains(r.body, "<b>web2");
  assert_contains(r.body, "3 / 65,536");
  b.health.clear();
  assert_contains(run(b, {"GET", "/session-guard/health"}).body, "No instance has reported yet.");
}

SG_TEST(csrf_tokens) {
  std::string t = sg::admin::csrf_token("key", kNonce, "admin");
  assert_int_equal(t.size(), 64);
  assert_true(sg::admin::csrf_valid("key", kNonce, "admin", t));
  assert_false(sg::admin::csrf_valid("other key", kNonce, "admin", t));
  assert_false(sg::admin::csrf_valid("key", kNonce, "alice", t));
  assert_false(sg::admin::csrf_valid("key", "ffffffffffffffffffffffffffffffff", "admin", t));
  assert_false(sg::admin::csrf_valid("key", kNonce, "admin", t.substr(0, 63)));
  assert_false(sg::admin::csrf_valid("key", "short", "admin", sg::admin::csrf_token("key", "short", "admin")));
  assert_false(sg::admin::csrf_valid("", kNonce, "admin", sg::admin::csrf_token("", kNonce, "admin")));
  assert_true(sg::admin::plausible_nonce(sg::random_hex(16)));
  assert_false(sg::admin::plausible_nonce("0123456789ABCDEF0123456789ABCDEF"));
  assert_true(sg::random_hex(16) != sg::random_hex(16));
}

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(routes_and_redirects),
      cmocka_unit_test(static_assets_need_no_database),
      cmocka_unit_test(authorisation_comes_from_the_admin_role),
      cmocka_unit_test(database_down_is_a_503_that_says_so),
      cmocka_unit_test(sessions_page_lists_escapes_and_sets_security_headers),
      cmocka_unit_test(sort_order_and_paging_parameters),
      cmocka_unit_test(next_link_carries_the_keyset_cursor),
      cmocka_unit_test(forms_need_the_csrf_token_of_this_browser_and_user),
      cmocka_unit_test(actions_refuse_get_wrong_types_and_big_bodies),
      cmocka_unit_test(own_session_is_killed_only_when_asked_twice),
      cmocka_unit_test(confirmation_pages_change_nothing),
      cmocka_unit_test(notices_are_escaped),
      cmocka_unit_test(api_changes_need_json_and_map_errors_to_statuses),
      cmocka_unit_test(api_lists_sessions_as_json),
      cmocka_unit_test(api_health_lists_instances_and_flags_the_stale),
      cmocka_unit_test(health_page_shows_one_escaped_row_per_instance),
      cmocka_unit_test(csrf_tokens),
  };
  return cmocka_run_group_tests_name("admin_app", tests, nullptr, nullptr);
}
