#include "mariadb.hpp"

#include <mysql.h>

#include <cstring>

namespace sg::db {

void initialize_library() {
  if (mysql_library_init(0, nullptr, nullptr) != 0) throw StoreError("cannot initialise the MariaDB client library");
}

Connection::Connection(const ConnectOptions& options) {
  mysql_ = mysql_init(nullptr);
  if (mysql_ == nullptr) throw StoreError("out of memory creating a MariaDB handle");
  mysql_optionsv(mysql_, MYSQL_READ_DEFAULT_FILE, options.option_file.c_str());
  mysql_optionsv(mysql_, MYSQL_READ_DEFAULT_GROUP, options.group.c_str());
  mysql_optionsv(mysql_, MYSQL_OPT_CONNECT_TIMEOUT, &options.connect_timeout_seconds);
  mysql_optionsv(mysql_, MYSQL_OPT_READ_TIMEOUT, &options.io_timeout_seconds);
  mysql_optionsv(mysql_, MYSQL_OPT_WRITE_TIMEOUT, &options.io_timeout_seconds);
  // Every server must read and write times the same way whatever its local zone.
  mysql_optionsv(mysql_, MYSQL_INIT_COMMAND, "SET time_zone='+00:00'");
  mysql_optionsv(mysql_, MYSQL_SET_CHARSET_NAME, "utf8mb4");
  if (mysql_real_connect(mysql_, nullptr, nullptr, nullptr, nullptr, 0, nullptr, 0) == nullptr) {
    std::string error = mysql_error(mysql_);
    mysql_close(mysql_);
    mysql_ = nullptr;
    throw StoreError("cannot connect to MariaDB (options file " + options.option_file + ", group [" + options.group +
                     "]): " + error);
  }
}

Connection::~Connection() {
  for (auto& [sql, stmt] : statements_) mysql_stmt_close(stmt);
  if (mysql_ != nullptr) mysql_close(mysql_);
}

void Connection::fail(const std::string& what, st_mysql_stmt* stmt) {
  std::string error = stmt != nullptr ? mysql_stmt_error(stmt) : mysql_error(mysql_);
  throw StoreError(what + ": " + error);
}

st_mysql_stmt* Connection::prepared(std::string_view sql) {
  std::string key(sql);
  auto it = statements_.find(key);
  if (it != statements_.end()) return it->second;
  MYSQL_STMT* stmt = mysql_stmt_init(mysql_);
  if (stmt == nullptr) fail("cannot create a statement");
  if (mysql_stmt_prepare(stmt, key.data(), key.size()) != 0) {
    std::string error = mysql_stmt_error(stmt);
    mysql_stmt_close(stmt);
    throw StoreError("cannot prepare statement: " + error);
  }
  my_bool update_max_length = 1;
  mysql_stmt_attr_set(stmt, STMT_ATTR_UPDATE_MAX_LENGTH, &update_max_length);
  statements_.emplace(std::move(key), stmt);
  return stmt;
}

st_mysql_stmt* Connection::run(std::string_view sql, const std::vector<Param>& params) {
  MYSQL_STMT* stmt = prepared(sql);
  if (mysql_stmt_param_count(stmt) != params.size()) {
    throw StoreError("statement expects " + std::to_string(mysql_stmt_param_count(stmt)) + " parameters, got " +
                     std::to_string(params.size()));
  }
  std::vector<MYSQL_BIND> binds(params.size());
  std::vector<unsigned long> lengths(params.size());
  for (std::size_t i = 0; i < params.size(); ++i) {
    std::memset(&binds[i], 0, sizeof(MYSQL_BIND));
    if (auto* text = std::get_if<std::string>(&params[i])) {
      lengths[i] = text->size();
      binds[i].buffer_type = MYSQL_TYPE_STRING;
      binds[i].buffer = const_cast<char*>(text->data());
      binds[i].buffer_length = text->size();
      binds[i].length = &lengths[i];
    } else if (auto* number = std::get_if<std::int64_t>(&params[i])) {
      binds[i].buffer_type = MYSQL_TYPE_LONGLONG;
      binds[i].buffer = const_cast<std::int64_t*>(number);
    } else {
      binds[i].buffer_type = MYSQL_TYPE_NULL;
    }
  }
  if (!params.empty() && mysql_stmt_bind_param(stmt, binds.data()) != 0) fail("cannot bind parameters", stmt);
  if (mysql_stmt_execute(stmt) != 0) {
    // A statement cached on a connection that has since dropped is useless; forget them all.
    std::string error = mysql_stmt_error(stmt);
    unsigned code = mysql_stmt_errno(stmt);
    if (code == 2006 || code == 2013) {
      for (auto& entry : statements_) mysql_stmt_close(entry.second);
      statements_.clear();
    }
    if (code == 1213) throw DeadlockError("statement failed (1213): " + error);
    throw StoreError("statement failed (" + std::to_string(code) + "): " + error);
  }
  last_insert_id_ = mysql_stmt_insert_id(stmt);
  return stmt;
}

std::uint64_t Connection::execute(std::string_view sql, const std::vector<Param>& params) {
  MYSQL_STMT* stmt = run(sql, params);
  auto affected = mysql_stmt_affected_rows(stmt);
  mysql_stmt_free_result(stmt);
  return affected == static_cast<my_ulonglong>(-1) ? 0 : affected;
}

std::vector<Row> Connection::query(std::string_view sql, const std::vector<Param>& params) {
  MYSQL_STMT* stmt = run(sql, params);
  std::vector<Row> rows;
  if (mysql_stmt_store_result(stmt) != 0) fail("cannot read result", stmt);
  MYSQL_RES* meta = mysql_stmt_result_metadata(stmt);
  if (meta == nullptr) {
    mysql_stmt_free_result(stmt);
    return rows;
  }
  unsigned columns = mysql_num_fields(meta);
  MYSQL_FIELD* fields = mysql_fetch_fields(meta);
  std::vector<MYSQL_BIND> binds(columns);
  std::vector<std::vector<char>> buffers(columns);
  std::vector<unsigned long> lengths(columns);
  std::vector<my_bool> nulls(columns);
  for (unsigned i = 0; i < columns; ++i) {
    buffers[i].resize(fields[i].max_length + 1);
    std::memset(&binds[i], 0, sizeof(MYSQL_BIND));
    binds[i].buffer_type = MYSQL_TYPE_STRING;
    binds[i].buffer = buffers[i].data();
    binds[i].buffer_length = buffers[i].size();
    binds[i].length = &lengths[i];
    binds[i].is_null = &nulls[i];
  }
  mysql_free_result(meta);
  if (columns > 0 && mysql_stmt_bind_result(stmt, binds.data()) != 0) fail("cannot bind result", stmt);
  for (;;) {
    int status = mysql_stmt_fetch(stmt);
    if (status == MYSQL_NO_DATA) break;
    if (status == 1) fail("cannot fetch row", stmt);
    Row row;
    row.reserve(columns);
    for (unsigned i = 0; i < columns; ++i) {
      if (nulls[i]) row.emplace_back(std::nullopt);
      else row.emplace_back(std::string(buffers[i].data(), std::min<std::size_t>(lengths[i], buffers[i].size())));
    }
    rows.push_back(std::move(row));
  }
  mysql_stmt_free_result(stmt);
  return rows;
}

void Connection::begin() {
  if (mysql_query(mysql_, "START TRANSACTION") != 0) fail("cannot start a transaction");
}

void Connection::commit() {
  if (mysql_commit(mysql_) != 0) fail("commit failed");
}

void Connection::rollback() noexcept { mysql_rollback(mysql_); }

}  // namespace sg::db
