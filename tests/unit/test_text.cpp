// Escaping and form decoding.
#include "unit.hpp"

#include <string>

#include "sg/text.hpp"

using namespace std::string_literals;

namespace {
std::string field(std::string_view body, std::string_view content_type, std::string_view name) {
  std::string value = "<untouched>";
  if (!sg::multipart_field(body, content_type, name, value)) return "<absent:" + value + ">";
  return value;
}

const char* const kType = "multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW";
const char* const kDelim = "------WebKitFormBoundary7MA4YWxkTrZu0gW";

// A login form as Chrome posts it: a file part first (whose content looks like a form part),
// then a decoy field, then the wanted one.
std::string login_body() {
  std::string d = kDelim;
  return d + "\r\n"
             "Content-Disposition: form-data; name=\"avatar\"; filename=\"username\"\r\n"
             "Content-Type: application/octet-stream\r\n"
             "\r\n"
             "\x89PNG\r\n\x1a\n\0\0binary\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nmallory\r\n"
             "\r\n"s +
         d +
         "\r\n"
         "Content-Disposition: form-data; name=\"xusername\"\r\n"
         "\r\n"
         "decoy\r\n" +
         d +
         "\r\n"
         "Content-Disposition: form-data; name=\"username\"\r\n"
         "\r\n"
         "alice\r\n" +
         d +
         "\r\n"
         "content-disposition: form-data; name=\"password\"\r\n"
         "\r\n"
         "pa ss\r\nword\r\n" +
         d + "--\r\n";
}
}  // namespace

SG_TEST(html_escape_all_specials) {
  assert_str_eq(sg::html_escape("<a href=\"x\" title='y'>&amp;</a>"),
                "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;");
  assert_str_eq(sg::html_escape("plain text é"), "plain text é");
  assert_str_eq(sg::html_escape(""), "");
}

SG_TEST(json_escape_quotes_and_backslash) {
  assert_str_eq(sg::json_escape("a\"b\\c/d"), "a\\\"b\\\\c/d");
}

SG_TEST(json_escape_control_characters) {
  static const char raw[] = "\n\r\t\b\f\x01\x1f\0end";
  std::string input(raw, sizeof raw - 1);
  assert_str_eq(sg::json_escape(input), "\\n\\r\\t\\u0008\\u000c\\u0001\\u001f\\u0000end");
  // Every byte below 0x20 is escaped.
  for (int c = 0; c < 0x20; ++c) {
    std::string out = sg::json_escape(std::string(1, static_cast<char>(c)));
    assert_true(out.size() >= 2);
    assert_int_equal(out[0], '\\');
  }
  assert_str_eq(sg::json_escape(" ~\x7f"), " ~\x7f");
}

SG_TEST(json_escape_html_specials) {
  assert_str_eq(sg::json_escape("</script><!--&"), "\\u003c/script\\u003e\\u003c!--\\u0026");
}

SG_TEST(json_escape_keeps_utf8) {
  assert_str_eq(sg::json_escape("Zoë → ok"), "Zoë → ok");
}

SG_TEST(url_encode_reserved_and_unreserved) {
  assert_str_eq(sg::url_encode("AZaz09-_.~"), "AZaz09-_.~");
  assert_str_eq(sg::url_encode("a b&c=d/e?f#g+h%"), "a%20b%26c%3Dd%2Fe%3Ff%23g%2Bh%25");
  assert_str_eq(sg::url_encode("\r\n"), "%0D%0A");
  assert_str_eq(sg::url_encode("é"), "%C3%A9");
  assert_str_eq(sg::url_encode(std::string("\0\xff", 2)), "%00%FF");
}

SG_TEST(url_decode_plus_and_escapes) {
  assert_str_eq(sg::url_decode("a+b%20c"), "a b c");
  assert_str_eq(sg::url_decode("%41%62%2b"), "Ab+");
  assert_str_eq(sg::url_decode("%c3%A9"), "é");
  assert_str_eq(sg::url_decode("100%"), "100%");
}

SG_TEST(url_decode_keeps_bad_escapes) {
  assert_str_eq(sg::url_decode("%zz"), "%zz");
  assert_str_eq(sg::url_decode("%4"), "%4");
  assert_str_eq(sg::url_decode("%"), "%");
  assert_str_eq(sg::url_decode("a%g1b"), "a%g1b");
  assert_str_eq(sg::url_decode("%%41"), "%A");
  std::string nul = sg::url_decode("a%00b");
  assert_int_equal(nul.size(), 3);
  assert_int_equal(nul[1], '\0');
}

SG_TEST(url_round_trip) {
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  assert_true(sg::url_decode(sg::url_encode(all)) == all);
}

SG_TEST(parse_form_fields) {
  auto f = sg::parse_form("username=alice&password=p%40ss+word&remember");
  assert_int_equal(f.size(), 3);
  assert_str_eq(f[0].first, "username");
  assert_str_eq(f[0].second, "alice");
  assert_str_eq(f[1].first, "password");
  assert_str_eq(f[1].second, "p@ss word");
  assert_str_eq(f[2].first, "remember");
  assert_str_eq(f[2].second, "");
}

SG_TEST(parse_form_edge_cases) {
  assert_int_equal(sg::parse_form("").size(), 0);
  assert_int_equal(sg::parse_form("&&&").size(), 0);
  auto f = sg::parse_form("a=1&&b=2=3&user%5Bname%5D=x&=empty");
  assert_int_equal(f.size(), 4);
  assert_str_eq(f[0].first, "a");
  assert_str_eq(f[1].first, "b");
  assert_str_eq(f[1].second, "2=3");
  assert_str_eq(f[2].first, "user[name]");
  assert_str_eq(f[3].first, "");
  assert_str_eq(f[3].second, "empty");
  // Repeated names are all kept, in order.
  auto dup = sg::parse_form("u=first&u=second");
  assert_int_equal(dup.size(), 2);
  assert_str_eq(dup[0].second, "first");
  assert_str_eq(dup[1].second, "second");
}

SG_TEST(multipart_finds_field_after_file_part) {
  std::string body = login_body();
  assert_str_eq(field(body, kType, "username"), "alice");
  assert_str_eq(field(body, kType, "xusername"), "decoy");
  assert_str_eq(field(body, kType, "password"), "pa ss\r\nword");
  assert_str_eq(field(body, kType, "name"), "<absent:<untouched>>");
  assert_str_eq(field(body, kType, "user"), "<absent:<untouched>>");
}

SG_TEST(multipart_file_part_is_found_by_its_name) {
  std::string body = login_body();
  std::string avatar = field(body, kType, "avatar");
  assert_true(avatar.rfind("\x89PNG", 0) == 0);
  assert_contains(avatar, "mallory");
}

SG_TEST(multipart_boundary_variants) {
  const std::string body = "--abc\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nbob\r\n--abc--\r\n";
  assert_str_eq(field(body, "multipart/form-data; boundary=abc", "username"), "bob");
  assert_str_eq(field(body, "multipart/form-data;boundary=abc", "username"), "bob");
  assert_str_eq(field(body, "multipart/form-data; boundary=\"abc\"", "username"), "bob");
  assert_str_eq(field(body, "multipart/form-data; charset=utf-8; BOUNDARY=abc", "username"), "bob");
  assert_str_eq(field(body, "multipart/form-data; boundary=abc; charset=utf-8", "username"), "bob");
}

SG_TEST(multipart_missing_or_wrong_boundary) {
  std::string body = login_body();
  assert_str_eq(field(body, "multipart/form-data", "username"), "<absent:<untouched>>");
  assert_str_eq(field(body, "multipart/form-data; boundary=", "username"), "<absent:<untouched>>");
  assert_str_eq(field(body, "multipart/form-data; boundary=other", "username"), "<absent:<untouched>>");
  assert_str_eq(field("", kType, "username"), "<absent:<untouched>>");
}

SG_TEST(multipart_truncated_body) {
  std::string body = login_body();
  // Cut inside the wanted part's value: the value is unknown, not "ali".
  std::size_t at = body.find("alice");
  assert_true(at != std::string::npos);
  assert_str_eq(field(body.substr(0, at + 3), kType, "username"), "<absent:<untouched>>");
  // Cut inside the wanted part's headers.
  std::size_t header = body.find("name=\"username\"\r\n\r\nalice");
  assert_str_eq(field(body.substr(0, header + 5), kType, "username"), "<absent:<untouched>>");
  // Cut inside the file part: nothing after it can be read.
  assert_str_eq(field(body.substr(0, 200), kType, "username"), "<absent:<untouched>>");
  // Cut right after the wanted value's delimiter: found.
  std::size_t after = body.find(std::string("alice\r\n") + kDelim);
  assert_str_eq(field(body.substr(0, after + 7 + std::string(kDelim).size()), kType, "username"), "alice");
}

SG_TEST(multipart_stops_at_closing_delimiter) {
  std::string body =
      "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--b--\r\n"
      "epilogue\r\n--b\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nghost\r\n--b--\r\n";
  assert_str_eq(field(body, "multipart/form-data; boundary=b", "a"), "1");
  assert_str_eq(field(body, "multipart/form-data; boundary=b", "username"), "<absent:<untouched>>");
}

SG_TEST(text_helpers) {
  assert_str_eq(sg::to_lower("MiXeD 123"), "mixed 123");
  assert_true(sg::iequals("Content-Type", "content-type"));
  assert_false(sg::iequals("abc", "abcd"));
  assert_false(sg::iequals("abc", "abd"));
  assert_str_eq(sg::trim(" \t x y \t "), "x y");
  assert_str_eq(sg::trim("   "), "");
}

// issue 9 case 8: a User-Agent that is not UTF-8 made MariaDB reject the login (503).
SG_TEST(utf8_valid_follows_rfc3629) {
  assert_true(sg::utf8_valid(""));
  assert_true(sg::utf8_valid("plain ASCII\t\n"));
  assert_true(sg::utf8_valid("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf"));
  assert_true(sg::utf8_valid("a\0b"s));
  assert_false(sg::utf8_valid("caf\xe9"));               // Latin-1
  assert_false(sg::utf8_valid("\xc3"));                  // cut after the lead byte
  assert_false(sg::utf8_valid("\xe2\x82"));              // cut inside a 3-byte character
  assert_false(sg::utf8_valid("\x80"));                  // stray trail byte
  assert_false(sg::utf8_valid("\xc0\xaf"));              // overlong '/'
  assert_false(sg::utf8_valid("\xe0\x80\xaf"));          // overlong, 3 bytes
  assert_false(sg::utf8_valid("\xf0\x80\x80\xaf"));      // overlong, 4 bytes
  assert_false(sg::utf8_valid("\xed\xa0\x80"));          // surrogate U+D800
  assert_false(sg::utf8_valid("\xf4\x90\x80\x80"));      // U+110000
  assert_false(sg::utf8_valid("\xf5\x80\x80\x80"));
  assert_false(sg::utf8_valid("\xff"));
}

SG_TEST(utf8_sanitize_replaces_each_maximal_subpart) {
  const std::string fffd = "\xef\xbf\xbd";
  assert_str_eq(sg::utf8_sanitize("caf\xc3\xa9"), "caf\xc3\xa9");
  assert_str_eq(sg::utf8_sanitize("caf\xe9"), "caf" + fffd);
  assert_str_eq(sg::utf8_sanitize("caf\xe9!"), "caf" + fffd + "!");
  // A valid prefix of a character is one subpart; the byte that breaks it starts anew.
  assert_str_eq(sg::utf8_sanitize("\xe2\x82x"), fffd + "x");
  assert_str_eq(sg::utf8_sanitize("\xe2\x82\xe2\x82\xac"), fffd + "\xe2\x82\xac");
  // Bytes that can start nothing are one replacement each (as browsers decode).
  assert_str_eq(sg::utf8_sanitize("\xc0\xaf"), fffd + fffd);
  assert_str_eq(sg::utf8_sanitize("\xed\xa0\x80"), fffd + fffd + fffd);
  assert_str_eq(sg::utf8_sanitize("\xf4\x90\x80\x80"), fffd + fffd + fffd + fffd);
  assert_str_eq(sg::utf8_sanitize("\xf0\x9f\x98"), fffd);
  assert_str_eq(sg::utf8_sanitize("a\0b"s), "a\0b"s);
  for (unsigned b = 0x80; b <= 0xff; ++b) {
    std::string out = sg::utf8_sanitize(std::string("x") + static_cast<char>(b) + "y");
    assert_true(sg::utf8_valid(out));
  }
}

SG_TEST(utf8_sanitize_never_cuts_a_character) {
  const std::string fffd = "\xef\xbf\xbd";
  // 511 ASCII bytes and a 2-byte character: cut at 512 the character is left out whole.
  std::string ua(511, 'a');
  assert_str_eq(sg::utf8_sanitize(ua + "\xc3\xa9", 512), ua);
  assert_str_eq(sg::utf8_sanitize(ua + "\xc3\xa9", 513), ua + "\xc3\xa9");
  assert_str_eq(sg::utf8_sanitize("\xf0\x9f\x98\x80\xf0\x9f\x98\x80", 7), "\xf0\x9f\x98\x80");
  assert_str_eq(sg::utf8_sanitize("ab\xe9", 4), "ab");  // the replacement would not fit
  assert_str_eq(sg::utf8_sanitize("ab\xe9", 5), "ab" + fffd);
  assert_str_eq(sg::utf8_sanitize("abc", 0), "");
  // A 512-byte limit on any input gives valid UTF-8 of at most 512 bytes.
  std::string noisy;
  for (int i = 0; i < 1000; ++i) noisy.push_back(static_cast<char>((i * 131 + 7) % 256));
  for (std::size_t limit : {0u, 1u, 2u, 3u, 45u, 64u, 255u, 512u}) {
    std::string out = sg::utf8_sanitize(noisy, limit);
    assert_true(out.size() <= limit);
    assert_true(sg::utf8_valid(out));
  }
}

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(html_escape_all_specials),
      cmocka_unit_test(json_escape_quotes_and_backslash),
      cmocka_unit_test(json_escape_control_characters),
      cmocka_unit_test(json_escape_html_specials),
      cmocka_unit_test(json_escape_keeps_utf8),
      cmocka_unit_test(url_encode_reserved_and_unreserved),
      cmocka_unit_test(url_decode_plus_and_escapes),
      cmocka_unit_test(url_decode_keeps_bad_escapes),
      cmocka_unit_test(url_round_trip),
      cmocka_unit_test(parse_form_fields),
      cmocka_unit_test(parse_form_edge_cases),
      cmocka_unit_test(multipart_finds_field_after_file_part),
      cmocka_unit_test(multipart_file_part_is_found_by_its_name),
      cmocka_unit_test(multipart_boundary_variants),
      cmocka_unit_test(multipart_missing_or_wrong_boundary),
      cmocka_unit_test(multipart_truncated_body),
      cmocka_unit_test(multipart_stops_at_closing_delimiter),
      cmocka_unit_test(text_helpers),
      cmocka_unit_test(utf8_valid_follows_rfc3629),
      cmocka_unit_test(utf8_sanitize_replaces_each_maximal_subpart),
      cmocka_unit_test(utf8_sanitize_never_cuts_a_character),
  };
  return cmocka_run_group_tests_name("text", tests, nullptr, nullptr);
}
