// The one home of the time the program reads and writes: the wall clock (what is stored and
// shown, UTC), a monotonic clock (for intervals only), and formatting in UTC.
#pragma once
#include <string>

#include "sg/types.hpp"

namespace sg {

Micros wall_clock_micros();
// Never goes back (NTP steps the wall clock): for timeouts and intervals, never stored.
Micros monotonic_micros();
// `micros` since the epoch, in UTC, with a strftime format ("%Y-%m-%d %H:%M:%S").
std::string format_utc(Micros micros, const char* strftime_format);

}  // namespace sg
