// Mail text for the outbox: templates, header hygiene, RFC 2047 words, the message itself.
// Encoded words are decoded with OpenSSL's EVP_DecodeBlock, independently of the code tested.
#include "unit.hpp"

#include <openssl/evp.h>

#include <map>
#include <string>
#include <vector>

#include "sg/mail.hpp"

namespace {
constexpr sg::Micros kSecond = sg::kMicrosPerSecond;
// date -u -d @1795449845 -> Mon, 23 Nov 2026 16:04:05 +0000 (python3 datetime, too)
constexpr sg::Micros kMonday = 1795449845LL * kSecond;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (std::size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
    lines.push_back(text.substr(start, nl - start));
  }
  if (start < text.size()) lines.push_back(text.substr(start));
  return lines;
}

// Decodes every "=?UTF-8?B?...?=" word of a folded header value; empty string on a bad word.
std::string decode_words(const std::string& value, std::size_t& words, std::size_t& longest) {
  std::string out;
  words = 0;
  longest = 0;
  std::size_t pos = 0;
  while ((pos = value.find("=?UTF-8?B?", pos)) != std::string::npos) {
    std::size_t end = value.find("?=", pos + 10);
    if (end == std::string::npos) return {};
    std::string b64 = value.substr(pos + 10, end - pos - 10);
    longest = std::max(longest, end + 2 - pos);
    std::vector<unsigned char> raw(b64.size());
    int n = EVP_DecodeBlock(raw.data(), reinterpret_cast<const unsigned char*>(b64.data()), static_cast<int>(b64.size()));
    if (n < 0) return {};
    std::size_t padding = 0;
    if (!b64.empty() && b64.back() == '=') ++padding;
    if (b64.size() > 1 && b64[b64.size() - 2] == '=') ++padding;
    std::string chunk(reinterpret_cast<char*>(raw.data()), static_cast<std::size_t>(n) - padding);
    // Each word must hold whole UTF-8 characters: it must not start with a continuation byte.
    if (!chunk.empty() && (static_cast<unsigned char>(chunk[0]) & 0xC0) == 0x80) return "<split character>";
    out += chunk;
    ++words;
    pos = end + 2;
  }
  return out;
}
}  // namespace

SG_TEST(expand_replaces_known_names) {
  std::map<std::string, std::string> v = {{"user", "alice"}, {"id", "85C8A1F2"}, {"admin", "root"}};
  assert_str_eq(sg::mail::expand("Session {id} of {user} ended by {admin}.", v),
                "Session 85C8A1F2 of alice ended by root.");
  assert_str_eq(sg::mail::expand("{user}{id}", v), "alice85C8A1F2");
  assert_str_eq(sg::mail::expand("", v), "");
}

SG_TEST(expand_keeps_unknown_and_malformed_placeholders) {
  std::map<std::string, std::string> v = {{"user", "alice"}};
  assert_str_eq(sg::mail::expand("Hello {name}, {user}", v), "Hello {name}, alice");
  assert_str_eq(sg::mail::expand("open {user", v), "open {user");
  assert_str_eq(sg::mail::expand("}{user}{", v), "}alice{");
  assert_str_eq(sg::mail::expand("{{user}}", v), "{alice}");
  assert_str_eq(sg::mail::expand("{}", v), "{}");
}

SG_TEST(expand_does_not_expand_values) {
  std::map<std::string, std::string> v = {{"user", "{secret}"}, {"secret", "LEAK"}};
  assert_str_eq(sg::mail::expand("Hi {user}", v), "Hi {secret}");
}

SG_TEST(header_text_removes_line_breaks_and_controls) {
  assert_str_eq(sg::mail::header_text("Hello\r\nBcc: evil@example.com"), "Hello  Bcc: evil@example.com");
  assert_str_eq(sg::mail::header_text(std::string("a\0b\tc\x7f" "d", 7)), "a b c d");
  assert_str_eq(sg::mail::header_text("Zoë — ok"), "Zoë — ok");
}

SG_TEST(encode_header_leaves_ascii_alone) {
  assert_str_eq(sg::mail::encode_header("Your session was ended"), "Your session was ended");
  assert_str_eq(sg::mail::encode_header("a\nb"), "a b");
}

SG_TEST(encode_header_encodes_utf8_in_short_words) {
  assert_str_eq(sg::mail::encode_header("Zoë"), "=?UTF-8?B?Wm/Dqw==?=");
  std::string subject = "Sitzung beendet: Zoë Müller hat sich auf einem neuen Gerät angemeldet — ✓✓✓✓✓✓✓✓✓✓";
  std::string encoded = sg::mail::encode_header(subject);
  std::size_t words = 0, longest = 0;
  assert_str_eq(decode_words(encoded, words, longest), subject);
  assert_true(words >= 2);
  assert_true(longest <= 75);  // RFC 2047 section 2
  // Folded with CRLF-less LF + space (sendmail converts), never a bare line break.
  for (const auto& line : lines_of(encoded)) {
    assert_true(line.rfind("=?UTF-8?B?", 0) == 0 || line.rfind(" =?UTF-8?B?", 0) == 0);
  }
}

SG_TEST(encode_header_never_splits_a_character) {
  // 3-byte characters at every alignment against the 45-byte chunks.
  for (int prefix = 0; prefix < 3; ++prefix) {
    std::string subject = std::string(static_cast<std::size_t>(prefix), 'x');
    for (int i = 0; i < 40; ++i) subject += "€";
    std::size_t words = 0, longest = 0;
    assert_str_eq(decode_words(sg::mail::encode_header(subject), words, longest), subject);
  }
}

SG_TEST(encode_header_cannot_inject_headers) {
  std::string encoded = sg::mail::encode_header("Zoë\r\nBcc: evil@example.com");
  assert_not_contains(encoded, "\r");
  for (const auto& line : lines_of(encoded)) {
    assert_true(line.rfind("Bcc", 0) != 0);
  }
  std::size_t words = 0, longest = 0;
  assert_str_eq(decode_words(encoded, words, longest), "Zoë  Bcc: evil@example.com");
}

SG_TEST(valid_addresses) {
  for (const char* good : {"alice@example.com", "a.b+tag@sub.example.org", "x@y", "o'brien@example.ie"}) {
    if (!sg::mail::valid_address(good)) fail_msg("'%s' should be valid", good);
  }
  std::string at_limit = std::string(242, 'a') + "@example.com";  // 254 bytes
  assert_int_equal(at_limit.size(), 254);
  assert_true(sg::mail::valid_address(at_limit));
}

SG_TEST(invalid_addresses) {
  for (const char* bad : {"", "alice", "@example.com", "alice@", "-oQ/tmp/x@example.com", "a b@example.com",
                          "alice@example.com\n", "alice@example.com\r\nBcc: x@y", "<alice@example.com>",
                          "alice@example.com, bob@example.com", "alice@example.com;", "\"a\"@example.com",
                          "a\\b@example.com", "(c)a@example.com", "a\t@example.com"}) {
    if (sg::mail::valid_address(bad)) fail_msg("'%s' should be invalid", bad);
  }
  assert_false(sg::mail::valid_address(std::string(243, 'a') + "@example.com"));  // 255 bytes
  assert_false(sg::mail::valid_address(std::string("a\0b@example.com", 15)));
}

SG_TEST(format_message_headers) {
  std::string m = sg::mail::format_message("Session Guard <guard@example.com>", "alice@example.com",
                                           "Your session was ended", "Hello.", kMonday, "42.1795449845@example.com");
  auto lines = lines_of(m);
  assert_true(lines.size() >= 11);
  assert_str_eq(lines[0], "From: Session Guard <guard@example.com>");
  assert_str_eq(lines[1], "To: alice@example.com");
  assert_str_eq(lines[2], "Subject: Your session was ended");
  assert_str_eq(lines[3], "Date: Mon, 23 Nov 2026 16:04:05 +0000");
  assert_str_eq(lines[4], "Message-ID: <42.1795449845@example.com>");
  assert_contains(m, "\nMIME-Version: 1.0\n");
  assert_contains(m, "\nContent-Type: text/plain; charset=UTF-8\n");
  assert_contains(m, "\nAuto-Submitted: auto-generated\n");
  assert_contains(m, "\n\nHello.\n");
  assert_not_contains(m, "\r");
}

SG_TEST(format_message_date_of_a_leap_day) {
  std::string m = sg::mail::format_message("a@b", "c@d", "s", "", 951868799LL * kSecond, "id@b");
  assert_contains(m, "\nDate: Tue, 29 Feb 2000 23:59:59 +0000\n");
}

SG_TEST(format_message_cannot_be_given_extra_headers) {
  std::string m = sg::mail::format_message("guard@example.com\nBcc: a@evil", "alice@example.com\r\nBcc: b@evil",
                                           "Hi\nBcc: c@evil", "body", kMonday, "id@example.com>\nBcc: d@evil");
  std::string headers = m.substr(0, m.find("\n\n"));
  for (const auto& line : lines_of(headers)) {
    if (line.rfind("Bcc", 0) == 0) fail_msg("injected header line: %s", line.c_str());
  }
}

SG_TEST(format_message_body_line_ends_and_lone_dots) {
  std::string m = sg::mail::format_message("a@b", "c@d", "s", "line one\r\n.\r\n..\r\nlast", kMonday, "id@b");
  std::string body = m.substr(m.find("\n\n") + 2);
  assert_str_eq(body, "line one\n..\n..\nlast\n");
  std::string bare = sg::mail::format_message("a@b", "c@d", "s", "one\rtwo", kMonday, "id@b");
  assert_true(bare.back() == '\n');
}

SG_TEST(format_message_encodes_a_utf8_subject) {
  std::string m = sg::mail::format_message("a@b", "c@d", "Zoë", "Grüße", kMonday, "id@b");
  assert_contains(m, "\nSubject: =?UTF-8?B?Wm/Dqw==?=\n");
  assert_contains(m, "\n\nGrüße\n");  // 8bit body, as declared
}

SG_TEST(retry_delay_doubles_up_to_the_cap) {
  const sg::Micros base = 60 * kSecond, cap = 3600 * kSecond;
  assert_int_equal(sg::mail::retry_delay(1, base, cap), 60 * kSecond);
  assert_int_equal(sg::mail::retry_delay(2, base, cap), 120 * kSecond);
  assert_int_equal(sg::mail::retry_delay(3, base, cap), 240 * kSecond);
  assert_int_equal(sg::mail::retry_delay(6, base, cap), 1920 * kSecond);
  assert_int_equal(sg::mail::retry_delay(7, base, cap), cap);
  assert_int_equal(sg::mail::retry_delay(1000000, base, cap), cap);
  assert_int_equal(sg::mail::retry_delay(0, base, cap), base);
  assert_int_equal(sg::mail::retry_delay(-5, base, cap), base);
  assert_int_equal(sg::mail::retry_delay(1, 2 * cap, cap), cap);
}

SG_TEST(format_utc_text) {
  assert_str_eq(sg::mail::format_utc(kMonday), "2026-11-23 16:04:05 UTC");
  assert_str_eq(sg::mail::format_utc(kMonday + 999999), "2026-11-23 16:04:05 UTC");
  assert_str_eq(sg::mail::format_utc(0), "1970-01-01 00:00:00 UTC");
}

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(expand_replaces_known_names),
      cmocka_unit_test(expand_keeps_unknown_and_malformed_placeholders),
      cmocka_unit_test(expand_does_not_expand_values),
      cmocka_unit_test(header_text_removes_line_breaks_and_controls),
      cmocka_unit_test(encode_header_leaves_ascii_alone),
      cmocka_unit_test(encode_header_encodes_utf8_in_short_words),
      cmocka_unit_test(encode_header_never_splits_a_character),
      cmocka_unit_test(encode_header_cannot_inject_headers),
      cmocka_unit_test(valid_addresses),
      cmocka_unit_test(invalid_addresses),
      cmocka_unit_test(format_message_headers),
      cmocka_unit_test(format_message_date_of_a_leap_day),
      cmocka_unit_test(format_message_cannot_be_given_extra_headers),
      cmocka_unit_test(format_message_body_line_ends_and_lone_dots),
      cmocka_unit_test(format_message_encodes_a_utf8_subject),
      cmocka_unit_test(retry_delay_doubles_up_to_the_cap),
      cmocka_unit_test(format_utc_text),
  };
  return cmocka_run_group_tests_name("mail", tests, nullptr, nullptr);
}
