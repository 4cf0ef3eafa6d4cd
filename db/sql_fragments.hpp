// Pieces of SQL text the repositories build statements from; values are always bound.
#pragma once
#include <string>

namespace sg::db {

// A DATETIME(6) column as microseconds since the epoch (0 for NULL, read by to_int).
inline std::string micros_of(const char* column) {
  return std::string("CAST(UNIX_TIMESTAMP(") + column + ") * 1000000 AS SIGNED)";
}

// The bound value of `col LIKE ?` that finds `text` anywhere, with LIKE's wildcards escaped.
inline std::string contains_pattern(const std::string& text) {
  std::string like = "%";
  for (char c : text) {
    if (c == '%' || c == '_' || c == '\\') like.push_back('\\');
    like.push_back(c);
  }
  return like + "%";
}

}  // namespace sg::db
