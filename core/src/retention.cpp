#include "sg/retention.hpp"

namespace sg {

std::optional<Micros> revocation_prune_age(std::optional<Micros> longest_reported_retention) {
  if (!longest_reported_retention || *longest_reported_retention <= 0) return std::nullopt;
  return *longest_reported_retention + 3600 * kMicrosPerSecond;
}

}  // namespace sg
