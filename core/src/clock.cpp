#include "sg/clock.hpp"

#include <chrono>
#include <ctime>

namespace sg {

Micros wall_clock_micros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Micros monotonic_micros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string format_utc(Micros micros, const char* strftime_format) {
  std::time_t seconds = static_cast<std::time_t>(micros / kMicrosPerSecond);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buffer[64];
  std::size_t n = std::strftime(buffer, sizeof buffer, strftime_format, &tm);
  return std::string(buffer, n);
}

}  // namespace sg
