// Shared by the libFuzzer targets (fuzz/fuzz_*.cpp): inputs are text, split into lines, so
// the seed corpora in fuzz/corpus/<target>/ can be read and written by hand.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace fuzz {

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Takes the first line (without its '\n') off `rest`; all of it when there is no '\n'.
inline std::string_view take_line(std::string_view& rest) {
  std::size_t newline = rest.find('\n');
  std::string_view line = rest.substr(0, newline);
  rest = newline == std::string_view::npos ? std::string_view{} : rest.substr(newline + 1);
  return line;
}

// True when `part` is a view into `whole` (parsers that return views must not invent bytes).
inline bool within(std::string_view part, std::string_view whole) {
  if (part.empty()) return true;
  auto begin = reinterpret_cast<std::uintptr_t>(whole.data());
  auto at = reinterpret_cast<std::uintptr_t>(part.data());
  return at >= begin && at + part.size() <= begin + whole.size();
}

// Up to 8 bytes of `bytes` as a number (0 when empty): limits and positions from the input.
inline std::uint64_t number_from(std::string_view bytes) {
  std::uint64_t n = 0;
  for (std::size_t i = 0; i < bytes.size() && i < 8; ++i) n = n << 8 | static_cast<unsigned char>(bytes[i]);
  return n;
}

[[noreturn]] inline void broken(const char* what, const char* file, int line) {
  std::fprintf(stderr, "\n*** invariant broken at %s:%d: %s\n", file, line, what);
  std::abort();  // libFuzzer saves the input as a crash artifact
}

}  // namespace fuzz

// An invariant of the reader: a violation is a finding, like a crash.
#define FUZZ_CHECK(cond) ((cond) ? (void)0 : fuzz::broken(#cond, __FILE__, __LINE__))
