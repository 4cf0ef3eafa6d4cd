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

#include "sg/store_error.hpp"

struct st_mysql;
struct st_mysql_stmt;

namespace sg::db {

// InnoDB chose this transaction as a deadlock victim, or Galera refused it at commit for a
// conflicting write through another node, and rolled all of it back: the caller may run the
// whole transaction again.
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

// One database server of an ordered list: `host=a:3306,b:3306` in the option file (the
// syntax Connector/C 3.3 accepts natively, which we read ourselves to add the Galera check
// and the preference order; see Connection).
struct ServerAddress {
  std::string host;
  unsigned port = 0;  // 0: the file's port= or Connector/C's default
  bool operator==(const ServerAddress& other) const { return host == other.host && port == other.port; }
  std::string text() const;
};

// "h1:p1,h2,[::1]:p3" -> addresses; throws StoreError on a malformed entry (a port that is
// not 1-65535, an unclosed bracket, an empty entry between commas).
std::vector<ServerAddress> parse_host_list(std::string_view text, unsigned default_port);

// The servers an option file names for `group` as Connector/C reads it: the groups client,
// client-server, client-mariadb and `group`, later lines winning, `!include` followed.
// Empty when the file names no host (a socket, or Connector/C's defaults).
std::vector<ServerAddress> servers_in_option_file(const std::string& file, const std::string& group);

// How long a server that refused us (down, or a Galera node not synced and primary) is
// skipped by new connections of this process before it is tried again (the fail-back).
constexpr unsigned kServerRetrySeconds = 10;

// Initialises Connector/C once, before any thread exists: the implicit initialisation in
// mysql_init is not thread-safe, and a child's poller and request threads may race into it.
void initialize_library();

// Without a host named (a socket) Connector/C connects as the option file says. A named host
// may carry its port ("db1:3307", which Connector/C alone would take for a host name). With a list,
// the servers are tried in the listed order, skipping those that failed in the last
// kServerRetrySeconds, each with the short connect timeout, and one that is a Galera node not
// ready (not synced and primary: it would refuse every query) counts as failed. A connection
// on a later server than the first moves back to an earlier one that answers again, between
// transactions, at most every kServerRetrySeconds: every instance listing the nodes in the same
// order writes to the same node, which avoids Galera's certification conflicts.
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

  // The server this connection is on ("127.0.0.1:3307"), empty when the option file chose it.
  const std::string& server() const { return server_; }

 private:
  void connect_first_ready();
  void maybe_fail_back();
  void drop_statements() noexcept;
  st_mysql_stmt* prepared(std::string_view sql);
  st_mysql_stmt* run(std::string_view sql, const std::vector<Param>& params);
  [[noreturn]] void fail(const std::string& what, st_mysql_stmt* stmt = nullptr);

  st_mysql* mysql_ = nullptr;
  std::unordered_map<std::string, st_mysql_stmt*> statements_;
  std::uint64_t last_insert_id_ = 0;
  ConnectOptions options_;
  std::vector<ServerAddress> servers_;  // from host=, empty when the file names none
  std::size_t server_index_ = 0;
  std::string server_;
  bool in_transaction_ = false;
  std::int64_t next_fail_back_ = 0;  // steady clock, seconds
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
