// Directive parsers (core/include/sg/config.hpp). Input: up to three lines, the directive's
// arguments; every parser reads them on each run. Whatever a parser accepts must be
// within the limits it promises.
#include <limits>
#include <string>
#include <vector>

#include "fuzz.hpp"
#include "sg/config.hpp"
#include "sg/text.hpp"
#include "sg/types.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view rest = fuzz::as_text(data, size);
  std::string_view a = fuzz::take_line(rest);
  std::string_view b = fuzz::take_line(rest);
  std::string_view c = fuzz::take_line(rest);

  // SessionGuardLoginForm / SessionGuardLogoutPath targets: a path and required parameters.
  sg::RequestTarget target;
  if (!sg::parse_request_target(a, target)) {
    FUZZ_CHECK(!target.path.empty() && target.path.front() == '/');
    FUZZ_CHECK(target.path.find('?') == std::string::npos);
    std::size_t q = a.find('?');
    std::string_view query = q == std::string_view::npos ? std::string_view{} : a.substr(q + 1);
    FUZZ_CHECK((q == std::string_view::npos) == target.query.empty());
    // The configured request itself matches; another path never does.
    FUZZ_CHECK(target.matches(target.path, query));
    FUZZ_CHECK(!target.matches(target.path + "x", query));
  }
  // Arbitrary requests against it: no crash, and a match needs the same path or one below
  // it (PATH_INFO: the app's script runs for /login.php/x too).
  if (!target.path.empty() && target.matches(b, c)) {
    FUZZ_CHECK(b == target.path || (b.size() > target.path.size() && b.substr(0, target.path.size()) == target.path &&
                                    b[target.path.size()] == '/'));
  }

  sg::DirConfig dir;
  std::vector<std::string> checks;
  if (!c.empty()) checks.emplace_back(c);
  if (!sg::parse_login_form(a, b, checks, dir)) {
    FUZZ_CHECK(dir.login_forms && dir.login_forms->size() == 1);
    const auto& form = dir.login_forms->front();
    FUZZ_CHECK(form.user_field == b);
    FUZZ_CHECK(!form.success.empty());
    for (const auto& check : form.success) {
      if (check.kind == sg::ResponseCheck::Kind::status) FUZZ_CHECK(check.status >= 100 && check.status <= 599);
      if (check.kind != sg::ResponseCheck::Kind::redirect_away && check.kind != sg::ResponseCheck::Kind::status) {
        FUZZ_CHECK(!check.text.empty());
      }
    }
    // A 2xx status alone is never accepted: it cannot tell a failed login from a good one.
    FUZZ_CHECK(!(form.success.size() == 1 && form.success[0].kind == sg::ResponseCheck::Kind::status &&
                 form.success[0].status >= 200 && form.success[0].status < 300));
  }
  if (!sg::parse_logout_path(a, checks, dir)) FUZZ_CHECK(dir.logout_targets && dir.logout_targets->size() == 1);
  std::vector<std::string> cookie_args{std::string(a)};
  if (!b.empty()) cookie_args.emplace_back(b);
  if (!sg::parse_cookie(cookie_args, dir)) {
    FUZZ_CHECK(dir.cookies && dir.cookies->size() == 1);
    const auto& cookie = dir.cookies->front();
    FUZZ_CHECK(!cookie.name.empty() && cookie.name.size() <= 64 && !cookie.path.empty() && cookie.path.front() == '/');
    FUZZ_CHECK(cookie.name.find_first_of(" \t;=,\r\n\"") == std::string::npos);
    FUZZ_CHECK(sg::parse_cookie(cookie_args, dir).has_value());  // the same name twice is refused
  }
  if (!sg::parse_message(a, b, dir)) FUZZ_CHECK(!dir.messages.empty() && b.size() <= 1000);

  std::optional<sg::DenyAction> action;
  if (!sg::parse_deny_action(a, b, action)) {
    FUZZ_CHECK(action.has_value());
    if (action->kind == sg::DenyAction::Kind::redirect) {
      FUZZ_CHECK(!action->url.empty() && action->url.find_first_of("\r\n") == std::string::npos);
    }
    if (action->kind == sg::DenyAction::Kind::status) FUZZ_CHECK(action->status >= 400 && action->status <= 599);
  }

  // Durations and counts, with limits taken from the third line.
  std::uint64_t raw = fuzz::number_from(c);
  const sg::Micros units[] = {1, 1000, sg::kMicrosPerSecond};
  sg::Micros unit = units[raw % 3];
  sg::Micros max = static_cast<sg::Micros>(raw >> 2);
  if (max <= 0) max = std::numeric_limits<sg::Micros>::max();
  sg::Micros min = static_cast<sg::Micros>(raw % 1000);
  std::optional<sg::Micros> duration;
  if (!sg::parse_duration(a, unit, min, max, duration)) {
    FUZZ_CHECK(duration && *duration >= min && *duration <= max);
  } else {
    FUZZ_CHECK(!duration);
  }
  std::optional<std::uint32_t> count;
  std::uint32_t low = static_cast<std::uint32_t>(raw & 0xff), high = static_cast<std::uint32_t>(raw >> 32);
  if (!sg::parse_count(a, low, high, count)) FUZZ_CHECK(count && *count >= low && *count <= high);

  std::optional<bool> flag;
  if (!sg::parse_on_off(a, flag)) FUZZ_CHECK(flag && (sg::iequals(a, "on") || sg::iequals(a, "off")));
  std::optional<sg::FailMode> mode;
  sg::parse_fail_mode(a, mode);
  sg::parse_max_sessions_action(a, flag);

  // Fingerprints as read from the database and the state file.
  if (auto fp = sg::Fingerprint::from_hex(a)) FUZZ_CHECK(fp->hex() == sg::to_lower(a));
  if (auto reason = sg::reason_from_string(a)) FUZZ_CHECK(sg::to_string(*reason) == a);
  return 0;
}
