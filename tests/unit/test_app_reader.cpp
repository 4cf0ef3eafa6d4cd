// How the apps behind the module read a request (core/app_reader): every reading the module
// must judge, and where it must give up and fail closed. The numbered cases are those of
// issue 9, each of which let a killed session or an unrecorded login back in.
#include "unit.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include "sg/app_reader.hpp"

namespace {

bool has(const std::vector<std::string>& values, std::string_view wanted) {
  return std::find(values.begin(), values.end(), std::string(wanted)) != values.end();
}

using Kind = sg::FieldReading::Kind;
constexpr const char* kForm = "application/x-www-form-urlencoded";

sg::FieldReading login(std::string_view body, std::string_view query = "") {
  return sg::read_login_field(body, false, kForm, query, "username");
}

}  // namespace

// Issue 9 case 1: PHP reads "PHPSESSID " as another cookie (PHPSESSID_) and takes the
// second pair; the killed value must be among what the module judges.
SG_TEST(decoy_cookie_with_space_or_tab_before_the_equals) {
  auto readings = sg::cookie_readings("PHPSESSID =x; PHPSESSID=killed", "PHPSESSID");
  assert_true(has(readings, "killed"));
  assert_true(has(readings, "x"));
  readings = sg::cookie_readings("PHPSESSID\t=x; PHPSESSID=killed", "PHPSESSID");
  assert_true(has(readings, "killed"));
  readings = sg::cookie_readings("CGISESSID =x; CGISESSID=killed", "CGISESSID");
  assert_true(has(readings, "killed"));
}

SG_TEST(every_repeated_cookie_value_is_judged) {
  auto readings = sg::cookie_readings("a=1; PHPSESSID=first; PHPSESSID=second", "PHPSESSID");
  assert_true(has(readings, "first"));
  assert_true(has(readings, "second"));
}

SG_TEST(plain_header_reads_one_value) {
  auto readings = sg::cookie_readings("lang=en; PHPSESSID=abc123; theme=dark", "PHPSESSID");
  assert_int_equal(readings.size(), 1);
  assert_str_eq(readings[0], "abc123");
  assert_int_equal(sg::cookie_readings("lang=en", "PHPSESSID").size(), 0);
  assert_int_equal(sg::cookie_readings("", "PHPSESSID").size(), 0);
}

SG_TEST(php_mangled_cookie_names) {
  // PHP turns '.' and ' ' into '_': "my.sess" is my_sess to a PHP app.
  assert_true(has(sg::cookie_readings("my.sess=v1", "my_sess"), "v1"));
  assert_true(has(sg::cookie_readings("my sess=v2", "my_sess"), "v2"));
  // PHP before 8 decoded cookie names; CGI.pm still does.
  assert_true(has(sg::cookie_readings("PHPSESS%49D=v3", "PHPSESSID"), "v3"));
  assert_true(has(sg::cookie_readings("CGISESS%49D=v4", "CGISESSID"), "v4"));
  // An array is never a session id.
  assert_false(has(sg::cookie_readings("PHPSESSID[x]=v5", "PHPSESSID"), "v5"));
}

SG_TEST(cgi_cookie_readings) {
  auto readings = sg::cookie_readings("other=1, CGISESSID=abc&junk", "CGISESSID");
  assert_true(has(readings, "abc"));
  assert_true(has(sg::cookie_readings("CGISESSID=a%62c", "CGISESSID"), "abc"));
  assert_true(has(sg::cookie_readings("CGISESSID=\"abc\"", "CGISESSID"), "abc"));
}

// Issue 9 case 2: two values for the user field are two possible users.
SG_TEST(duplicate_login_field_is_ambiguous) {
  assert_true(login("username=alice&username=bob&password=demo").kind == Kind::ambiguous);
  // CGI.pm also splits on ';'.
  assert_true(login("x=1;username=bob&username=alice&password=demo").kind == Kind::ambiguous);
  // PHP's $_REQUEST sees the query string too.
  assert_true(login("username=alice&password=demo", "username=bob").kind == Kind::ambiguous);
  // The same value twice is still one user.
  auto same = login("username=alice&username=alice&password=demo");
  assert_true(same.kind == Kind::found);
  assert_str_eq(same.value, "alice");
}

// Issue 9 case 3: names PHP normalises are the field too.
SG_TEST(php_normalised_field_names_are_read) {
  auto spaced = login("%20username=carol&password=demo");
  assert_true(spaced.kind == Kind::found);
  assert_str_eq(spaced.value, "carol");
  auto nul = login("username%00x=carol&password=demo");
  assert_true(nul.kind == Kind::found);
  assert_str_eq(nul.value, "carol");
  assert_true(login("%20username=carol&username=bob").kind == Kind::ambiguous);
  assert_true(login("username[]=carol&password=demo").kind == Kind::unreadable);
  auto dotted = sg::read_login_field("user.name=dave", false, kForm, "", "user_name");
  assert_true(dotted.kind == Kind::found);
  assert_str_eq(dotted.value, "dave");
}

SG_TEST(truncated_or_foreign_bodies_are_unreadable) {
  assert_true(sg::read_login_field("username=carol", true, kForm, "", "username").kind == Kind::unreadable);
  assert_true(sg::read_login_field("{\"username\":\"carol\"}", false, "application/json", "", "username").kind ==
              Kind::unreadable);
  assert_true(login("password=demo").kind == Kind::missing);
  assert_true(login("username=&password=demo").kind == Kind::missing);
  assert_true(login("username=&username=bob").kind == Kind::ambiguous);
}

SG_TEST(multipart_names_quoted_or_not) {
  std::string ct = "multipart/form-data; boundary=XyZ";
  std::string unquoted =
      "--XyZ\r\nContent-Disposition: form-data; name=username\r\n\r\ncarol\r\n"
      "--XyZ\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\ndemo\r\n--XyZ--\r\n";
  auto reading = sg::read_login_field(unquoted, false, ct, "", "username");
  assert_true(reading.kind == Kind::found);
  assert_str_eq(reading.value, "carol");
  std::string twice =
      "--XyZ\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nalice\r\n"
      "--XyZ\r\nContent-Disposition: form-data; name=username\r\n\r\nbob\r\n--XyZ--\r\n";
  assert_true(sg::read_login_field(twice, false, ct, "", "username").kind == Kind::ambiguous);
  std::string cut = "--XyZ\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nalice";
  assert_true(sg::read_login_field(cut, false, ct, "", "username").kind == Kind::unreadable);
  // A delimiter inside a value does not end it: only one at the start of a line does.
  std::string inner =
      "--XyZ\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nal--XyZice\r\n--XyZ--\r\n";
  auto whole = sg::read_login_field(inner, false, ct, "", "username");
  assert_true(whole.kind == Kind::found);
  assert_str_eq(whole.value, "al--XyZice");
}

// Issue 9 cases 3 and 4: targets matched as CGI.pm and PHP match them.
SG_TEST(targets_with_path_info_semicolons_and_duplicates) {
  sg::RequestTarget login_target{"/perl/app.cgi", {{"action", "login"}}};
  // CGI.pm reads action=login, PHP reads "login;x=1": watched as a login all the same.
  assert_true(sg::match_target(login_target, "/perl/app.cgi", "action=login;x=1") == sg::TargetMatch::ambiguous);
  assert_true(sg::match_target(login_target, "/perl/app.cgi/x", "action=login") == sg::TargetMatch::yes);
  assert_true(sg::match_target(login_target, "/perl/app.cgix", "action=login") == sg::TargetMatch::no);
  sg::RequestTarget logout{"/perl/app.cgi", {{"action", "logout"}}};
  assert_true(sg::match_target(logout, "/perl/app.cgi", "action=home&action=logout") == sg::TargetMatch::ambiguous);
  assert_true(sg::match_target(logout, "/perl/app.cgi", "action=home") == sg::TargetMatch::no);
  sg::RequestTarget dir{"/app/", {}};
  assert_true(sg::match_target(dir, "/app/x", "") == sg::TargetMatch::no);
}

SG_TEST(form_fields_in_post_bodies) {
  sg::FormFields fields{{"action", "logout"}};
  assert_true(sg::match_form_fields(fields, "action=logout&token=1", false, kForm) == sg::TargetMatch::yes);
  assert_true(sg::match_form_fields(fields, "action=save", false, kForm) == sg::TargetMatch::no);
  assert_true(sg::match_form_fields(fields, "action=save&action=logout", false, kForm) == sg::TargetMatch::ambiguous);
  assert_true(sg::match_form_fields(fields, "action=logout", true, kForm) == sg::TargetMatch::ambiguous);
}

SG_TEST(set_cookie_clearing) {
  assert_true(sg::set_cookie_clears("PHPSESSID=deleted; expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0"));
  assert_true(sg::set_cookie_clears("CGISESSID=; path=/; expires=Mon, 01 Dec 2026 00:00:00 GMT"));
  assert_true(sg::set_cookie_clears("SID=abc; Max-Age=-1"));
  assert_false(sg::set_cookie_clears("SID=abc; Max-Age=3600; path=/"));
  assert_false(sg::set_cookie_clears("SID=abc"));
}

// Issue 9 case 12: body and cookie rules tell a 200 failure from a 200 success.
SG_TEST(response_rules) {
  sg::RequestTarget target{"/login.php", {}};
  std::vector<sg::ResponseCheck> rules{{sg::ResponseCheck::Kind::status, 200, ""},
                                       {sg::ResponseCheck::Kind::body_lacks, 0, "Invalid password"}};
  sg::AppResponse ok;
  ok.status = 200;
  ok.body = "<p>Welcome</p>";
  assert_true(sg::response_confirms(rules, target, ok) == sg::Confirmation::yes);
  sg::AppResponse failed = ok;
  failed.body = "<p>Invalid password</p>";
  assert_true(sg::response_confirms(rules, target, failed) == sg::Confirmation::no);
  sg::AppResponse cut = ok;
  cut.body_complete = false;
  assert_true(sg::response_confirms(rules, target, cut) == sg::Confirmation::unknown);
  cut.status = 500;  // a failing check outweighs one that cannot tell
  assert_true(sg::response_confirms(rules, target, cut) == sg::Confirmation::no);

  std::vector<sg::ResponseCheck> cookie{{sg::ResponseCheck::Kind::sets_cookie, 0, "SID"}};
  sg::AppResponse sets;
  sets.set_cookies = {"SID=abc; path=/"};
  assert_true(sg::response_confirms(cookie, target, sets) == sg::Confirmation::yes);
  sets.set_cookies = {"SID=; Max-Age=0"};
  assert_true(sg::response_confirms(cookie, target, sets) == sg::Confirmation::no);

  std::vector<sg::ResponseCheck> away{{sg::ResponseCheck::Kind::redirect_away, 0, ""}};
  sg::AppResponse redirect;
  redirect.status = 302;
  redirect.location = "http://example.org/login.php/x?error=1";
  assert_true(sg::response_confirms(away, target, redirect) == sg::Confirmation::no);
  redirect.location = "/home.php";
  assert_true(sg::response_confirms(away, target, redirect) == sg::Confirmation::yes);
}

// Issue 9 case 11: an unknown "remember me" value never reaches the app.
SG_TEST(signed_in_only_cookie_is_removed_however_spelled) {
  assert_str_eq(sg::without_cookie("PHPSESSID=a; REMEMBERME=r; lang=en", "REMEMBERME"), "PHPSESSID=a; lang=en");
  assert_str_eq(sg::without_cookie("REMEMBERME =r;PHPSESSID=a", "REMEMBERME"), "PHPSESSID=a");
  assert_str_eq(sg::without_cookie("PHPSESSID=a, REMEMBERME=r", "REMEMBERME"), "");
  assert_str_eq(sg::without_cookie("REMEMBER%4dE=r; x=1", "REMEMBERME"), "x=1");
  assert_str_eq(sg::without_cookie("x=1", "REMEMBERME"), "x=1");
  assert_int_equal(sg::cookie_readings(sg::without_cookie("a=1; REMEMBERME=r, REMEMBERME=s", "REMEMBERME"),
                                       "REMEMBERME").size(), 0);
}

// Attacker review of issue 9: CGI::Util::unescape also decodes %uXXXX; the module must read
// it too, or see that PHP and CGI.pm disagree.
SG_TEST(cgi_percent_u_escapes) {
  assert_true(login("username=%u0062ob&password=demo").kind == Kind::ambiguous);
  sg::RequestTarget target{"/perl/app.cgi", {{"action", "login"}}};
  assert_true(sg::match_target(target, "/perl/app.cgi", "action=%u006cogin") != sg::TargetMatch::no);
  assert_true(has(sg::cookie_readings("CGISESSID=%u0061bc", "CGISESSID"), "abc"));
  assert_true(has(sg::cookie_readings("CGISESS%u0049D=abc", "CGISESSID"), "abc"));
  // A surrogate pair is one character (U+1F600 here).
  assert_true(has(sg::form_readings("x=%uD83D%uDE00", "x"), "\xF0\x9F\x98\x80"));
}

SG_TEST(multipart_boundaries_readers_disagree_on_are_unreadable) {
  std::string body =
      "--AAA\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nalice\r\n--AAA--\r\n"
      "--BBB\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nbob\r\n--BBB--\r\n";
  // PHP and CGI.pm both look for "boundary" case-sensitively first: BBB, so bob.
  auto both = sg::read_login_field(body, false, "multipart/form-data; BOUNDARY=AAA; boundary=BBB", "", "username");
  assert_true(both.kind == Kind::found);
  assert_str_eq(both.value, "bob");
  // Only PHP falls back to any case: the readers disagree.
  assert_true(sg::read_login_field(body, false, "multipart/form-data; BOUNDARY=AAA", "", "username").kind ==
              Kind::unreadable);
  auto plain = sg::read_login_field(body, false, "multipart/form-data; boundary=BBB", "", "username");
  assert_true(plain.kind == Kind::found);
  assert_str_eq(plain.value, "bob");
  // A folded disposition header: PHP reads the name on the continuation line.
  std::string folded = "--F\r\nContent-Disposition: form-data;\r\n name=\"username\"\r\n\r\ncarol\r\n--F--\r\n";
  auto read = sg::read_login_field(folded, false, "multipart/form-data; boundary=F", "", "username");
  assert_true(read.kind == Kind::found);
  assert_str_eq(read.value, "carol");
}

SG_TEST(cookie_read_alike_only_for_one_exact_plain_pair) {
  assert_true(sg::cookie_read_alike("a=1; PHPSESSID=abc", "PHPSESSID"));
  assert_false(sg::cookie_read_alike("PHPSESSID%00=abc", "PHPSESSID"));
  assert_false(sg::cookie_read_alike("PHPSESS%49D=abc", "PHPSESSID"));
  assert_false(sg::cookie_read_alike("PHPSESSID =abc", "PHPSESSID"));
  assert_false(sg::cookie_read_alike("PHPSESSID=abc; PHPSESSID=def", "PHPSESSID"));
  assert_false(sg::cookie_read_alike("x=1", "PHPSESSID"));
}

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(decoy_cookie_with_space_or_tab_before_the_equals),
      cmocka_unit_test(every_repeated_cookie_value_is_judged),
      cmocka_unit_test(plain_header_reads_one_value),
      cmocka_unit_test(php_mangled_cookie_names),
      cmocka_unit_test(cgi_cookie_readings),
      cmocka_unit_test(duplicate_login_field_is_ambiguous),
      cmocka_unit_test(php_normalised_field_names_are_read),
      cmocka_unit_test(truncated_or_foreign_bodies_are_unreadable),
      cmocka_unit_test(multipart_names_quoted_or_not),
      cmocka_unit_test(targets_with_path_info_semicolons_and_duplicates),
      cmocka_unit_test(form_fields_in_post_bodies),
      cmocka_unit_test(set_cookie_clearing),
      cmocka_unit_test(response_rules),
      cmocka_unit_test(signed_in_only_cookie_is_removed_however_spelled),
      cmocka_unit_test(cgi_percent_u_escapes),
      cmocka_unit_test(multipart_boundaries_readers_disagree_on_are_unreadable),
      cmocka_unit_test(cookie_read_alike_only_for_one_exact_plain_pair),
  };
  return cmocka_run_group_tests_name("app_reader", tests, nullptr, nullptr);
}
