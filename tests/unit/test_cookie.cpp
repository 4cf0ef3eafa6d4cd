// Cookie header parsing: what browsers and legacy clients actually send.
#include "unit.hpp"

#include <string>
#include <vector>

#include "sg/app_reader.hpp"
#include "sg/cookie.hpp"
#include "sg/fingerprint.hpp"

namespace {

std::string value_or(std::optional<std::string_view> v, std::string_view fallback = "<none>") {
  return v ? std::string(*v) : std::string(fallback);
}

// The fingerprints the guard checks against the deny-list for a request, as
// mod_session_guard/request.cpp does: one per value the app might read.
std::vector<sg::Fingerprint> judged(std::string_view header, std::string_view name) {
  std::vector<sg::Fingerprint> out;
  for (const auto& value : sg::cookie_readings(header, name)) {
    out.push_back(sg::session_fingerprint(name, value));
  }
  return out;
}

bool judges(std::string_view header, std::string_view name, std::string_view app_value) {
  auto wanted = sg::session_fingerprint(name, app_value);
  for (const auto& fp : judged(header, name)) {
    if (fp == wanted) return true;
  }
  return false;
}

}  // namespace

SG_TEST(empty_header_has_no_cookies) {
  assert_int_equal(sg::parse_cookie_header("").size(), 0);
  assert_int_equal(sg::parse_cookie_header("   ").size(), 0);
  assert_int_equal(sg::parse_cookie_header(";;; ;").size(), 0);
  assert_false(sg::find_cookie("", "PHPSESSID").has_value());
}

SG_TEST(single_and_several_cookies) {
  auto one = sg::parse_cookie_header("PHPSESSID=abc123");
  assert_int_equal(one.size(), 1);
  assert_str_eq(one[0].first, "PHPSESSID");
  assert_str_eq(one[0].second, "abc123");

  auto three = sg::parse_cookie_header("a=1; PHPSESSID=abc; lang=en");
  assert_int_equal(three.size(), 3);
  assert_str_eq(three[0].first, "a");
  assert_str_eq(three[1].first, "PHPSESSID");
  assert_str_eq(three[1].second, "abc");
  assert_str_eq(three[2].first, "lang");
  assert_str_eq(three[2].second, "en");
  assert_str_eq(value_or(sg::find_cookie("a=1; PHPSESSID=abc; lang=en", "lang")), "en");
  assert_false(sg::find_cookie("a=1; PHPSESSID=abc; lang=en", "CGISESSID").has_value());
}

SG_TEST(whitespace_around_names_and_values_is_ignored) {
  const char* header = "  a = 1 ;\tPHPSESSID=\tabc\t;  lang=en  ";
  assert_str_eq(value_or(sg::find_cookie(header, "PHPSESSID")), "abc");
  assert_str_eq(value_or(sg::find_cookie(header, "a")), "1");
  assert_str_eq(value_or(sg::find_cookie(header, "lang")), "en");
  // No separator space at all, as some old clients send.
  assert_str_eq(value_or(sg::find_cookie("x=1;PHPSESSID=zz;y=2", "PHPSESSID")), "zz");
}

SG_TEST(name_match_is_exact_and_case_sensitive) {
  const char* header = "phpsessid=lower; XPHPSESSID=prefixed; PHPSESSIDX=suffixed; PHPSESSID=right";
  assert_str_eq(value_or(sg::find_cookie(header, "PHPSESSID")), "right");
  assert_str_eq(value_or(sg::find_cookie(header, "phpsessid")), "lower");
}

SG_TEST(duplicate_names_first_wins) {
  const char* header = "PHPSESSID=first; other=1; PHPSESSID=second";
  assert_str_eq(value_or(sg::find_cookie(header, "PHPSESSID")), "first");
  auto all = sg::parse_cookie_header(header);
  assert_int_equal(all.size(), 3);  // parsing keeps both; only the lookup picks the first
  assert_str_eq(all[2].second, "second");
}

SG_TEST(quoted_values_are_unquoted) {
  assert_str_eq(value_or(sg::find_cookie("PHPSESSID=\"abc\"", "PHPSESSID")), "abc");
  assert_str_eq(value_or(sg::find_cookie("a=1; PHPSESSID= \"a b\" ; c=2", "PHPSESSID")), "a b");
  assert_str_eq(value_or(sg::find_cookie("PHPSESSID=\"\"", "PHPSESSID")), "");
  // A lone quote or an unbalanced one is kept as it is.
  assert_str_eq(value_or(sg::find_cookie("PHPSESSID=\"", "PHPSESSID")), "\"");
  assert_str_eq(value_or(sg::find_cookie("PHPSESSID=\"abc", "PHPSESSID")), "\"abc");
}

SG_TEST(pairs_without_equals_or_name_are_skipped) {
  const char* header = "justavalue; =nameless; PHPSESSID=abc; another";
  auto all = sg::parse_cookie_header(header);
  assert_int_equal(all.size(), 1);
  assert_str_eq(all[0].first, "PHPSESSID");
  assert_str_eq(all[0].second, "abc");
  // A value-only pair equal to the wanted name must not be mistaken for that cookie.
  assert_false(sg::find_cookie("PHPSESSID; other=1", "PHPSESSID").has_value());
}

SG_TEST(empty_value_is_a_cookie) {
  auto v = sg::find_cookie("PHPSESSID=; a=1", "PHPSESSID");
  assert_true(v.has_value());
  assert_int_equal(v->size(), 0);
}

SG_TEST(value_may_contain_equals) {
  assert_str_eq(value_or(sg::find_cookie("tok=a=b==; PHPSESSID=x", "tok")), "a=b==");
}

SG_TEST(eight_kilobyte_value) {
  std::string big(8192, 'v');
  big[0] = 'A';
  big[8191] = 'Z';
  std::string header = "small=1; PHPSESSID=" + big + "; after=2";
  auto v = sg::find_cookie(header, "PHPSESSID");
  assert_true(v.has_value());
  assert_int_equal(v->size(), 8192);
  assert_true(*v == big);
  assert_str_eq(value_or(sg::find_cookie(header, "after")), "2");
}

SG_TEST(bytes_that_are_not_utf8) {
  std::string header = std::string("a=\xff\xfe; PHPSESSID=\xc3\x28\x80z; b=1");
  auto v = sg::find_cookie(header, "PHPSESSID");
  assert_true(v.has_value());
  assert_int_equal(v->size(), 4);
  assert_memory_equal(v->data(), "\xc3\x28\x80z", 4);
  assert_str_eq(value_or(sg::find_cookie(header, "a")), "\xff\xfe");
  assert_str_eq(value_or(sg::find_cookie(header, "b")), "1");
  // A name with high bytes is still a name, and an embedded NUL does not end the header.
  static const char raw[] = "\xfe\xff=1; x=a\0b; PHPSESSID=ok";
  std::string nul_header(raw, sizeof raw - 1);
  assert_str_eq(value_or(sg::find_cookie(nul_header, "\xfe\xff")), "1");
  auto x = sg::find_cookie(nul_header, "x");
  assert_true(x.has_value());
  assert_int_equal(x->size(), 3);
  assert_str_eq(value_or(sg::find_cookie(nul_header, "PHPSESSID")), "ok");
}

SG_TEST(five_hundred_cookies_wanted_one_last) {
  std::string header;
  for (int i = 0; i < 500; ++i) header += "c" + std::to_string(i) + "=v" + std::to_string(i) + "; ";
  header += "PHPSESSID=the-one";
  auto all = sg::parse_cookie_header(header);
  assert_int_equal(all.size(), 501);
  assert_str_eq(all[250].first, "c250");
  assert_str_eq(all[250].second, "v250");
  assert_str_eq(value_or(sg::find_cookie(header, "PHPSESSID")), "the-one");
  assert_str_eq(value_or(sg::find_cookie(header, "c499")), "v499");
}

SG_TEST(set_cookie_plain_and_with_attributes) {
  assert_str_eq(value_or(sg::set_cookie_value("PHPSESSID=newid", "PHPSESSID")), "newid");
  assert_str_eq(value_or(sg::set_cookie_value("PHPSESSID=newid; path=/; HttpOnly; SameSite=Lax", "PHPSESSID")),
                "newid");
  assert_str_eq(value_or(sg::set_cookie_value(" PHPSESSID = spaced ; Path=/php", "PHPSESSID")), "spaced");
  assert_str_eq(value_or(sg::set_cookie_value("CGISESSID=\"quoted\"; path=/", "CGISESSID")), "quoted");
}

SG_TEST(set_cookie_for_another_name_or_attribute_is_not_ours) {
  assert_false(sg::set_cookie_value("lang=en; path=/", "PHPSESSID").has_value());
  // The name appearing only as an attribute or inside a value does not count.
  assert_false(sg::set_cookie_value("lang=en; PHPSESSID=evil", "PHPSESSID").has_value());
  assert_false(sg::set_cookie_value("x=PHPSESSID=evil", "PHPSESSID").has_value());
  assert_false(sg::set_cookie_value("PHPSESSIDX=1", "PHPSESSID").has_value());
  assert_false(sg::set_cookie_value("", "PHPSESSID").has_value());
  assert_false(sg::set_cookie_value("PHPSESSID", "PHPSESSID").has_value());
}

SG_TEST(set_cookie_deletion_has_empty_or_deleted_value) {
  // PHP's session_destroy + setcookie send "deleted" with an expiry in the past.
  assert_str_eq(value_or(sg::set_cookie_value("PHPSESSID=deleted; expires=Thu, 01 Jan 1970 00:00:01 GMT", "PHPSESSID")),
                "deleted");
  auto empty = sg::set_cookie_value("PHPSESSID=; Max-Age=0", "PHPSESSID");
  assert_true(empty.has_value());
  assert_int_equal(empty->size(), 0);
}

// --- The guard must judge the session the app will load -------------------------------------
// A killed session must stay dead whatever spelling of its cookie a client sends. The apps
// decode cookies themselves (checked against PHP 8.2 and CGI.pm 4.55):
//   PHP:    Cookie: PHPSESSID=%61bc123          -> $_COOKIE['PHPSESSID'] == 'abc123'
//   CGI.pm: Cookie: CGISESSID=%61bc123          -> cookie('CGISESSID')  == 'abc123'
//           Cookie: CGISESSID=abc123&junk       -> 'abc123' (values split at '&')
//           Cookie: CGISESS%49D=abc123          -> names are decoded too
//           Cookie: x=1, CGISESSID=abc123       -> ',' separates cookies as well as ';'
// The guard fingerprints the raw bytes instead, so the holder of a killed cookie gets back in
// by re-spelling it. These tests fail until the core judges the app's interpretation.

SG_TEST(plain_value_is_judged_as_the_app_reads_it) {
  // Control: the ordinary spelling is judged correctly today.
  assert_true(judges("PHPSESSID=abc123", "PHPSESSID", "abc123"));
  assert_true(judges("a=1; CGISESSID=abc123", "CGISESSID", "abc123"));
}

SG_TEST(percent_encoded_value_is_judged_as_the_app_decodes_it) {
  assert_true(judges("PHPSESSID=%61bc123", "PHPSESSID", "abc123"));
  assert_true(judges("CGISESSID=ab%63123", "CGISESSID", "abc123"));
}

SG_TEST(cgi_value_with_ampersand_is_judged_as_its_first_element) {
  assert_true(judges("CGISESSID=abc123&junk", "CGISESSID", "abc123"));
}

SG_TEST(percent_encoded_name_is_judged_as_cgi_decodes_it) {
  assert_true(judges("CGISESS%49D=abc123", "CGISESSID", "abc123"));
}

SG_TEST(comma_separated_cookies_are_judged_as_cgi_splits_them) {
  assert_true(judges("x=1, CGISESSID=abc123", "CGISESSID", "abc123"));
  assert_true(judges("x=1,CGISESSID=abc123", "CGISESSID", "abc123"));
}

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(empty_header_has_no_cookies),
      cmocka_unit_test(single_and_several_cookies),
      cmocka_unit_test(whitespace_around_names_and_values_is_ignored),
      cmocka_unit_test(name_match_is_exact_and_case_sensitive),
      cmocka_unit_test(duplicate_names_first_wins),
      cmocka_unit_test(quoted_values_are_unquoted),
      cmocka_unit_test(pairs_without_equals_or_name_are_skipped),
      cmocka_unit_test(empty_value_is_a_cookie),
      cmocka_unit_test(value_may_contain_equals),
      cmocka_unit_test(eight_kilobyte_value),
      cmocka_unit_test(bytes_that_are_not_utf8),
      cmocka_unit_test(five_hundred_cookies_wanted_one_last),
      cmocka_unit_test(set_cookie_plain_and_with_attributes),
      cmocka_unit_test(set_cookie_for_another_name_or_attribute_is_not_ours),
      cmocka_unit_test(set_cookie_deletion_has_empty_or_deleted_value),
      cmocka_unit_test(plain_value_is_judged_as_the_app_reads_it),
      cmocka_unit_test(percent_encoded_value_is_judged_as_the_app_decodes_it),
      cmocka_unit_test(cgi_value_with_ampersand_is_judged_as_its_first_element),
      cmocka_unit_test(percent_encoded_name_is_judged_as_cgi_decodes_it),
      cmocka_unit_test(comma_separated_cookies_are_judged_as_cgi_splits_them),
  };
  return cmocka_run_group_tests_name("cookie", tests, nullptr, nullptr);
}
