// Session fingerprints: SHA-256 of "name=value", shown as 64 lowercase hex digits (DB) or
// 8 uppercase ones (people). The expected digests below were computed outside this code base:
//   printf 'PHPSESSID=abc' | sha256sum
//   printf 'PHPSESSID=' | sha256sum
//   python3 -c "import hashlib;print(hashlib.sha256(b'PHPSESSID='+b'x'*8192).hexdigest())"
//   python3 -c "import hashlib;print(hashlib.sha256(b'PHPSESSID=\xff\xfe\x00z').hexdigest())"
#include "unit.hpp"

#include <cctype>
#include <set>
#include <string>

#include "sg/fingerprint.hpp"
#include "sg/signout_link.hpp"
#include "sg/types.hpp"

namespace {
constexpr const char* kAbc = "e341458678956121dcb8e002df2e7366c0da15b6d79848e156f1869a0a4054a0";
constexpr const char* kEmpty = "34c2095b2e77fdfb9d256f499f63c8681e63aa51165d787b37fbed1bb193869e";
constexpr const char* kEightKb = "5b31cb5374672dc798b3bb33b0cd403b0b9f4c11172d1a766e4a31426a4d5ab2";
constexpr const char* kBinary = "097cb27dc9f767e334fd18b835184845a42e0d08fc15998a87659afde724095b";
}  // namespace

SG_TEST(fingerprint_is_sha256_of_name_equals_value) {
  assert_str_eq(sg::session_fingerprint("PHPSESSID", "abc").hex(), kAbc);
  assert_str_eq(sg::session_fingerprint("PHPSESSID", "").hex(), kEmpty);
  assert_str_eq(sg::session_fingerprint("PHPSESSID", std::string(8192, 'x')).hex(), kEightKb);
  static const char binary[] = "\xff\xfe\0z";
  assert_str_eq(sg::session_fingerprint("PHPSESSID", std::string_view(binary, 4)).hex(), kBinary);
}

SG_TEST(fingerprint_bytes_match_hex) {
  auto fp = sg::session_fingerprint("PHPSESSID", "abc");
  assert_int_equal(fp.bytes[0], 0xe3);
  assert_int_equal(fp.bytes[1], 0x41);
  assert_int_equal(fp.bytes[31], 0xa0);
}

SG_TEST(hex_is_64_lowercase_digits) {
  for (const char* value : {"abc", "", "Z", "0123456789"}) {
    std::string hex = sg::session_fingerprint("CGISESSID", value).hex();
    assert_int_equal(hex.size(), 64);
    for (char c : hex) {
      assert_true((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
    }
  }
}

SG_TEST(short_id_is_first_8_digits_uppercase) {
  auto fp = sg::session_fingerprint("PHPSESSID", "abc");
  assert_str_eq(fp.short_id(), "E3414586");
  std::string other = sg::session_fingerprint("PHPSESSID", "another").short_id();
  assert_int_equal(other.size(), 8);
  for (char c : other) assert_true((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'));
  std::string upper = sg::session_fingerprint("PHPSESSID", "another").hex().substr(0, 8);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  assert_str_eq(other, upper);
}

SG_TEST(from_hex_round_trip) {
  for (const char* value : {"abc", "", "zzz", "another"}) {
    auto fp = sg::session_fingerprint("PHPSESSID", value);
    auto back = sg::Fingerprint::from_hex(fp.hex());
    assert_true(back.has_value());
    assert_true(*back == fp);
  }
  // Uppercase hex is accepted too (people paste what they see).
  std::string upper = kAbc;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto parsed = sg::Fingerprint::from_hex(upper);
  assert_true(parsed.has_value());
  assert_str_eq(parsed->hex(), kAbc);
}

SG_TEST(from_hex_rejects_bad_input) {
  std::string good = kAbc;
  assert_false(sg::Fingerprint::from_hex("").has_value());
  assert_false(sg::Fingerprint::from_hex(good.substr(0, 63)).has_value());
  assert_false(sg::Fingerprint::from_hex(good + "0").has_value());
  assert_false(sg::Fingerprint::from_hex(good.substr(0, 8)).has_value());  // a short id is not a fingerprint
  std::string bad = good;
  bad[10] = 'g';
  assert_false(sg::Fingerprint::from_hex(bad).has_value());
  bad = good;
  bad[63] = ' ';
  assert_false(sg::Fingerprint::from_hex(bad).has_value());
  bad = good;
  bad[0] = '\0';
  assert_false(sg::Fingerprint::from_hex(bad).has_value());
  bad = good;
  bad[1] = 'x';
  assert_false(sg::Fingerprint::from_hex(bad).has_value());
}

SG_TEST(cookie_name_is_part_of_the_fingerprint) {
  auto php = sg::session_fingerprint("PHPSESSID", "abc");
  auto cgi = sg::session_fingerprint("CGISESSID", "abc");
  assert_true(php != cgi);
  // The '=' between name and value is hashed: moving bytes from the name into the value
  // ("PHPSESSI=D=abc") or dropping the separator ("PHPSESSIDabc" as a name) changes the digest.
  assert_true(sg::session_fingerprint("PHPSESSI", "D=abc") != php);
  assert_true(sg::session_fingerprint("PHPSESSIDabc", "") != php);
  assert_true(sg::session_fingerprint("PHPSESSID", "abcd") != php);
}

SG_TEST(distinct_values_give_distinct_fingerprints) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) seen.insert(sg::session_fingerprint("PHPSESSID", std::to_string(i)).hex());
  assert_int_equal(seen.size(), 1000);
}

SG_TEST(fingerprint_is_deterministic) {
  assert_true(sg::session_fingerprint("PHPSESSID", "abc") == sg::session_fingerprint("PHPSESSID", "abc"));
  assert_true(sg::user_key("alice") == sg::user_key("alice"));
}

SG_TEST(user_key_differs_from_session_fingerprint) {
  auto alice = sg::user_key("alice");
  assert_true(alice != sg::user_key("bob"));
  assert_true(alice != sg::user_key("Alice"));
  assert_true(alice != sg::user_key(""));
  assert_true(alice != sg::session_fingerprint("user", "alice"));
  assert_true(alice != sg::session_fingerprint("PHPSESSID", "alice"));
  assert_true(alice != sg::session_fingerprint("user:alice", ""));
  assert_int_equal(alice.hex().size(), 64);
}

SG_TEST(fingerprint_ordering_is_strict_weak) {
  auto a = sg::session_fingerprint("PHPSESSID", "a");
  auto b = sg::session_fingerprint("PHPSESSID", "b");
  assert_true(a != b);
  assert_true((a < b) != (b < a));
  assert_false(a < a);
}

SG_TEST(reason_names_round_trip) {
  for (sg::Reason r : {sg::Reason::killed, sg::Reason::blocked, sg::Reason::superseded, sg::Reason::expired,
                       sg::Reason::logged_out, sg::Reason::unavailable, sg::Reason::refused}) {
    auto back = sg::reason_from_string(sg::to_string(r));
    assert_true(back.has_value());
    assert_int_equal(static_cast<int>(*back), static_cast<int>(r));
  }
  assert_str_eq(sg::to_string(sg::Reason::killed), "killed");
  assert_str_eq(sg::to_string(sg::Reason::blocked), "blocked");
  assert_str_eq(sg::to_string(sg::Reason::superseded), "superseded");
  assert_str_eq(sg::to_string(sg::Reason::expired), "expired");
  assert_false(sg::reason_from_string("none").has_value());
  assert_false(sg::reason_from_string("KILLED").has_value());
  assert_false(sg::reason_from_string("").has_value());
}

// Issue 9 case 16: the module's own tracking cookie carries a MAC, so made-up values are not
// sessions (each would be a database row).
SG_TEST(tracking_values_are_recognised_only_when_issued_with_the_key) {
  std::string value = sg::new_tracking_value("farm key");
  assert_true(sg::tracking_value_issued("farm key", value));
  assert_false(sg::tracking_value_issued("other key", value));
  std::string forged = value;
  forged[0] = forged[0] == 'a' ? 'b' : 'a';
  assert_false(sg::tracking_value_issued("farm key", forged));
  assert_false(sg::tracking_value_issued("farm key", std::string(64, '0')));
  assert_false(sg::tracking_value_issued("farm key", ""));
  assert_true(sg::new_tracking_value("farm key") != value);
}

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(fingerprint_is_sha256_of_name_equals_value),
      cmocka_unit_test(fingerprint_bytes_match_hex),
      cmocka_unit_test(hex_is_64_lowercase_digits),
      cmocka_unit_test(short_id_is_first_8_digits_uppercase),
      cmocka_unit_test(from_hex_round_trip),
      cmocka_unit_test(from_hex_rejects_bad_input),
      cmocka_unit_test(cookie_name_is_part_of_the_fingerprint),
      cmocka_unit_test(distinct_values_give_distinct_fingerprints),
      cmocka_unit_test(fingerprint_is_deterministic),
      cmocka_unit_test(user_key_differs_from_session_fingerprint),
      cmocka_unit_test(fingerprint_ordering_is_strict_weak),
      cmocka_unit_test(reason_names_round_trip),
      cmocka_unit_test(tracking_values_are_recognised_only_when_issued_with_the_key),
  };
  return cmocka_run_group_tests_name("fingerprint", tests, nullptr, nullptr);
}
