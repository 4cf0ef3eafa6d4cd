// MariaDB Connector/C behind a small RAII surface: prepared statements only, errors as StoreError.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "sg/poller.hpp"  // StoreError

struct st_mysql;
struct st_mysql_stmt;

namespace sg::db {

// InnoDB chose this transaction as a deadlock victim and rolled all of it back: the caller
// may run the whole transaction again.
struct DeadlockError : StoreError {
  using StoreError::StoreError;
};

struct Null {};
using Param = std::variant<Null, std::string, std::int64_t>;
using Row = std::vector<std::optional<std::string>>;

struct ConnectOptions {
  std::string option_file;  // a MariaDB option file, e.g. /etc/session-guard/db.cnf
  std::string group = "session_guard";
  unsigned connect_timeout_seconds = 2;
  unsigned io_timeout_seconds = 5;
};

// Initialises Connector/C once, before any thread exists: the implicit initialisation in
// mysql_init is not thread-safe, and a child's poller and request threads may race into it.
void initialize_library();

class Connection {
 public:
  explicit Connection(const ConnectOptions& options);  // throws StoreError
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  std::vector<Row> query(std::string_view sql, const std::vector<Param>& params = {});
  std::uint64_t execute(std::string_view sql, const std::vector<Param>& params = {});  // affected rows
  std::uint64_t last_insert_id() const { return last_insert_id_; }

  void begin();
  void commit();
  void rollback() noexcept;

 private:
  st_mysql_stmt* prepared(std::string_view sql);
  st_mysql_stmt* run(std::string_view sql, const std::vector<Param>& params);
  [[noreturn]] void fail(const std::string& what, st_mysql_stmt* stmt = nullptr);

  st_mysql* mysql_ = nullptr;
  std::unordered_map<std::string, st_mysql_stmt*> statements_;
  std::uint64_t last_insert_id_ = 0;
};

// Commits explicitly; rolls back if left without commit (an exception, an early return).
class Transaction {
 public:
  explicit Transaction(Connection& connection) : connection_(connection) { connection_.begin(); }
  ~Transaction() {
    if (!done_) connection_.rollback();
  }
  void commit() {
    connection_.commit();
    done_ = true;
  }

 private:
  Connection& connection_;
  bool done_ = false;
};

// Helpers for the microsecond timestamps we pass as integers (UTC, see the session time_zone).
inline std::int64_t to_int(const std::optional<std::string>& value) { return value ? std::stoll(*value) : 0; }
inline std::string to_text(const std::optional<std::string>& value) { return value.value_or(""); }

}  // namespace sg::db
