// When a revocation may be deleted (sg/retention.hpp): what instances report may keep one
// longer than the administrator's floor, never shorter, and an unknown report deletes none.
#include "unit.hpp"

#include "sg/retention.hpp"

namespace {
constexpr sg::Micros kHour = 3600 * sg::kMicrosPerSecond;
constexpr sg::Micros kDay = 24 * kHour;

sg::ReportedRetentions reports(std::uint64_t instances, sg::Micros shortest, sg::Micros longest) {
  sg::ReportedRetentions r;
  r.instances = instances;
  r.shortest = shortest;
  r.longest = longest;
  return r;
}
}  // namespace

SG_TEST(the_longest_report_or_the_floor_plus_an_hour) {
  sg::RetentionPolicy policy;  // floor: a week
  assert_true(sg::revocation_prune_age(policy, reports(2, 7 * kDay, 20 * kDay)) == 20 * kDay + kHour);
  assert_true(sg::revocation_prune_age(policy, reports(1, kHour, kHour)) == 7 * kDay + kHour);
  policy.revocations = kHour;
  assert_true(sg::revocation_prune_age(policy, reports(1, kHour, kHour)) == 2 * kHour);
}

SG_TEST(no_report_none_or_one_not_a_modules_deletes_nothing) {
  sg::RetentionPolicy policy;
  assert_false(sg::revocation_prune_age(policy, reports(0, 0, 0)).has_value());
  assert_false(sg::revocation_prune_age(policy, reports(2, 0, 7 * kDay)).has_value());   // an older module
  assert_false(sg::revocation_prune_age(policy, reports(1, -kDay, 7 * kDay)).has_value());
  assert_false(
      sg::revocation_prune_age(policy, reports(1, kDay, sg::ServerConfig::kMaxRevocationRetention + 1)).has_value());
  assert_true(sg::revocation_prune_age(policy, reports(1, kDay, sg::ServerConfig::kMaxRevocationRetention)) ==
              sg::ServerConfig::kMaxRevocationRetention + kHour);
}

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(the_longest_report_or_the_floor_plus_an_hour),
      cmocka_unit_test(no_report_none_or_one_not_a_modules_deletes_nothing),
  };
  return cmocka_run_group_tests_name("retention", tests, nullptr, nullptr);
}
