// Directive parsers, request targets and config merging.
#include "unit.hpp"

#include <limits>
#include <string>

#include "sg/config.hpp"
#include "sg/denial.hpp"

namespace {
constexpr sg::Micros kMs = 1000;
constexpr sg::Micros kS = sg::kMicrosPerSecond;

// The ranges the Apache glue passes (mod_session_guard/module.cpp).
sg::ConfigError poll_interval(std::string_view arg, std::optional<sg::Micros>& out) {
  return sg::parse_duration(arg, kMs, 10 * kMs, 60 * kS, out);
}
sg::ConfigError max_stale(std::string_view arg, std::optional<sg::Micros>& out) {
  return sg::parse_duration(arg, kS, kS, 7 * 24 * 3600 * kS, out);
}

#define assert_ok(expr)                                                            \
  do {                                                                             \
    sg::ConfigError sg_error_ = (expr);                                            \
    if (sg_error_) fail_msg("%s failed: %s", #expr, sg_error_->c_str());           \
  } while (0)

#define assert_error(expr, fragment)                                               \
  do {                                                                             \
    sg::ConfigError sg_error_ = (expr);                                            \
    if (!sg_error_) fail_msg("%s succeeded, an error was expected", #expr);         \
    assert_contains(*sg_error_, fragment);                                          \
  } while (0)

sg::LoginForm form(const char* path, const char* field) {
  sg::LoginForm f;
  f.target.path = path;
  f.user_field = field;
  return f;
}
}  // namespace

// --- parsers ----------------------------------------------------------------------------------

SG_TEST(on_off) {
  std::optional<bool> v;
  assert_ok(sg::parse_on_off("On", v));
  assert_true(v.has_value() && *v);
  assert_ok(sg::parse_on_off("off", v));
  assert_true(v.has_value() && !*v);
  assert_ok(sg::parse_on_off("ON", v));
  assert_true(*v);
  std::optional<bool> untouched;
  assert_error(sg::parse_on_off("yes", untouched), "'yes'");
  assert_false(untouched.has_value());
  assert_error(sg::parse_on_off("", untouched), "On or Off");
  assert_false(untouched.has_value());
  std::optional<bool> set = true;
  assert_error(sg::parse_on_off("1", set), "On or Off");
  assert_true(set.has_value() && *set);
}

SG_TEST(cookie_names_and_paths) {
  sg::DirConfig c;
  assert_ok(sg::parse_cookie({"PHPSESSID"}, c));
  assert_ok(sg::parse_cookie({"CGISESSID", "/perl"}, c));
  assert_true(c.cookies.has_value());
  assert_int_equal(c.cookies->size(), 2);
  assert_str_eq((*c.cookies)[0].name, "PHPSESSID");
  assert_str_eq((*c.cookies)[0].path, "/");
  assert_str_eq((*c.cookies)[1].name, "CGISESSID");
  assert_str_eq((*c.cookies)[1].path, "/perl");
}

SG_TEST(cookie_errors_leave_config_untouched) {
  sg::DirConfig empty;
  assert_error(sg::parse_cookie({""}, empty), "not a valid cookie name");
  assert_error(sg::parse_cookie({"a b"}, empty), "not a valid cookie name");
  assert_error(sg::parse_cookie({"a=b"}, empty), "not a valid cookie name");
  assert_error(sg::parse_cookie({"a;b"}, empty), "not a valid cookie name");
  assert_error(sg::parse_cookie({"caf\xc3\xa9"}, empty), "not a valid cookie name");
  assert_error(sg::parse_cookie({std::string(65, 'a')}, empty), "not a valid cookie name");
  assert_error(sg::parse_cookie({"PHPSESSID", "php"}, empty), "must start with '/'");
  assert_false(empty.cookies.has_value());
  assert_ok(sg::parse_cookie({std::string(64, 'a')}, empty));

  sg::DirConfig c;
  assert_ok(sg::parse_cookie({"PHPSESSID", "/"}, c));
  assert_error(sg::parse_cookie({"PHPSESSID", "/other"}, c), "named twice");
  // Issue 9 case 11: a "remember me" cookie declared as signed-in-only.
  assert_ok(sg::parse_cookie({"REMEMBERME", "signed-in-only"}, c));
  assert_ok(sg::parse_cookie({"AUTOLOGIN", "/app", "signed-in-only"}, c));
  assert_true(c.cookies->back().signed_in_only);
  assert_str_eq(c.cookies->back().path, "/app");
  assert_false(c.cookies->front().signed_in_only);
  assert_error(sg::parse_cookie({"X", "/", "sometimes"}, c), "expected signed-in-only");
  assert_int_equal(c.cookies->size(), 3);
  assert_str_eq((*c.cookies)[0].path, "/");
}

SG_TEST(request_target_parse) {
  sg::RequestTarget t;
  assert_ok(sg::parse_request_target("/php/login.php", t));
  assert_str_eq(t.path, "/php/login.php");
  assert_int_equal(t.query.size(), 0);
  assert_ok(sg::parse_request_target("/perl/app.cgi?action=login&x=a%20b", t));
  assert_str_eq(t.path, "/perl/app.cgi");
  assert_int_equal(t.query.size(), 2);
  assert_str_eq(t.query[0].first, "action");
  assert_str_eq(t.query[0].second, "login");
  assert_str_eq(t.query[1].second, "a b");
  // A second parse replaces the query, it does not add to it.
  assert_ok(sg::parse_request_target("/other", t));
  assert_int_equal(t.query.size(), 0);
}

SG_TEST(request_target_errors) {
  sg::RequestTarget t;
  t.path = "/before";
  assert_error(sg::parse_request_target("", t), "must start with '/'");
  assert_error(sg::parse_request_target("php/login.php", t), "must start with '/'");
  assert_error(sg::parse_request_target("http://x/login", t), "must start with '/'");
  assert_str_eq(t.path, "/before");
  assert_error(sg::parse_request_target("/app.cgi?", t), "empty query");
}

SG_TEST(request_target_matches_path_exactly) {
  sg::RequestTarget t;
  assert_ok(sg::parse_request_target("/php/login.php", t));
  assert_true(t.matches("/php/login.php", ""));
  assert_true(t.matches("/php/login.php", "next=/php/"));
  // PATH_INFO: PHP and CGI run the script for /login.php/x too (issue 9 case 3).
  assert_true(t.matches("/php/login.php/", ""));
  assert_true(t.matches("/php/login.php/x", ""));
  assert_false(t.matches("/php/login.phpx", ""));
  assert_false(t.matches("/PHP/login.php", ""));
  assert_false(t.matches("/", ""));
}

SG_TEST(request_target_matches_query_requirements) {
  sg::RequestTarget t;
  assert_ok(sg::parse_request_target("/perl/app.cgi?action=login", t));
  assert_true(t.matches("/perl/app.cgi", "action=login"));
  assert_true(t.matches("/perl/app.cgi", "lang=en&action=login"));
  assert_true(t.matches("/perl/app.cgi", "action=log%69n"));
  // CGI.pm splits a query on ';' as well as '&' (issue 9 case 3).
  assert_true(t.matches("/perl/app.cgi", "action=login;x=1"));
  assert_false(t.matches("/perl/app.cgi", ""));
  assert_false(t.matches("/perl/app.cgi", "action=logout"));
  assert_false(t.matches("/perl/app.cgi", "action=login2"));
  assert_false(t.matches("/perl/app.cgi", "xaction=login"));
  assert_false(t.matches("/perl/other.cgi", "action=login"));

  sg::RequestTarget two;
  assert_ok(sg::parse_request_target("/app?a=1&b=2", two));
  assert_true(two.matches("/app", "b=2&a=1"));
  assert_false(two.matches("/app", "a=1"));
  assert_false(two.matches("/app", "b=2"));
}

SG_TEST(login_form_success_rules) {
  sg::DirConfig c;
  assert_ok(sg::parse_login_form("/php/login.php", "username", {}, c));
  assert_ok(sg::parse_login_form("/a", "user", {"redirect"}, c));
  assert_ok(sg::parse_login_form("/b", "user", {"status=200", "body!=Invalid password"}, c));
  assert_ok(sg::parse_login_form("/c?step=2", "login", {"header=X-Login-OK", "form:step=2", "sets-cookie=SID"}, c));
  assert_int_equal(c.login_forms->size(), 4);
  const auto& f = *c.login_forms;
  assert_str_eq(f[0].target.path, "/php/login.php");
  assert_str_eq(f[0].user_field, "username");
  assert_int_equal(f[0].success.size(), 1);
  assert_true(f[0].success[0].kind == sg::ResponseCheck::Kind::redirect_away);
  assert_true(f[1].success[0].kind == sg::ResponseCheck::Kind::redirect_away);
  assert_int_equal(f[2].success.size(), 2);
  assert_true(f[2].success[0].kind == sg::ResponseCheck::Kind::status);
  assert_int_equal(f[2].success[0].status, 200);
  assert_true(f[2].success[1].kind == sg::ResponseCheck::Kind::body_lacks);
  assert_str_eq(f[2].success[1].text, "Invalid password");
  assert_true(f[3].success[0].kind == sg::ResponseCheck::Kind::header);
  assert_str_eq(f[3].success[0].text, "X-Login-OK");
  assert_true(f[3].success[1].kind == sg::ResponseCheck::Kind::sets_cookie);
  assert_int_equal(f[3].form.size(), 1);
  assert_str_eq(f[3].form[0].first, "step");
  assert_str_eq(f[3].target.path, "/c");
  assert_int_equal(f[3].target.query.size(), 1);
}

SG_TEST(login_form_errors_leave_config_untouched) {
  sg::DirConfig c;
  assert_error(sg::parse_login_form("login.php", "username", {}, c), "must start with '/'");
  assert_error(sg::parse_login_form("/login.php", "", {}, c), "field");
  assert_error(sg::parse_login_form("/login.php", "username", {"status=abc"}, c), "bad status");
  assert_error(sg::parse_login_form("/login.php", "username", {"status=99"}, c), "bad status");
  assert_error(sg::parse_login_form("/login.php", "username", {"status=600"}, c), "bad status");
  assert_error(sg::parse_login_form("/login.php", "username", {"status="}, c), "bad status");
  assert_error(sg::parse_login_form("/login.php", "username", {"header="}, c), "expected redirect");
  assert_error(sg::parse_login_form("/login.php", "username", {"cookie=x"}, c), "expected redirect");
  assert_error(sg::parse_login_form("/login.php", "username", {"form:=x"}, c), "form:NAME=VALUE");
  // Issue 9 case 12: failed logins answer 200 too; a 2xx status alone cannot tell them apart.
  assert_error(sg::parse_login_form("/login.php", "username", {"status=200"}, c), "cannot tell a failed login");
  assert_false(c.login_forms.has_value());
}

SG_TEST(logout_paths) {
  sg::DirConfig c;
  assert_ok(sg::parse_logout_path("/php/logout.php", {}, c));
  assert_ok(sg::parse_logout_path("/perl/app.cgi?action=logout", {}, c));
  // Issue 9 case 15: a logout that is a POST form field, confirmed by the cookie it clears.
  assert_ok(sg::parse_logout_path("/app.php", {"form:action=logout", "clears-cookie=SID"}, c));
  assert_int_equal(c.logout_targets->size(), 3);
  assert_true((*c.logout_targets)[1].target.matches("/perl/app.cgi", "action=logout"));
  assert_false((*c.logout_targets)[1].target.matches("/perl/app.cgi", "action=login"));
  assert_true((*c.logout_targets)[0].success.empty());  // default: the session cookie is cleared
  assert_int_equal((*c.logout_targets)[2].form.size(), 1);
  assert_true((*c.logout_targets)[2].success[0].kind == sg::ResponseCheck::Kind::clears_cookie);
  sg::DirConfig bad;
  assert_error(sg::parse_logout_path("logout", {}, bad), "must start with '/'");
  assert_error(sg::parse_logout_path("/x?", {}, bad), "empty query");
  assert_error(sg::parse_logout_path("/x", {"nonsense"}, bad), "expected redirect");
  assert_false(bad.logout_targets.has_value());
}

SG_TEST(deny_action_kinds) {
  std::optional<sg::DenyAction> a;
  assert_ok(sg::parse_deny_action("redirect", "/php/login.php", a));
  assert_true(a->kind == sg::DenyAction::Kind::redirect);
  assert_str_eq(a->url, "/php/login.php");
  assert_ok(sg::parse_deny_action("Redirect", "https://sso.example/login?x=1", a));
  assert_str_eq(a->url, "https://sso.example/login?x=1");
  assert_ok(sg::parse_deny_action("redirect", "http://a/", a));
  assert_ok(sg::parse_deny_action("status", "410", a));
  assert_true(a->kind == sg::DenyAction::Kind::status);
  assert_int_equal(a->status, 410);
  assert_ok(sg::parse_deny_action("STATUS", "599", a));
  assert_int_equal(a->status, 599);
  assert_ok(sg::parse_deny_action("page", "", a));
  assert_true(a->kind == sg::DenyAction::Kind::page);
}

SG_TEST(deny_action_errors_leave_output_untouched) {
  std::optional<sg::DenyAction> a;
  assert_error(sg::parse_deny_action("redirect", "", a), "redirect needs a URL");
  assert_error(sg::parse_deny_action("redirect", "login.php", a), "redirect needs a URL");
  assert_error(sg::parse_deny_action("redirect", "ftp://x/", a), "redirect needs a URL");
  assert_error(sg::parse_deny_action("redirect", "javascript:alert(1)", a), "redirect needs a URL");
  assert_error(sg::parse_deny_action("redirect", "/login\r\nSet-Cookie: x=1", a), "line break");
  assert_error(sg::parse_deny_action("status", "302", a), "4xx or 5xx");
  assert_error(sg::parse_deny_action("status", "200", a), "4xx or 5xx");
  assert_error(sg::parse_deny_action("status", "600", a), "4xx or 5xx");
  assert_error(sg::parse_deny_action("status", "40x", a), "4xx or 5xx");
  assert_error(sg::parse_deny_action("status", "", a), "4xx or 5xx");
  assert_error(sg::parse_deny_action("teapot", "/x", a), "expected 'redirect URL'");
  assert_false(a.has_value());

  std::optional<sg::DenyAction> set;
  assert_ok(sg::parse_deny_action("status", "410", set));
  assert_error(sg::parse_deny_action("status", "999", set), "4xx or 5xx");
  assert_int_equal(set->status, 410);
}

SG_TEST(fail_mode) {
  std::optional<sg::FailMode> m;
  assert_ok(sg::parse_fail_mode("closed", m));
  assert_true(*m == sg::FailMode::closed);
  assert_ok(sg::parse_fail_mode("Open", m));
  assert_true(*m == sg::FailMode::open);
  assert_error(sg::parse_fail_mode("shut", m), "open or closed");
  assert_true(*m == sg::FailMode::open);
  std::optional<sg::FailMode> none;
  assert_error(sg::parse_fail_mode("", none), "open or closed");
  assert_false(none.has_value());
}

SG_TEST(max_sessions_action) {
  std::optional<bool> refuse;
  assert_ok(sg::parse_max_sessions_action("refuse-new", refuse));
  assert_true(refuse.has_value() && *refuse);
  assert_ok(sg::parse_max_sessions_action("Evict-Oldest", refuse));
  assert_true(refuse.has_value() && !*refuse);
  assert_error(sg::parse_max_sessions_action("evict", refuse), "evict-oldest or refuse-new");
  assert_error(sg::parse_max_sessions_action("", refuse), "evict-oldest or refuse-new");
  assert_true(refuse.has_value() && !*refuse);
}

SG_TEST(messages_per_reason) {
  sg::DirConfig c;
  assert_ok(sg::parse_message("killed", "An admin ended this session.", c));
  assert_ok(sg::parse_message("refused", "Too many sessions ({limit}).", c));
  assert_ok(sg::parse_message("unavailable", "Try later.", c));
  assert_str_eq(sg::configured_message(c, sg::Reason::killed), "An admin ended this session.");
  assert_str_eq(sg::configured_message(c, sg::Reason::refused), "Too many sessions ({limit}).");
  // Unconfigured reasons get the built-in text.
  assert_str_eq(sg::configured_message(c, sg::Reason::blocked), sg::default_message(sg::Reason::blocked));
  assert_ok(sg::parse_message("killed", "Replaced.", c));
  assert_str_eq(sg::configured_message(c, sg::Reason::killed), "Replaced.");
  assert_ok(sg::parse_message("expired", std::string(1000, 'x'), c));
}

SG_TEST(message_errors_leave_config_untouched) {
  sg::DirConfig c;
  assert_error(sg::parse_message("logged_out", "Bye", c), "reason must be");
  assert_error(sg::parse_message("none", "x", c), "reason must be");
  assert_error(sg::parse_message("KILLED", "x", c), "reason must be");
  assert_error(sg::parse_message("", "x", c), "reason must be");
  assert_error(sg::parse_message("killed", "", c), "1 to 1000 bytes");
  assert_error(sg::parse_message("killed", std::string(1001, 'x'), c), "1 to 1000 bytes");
  assert_true(c.messages.empty());
  assert_str_eq(sg::configured_message(c, sg::Reason::killed), sg::default_message(sg::Reason::killed));
}

SG_TEST(duration_units) {
  std::optional<sg::Micros> d;
  assert_ok(poll_interval("250", d));
  assert_int_equal(*d, 250 * kMs);
  assert_ok(poll_interval("250ms", d));
  assert_int_equal(*d, 250 * kMs);
  assert_ok(poll_interval("2s", d));
  assert_int_equal(*d, 2 * kS);
  assert_ok(poll_interval("1m", d));
  assert_int_equal(*d, 60 * kS);
  assert_ok(max_stale("90", d));
  assert_int_equal(*d, 90 * kS);
  assert_ok(max_stale("5m", d));
  assert_int_equal(*d, 300 * kS);
  assert_ok(max_stale("2h", d));
  assert_int_equal(*d, 7200 * kS);
  assert_ok(max_stale("168h", d));  // the upper bound is inclusive
  assert_int_equal(*d, 168 * 3600 * kS);
}

SG_TEST(duration_errors_leave_output_untouched) {
  std::optional<sg::Micros> d = 123;
  assert_error(poll_interval("", d), "expected a duration");
  assert_error(poll_interval("fast", d), "expected a duration");
  assert_error(poll_interval("-5", d), "expected a duration");
  assert_error(poll_interval(" 5", d), "expected a duration");
  assert_error(poll_interval("1234567890123", d), "expected a duration");
  assert_error(poll_interval("5 s", d), "unknown unit");
  assert_error(poll_interval("5sec", d), "unknown unit");
  assert_error(poll_interval("5d", d), "unknown unit");
  assert_error(poll_interval("5", d), "out of range");    // 5 ms < 10 ms
  assert_error(poll_interval("61s", d), "out of range");  // > 60 s
  assert_error(poll_interval("2m", d), "out of range");
  assert_error(max_stale("0", d), "out of range");
  assert_error(max_stale("169h", d), "out of range");
  assert_int_equal(*d, 123);
}

SG_TEST(duration_huge_values_are_rejected_not_wrapped) {
  // 12 digits are accepted before the unit; with "m" or "h" the product overflows 64 bits,
  // so the range check must happen before the multiplication.
  std::optional<sg::Micros> d;
  assert_error(max_stale("999999999999h", d), "out of range");
  assert_error(max_stale("999999999999m", d), "out of range");
  assert_false(d.has_value());
  // Inputs whose product wraps to a value inside MaxStale's range (1 s .. 7 days) are the
  // dangerous ones: 5124095577 h * 3.6e9 us wraps to 3490448384 us (58 minutes), and
  // 307445734562 m * 6e7 us wraps to 10448384 us (10 seconds).
  assert_error(max_stale("5124095577h", d), "out of range");
  assert_error(max_stale("307445734562m", d), "out of range");
  assert_false(d.has_value());
}

SG_TEST(revocation_retention_parser) {
  std::optional<sg::Micros> d;
  assert_ok(sg::parse_revocation_retention("168h", d));
  assert_int_equal(*d, 168 * 3600 * kS);
  assert_ok(sg::parse_revocation_retention("3600", d));  // a bare number is seconds
  assert_int_equal(*d, 3600 * kS);
  assert_ok(sg::parse_revocation_retention("8784h", d));  // 366 days, inclusive
  assert_int_equal(*d, 8784 * 3600 * kS);
  std::optional<sg::Micros> keep = 123;
  // Shorter than any app's session would forget revocations of cookies that still work.
  assert_error(sg::parse_revocation_retention("59m", keep), "out of range");
  assert_error(sg::parse_revocation_retention("8785h", keep), "out of range");
  assert_error(sg::parse_revocation_retention("7d", keep), "unknown unit");
  assert_error(sg::parse_revocation_retention("", keep), "expected a duration");
  assert_error(sg::parse_revocation_retention("999999999999h", keep), "out of range");
  assert_int_equal(*keep, 123);
}

SG_TEST(count_parser) {
  std::optional<std::uint32_t> n;
  assert_ok(sg::parse_count("1000", 1000, 10000000, n));
  assert_int_equal(*n, 1000);
  assert_ok(sg::parse_count("10000000", 1000, 10000000, n));
  assert_int_equal(*n, 10000000);
  assert_ok(sg::parse_count("4294967295", 0, std::numeric_limits<std::uint32_t>::max(), n));
  assert_int_equal(*n, 4294967295u);
  std::optional<std::uint32_t> keep = 7;
  assert_error(sg::parse_count("999", 1000, 10000000, keep), "expected a whole number from 1000 to 10000000, got 999");
  assert_error(sg::parse_count("10000001", 1000, 10000000, keep), "from 1000 to 10000000");
  assert_error(sg::parse_count("4294967296", 0, std::numeric_limits<std::uint32_t>::max(), keep), "got 4294967296");
  assert_error(sg::parse_count("99999999999", 0, 100, keep), "expected a whole number from 0 to 100");
  assert_error(sg::parse_count("", 0, 100, keep), "expected a whole number from 0 to 100");
  assert_error(sg::parse_count("12a", 0, 100, keep), "expected a whole number from 0 to 100");
  assert_error(sg::parse_count("-1", 0, 100, keep), "expected a whole number from 0 to 100");
  assert_error(sg::parse_count("+1", 0, 100, keep), "expected a whole number from 0 to 100");
  assert_int_equal(*keep, 7);
}

// --- merging: one check per member, so a member forgotten in merge() fails ---------------------

namespace {
sg::DirConfig full_dir(const char* tag) {
  sg::DirConfig c;
  c.enabled = tag[0] == 'c';  // child: true, parent: false
  c.cookies = std::vector<sg::CookieSpec>{sg::CookieSpec{std::string(tag) + "_COOKIE", "/"}};
  c.login_forms = std::vector<sg::LoginForm>{form("/login", tag)};
  c.user_header = std::string("X-User-") + tag;
  sg::LogoutRule logout;
  logout.target.path = std::string("/logout-") + tag;
  c.logout_targets = std::vector<sg::LogoutRule>{logout};
  sg::DenyAction action;
  action.kind = sg::DenyAction::Kind::redirect;
  action.url = std::string("/denied-") + tag;
  c.deny_action = action;
  const bool child = tag[0] == 'c';
  c.max_sessions = child ? 2u : 5u;
  c.refuse_new = child;
  c.idle_timeout = (child ? 10 : 20) * 60 * kS;
  c.max_lifetime = (child ? 8 : 12) * 3600 * kS;
  c.app_env = !child;
  c.cas_tickets = child;
  c.messages[sg::Reason::killed] = std::string("killed-") + tag;
  return c;
}
}  // namespace

SG_TEST(dir_merge_enabled) {
  auto parent = full_dir("parent"), child = full_dir("child");
  assert_true(sg::merge(parent, child).enabled == std::optional<bool>(true));
  child.enabled.reset();
  assert_true(sg::merge(parent, child).enabled == std::optional<bool>(false));
  // "SessionGuard Off" in a child must win over a parent's On.
  parent.enabled = true;
  child.enabled = false;
  assert_true(sg::merge(parent, child).enabled == std::optional<bool>(false));
  assert_false(sg::merge(sg::DirConfig{}, sg::DirConfig{}).enabled.has_value());
}

SG_TEST(dir_merge_cookies) {
  auto parent = full_dir("parent"), child = full_dir("child");
  assert_str_eq(sg::merge(parent, child).cookies->at(0).name, "child_COOKIE");
  child.cookies.reset();
  assert_str_eq(sg::merge(parent, child).cookies->at(0).name, "parent_COOKIE");
}

SG_TEST(dir_merge_login_forms) {
  auto parent = full_dir("parent"), child = full_dir("child");
  assert_str_eq(sg::merge(parent, child).login_forms->at(0).user_field, "child");
  child.login_forms.reset();
  assert_str_eq(sg::merge(parent, child).login_forms->at(0).user_field, "parent");
}

SG_TEST(dir_merge_user_header) {
  auto parent = full_dir("parent"), child = full_dir("child");
  assert_str_eq(*sg::merge(parent, child).user_header, "X-User-child");
  child.user_header.reset();
  assert_str_eq(*sg::merge(parent, child).user_header, "X-User-parent");
}

SG_TEST(dir_merge_logout_targets) {
  auto parent = full_dir("parent"), child = full_dir("child");
  assert_str_eq(sg::merge(parent, child).logout_targets->at(0).target.path, "/logout-child");
  child.logout_targets.reset();
  assert_str_eq(sg::merge(parent, child).logout_targets->at(0).target.path, "/logout-parent");
}

SG_TEST(dir_merge_deny_action) {
  auto parent = full_dir("parent"), child = full_dir("child");
  assert_str_eq(sg::merge(parent, child).deny_action->url, "/denied-child");
  child.deny_action.reset();
  assert_str_eq(sg::merge(parent, child).deny_action->url, "/denied-parent");
}

SG_TEST(dir_merge_max_sessions) {
  auto parent = full_dir("parent"), child = full_dir("child");
  assert_int_equal(*sg::merge(parent, child).max_sessions, 2);
  child.max_sessions.reset();
  assert_int_equal(*sg::merge(parent, child).max_sessions, 5);
  child.max_sessions = 0u;  // "no limit" set in a child overrides a parent's limit
  assert_int_equal(*sg::merge(parent, child).max_sessions, 0);
}

SG_TEST(dir_merge_refuse_new) {
  auto parent = full_dir("parent"), child = full_dir("child");
  assert_true(sg::merge(parent, child).refuse_new == std::optional<bool>(true));
  child.refuse_new.reset();
  assert_true(sg::merge(parent, child).refuse_new == std::optional<bool>(false));
}

SG_TEST(dir_merge_idle_timeout) {
  auto parent = full_dir("parent"), child = full_dir("child");
  assert_int_equal(*sg::merge(parent, child).idle_timeout, 600 * kS);
  child.idle_timeout.reset();
  assert_int_equal(*sg::merge(parent, child).idle_timeout, 1200 * kS);
}

SG_TEST(dir_merge_max_lifetime) {
  auto parent = full_dir("parent"), child = full_dir("child");
  assert_int_equal(*sg::merge(parent, child).max_lifetime, 8 * 3600 * kS);
  child.max_lifetime.reset();
  assert_int_equal(*sg::merge(parent, child).max_lifetime, 12 * 3600 * kS);
}

SG_TEST(dir_merge_cas_tickets) {
  auto parent = full_dir("parent"), child = full_dir("child");
  assert_true(sg::merge(parent, child).cas_tickets == std::optional<bool>(true));
  child.cas_tickets.reset();
  assert_true(sg::merge(parent, child).cas_tickets == std::optional<bool>(false));
  assert_false(sg::merge(sg::DirConfig{}, sg::DirConfig{}).cas_tickets.has_value());
}

SG_TEST(dir_merge_app_env) {
  auto parent = full_dir("parent"), child = full_dir("child");
  assert_true(sg::merge(parent, child).app_env == std::optional<bool>(false));
  child.app_env.reset();
  assert_true(sg::merge(parent, child).app_env == std::optional<bool>(true));
  assert_false(sg::merge(sg::DirConfig{}, sg::DirConfig{}).app_env.has_value());
}

SG_TEST(dir_merge_messages_per_reason) {
  auto parent = full_dir("parent"), child = full_dir("child");
  parent.messages[sg::Reason::blocked] = "blocked-parent";
  auto merged = sg::merge(parent, child);
  assert_str_eq(sg::configured_message(merged, sg::Reason::killed), "killed-child");     // child overrides
  assert_str_eq(sg::configured_message(merged, sg::Reason::blocked), "blocked-parent");  // parent's other reasons stay
  assert_str_eq(sg::configured_message(merged, sg::Reason::expired), sg::default_message(sg::Reason::expired));
  child.messages.clear();
  assert_str_eq(sg::configured_message(sg::merge(parent, child), sg::Reason::killed), "killed-parent");
}

SG_TEST(dir_merge_empty_child_inherits_everything) {
  auto parent = full_dir("parent");
  auto merged = sg::merge(parent, sg::DirConfig{});
  assert_true(merged.enabled == parent.enabled);
  assert_true(merged.cookies.has_value() && merged.user_header.has_value() && merged.login_forms.has_value() &&
              merged.logout_targets.has_value() && merged.deny_action.has_value() &&
              merged.max_sessions.has_value() && merged.refuse_new.has_value() && merged.idle_timeout.has_value() &&
              merged.max_lifetime.has_value());
  assert_int_equal(merged.messages.size(), parent.messages.size());
  auto nothing = sg::merge(sg::DirConfig{}, sg::DirConfig{});
  assert_false(nothing.cookies.has_value() || nothing.user_header.has_value() || nothing.login_forms.has_value() ||
               nothing.logout_targets.has_value() || nothing.deny_action.has_value() ||
               nothing.max_sessions.has_value() || nothing.refuse_new.has_value() ||
               nothing.idle_timeout.has_value() || nothing.max_lifetime.has_value());
  assert_true(nothing.messages.empty());
}

namespace {
sg::ServerConfig full_server(int n) {
  sg::ServerConfig c;
  c.db_options_file = "/etc/sg/" + std::to_string(n) + ".cnf";
  c.db_options_group = "group" + std::to_string(n);
  c.poll_interval = n * 1000;
  c.fail_mode = n % 2 == 0 ? sg::FailMode::closed : sg::FailMode::open;
  c.max_stale = n * kS;
  c.deny_capacity = static_cast<std::uint32_t>(n * 1000);
  c.revocation_retention = n * 3600 * kS;
  c.state_file = "/run/sg/" + std::to_string(n) + ".state";
  c.journal_file = "/run/sg/" + std::to_string(n) + ".journal";
  c.journal_max_bytes = static_cast<std::uint64_t>(n) << 20;
  c.admit_when_unreachable = n % 2 == 1;
  return c;
}
}  // namespace

SG_TEST(server_merge_db_options_file) {
  auto base = full_server(1), vhost = full_server(2);
  assert_str_eq(*sg::merge(base, vhost).db_options_file, "/etc/sg/2.cnf");
  vhost.db_options_file.reset();
  assert_str_eq(*sg::merge(base, vhost).db_options_file, "/etc/sg/1.cnf");
}

SG_TEST(server_merge_db_options_group) {
  auto base = full_server(1), vhost = full_server(2);
  assert_str_eq(*sg::merge(base, vhost).db_options_group, "group2");
  vhost.db_options_group.reset();
  assert_str_eq(*sg::merge(base, vhost).db_options_group, "group1");
}

SG_TEST(server_merge_poll_interval) {
  auto base = full_server(1), vhost = full_server(2);
  assert_int_equal(*sg::merge(base, vhost).poll_interval, 2000);
  vhost.poll_interval.reset();
  assert_int_equal(*sg::merge(base, vhost).poll_interval, 1000);
}

SG_TEST(server_merge_fail_mode) {
  auto base = full_server(1), vhost = full_server(2);
  assert_true(*sg::merge(base, vhost).fail_mode == sg::FailMode::closed);
  vhost.fail_mode.reset();
  assert_true(*sg::merge(base, vhost).fail_mode == sg::FailMode::open);
}

SG_TEST(server_merge_max_stale) {
  auto base = full_server(1), vhost = full_server(2);
  assert_int_equal(*sg::merge(base, vhost).max_stale, 2 * kS);
  vhost.max_stale.reset();
  assert_int_equal(*sg::merge(base, vhost).max_stale, 1 * kS);
}

SG_TEST(server_merge_deny_capacity) {
  auto base = full_server(1), vhost = full_server(2);
  assert_int_equal(*sg::merge(base, vhost).deny_capacity, 2000);
  vhost.deny_capacity.reset();
  assert_int_equal(*sg::merge(base, vhost).deny_capacity, 1000);
}

SG_TEST(server_merge_revocation_retention) {
  auto base = full_server(1), vhost = full_server(2);
  assert_int_equal(*sg::merge(base, vhost).revocation_retention, 2 * 3600 * kS);
  vhost.revocation_retention.reset();
  assert_int_equal(*sg::merge(base, vhost).revocation_retention, 1 * 3600 * kS);
}

SG_TEST(server_merge_state_file) {
  auto base = full_server(1), vhost = full_server(2);
  assert_str_eq(*sg::merge(base, vhost).state_file, "/run/sg/2.state");
  vhost.state_file.reset();
  assert_str_eq(*sg::merge(base, vhost).state_file, "/run/sg/1.state");
}

SG_TEST(server_merge_journal_file) {
  auto base = full_server(1), vhost = full_server(2);
  assert_str_eq(*sg::merge(base, vhost).journal_file, "/run/sg/2.journal");
  vhost.journal_file.reset();
  assert_str_eq(*sg::merge(base, vhost).journal_file, "/run/sg/1.journal");
}

SG_TEST(server_merge_journal_max_bytes) {
  auto base = full_server(1), vhost = full_server(2);
  assert_int_equal(*sg::merge(base, vhost).journal_max_bytes, 2 << 20);
  vhost.journal_max_bytes.reset();
  assert_int_equal(*sg::merge(base, vhost).journal_max_bytes, 1 << 20);
}

SG_TEST(server_merge_admit_when_unreachable) {
  auto base = full_server(1), vhost = full_server(2);
  assert_false(*sg::merge(base, vhost).admit_when_unreachable);
  vhost.admit_when_unreachable.reset();
  assert_true(*sg::merge(base, vhost).admit_when_unreachable);
}

SG_TEST(journal_parser) {
  sg::ServerConfig c;
  assert_ok(sg::parse_journal({"/var/lib/sg/journal"}, c));
  assert_str_eq(*c.journal_file, "/var/lib/sg/journal");
  assert_false(c.journal_max_bytes.has_value());
  assert_int_equal(c.journal_max_bytes_or_default(), 16 << 20);
  assert_ok(sg::parse_journal({"none"}, c));
  assert_str_eq(*c.journal_file, "none");
  assert_ok(sg::parse_journal({"j", "64K"}, c));
  assert_int_equal(*c.journal_max_bytes, 64 << 10);
  assert_ok(sg::parse_journal({"j", "2m"}, c));
  assert_int_equal(*c.journal_max_bytes, 2 << 20);
  assert_ok(sg::parse_journal({"j", "1G"}, c));
  assert_int_equal(*c.journal_max_bytes, 1 << 30);
  assert_ok(sg::parse_journal({"j", "1048576"}, c));
  assert_int_equal(*c.journal_max_bytes, 1 << 20);
  assert_error(sg::parse_journal({}, c), "PATH|none [MAXBYTES]");
  assert_error(sg::parse_journal({"a", "1M", "x"}, c), "PATH|none [MAXBYTES]");
  assert_error(sg::parse_journal({"j", "63K"}, c), "outside 64K to 1G");
  assert_error(sg::parse_journal({"j", "2G"}, c), "outside 64K to 1G");
  assert_error(sg::parse_journal({"j", "99999999999G"}, c), "64K to 1G");
  assert_error(sg::parse_journal({"j", "16MB"}, c), "size like 16M");
  assert_error(sg::parse_journal({"j", "M"}, c), "size like 16M");
  assert_error(sg::parse_journal({"j", "-1"}, c), "size like 16M");
  assert_int_equal(*c.journal_max_bytes, 1 << 20);  // a refused value changes nothing
}

SG_TEST(login_when_unreachable_parser) {
  std::optional<bool> admit;
  sg::ServerConfig c;
  assert_true(c.admit_when_unreachable_or_default());
  assert_ok(sg::parse_login_when_unreachable("refuse", admit));
  assert_false(*admit);
  assert_ok(sg::parse_login_when_unreachable("Admit", admit));
  assert_true(*admit);
  assert_error(sg::parse_login_when_unreachable("allow", admit), "expected admit or refuse, got 'allow'");
  assert_true(*admit);
}

SG_TEST(server_defaults) {
  sg::ServerConfig c;
  assert_str_eq(c.db_group(), "session_guard");
  assert_int_equal(c.poll_interval_or_default(), 250 * kMs);
  assert_true(c.fail_mode_or_default() == sg::FailMode::open);
  assert_int_equal(c.max_stale_or_default(), 60 * kS);
  assert_int_equal(c.deny_capacity_or_default(), 100000);
  assert_int_equal(c.revocation_retention_or_default(), 7 * 24 * 3600 * kS);
  assert_false(c.db_options_file.has_value());

  auto set = full_server(2);
  assert_str_eq(set.db_group(), "group2");
  assert_int_equal(set.poll_interval_or_default(), 2000);
  assert_true(set.fail_mode_or_default() == sg::FailMode::closed);
  assert_int_equal(set.max_stale_or_default(), 2 * kS);
  assert_int_equal(set.deny_capacity_or_default(), 2000);
  assert_int_equal(set.revocation_retention_or_default(), 2 * 3600 * kS);
}

SG_TEST(every_member_has_a_merge_test) {
  // The merge tests above name every member. A member added later must be merged and tested
  // too: when this size changes, add a dir_merge_/server_merge_ test for the new member, check
  // merge() handles it, then update the size here (x86-64, libstdc++).
  if (sizeof(sg::DirConfig) != 304) {
    fail_msg("sg::DirConfig is now %zu bytes (was 304): a member was added or changed; test its merge",
             sizeof(sg::DirConfig));
  }
  if (sizeof(sg::ServerConfig) != 248) {
    fail_msg("sg::ServerConfig is now %zu bytes (was 248): a member was added or changed; test its merge",
             sizeof(sg::ServerConfig));
  }
}

SG_TEST(dir_defaults_are_unset) {
  sg::DirConfig c;
  assert_false(c.enabled.has_value());
  assert_false(c.cookies.has_value());
  assert_false(c.login_forms.has_value());
  assert_false(c.user_header.has_value());
  assert_false(c.logout_targets.has_value());
  assert_false(c.deny_action.has_value());
  assert_false(c.max_sessions.has_value());
  assert_false(c.refuse_new.has_value());
  assert_false(c.idle_timeout.has_value());
  assert_false(c.max_lifetime.has_value());
  assert_false(c.app_env.has_value());  // unset means Off: the glue reads value_or(false)
  assert_true(c.messages.empty());
  sg::DenyAction a;
  assert_true(a.kind == sg::DenyAction::Kind::page);
  sg::CookieSpec spec;
  assert_str_eq(spec.path, "/");
}

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(on_off),
      cmocka_unit_test(cookie_names_and_paths),
      cmocka_unit_test(cookie_errors_leave_config_untouched),
      cmocka_unit_test(request_target_parse),
      cmocka_unit_test(request_target_errors),
      cmocka_unit_test(request_target_matches_path_exactly),
      cmocka_unit_test(request_target_matches_query_requirements),
      cmocka_unit_test(login_form_success_rules),
      cmocka_unit_test(login_form_errors_leave_config_untouched),
      cmocka_unit_test(logout_paths),
      cmocka_unit_test(deny_action_kinds),
      cmocka_unit_test(deny_action_errors_leave_output_untouched),
      cmocka_unit_test(fail_mode),
      cmocka_unit_test(max_sessions_action),
      cmocka_unit_test(messages_per_reason),
      cmocka_unit_test(message_errors_leave_config_untouched),
      cmocka_unit_test(duration_units),
      cmocka_unit_test(duration_errors_leave_output_untouched),
      cmocka_unit_test(duration_huge_values_are_rejected_not_wrapped),
      cmocka_unit_test(revocation_retention_parser),
      cmocka_unit_test(count_parser),
      cmocka_unit_test(dir_merge_enabled),
      cmocka_unit_test(dir_merge_cookies),
      cmocka_unit_test(dir_merge_login_forms),
      cmocka_unit_test(dir_merge_user_header),
      cmocka_unit_test(dir_merge_logout_targets),
      cmocka_unit_test(dir_merge_deny_action),
      cmocka_unit_test(dir_merge_max_sessions),
      cmocka_unit_test(dir_merge_refuse_new),
      cmocka_unit_test(dir_merge_idle_timeout),
      cmocka_unit_test(dir_merge_max_lifetime),
      cmocka_unit_test(dir_merge_app_env),
      cmocka_unit_test(dir_merge_cas_tickets),
      cmocka_unit_test(dir_merge_messages_per_reason),
      cmocka_unit_test(dir_merge_empty_child_inherits_everything),
      cmocka_unit_test(server_merge_db_options_file),
      cmocka_unit_test(server_merge_db_options_group),
      cmocka_unit_test(server_merge_poll_interval),
      cmocka_unit_test(server_merge_fail_mode),
      cmocka_unit_test(server_merge_max_stale),
      cmocka_unit_test(server_merge_deny_capacity),
      cmocka_unit_test(server_merge_revocation_retention),
      cmocka_unit_test(server_merge_state_file),
      cmocka_unit_test(server_merge_journal_file),
      cmocka_unit_test(server_merge_journal_max_bytes),
      cmocka_unit_test(server_merge_admit_when_unreachable),
      cmocka_unit_test(journal_parser),
      cmocka_unit_test(login_when_unreachable_parser),
      cmocka_unit_test(server_defaults),
      cmocka_unit_test(every_member_has_a_merge_test),
      cmocka_unit_test(dir_defaults_are_unset),
  };
  return cmocka_run_group_tests_name("config", tests, nullptr, nullptr);
}
