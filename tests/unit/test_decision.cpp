// The decision table for one request, and what a denied request gets back.
#include "unit.hpp"

#include <string>

#include "sg/config.hpp"
#include "sg/decision.hpp"
#include "sg/denial.hpp"
#include "sg/text.hpp"

#define assert_ok_parse(expr) assert_false((expr).has_value())

namespace {
constexpr sg::Micros kSecond = sg::kMicrosPerSecond;
constexpr sg::Micros kMaxStale = 60 * kSecond;
constexpr sg::Micros kNow = 1700000000LL * kSecond;

sg::RequestFacts fresh() {
  sg::RequestFacts f;
  f.now = kNow;
  f.started_at = kNow - 3600 * kSecond;
  f.last_refresh = kNow - kSecond;  // refreshed a second ago
  return f;
}

sg::RequestFacts stale() {
  sg::RequestFacts f = fresh();
  f.last_refresh = kNow - kMaxStale - 1;
  return f;
}

sg::DenyAction action(sg::DenyAction::Kind kind, int status = 403, std::string url = {}) {
  sg::DenyAction a;
  a.kind = kind;
  a.status = status;
  a.url = std::move(url);
  return a;
}
}  // namespace

// --- sg::decide -------------------------------------------------------------------------------

SG_TEST(nothing_known_fresh_list_allows) {
  for (auto mode : {sg::FailMode::open, sg::FailMode::closed}) {
    auto v = sg::decide(fresh(), mode, kMaxStale);
    assert_true(v.allow);
    assert_reason(v.reason, sg::Reason::none);
    assert_false(v.stale);
  }
}

SG_TEST(revoked_session_denied_with_its_reason) {
  for (sg::Reason r : {sg::Reason::killed, sg::Reason::blocked, sg::Reason::superseded, sg::Reason::expired,
                       sg::Reason::logged_out, sg::Reason::refused}) {
    auto facts = fresh();
    facts.session_revoked = r;
    for (auto mode : {sg::FailMode::open, sg::FailMode::closed}) {
      auto v = sg::decide(facts, mode, kMaxStale);
      assert_false(v.allow);
      assert_reason(v.reason, r);
      assert_false(v.stale);
    }
  }
}

SG_TEST(blocked_user_denied_as_blocked) {
  auto facts = fresh();
  facts.user_blocked = true;
  for (auto mode : {sg::FailMode::open, sg::FailMode::closed}) {
    auto v = sg::decide(facts, mode, kMaxStale);
    assert_false(v.allow);
    assert_reason(v.reason, sg::Reason::blocked);
  }
}

SG_TEST(revoked_session_of_blocked_user_keeps_session_reason) {
  auto facts = fresh();
  facts.user_blocked = true;
  facts.session_revoked = sg::Reason::killed;
  auto v = sg::decide(facts, sg::FailMode::open, kMaxStale);
  assert_false(v.allow);
  assert_reason(v.reason, sg::Reason::killed);
  facts.session_revoked = sg::Reason::superseded;
  v = sg::decide(facts, sg::FailMode::closed, kMaxStale);
  assert_false(v.allow);
  assert_reason(v.reason, sg::Reason::superseded);
}

SG_TEST(stale_list_open_mode_allows_but_reports_stale) {
  auto v = sg::decide(stale(), sg::FailMode::open, kMaxStale);
  assert_true(v.allow);
  assert_reason(v.reason, sg::Reason::none);
  assert_true(v.stale);
}

SG_TEST(stale_list_closed_mode_denies_unavailable) {
  auto v = sg::decide(stale(), sg::FailMode::closed, kMaxStale);
  assert_false(v.allow);
  assert_reason(v.reason, sg::Reason::unavailable);
  assert_true(v.stale);
}

SG_TEST(staleness_boundary_is_max_stale) {
  auto facts = fresh();
  facts.last_refresh = kNow - kMaxStale;  // exactly max_stale old: still acceptable
  auto v = sg::decide(facts, sg::FailMode::closed, kMaxStale);
  assert_true(v.allow);
  assert_false(v.stale);
  facts.last_refresh = kNow - kMaxStale - 1;
  v = sg::decide(facts, sg::FailMode::closed, kMaxStale);
  assert_false(v.allow);
  assert_true(v.stale);
}

SG_TEST(stale_but_revoked_keeps_the_revocation_reason) {
  for (auto mode : {sg::FailMode::open, sg::FailMode::closed}) {
    auto facts = stale();
    facts.session_revoked = sg::Reason::killed;
    auto v = sg::decide(facts, mode, kMaxStale);
    assert_false(v.allow);
    assert_reason(v.reason, sg::Reason::killed);
    assert_true(v.stale);

    facts = stale();
    facts.user_blocked = true;
    v = sg::decide(facts, mode, kMaxStale);
    assert_false(v.allow);
    assert_reason(v.reason, sg::Reason::blocked);
    assert_true(v.stale);
  }
}

SG_TEST(never_refreshed_measures_from_started_at) {
  sg::RequestFacts facts;
  facts.now = kNow;
  facts.last_refresh = 0;
  facts.started_at = kNow - 10 * kSecond;  // just started: within max_stale
  auto v = sg::decide(facts, sg::FailMode::closed, kMaxStale);
  assert_true(v.allow);
  assert_false(v.stale);

  facts.started_at = kNow - kMaxStale - kSecond;  // waiting for the DB longer than max_stale
  v = sg::decide(facts, sg::FailMode::closed, kMaxStale);
  assert_false(v.allow);
  assert_reason(v.reason, sg::Reason::unavailable);
  assert_true(v.stale);
  v = sg::decide(facts, sg::FailMode::open, kMaxStale);
  assert_true(v.allow);
  assert_true(v.stale);
}

SG_TEST(refresh_newer_than_start_wins) {
  // An old start time does not make a freshly refreshed list stale.
  sg::RequestFacts facts;
  facts.now = kNow;
  facts.started_at = kNow - 24 * 3600 * kSecond;
  facts.last_refresh = kNow - 5 * kSecond;
  auto v = sg::decide(facts, sg::FailMode::closed, kMaxStale);
  assert_true(v.allow);
  assert_false(v.stale);
}

// --- denial helpers ---------------------------------------------------------------------------

SG_TEST(denial_status_json_is_401) {
  for (auto kind : {sg::DenyAction::Kind::page, sg::DenyAction::Kind::redirect, sg::DenyAction::Kind::status}) {
    assert_int_equal(sg::denial_status(action(kind, 410, "/login"), sg::Reason::killed, true, false), 401);
    assert_int_equal(sg::denial_status(action(kind, 410, "/login"), sg::Reason::blocked, true, true), 401);
  }
}

SG_TEST(denial_status_unavailable_is_503) {
  for (auto kind : {sg::DenyAction::Kind::page, sg::DenyAction::Kind::redirect, sg::DenyAction::Kind::status}) {
    for (bool json : {false, true}) {
      for (bool server_auth : {false, true}) {
        assert_int_equal(sg::denial_status(action(kind, 410, "/login"), sg::Reason::unavailable, json, server_auth),
                         503);
      }
    }
  }
}

SG_TEST(denial_status_server_auth_is_403) {
  // A redirect would loop: the browser resends Basic credentials on its own.
  assert_int_equal(sg::denial_status(action(sg::DenyAction::Kind::redirect, 403, "/login"), sg::Reason::blocked,
                                     false, true),
                   403);
  assert_int_equal(sg::denial_status(action(sg::DenyAction::Kind::page), sg::Reason::blocked, false, true), 403);
  assert_int_equal(sg::denial_status(action(sg::DenyAction::Kind::status, 410), sg::Reason::killed, false, true), 403);
}

SG_TEST(only_cookie_session_single_sign_on_follows_a_redirect) {
  for (const char* resent : {"Basic", "basic", "Digest", "Negotiate", "Kerberos", "SSL", "", "openid"}) {
    assert_true(sg::credentials_resent_by_browser(resent));
  }
  for (const char* cookie : {"openid-connect", "OpenID-Connect", "oauth20", "CAS", "Mellon", "shibboleth"}) {
    assert_false(sg::credentials_resent_by_browser(cookie));
  }
}

SG_TEST(denial_status_follows_action) {
  assert_int_equal(sg::denial_status(action(sg::DenyAction::Kind::redirect, 403, "/login"), sg::Reason::killed,
                                     false, false),
                   302);
  assert_int_equal(sg::denial_status(action(sg::DenyAction::Kind::status, 410), sg::Reason::killed, false, false),
                   410);
  assert_int_equal(sg::denial_status(action(sg::DenyAction::Kind::status, 451), sg::Reason::blocked, false, false),
                   451);
  assert_int_equal(sg::denial_status(action(sg::DenyAction::Kind::page), sg::Reason::expired, false, false), 403);
}

SG_TEST(wants_json_accept_variants) {
  assert_true(sg::wants_json("application/json", ""));
  assert_true(sg::wants_json("Application/JSON; charset=utf-8", ""));
  assert_true(sg::wants_json("application/json, text/plain, */*", ""));  // axios' default
  assert_true(sg::wants_json("application/json, text/html;q=0.9", ""));
  assert_false(sg::wants_json("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", ""));
  assert_false(sg::wants_json("text/html, application/json", ""));
  assert_false(sg::wants_json("*/*", ""));
  assert_false(sg::wants_json("", ""));
}

SG_TEST(wants_json_xhr) {
  assert_true(sg::wants_json("", "XMLHttpRequest"));
  assert_true(sg::wants_json("text/html", "xmlhttprequest"));
  assert_false(sg::wants_json("text/html", "fetch"));
  assert_false(sg::wants_json("text/html", "XMLHttpRequestX"));
}

SG_TEST(redirect_url_appends_with_question_mark_or_ampersand) {
  std::string plain = sg::denial_redirect_url("/php/login.php", sg::Reason::killed, "bye");
  assert_str_eq(plain, "/php/login.php?reason=killed&message=bye");
  std::string with_query = sg::denial_redirect_url("/perl/app.cgi?action=login", sg::Reason::blocked, "x");
  assert_str_eq(with_query, "/perl/app.cgi?action=login&reason=blocked&message=x");
  std::string absolute = sg::denial_redirect_url("https://sso.example/login", sg::Reason::superseded, "m");
  assert_str_eq(absolute, "https://sso.example/login?reason=superseded&message=m");
}

SG_TEST(redirect_url_with_fragment_puts_reason_in_the_query) {
  // SessionGuardDenyAction accepts "redirect /login#form"; the reason must reach the server,
  // so it belongs before the fragment, not inside it.
  assert_str_eq(sg::denial_redirect_url("/login#form", sg::Reason::killed, "m"), "/login?reason=killed&message=m#form");
  assert_str_eq(sg::denial_redirect_url("/app.cgi?action=login#f", sg::Reason::blocked, "m"),
                "/app.cgi?action=login&reason=blocked&message=m#f");
}

SG_TEST(redirect_url_carries_reason_and_encoded_message) {
  std::string message(sg::default_message(sg::Reason::expired));
  std::string url = sg::denial_redirect_url("/login", sg::Reason::expired, message);
  assert_contains(url, "reason=expired");
  std::size_t at = url.find("&message=");
  assert_true(at != std::string::npos);
  std::string encoded = url.substr(at + 9);
  assert_not_contains(encoded, " ");
  assert_not_contains(encoded, "&");
  assert_str_eq(sg::url_decode(encoded), message);

  std::string hostile = sg::denial_redirect_url("/login", sg::Reason::killed, "a&b=c#d\r\nSet-Cookie: x=1 <é>");
  std::string tail = hostile.substr(hostile.find("&message=") + 9);
  for (char c : std::string("&=#\r\n <>")) assert_true(tail.find(c) == std::string::npos);
  assert_str_eq(sg::url_decode(tail), "a&b=c#d\r\nSet-Cookie: x=1 <é>");
}

SG_TEST(default_messages_are_specific) {
  assert_contains(sg::default_message(sg::Reason::killed), "administrator");
  assert_contains(sg::default_message(sg::Reason::blocked), "blocked");
  assert_contains(sg::default_message(sg::Reason::superseded), "Another session");
  assert_contains(sg::default_message(sg::Reason::expired), "expired");
  assert_true(sg::default_message(sg::Reason::killed) != sg::default_message(sg::Reason::blocked));
  assert_true(sg::default_message(sg::Reason::killed) != sg::default_message(sg::Reason::none));
}

SG_TEST(denial_page_escapes_hostile_message_and_login_url) {
  std::string page = sg::denial_page(sg::Reason::killed, "<script>alert('x')</script> & \"quotes\"",
                                     "/login?a=1&b=\"><script>evil()</script>");
  assert_not_contains(page, "<script>");
  assert_contains(page, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;quotes&quot;");
  assert_contains(page, "href=\"/login?a=1&amp;b=&quot;&gt;&lt;script&gt;evil()&lt;/script&gt;\"");
  assert_contains(page, "data-reason=\"killed\"");
  assert_contains(page, "<!DOCTYPE html>");
}

SG_TEST(denial_page_without_login_url_has_no_link) {
  std::string page = sg::denial_page(sg::Reason::blocked, "Blocked.", "");
  assert_contains(page, "Blocked.");
  assert_contains(page, "data-reason=\"blocked\"");
  assert_not_contains(page, "<a ");
}

SG_TEST(denial_json_escapes) {
  std::string body = sg::denial_json(sg::Reason::killed, "say \"hi\"\\ </script>\n\x01");
  assert_contains(body, "\"reason\":\"killed\"");
  assert_contains(body, "\"error\":\"session_ended\"");
  assert_contains(body, "\"message\":\"say \\\"hi\\\"\\\\ \\u003c/script\\u003e\\n\\u0001\"");
  assert_not_contains(body, "</script>");
  // The message cannot end the string early and smuggle in keys.
  std::string smuggle = sg::denial_json(sg::Reason::blocked, "\",\"reason\":\"none");
  assert_contains(smuggle, "\"reason\":\"blocked\"");
  assert_not_contains(smuggle, "\"reason\":\"none\"");
}

SG_TEST(expired_cookie_clears_with_the_app_path) {
  sg::CookieSpec spec;
  spec.name = "CGISESSID";
  spec.path = "/perl";
  std::string value = sg::expired_cookie(spec, false);
  assert_true(value.rfind("CGISESSID=", 0) == 0);
  assert_contains(value, "Max-Age=0");
  assert_contains(value, "Path=/perl");
  assert_contains(value, "Expires=Thu, 01 Jan 1970 00:00:00 GMT");
  assert_not_contains(value, "Secure");
  assert_contains(sg::expired_cookie(spec, true), "; Secure");

  sg::CookieSpec root;
  root.name = "PHPSESSID";
  assert_contains(sg::expired_cookie(root, false), "Path=/;");
}

SG_TEST(denial_message_fills_the_limit_or_says_nothing_of_one) {
  sg::DirConfig config;
  assert_ok_parse(sg::parse_message("refused", "At most {limit} sessions.", config));
  assert_str_eq(sg::denial_message(config, sg::Reason::refused, 3), "At most 3 sessions.");
  // A login refused because it could not be read is not about a limit.
  assert_not_contains(sg::denial_message(config, sg::Reason::refused, 0), "{limit}");
  assert_str_eq(sg::denial_message(config, sg::Reason::killed, 0), sg::default_message(sg::Reason::killed));
}

SG_TEST(bindable_user_names) {
  assert_true(sg::bindable_user_name("alice"));
  assert_true(sg::bindable_user_name("caf\xc3\xa9 user"));
  assert_false(sg::bindable_user_name(""));
  assert_false(sg::bindable_user_name("caf\xe9"));  // not UTF-8: MariaDB would refuse it
  assert_false(sg::bindable_user_name("a\nb"));
  assert_false(sg::bindable_user_name(std::string("a\0b", 3)));
  assert_false(sg::bindable_user_name(std::string(191, 'x')));
  assert_true(sg::bindable_user_name(std::string(190, 'x')));
}

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(nothing_known_fresh_list_allows),
      cmocka_unit_test(revoked_session_denied_with_its_reason),
      cmocka_unit_test(blocked_user_denied_as_blocked),
      cmocka_unit_test(revoked_session_of_blocked_user_keeps_session_reason),
      cmocka_unit_test(stale_list_open_mode_allows_but_reports_stale),
      cmocka_unit_test(stale_list_closed_mode_denies_unavailable),
      cmocka_unit_test(staleness_boundary_is_max_stale),
      cmocka_unit_test(stale_but_revoked_keeps_the_revocation_reason),
      cmocka_unit_test(never_refreshed_measures_from_started_at),
      cmocka_unit_test(refresh_newer_than_start_wins),
      cmocka_unit_test(denial_status_json_is_401),
      cmocka_unit_test(denial_status_unavailable_is_503),
      cmocka_unit_test(denial_status_server_auth_is_403),
      cmocka_unit_test(only_cookie_session_single_sign_on_follows_a_redirect),
      cmocka_unit_test(denial_status_follows_action),
      cmocka_unit_test(wants_json_accept_variants),
      cmocka_unit_test(wants_json_xhr),
      cmocka_unit_test(redirect_url_appends_with_question_mark_or_ampersand),
      cmocka_unit_test(redirect_url_with_fragment_puts_reason_in_the_query),
      cmocka_unit_test(redirect_url_carries_reason_and_encoded_message),
      cmocka_unit_test(default_messages_are_specific),
      cmocka_unit_test(denial_page_escapes_hostile_message_and_login_url),
      cmocka_unit_test(denial_page_without_login_url_has_no_link),
      cmocka_unit_test(denial_json_escapes),
      cmocka_unit_test(expired_cookie_clears_with_the_app_path),
      cmocka_unit_test(denial_message_fills_the_limit_or_says_nothing_of_one),
      cmocka_unit_test(bindable_user_names),
  };
  return cmocka_run_group_tests_name("decision", tests, nullptr, nullptr);
}
