// Shared glue for the cmocka unit tests of the core (not a test binary itself: the Makefile
// only builds tests/unit/test_*.cpp).
//
// cmocka is C: a failed assertion longjmps out of the test function. That is fine for our
// tests (destructors skipped on failure only leak memory of a failed test), but a C++
// exception must never reach cmocka's frames, so every test body runs inside SG_TEST, which
// turns an escaping exception into a cmocka failure outside of any catch block.
#pragma once

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
// cmocka 1.1's header declares part of its API (print_error, ...) without C linkage.
extern "C" {
#include <cmocka.h>
}

#include <cstdio>
#include <exception>
#include <string>
#include <string_view>

#include "sg/types.hpp"

namespace unit {

template <typename Body>
void guarded(const char* name, Body body) {
  std::string error;
  bool threw = false;
  try {
    body();
  } catch (const std::exception& e) {
    threw = true;
    error = e.what();
  } catch (...) {
    threw = true;
    error = "an exception not derived from std::exception";
  }
  if (threw) fail_msg("%s: unexpected C++ exception: %s", name, error.c_str());
}

inline std::string str(std::string_view view) { return std::string(view); }

}  // namespace unit

// SG_TEST(name) { ... } defines a cmocka test `name` whose body is exception-safe.
#define SG_TEST(name)                                                     \
  static void name##_body();                                              \
  static void name(void** state) {                                        \
    (void)state;                                                          \
    unit::guarded(#name, [] { name##_body(); });                          \
  }                                                                       \
  static void name##_body()

// Equality of anything convertible to std::string_view, printed on failure.
#define assert_str_eq(actual, expected)                                   \
  do {                                                                    \
    const std::string sg_actual_ = unit::str(actual);                     \
    const std::string sg_expected_ = unit::str(expected);                 \
    if (sg_actual_ != sg_expected_) {                                     \
      fail_msg("%s == %s\n  actual:   \"%s\" (%zu bytes)\n  expected: \"%s\" (%zu bytes)", #actual, #expected, \
               sg_actual_.c_str(), sg_actual_.size(), sg_expected_.c_str(), sg_expected_.size()); \
    }                                                                     \
  } while (0)

// Substring check with a readable message.
#define assert_contains(haystack, needle)                                 \
  do {                                                                    \
    const std::string sg_hay_ = unit::str(haystack);                      \
    const std::string sg_needle_ = unit::str(needle);                     \
    if (sg_hay_.find(sg_needle_) == std::string::npos) {                  \
      fail_msg("\"%s\" does not contain \"%s\"", sg_hay_.c_str(), sg_needle_.c_str()); \
    }                                                                     \
  } while (0)

#define assert_not_contains(haystack, needle)                             \
  do {                                                                    \
    const std::string sg_hay_ = unit::str(haystack);                      \
    const std::string sg_needle_ = unit::str(needle);                     \
    if (sg_hay_.find(sg_needle_) != std::string::npos) {                  \
      fail_msg("\"%s\" unexpectedly contains \"%s\"", sg_hay_.c_str(), sg_needle_.c_str()); \
    }                                                                     \
  } while (0)

// Reasons compared by name so a failure says "killed != blocked", not "1 != 2".
#define assert_reason(actual, expected)                                   \
  assert_str_eq(sg::to_string(actual), sg::to_string(expected))
