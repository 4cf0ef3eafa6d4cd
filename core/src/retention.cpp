#include "sg/retention.hpp"

#include <algorithm>

namespace sg {

std::optional<Micros> revocation_prune_age(const RetentionPolicy& policy, const ReportedRetentions& reported) {
  if (reported.instances == 0 || reported.shortest <= 0 || reported.longest > ServerConfig::kMaxRevocationRetention) {
    return std::nullopt;
  }
  return std::max(policy.revocations, reported.longest) + 3600 * kMicrosPerSecond;
}

}  // namespace sg
