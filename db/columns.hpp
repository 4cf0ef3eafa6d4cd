// A result row read into a struct by a table of (SQL expression, member): the SELECT list and
// the reading come from the one table, so a column added to one cannot be missed in the other.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "mariadb.hpp"

namespace sg::db {

template <typename Record>
struct Column {
  std::string sql;
  std::variant<std::string Record::*, std::int64_t Record::*, std::uint64_t Record::*, int Record::*, bool Record::*,
               std::optional<int> Record::*>
      member;
};

inline void read_cell(const std::optional<std::string>& cell, std::string& out) { out = to_text(cell); }
inline void read_cell(const std::optional<std::string>& cell, std::int64_t& out) { out = to_int(cell); }
inline void read_cell(const std::optional<std::string>& cell, std::uint64_t& out) {
  out = static_cast<std::uint64_t>(to_int(cell));
}
inline void read_cell(const std::optional<std::string>& cell, int& out) { out = static_cast<int>(to_int(cell)); }
inline void read_cell(const std::optional<std::string>& cell, bool& out) { out = to_int(cell) != 0; }
// NULL stays unset.
inline void read_cell(const std::optional<std::string>& cell, std::optional<int>& out) {
  if (cell) out = static_cast<int>(to_int(cell));
}

// "a, b, c": the columns' expressions, for a SELECT.
template <typename Record>
std::string select_list(const std::vector<Column<Record>>& columns) {
  std::string list;
  for (const auto& column : columns) list += (list.empty() ? "" : ", ") + column.sql;
  return list;
}

// Fills `record` from the row's cells `first`, `first + 1`, ... in the table's order.
template <typename Record>
void read_into(Record& record, const std::vector<Column<Record>>& columns, const Row& row, std::size_t first = 0) {
  for (std::size_t i = 0; i < columns.size(); ++i)
    std::visit([&](auto member) { read_cell(row[first + i], record.*member); }, columns[i].member);
}

template <typename Record>
Record read_record(const std::vector<Column<Record>>& columns, const Row& row) {
  Record record;
  read_into(record, columns, row);
  return record;
}

}  // namespace sg::db
