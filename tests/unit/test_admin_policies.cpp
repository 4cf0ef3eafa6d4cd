// fcgi_admin's part of the session policies (issue 4) without FastCGI or MariaDB: the
// "This wasn't me" token, self-service (my-sessions) trusting only the module's variables,
// the link pages, per-user limits, bulk actions, time left, and the new settings.
#include <cstdio>
#include <fstream>
#include <unistd.h>

#include "admin_fakes.hpp"
#include "app.hpp"
#include "csrf.hpp"
#include "settings.hpp"
#include "sg/fingerprint.hpp"
#include "sg/signout_link.hpp"
#include "sg/text.hpp"
// Last: cmocka defines a `fail` macro that must not meet the C++ headers.
#include "unit.hpp"

namespace {

using sg::admin::App;
using sg::admin::Response;

const std::string kNonce = "0123456789abcdef0123456789abcdef";
const std::string kCookie = std::string(sg::admin::kCsrfCookie) + "=" + kNonce;
const sg::Micros kNow = 1800000000LL * sg::kMicrosPerSecond;

struct Call {
  std::string method = "GET";
  std::string uri;
  std::map<std::string, std::string> params;  // extra FastCGI parameters
  std::string content_type;
  std::string body;
};

Response run(fake::Backend& backend, const Call& call, fake::Request* out = nullptr) {
  sg::admin::Settings settings;
  App app(settings, backend);
  fake::Request request;
  request.params["REQUEST_METHOD"] = call.method;
  request.params["REQUEST_URI"] = call.uri;
  auto q = call.uri.find('?');
  request.params["QUERY_STRING"] = q == std::string::npos ? "" : call.uri.substr(q + 1);
  request.params["REMOTE_ADDR"] = "198.51.100.9";
  request.params["HTTP_HOST"] = "app.example.test";
  for (const auto& [k, v] : call.params) request.params[k] = v;
  if (!call.content_type.empty()) request.params["CONTENT_TYPE"] = call.content_type;
  request.body_text = call.body;
  app.handle(request);
  assert_int_equal(request.sends, 1);
  if (out != nullptr) *out = request;
  return request.sent;
}

// Fingerprints whose short ids differ: "CCCCCCCC" (alice), "BBBBBBBB" (bob), "DDDDDDDD" (admin).
std::string fp(char c) { return std::string(64, c); }

// Alice's browser: the cookie the module judged, its fingerprint and the id the module
// reports for it in SESSION_GUARD_SESSION (what marks "this device").
const std::string kAliceCookie = "PHPSESSID=alice-browser";
const std::string kAliceFp = sg::session_fingerprint("PHPSESSID", "alice-browser").hex();
const std::string kAliceId = sg::session_fingerprint("PHPSESSID", "alice-browser").short_id();

fake::Backend with_sessions() {
  fake::Backend b;
  b.rows.push_back(fake::session(1, "alice", kAliceFp));
  b.rows.push_back(fake::session(2, "alice", fp('c')));
  b.rows.push_back(fake::session(3, "bob", fp('b')));
  b.rows.push_back(fake::session(4, "admin", fp('d')));
  return b;
}

// A request the module judged: alice's session in her browser (what SESSION_GUARD_* say).
Call as_alice(const std::string& method, const std::string& path, const std::string& body = "") {
  Call c;
  c.method = method;
  c.uri = "/session-guard/my-sessions" + path;
  c.params = {{"SESSION_GUARD_USER", "alice"},
              {"SESSION_GUARD_SESSION", kAliceId},
              {"HTTP_COOKIE", kCookie + "; " + kAliceCookie}};
  if (method == "POST") c.content_type = "application/x-www-form-urlencoded";
  c.body = body;
  return c;
}

std::string self_token(const std::string& user = "alice") {
  return sg::admin::csrf_token("unit-test-key", kNonce, "self\n" + user);
}

Call admin_call(const std::string& method, const std::string& uri, const std::string& type = "", const std::string& body = "") {
  Call c;
  c.method = method;
  c.uri = uri;
  c.params = {{"REMOTE_USER", "admin"}, {"HTTP_COOKIE", kCookie}};
  c.content_type = type;
  c.body = body;
  return c;
}

}  // namespace

// --- the token ----------------------------------------------------------------------------------

SG_TEST(signout_tokens_round_trip_and_reject_every_alteration) {
  sg::SignoutClaim claim{"o'brien <x>", kNow + 3600 * sg::kMicrosPerSecond, std::string(32, 'a')};
  std::string token = sg::make_signout_token("key-1", claim);
  assert_int_equal(token.find_first_not_of("0123456789abcdefv."), std::string::npos);  // URL-safe as it is
  sg::SignoutClaim seen;
  assert_true(sg::check_signout_token("key-1", token, kNow, seen) == sg::TokenCheck::ok);
  assert_str_eq(seen.user, "o'brien <x>");
  assert_true(seen.expires_at == claim.expires_at);
  assert_str_eq(seen.nonce, claim.nonce);
  // Expired at its expiry, not a second later.
  assert_true(sg::check_signout_token("key-1", token, claim.expires_at, seen) == sg::TokenCheck::expired);
  assert_true(sg::check_signout_token("key-2", token, kNow, seen) == sg::TokenCheck::bad_signature);
  assert_true(sg::check_signout_token("", token, kNow, seen) == sg::TokenCheck::malformed);
  // Flip each character in turn: never accepted.
  for (std::size_t i = 0; i < token.size(); ++i) {
    std::string bad = token;
    bad[i] = bad[i] == 'a' ? 'b' : (bad[i] == '.' ? 'x' : 'a');
    if (sg::check_signout_token("key-1", bad, kNow, seen) == sg::TokenCheck::ok) fail_msg("altered at %zu accepted", i);
  }
  // Another user's name, a longer life, a cut or an extended token.
  sg::SignoutClaim other = claim;
  other.user = "bob";
  std::string forged = sg::make_signout_token("key-1", other);
  std::string spliced = forged.substr(0, forged.rfind('.')) + token.substr(token.rfind('.'));
  assert_true(sg::check_signout_token("key-1", spliced, kNow, seen) == sg::TokenCheck::bad_signature);
  assert_true(sg::check_signout_token("key-1", token.substr(0, token.size() - 1), kNow, seen) == sg::TokenCheck::malformed);
  assert_true(sg::check_signout_token("key-1", token + "0", kNow, seen) == sg::TokenCheck::malformed);
  assert_true(sg::check_signout_token("key-1", "v1....", kNow, seen) == sg::TokenCheck::malformed);
  // Two tokens for the same claim but different nonces differ.
  std::string a = sg::random_hex(16), b = sg::random_hex(16);
  assert_int_equal(a.size(), 32);
  assert_true(a != b);
}

// --- my-sessions --------------------------------------------------------------------------------

SG_TEST(my_sessions_needs_the_modules_variables_and_nothing_else) {
  fake::Backend b = with_sessions();
  Call none;
  none.uri = "/session-guard/my-sessions";
  Response r = run(b, none);
  assert_int_equal(r.status, 401);
  assert_contains(r.body, "Sign in to the application first");
  assert_not_contains(r.body, "<nav");
  // Basic auth (REMOTE_USER), even an admin's, and headers (HTTP_*) are not who the user is.
  none.params = {{"REMOTE_USER", "admin"}, {"HTTP_SESSION_GUARD_USER", "bob"},
                 {"HTTP_SESSION_GUARD_SESSION", "BBBBBBBB"}, {"HTTP_COOKIE", kCookie + "; " + kAliceCookie}};
  assert_int_equal(run(b, none).status, 401);
  // A user is not enough either: the session id must be one of that user's active sessions
  // (bob's, an unknown or a malformed id are not), and it must come from the module.
  for (const std::string& id : {std::string("BBBBBBBB"), std::string("EEEEEEEE"), std::string("not-an-id"),
                                std::string()}) {
    Call half = as_alice("GET", "");
    half.params["SESSION_GUARD_SESSION"] = id;
    if (run(b, half).status != 401) fail_msg("session id '%s' accepted", id.c_str());
  }
  Call header_only = as_alice("GET", "");
  header_only.params.erase("SESSION_GUARD_SESSION");
  header_only.params["HTTP_SESSION_GUARD_SESSION"] = kAliceId;
  assert_int_equal(run(b, header_only).status, 401);
  assert_true(b.calls.empty());
}

SG_TEST(my_sessions_lists_only_the_callers_sessions_and_marks_this_device) {
  fake::Backend b = with_sessions();
  b.rows[1].user_agent = "<script>alert(1)</script>";
  Response r = run(b, as_alice("GET", ""));
  assert_int_equal(r.status, 200);
  assert_contains(r.body, "Signed in as <strong>alice</strong>");
  assert_contains(r.body, "<tr data-session=\"" + kAliceId + "\" class=\"current\">");
  assert_contains(r.body, "This device");
  assert_contains(r.body, "value=\"" + fp('c') + "\"");   // the other one has a button
  assert_not_contains(r.body, "value=\"" + kAliceFp + "\"");  // this one has none
  assert_not_contains(r.body, "BBBBBBBB");                             // bob's session
  assert_not_contains(r.body, "<script>alert");
  assert_contains(r.body, "Sign out all other sessions (1)");
  assert_contains(r.body, self_token());
  assert_not_contains(r.body, "<nav");
  assert_true(!r.header_value("Content-Security-Policy").empty());
  assert_true(b.calls.empty());
}

// issue 9 case 10: the guard compared whole fingerprints, but the action resolves any prefix,
// so posting the 8-digit id people see (or any longer prefix) ended this very session.
SG_TEST(my_sessions_this_device_by_short_id_or_prefix_is_409) {
  fake::Backend b = with_sessions();
  for (const std::string& id : {kAliceId, sg::to_lower(kAliceId), kAliceFp.substr(0, 12), kAliceFp.substr(0, 63)}) {
    Response r = run(b, as_alice("POST", "/sign-out", "id=" + id + "&csrf=" + self_token()));
    if (r.status != 409) fail_msg("id %s gave %d", id.c_str(), r.status);
    assert_contains(r.body, "This is the session you are using now");
  }
  assert_true(b.calls.empty());
  assert_str_eq(b.rows[0].state, "active");
  // A prefix of the other session signs that one out, and only that one.
  Response r = run(b, as_alice("POST", "/sign-out", "id=" + fp('c').substr(0, 8) + "&csrf=" + self_token()));
  assert_int_equal(r.status, 303);
  assert_str_eq(b.rows[1].state, "killed");
  assert_str_eq(b.rows[0].state, "active");
}

SG_TEST(my_sessions_sign_out_checks_csrf_ownership_and_method) {
  fake::Backend b = with_sessions();
  const std::string other = fp('c');
  assert_int_equal(run(b, as_alice("POST", "/sign-out", "id=" + other)).status, 403);  // no token
  assert_int_equal(run(b, as_alice("POST", "/sign-out", "id=" + other + "&csrf=" +
                                                             sg::admin::csrf_token("unit-test-key", kNonce, "alice"))).status,
                   403);  // the admin pages' token for the same name is not this one
  assert_int_equal(run(b, as_alice("GET", "/sign-out")).status, 405);
  assert_int_equal(run(b, as_alice("POST", "/elsewhere", "csrf=" + self_token())).status, 404);
  Call json = as_alice("POST", "/sign-out", "{}");
  json.content_type = "application/json";
  assert_int_equal(run(b, json).status, 415);
  // Forged ids: bob's, unknown, malformed: 404, nothing changed.
  for (const std::string& id : {fp('b'), fp('b').substr(0, 8), fp('e'), std::string("zz"),
                                std::string()}) {
    Response r = run(b, as_alice("POST", "/sign-out", "id=" + id + "&csrf=" + self_token()));
    if (r.status != 404) fail_msg("id %s gave %d", id.c_str(), r.status);
  }
  assert_true(b.calls.empty());
  // This device: 409, use the app's own sign-out.
  assert_int_equal(run(b, as_alice("POST", "/sign-out", "id=" + kAliceFp + "&csrf=" + self_token())).status, 409);
  assert_true(b.calls.empty());
  Response r = run(b, as_alice("POST", "/sign-out", "id=" + other + "&csrf=" + self_token()));
  assert_int_equal(r.status, 303);
  assert_str_eq(r.header_value("Location"), "/session-guard/my-sessions?notice=one&n=1");
  assert_int_equal(b.calls.size(), 1);
  assert_str_eq(b.calls[0], "self_kill:cccccccc:alice:self");
  r = run(b, as_alice("POST", "/sign-out-others", "csrf=" + self_token()));
  assert_int_equal(r.status, 303);
  assert_str_eq(b.calls[1], "self_others:alice:" + kAliceFp.substr(0, 8) + ":self");
}

// --- "This wasn't me" pages ---------------------------------------------------------------------

SG_TEST(wasnt_me_link_confirms_before_it_acts_and_works_once) {
  fake::Backend b = with_sessions();
  Call bad;
  bad.uri = "/session-guard/wasnt-me?t=forged";
  Response r = run(b, bad);
  assert_int_equal(r.status, 400);
  assert_contains(r.body, "not valid");
  bad.uri = "/session-guard/wasnt-me";
  assert_int_equal(run(b, bad).status, 400);
  Call get;
  get.uri = "/session-guard/wasnt-me?t=good-token";
  r = run(b, get);
  assert_int_equal(r.status, 200);
  assert_contains(r.body, "Sign out everywhere?");
  assert_contains(r.body, "<strong>alice</strong>");
  assert_contains(r.body, "name=\"t\" value=\"good-token\"");
  assert_contains(r.header_value("Set-Cookie"), sg::admin::kCsrfCookie);  // a nonce for the form
  assert_true(b.calls.empty());
  Call post;
  post.method = "POST";
  post.uri = "/session-guard/wasnt-me";
  post.content_type = "application/x-www-form-urlencoded";
  post.params = {{"HTTP_COOKIE", kCookie}};
  post.body = "t=good-token";
  assert_int_equal(run(b, post).status, 403);  // no CSRF token
  post.body = "t=good-token&csrf=" + sg::admin::csrf_token("unit-test-key", kNonce, "link\nother-token");
  assert_int_equal(run(b, post).status, 403);  // a token for another link
  assert_true(b.calls.empty());
  post.body = "t=good-token&csrf=" + sg::admin::csrf_token("unit-test-key", kNonce, "link\ngood-token");
  r = run(b, post);
  assert_int_equal(r.status, 200);
  assert_contains(r.body, "signed out everywhere");
  assert_str_eq(b.calls.at(0), "wasnt_me:alice:link");
  assert_int_equal(run(b, post).status, 410);
  assert_int_equal(run(b, get).status, 410);
  assert_int_equal(b.calls.size(), 1);
  Call put = get;
  put.method = "PUT";
  assert_int_equal(run(b, put).status, 405);
}

// --- admin: limits, bulk actions, time left -----------------------------------------------------

SG_TEST(set_limit_through_api_and_form) {
  fake::Backend b = with_sessions();
  const char* json = "application/json";
  assert_int_equal(run(b, admin_call("POST", "/session-guard/api/set-limit", json, "{\"user\":\"bob\",\"max_sessions\":2}")).status, 200);
  assert_str_eq(b.calls.back(), "limit:bob:2:api");
  assert_int_equal(run(b, admin_call("POST", "/session-guard/api/set-limit", json, "{\"user\":\"bob\",\"max_sessions\":null}")).status, 200);
  assert_str_eq(b.calls.back(), "limit:bob:none:api");
  std::size_t calls = b.calls.size();
  for (const char* bad : {"{\"user\":\"bob\"}", "{\"user\":\"bob\",\"max_sessions\":-1}", "{\"user\":\"bob\",\"max_sessions\":\"2\"}",
                          "{\"user\":\"bob\",\"max_sessions\":1.5}", "{\"user\":\"bob\",\"max_sessions\":1001}", "{\"max_sessions\":1}"}) {
    Response r = run(b, admin_call("POST", "/session-guard/api/set-limit", json, bad));
    if (r.status != 400) fail_msg("%s gave %d", bad, r.status);
  }
  assert_int_equal(run(b, admin_call("POST", "/session-guard/api/set-limit", json, "{\"user\":\"nobody\",\"max_sessions\":1}")).status, 404);
  assert_int_equal(run(b, admin_call("POST", "/session-guard/api/set-limit", "text/plain", "{}")).status, 415);
  assert_int_equal(b.calls.size(), calls);
  // The page: confirmation (changes nothing), then the form.
  Response r = run(b, admin_call("GET", "/session-guard/confirm?action=set_limit&user=bob&back=users"));
  assert_int_equal(r.status, 200);
  assert_contains(r.body, "Session limit of bob");
  assert_contains(r.body, "action=\"/session-guard/actions/set-limit\"");
  assert_int_equal(b.calls.size(), calls);
  const std::string form = "application/x-www-form-urlencoded";
  const std::string csrf = "&csrf=" + sg::admin::csrf_token("unit-test-key", kNonce, "admin");
  assert_int_equal(run(b, admin_call("POST", "/session-guard/actions/set-limit", form, "user=bob&limit=3")).status, 403);
  assert_int_equal(run(b, admin_call("POST", "/session-guard/actions/set-limit", form, "user=bob&limit=x" + csrf)).status, 400);
  r = run(b, admin_call("POST", "/session-guard/actions/set-limit", form, "user=bob&limit=3" + csrf));
  assert_int_equal(r.status, 303);
  assert_str_eq(b.calls.back(), "limit:bob:3:web");
  assert_contains(r.header_value("Location"), "/session-guard/users?notice=limit_set");
  run(b, admin_call("POST", "/session-guard/actions/set-limit", form, "user=bob&limit=" + csrf));
  assert_str_eq(b.calls.back(), "limit:bob:none:web");
  run(b, admin_call("POST", "/session-guard/actions/set-limit", form, "user=bob&limit=0" + csrf));
  assert_str_eq(b.calls.back(), "limit:bob:0:web");
  // The users page shows each limit.
  b.accounts["alice"].max_sessions = 4;
  r = run(b, admin_call("GET", "/session-guard/users"));
  assert_contains(r.body, "<td class=\"limit\">4</td>");
  assert_contains(r.body, "<td class=\"limit\">no limit</td>");
  assert_contains(r.body, "<td class=\"limit\">server default</td>");
}

SG_TEST(bulk_actions_are_confirmed_escaped_and_posted) {
  fake::Backend b = with_sessions();
  Response r = run(b, admin_call("GET", "/session-guard/confirm?action=sign_out_all"));
  assert_int_equal(r.status, 200);
  assert_contains(r.body, "except your own (admin)");
  assert_contains(r.body, "<option value=\"&lt;b&gt;evil&lt;/b&gt;\">&lt;b&gt;evil&lt;/b&gt;</option>");
  r = run(b, admin_call("GET", "/session-guard/confirm?action=end_idle&minutes=%22%3E%3Cb%3E"));
  assert_int_equal(r.status, 200);
  assert_not_contains(r.body, "\"><b>");
  assert_true(b.calls.empty());
  const std::string form = "application/x-www-form-urlencoded";
  const std::string csrf = "&csrf=" + sg::admin::csrf_token("unit-test-key", kNonce, "admin");
  assert_int_equal(run(b, admin_call("POST", "/session-guard/actions/end-idle", form, "minutes=30")).status, 403);
  for (const char* bad : {"minutes=0", "minutes=-5", "minutes=abc", "minutes=", "minutes=525601"}) {
    Response bad_r = run(b, admin_call("POST", "/session-guard/actions/end-idle", form, bad + csrf));
    if (bad_r.status != 400) fail_msg("%s gave %d", bad, bad_r.status);
  }
  assert_true(b.calls.empty());
  r = run(b, admin_call("POST", "/session-guard/actions/end-idle", form, "minutes=45" + csrf));
  assert_int_equal(r.status, 303);
  assert_str_eq(b.calls.back(), "end_idle:45:web");
  r = run(b, admin_call("POST", "/session-guard/actions/sign-out-all", form, "server=app.example.test" + csrf));
  assert_int_equal(r.status, 303);
  assert_str_eq(b.calls.back(), "sign_out_all:app.example.test:admin:web");
  assert_int_equal(run(b, admin_call("GET", "/session-guard/actions/sign-out-all")).status, 405);
  const char* json = "application/json";
  assert_int_equal(run(b, admin_call("POST", "/session-guard/api/end-idle", json, "{\"minutes\":\"5\"}")).status, 400);
  assert_int_equal(run(b, admin_call("POST", "/session-guard/api/end-idle", json, "{\"minutes\":5}")).status, 200);
  assert_str_eq(b.calls.back(), "end_idle:5:api");
  assert_int_equal(run(b, admin_call("POST", "/session-guard/api/sign-out-all", json, "{}")).status, 200);
  assert_str_eq(b.calls.back(), "sign_out_all::admin:api");
  assert_int_equal(run(b, admin_call("POST", "/session-guard/api/sign-out-all", json, "{\"server\":7}")).status, 400);
  assert_int_equal(run(b, admin_call("GET", "/session-guard/api/sign-out-all")).status, 405);
  // A non-admin gets nowhere near them.
  Call alice = admin_call("POST", "/session-guard/api/sign-out-all", json, "{}");
  alice.params["REMOTE_USER"] = "alice";
  assert_int_equal(run(b, alice).status, 403);
}

SG_TEST(time_left_is_the_sooner_deadline_or_no_limit) {
  sg::db::SessionRow s;
  assert_true(s.deadline() == 0);
  s.idle_deadline = 500;
  assert_true(s.deadline() == 500);
  s.absolute_deadline = 300;
  assert_true(s.deadline() == 300);
  s.idle_deadline = 0;
  assert_true(s.deadline() == 300);
  fake::Backend b = with_sessions();
  const sg::Micros far = 4102444800LL * sg::kMicrosPerSecond;  // 2100: whole days left
  b.rows[0].idle_deadline = far;
  b.rows[0].absolute_deadline = far + 3600 * sg::kMicrosPerSecond;
  b.rows[1].absolute_deadline = far - 7200 * sg::kMicrosPerSecond;
  b.rows[2].idle_deadline = 1;  // long past
  Response r = run(b, admin_call("GET", "/session-guard/sessions?sort=time_left"));
  assert_int_equal(r.status, 200);
  assert_str_eq(b.last_query.sort, "time_left");
  assert_false(b.last_query.descending);  // soonest first
  assert_contains(r.body, "Time left");
  assert_contains(r.body, "<td class=\"time-left\" title=\"until the idle timeout\">");
  assert_contains(r.body, "<td class=\"time-left\" title=\"until the maximum lifetime\">");
  assert_contains(r.body, "<td class=\"time-left\">no limit</td>");
  assert_contains(r.body, ">ending now</td>");
  r = run(b, admin_call("GET", "/session-guard/api/sessions?sort=time_left"));
  assert_contains(r.body, "\"time_left_seconds\":null");
  assert_contains(r.body, "\"time_left_seconds\":0");
  assert_contains(r.body, "\"deadline\":\"2099-12-31T22:00:00Z\"");
  // Every new action is linked from the pages.
  r = run(b, admin_call("GET", "/session-guard/sessions"));
  assert_contains(r.body, "/session-guard/confirm?action=end_idle");
  assert_contains(r.body, "/session-guard/confirm?action=sign_out_all");
}

SG_TEST(link_settings) {
  sg::admin::Settings s;
  assert_str_eq(sg::admin::apply_settings({{"public_url", "https://intranet.example.com"}, {"link_secret", "0123456789abcdef!"},
                                           {"link_lifetime", "3600"}},
                                          s),
                "");
  assert_str_eq(s.public_url, "https://intranet.example.com");
  assert_str_eq(s.policy.link_key, "0123456789abcdef!");
  assert_true(s.policy.link_lifetime == 3600 * sg::kMicrosPerSecond);
  for (auto [key, value] : std::vector<std::pair<std::string, std::string>>{{"public_url", "ftp://x"},
                                                                           {"public_url", "https://x/"},
                                                                           {"public_url", "https://x\"><b>"},
                                                                           {"link_secret", "short"},
                                                                           {"link_lifetime", "10"}}) {
    sg::admin::Settings t;
    if (sg::admin::apply_settings({{key, value}}, t).empty()) fail_msg("%s=%s accepted", key.c_str(), value.c_str());
  }
  char path[] = "/tmp/sg-unit-cnf-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  std::ofstream(path) << "[session_guard]\nsocket=/nowhere\n[fcgi_admin]\npublic_url=https://intranet.example.com\n";
  auto loaded = sg::admin::load_settings(path);
  std::remove(path);
  assert_str_eq(loaded.policy.link_base, "https://intranet.example.com/session-guard/wasnt-me?t=");
  assert_str_eq(loaded.db_group, "session_guard");  // a single file: the module's group
}

// The module's option file includes the admin's, which only the admin program's user can
// read: the admin's group and settings come from it, and an unreadable include is skipped.
SG_TEST(option_file_includes_pick_the_admin_group) {
  char dir[] = "/tmp/sg-unit-inc-XXXXXX";
  assert_true(mkdtemp(dir) != nullptr);
  const std::string main_file = std::string(dir) + "/sg.cnf", admin_file = std::string(dir) + "/sg-admin.cnf";
  std::ofstream(main_file) << "[session_guard]\nuser=sg_module\n!include " << admin_file
                           << "\nsocket=/after-include\n[fcgi_admin]\nrefresh=7\n";
  std::ofstream(admin_file) << "[session_guard_admin]\nuser=sg_admin\n[fcgi_admin]\npublic_url=https://admin.example.test\n";
  auto groups = sg::admin::parse_option_file(sg::admin::expand_includes("[session_guard]\n!include " + admin_file +
                                                                        "\nsocket=/after-include\n"));
  // After the include the including file is back in its own group.
  assert_str_eq(groups["session_guard"]["socket"], "/after-include");
  assert_str_eq(groups["session_guard_admin"]["user"], "sg_admin");
  assert_int_equal(groups["session_guard_admin"].count("socket"), 0);
  auto loaded = sg::admin::load_settings(main_file);
  assert_str_eq(loaded.db_group, "session_guard_admin");
  assert_str_eq(loaded.public_url, "https://admin.example.test");
  assert_int_equal(loaded.refresh_seconds, 7);
  std::remove(admin_file.c_str());  // unreadable or gone: skipped, the module's group serves
  loaded = sg::admin::load_settings(main_file);
  assert_str_eq(loaded.db_group, "session_guard");
  assert_str_eq(loaded.public_url, "");
  // The layout db-setup writes: the module's file names the admin's, whose account is used.
  std::ofstream(admin_file) << "[session_guard_admin]\nuser=sg_admin\n[fcgi_admin]\npublic_url=https://admin.example.test\n";
  std::ofstream(main_file) << "[session_guard]\nuser=sg_module\n[client]\nuser=sg_module\n[fcgi_admin]\ncredentials_file="
                           << admin_file << "\nrefresh=7\n";
  loaded = sg::admin::load_settings(main_file);
  assert_str_eq(loaded.db_options_file, admin_file);
  assert_str_eq(loaded.db_group, "session_guard_admin");
  assert_str_eq(loaded.public_url, "https://admin.example.test");
  assert_int_equal(loaded.refresh_seconds, 7);
  // Without the admin's file there is no quiet fallback to the module's account.
  std::remove(admin_file.c_str());
  bool refused = false;
  try {
    sg::admin::load_settings(main_file);
  } catch (const std::runtime_error& e) {
    refused = std::string(e.what()).find("credentials_file") != std::string::npos;
  }
  assert_true(refused);
  std::remove(main_file.c_str());
  rmdir(dir);
}

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(signout_tokens_round_trip_and_reject_every_alteration),
      cmocka_unit_test(my_sessions_needs_the_modules_variables_and_nothing_else),
      cmocka_unit_test(my_sessions_lists_only_the_callers_sessions_and_marks_this_device),
      cmocka_unit_test(my_sessions_sign_out_checks_csrf_ownership_and_method),
      cmocka_unit_test(my_sessions_this_device_by_short_id_or_prefix_is_409),
      cmocka_unit_test(wasnt_me_link_confirms_before_it_acts_and_works_once),
      cmocka_unit_test(set_limit_through_api_and_form),
      cmocka_unit_test(bulk_actions_are_confirmed_escaped_and_posted),
      cmocka_unit_test(time_left_is_the_sooner_deadline_or_no_limit),
      cmocka_unit_test(link_settings),
      cmocka_unit_test(option_file_includes_pick_the_admin_group),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
