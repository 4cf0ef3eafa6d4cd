#include "mariadb.hpp"

#include <mysql.h>

#include <cctype>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>

namespace sg::db {

void initialize_library() {
  if (mysql_library_init(0, nullptr, nullptr) != 0) throw StoreError("cannot initialise the MariaDB client library");
}

namespace {

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Servers this process saw fail, and until when new connections skip them. Per process: an
// Apache child pays at most one failed attempt per server per kServerRetrySeconds.
std::mutex g_down_mutex;
std::map<std::string, std::int64_t> g_down_until;

bool is_down(const std::string& server) {
  std::lock_guard<std::mutex> lock(g_down_mutex);
  auto it = g_down_until.find(server);
  return it != g_down_until.end() && it->second > now_seconds();
}

void mark_down(const std::string& server) {
  std::lock_guard<std::mutex> lock(g_down_mutex);
  g_down_until[server] = now_seconds() + kServerRetrySeconds;
}

void mark_up(const std::string& server) {
  std::lock_guard<std::mutex> lock(g_down_mutex);
  g_down_until.erase(server);
}

std::string trim(std::string_view text) {
  std::size_t begin = 0, end = text.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(text[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(text[end - 1]))) --end;
  return std::string(text.substr(begin, end - begin));
}

unsigned parse_port(std::string_view text, std::string_view entry) {
  unsigned port = 0;
  bool ok = !text.empty() && text.size() <= 5;
  for (char c : text) {
    if (c < '0' || c > '9') ok = false;
    else port = port * 10 + static_cast<unsigned>(c - '0');
  }
  if (!ok || port == 0 || port > 65535) throw StoreError("bad port in the database host list: " + std::string(entry));
  return port;
}

// Connector/C's option files: `key=value` under `[group]`; '-' and '_' are the same in keys;
// values may be quoted. Only what names the server matters here.
struct FileServer {
  std::optional<std::string> host;
  std::optional<std::string> port;
};

void read_option_file(const std::string& file, const std::string& group, FileServer& out, int depth) {
  if (depth > 8) return;  // as Connector/C, do not follow an include loop for ever
  std::ifstream in(file);
  if (!in) return;  // Connector/C reports a missing file itself when it connects
  bool wanted = false;
  std::string line;
  while (std::getline(in, line)) {
    std::string text = trim(line);
    if (text.empty() || text[0] == '#' || text[0] == ';') continue;
    if (text[0] == '[') {
      auto close = text.find(']');
      std::string name = trim(text.substr(1, close == std::string::npos ? std::string::npos : close - 1));
      wanted = name == group || name == "client" || name == "client-server" || name == "client-mariadb";
      continue;
    }
    if (text.rfind("!include ", 0) == 0) {
      std::string included = trim(text.substr(9));
      if (!included.empty() && included[0] != '/') {
        auto slash = file.rfind('/');
        if (slash != std::string::npos) included = file.substr(0, slash + 1) + included;
      }
      read_option_file(included, group, out, depth + 1);
      continue;
    }
    if (!wanted) continue;
    auto equals = text.find('=');
    if (equals == std::string::npos) continue;
    std::string key = trim(text.substr(0, equals));
    for (char& c : key) c = c == '-' ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = trim(text.substr(equals + 1));
    if (value.size() >= 2 && (value[0] == '"' || value[0] == '\'') && value.back() == value[0]) {
      value = value.substr(1, value.size() - 2);
    } else {
      value = trim(value.substr(0, value.find('#')));
    }
    if (key == "host") out.host = value;
    else if (key == "port") out.port = value;
  }
}

void close_quietly(MYSQL* handle) noexcept {
  if (handle != nullptr) mysql_close(handle);
}

// A handle connected to `server` (nullptr: wherever the option file says), or nullptr and why.
MYSQL* open_handle(const ConnectOptions& options, const ServerAddress* server, std::string& error) {
  MYSQL* handle = mysql_init(nullptr);
  if (handle == nullptr) throw StoreError("out of memory creating a MariaDB handle");
  mysql_optionsv(handle, MYSQL_READ_DEFAULT_FILE, options.option_file.c_str());
  mysql_optionsv(handle, MYSQL_READ_DEFAULT_GROUP, options.group.c_str());
  mysql_optionsv(handle, MYSQL_OPT_CONNECT_TIMEOUT, &options.connect_timeout_seconds);
  mysql_optionsv(handle, MYSQL_OPT_READ_TIMEOUT, &options.io_timeout_seconds);
  mysql_optionsv(handle, MYSQL_OPT_WRITE_TIMEOUT, &options.io_timeout_seconds);
  // Every server must read and write times the same way whatever its local zone.
  mysql_optionsv(handle, MYSQL_INIT_COMMAND, "SET time_zone='+00:00'");
  mysql_optionsv(handle, MYSQL_SET_CHARSET_NAME, "utf8mb4");
  // An explicit host and port win over the option file's; its user, password, database and
  // TLS settings still apply. A port of 0 leaves the file's port= (or the default).
  const char* host = server != nullptr ? server->host.c_str() : nullptr;
  unsigned port = server != nullptr ? server->port : 0;
  if (mysql_real_connect(handle, host, nullptr, nullptr, nullptr, port, nullptr, 0) == nullptr) {
    error = mysql_error(handle);
    mysql_close(handle);
    return nullptr;
  }
  return handle;
}

// A Galera node that is not synced and part of the primary component refuses queries
// (ER_UNKNOWN_COM_ERROR "WSREP has not yet prepared node for application use") or, as a
// donor, may block writes: such a node is no use to us. A server without Galera has none
// of these status variables (or wsrep_on=OFF) and is always ready.
bool galera_ready(MYSQL* handle, std::string& why) {
  if (mysql_query(handle,
                  "SELECT @@global.wsrep_on, "
                  "(SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'WSREP_READY'), "
                  "(SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
                  "WHERE VARIABLE_NAME = 'WSREP_LOCAL_STATE')") != 0) {
    // 1193: unknown system variable, a server built without wsrep.
    if (mysql_errno(handle) == 1193) return true;
    why = mysql_error(handle);
    return false;
  }
  MYSQL_RES* result = mysql_store_result(handle);
  if (result == nullptr) {
    why = mysql_error(handle);
    return false;
  }
  MYSQL_ROW row = mysql_fetch_row(result);
  bool ready = true;
  if (row != nullptr && row[0] != nullptr && std::strcmp(row[0], "1") == 0) {
    std::string state = row[1] != nullptr ? row[1] : "";
    std::string local = row[2] != nullptr ? row[2] : "";
    ready = state == "ON" && local == "4";
    if (!ready) why = "Galera node not ready (wsrep_ready=" + state + ", wsrep_local_state=" + local + ")";
  }
  mysql_free_result(result);
  return ready;
}

}  // namespace

std::string ServerAddress::text() const {
  std::string name = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return port != 0 ? name + ":" + std::to_string(port) : name;
}

std::vector<ServerAddress> parse_host_list(std::string_view text, unsigned default_port) {
  std::vector<ServerAddress> servers;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    std::string entry = trim(text.substr(start, comma - start));
    start = comma + 1;
    if (entry.empty()) {
      // Connector/C's own syntax ends a one-host list with a comma ("h:3307,"); allow that one.
      if (comma == text.size() && !servers.empty()) break;
      throw StoreError("empty entry in the database host list: " + std::string(text));
    }
    ServerAddress server;
    server.port = default_port;
    if (entry[0] == '[') {
      auto close = entry.find(']');
      if (close == std::string::npos) throw StoreError("unclosed '[' in the database host list: " + entry);
      server.host = entry.substr(1, close - 1);
      std::string rest = entry.substr(close + 1);
      if (!rest.empty()) {
        if (rest[0] != ':') throw StoreError("bad entry in the database host list: " + entry);
        server.port = parse_port(rest.substr(1), entry);
      }
    } else {
      auto colon = entry.find(':');
      if (colon != std::string::npos && entry.find(':', colon + 1) != std::string::npos) {
        server.host = entry;  // a bare IPv6 address, no port
      } else if (colon != std::string::npos) {
        server.host = entry.substr(0, colon);
        server.port = parse_port(entry.substr(colon + 1), entry);
      } else {
        server.host = entry;
      }
    }
    if (server.host.empty()) throw StoreError("empty host in the database host list: " + entry);
    servers.push_back(std::move(server));
    if (comma == text.size()) break;
  }
  return servers;
}

std::vector<ServerAddress> servers_in_option_file(const std::string& file, const std::string& group) {
  FileServer found;
  read_option_file(file, group, found, 0);
  if (!found.host || found.host->empty()) return {};
  unsigned port = found.port ? parse_port(*found.port, "port=" + *found.port) : 0;
  return parse_host_list(*found.host, port);
}

Connection::Connection(const ConnectOptions& options) : options_(options) {
  servers_ = servers_in_option_file(options.option_file, options.group);
  if (!servers_.empty()) {
    connect_first_ready();
    return;
  }
  // No host named (a socket, or the defaults): Connector/C reads everything from the file.
  std::string error;
  mysql_ = open_handle(options, nullptr, error);
  if (mysql_ == nullptr) {
    throw StoreError("cannot connect to MariaDB (options file " + options.option_file + ", group [" + options.group +
                     "]): " + error);
  }
}

void Connection::connect_first_ready() {
  // Listed order, those that failed lately last: they are the fallback, not skipped for good.
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < servers_.size(); ++i)
    if (!is_down(servers_[i].text())) order.push_back(i);
  for (std::size_t i = 0; i < servers_.size(); ++i)
    if (is_down(servers_[i].text())) order.push_back(i);
  std::string errors;
  for (std::size_t i : order) {
    std::string name = servers_[i].text(), why;
    MYSQL* handle = open_handle(options_, &servers_[i], why);
    // With one server there is nothing better to go to: let its own errors speak.
    if (handle != nullptr && servers_.size() >= 2 && !galera_ready(handle, why)) {
      close_quietly(handle);
      handle = nullptr;
    }
    if (handle == nullptr) {
      mark_down(name);
      errors += (errors.empty() ? "" : "; ") + name + ": " + why;
      continue;
    }
    mark_up(name);
    mysql_ = handle;
    server_index_ = i;
    server_ = name;
    next_fail_back_ = now_seconds() + kServerRetrySeconds;
    return;
  }
  throw StoreError(std::string(servers_.size() >= 2 ? "cannot connect to any MariaDB server" : "cannot connect to MariaDB") +
                   " (options file " + options_.option_file + ", group [" +
                   options_.group + "]): " + errors);
}

void Connection::maybe_fail_back() {
  if (servers_.empty() || server_index_ == 0 || in_transaction_) return;
  std::int64_t now = now_seconds();
  if (now < next_fail_back_) return;
  next_fail_back_ = now + kServerRetrySeconds;
  for (std::size_t i = 0; i < server_index_; ++i) {
    std::string name = servers_[i].text(), why;
    if (is_down(name)) continue;
    MYSQL* handle = open_handle(options_, &servers_[i], why);
    if (handle != nullptr && !galera_ready(handle, why)) {
      close_quietly(handle);
      handle = nullptr;
    }
    if (handle == nullptr) {
      mark_down(name);
      continue;
    }
    mark_up(name);
    drop_statements();
    mysql_close(mysql_);
    mysql_ = handle;
    server_index_ = i;
    server_ = name;
    return;
  }
}

void Connection::drop_statements() noexcept {
  for (auto& entry : statements_) mysql_stmt_close(entry.second);
  statements_.clear();
}

Connection::~Connection() {
  drop_statements();
  if (mysql_ != nullptr) mysql_close(mysql_);
}

void Connection::fail(const std::string& what, st_mysql_stmt* stmt) {
  std::string error = stmt != nullptr ? mysql_stmt_error(stmt) : mysql_error(mysql_);
  unsigned code = stmt != nullptr ? mysql_stmt_errno(stmt) : mysql_errno(mysql_);
  // Galera aborts a local transaction that a write replicated from another node conflicts
  // with; the next call on the connection, whatever it is, reports it as a deadlock.
  if (code == 1213) throw DeadlockError(what + " (1213): " + error);
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
    unsigned code = mysql_stmt_errno(stmt);
    mysql_stmt_close(stmt);
    if (code == 1213) throw DeadlockError("cannot prepare statement (1213): " + error);
    throw StoreError("cannot prepare statement: " + error);
  }
  my_bool update_max_length = 1;
  mysql_stmt_attr_set(stmt, STMT_ATTR_UPDATE_MAX_LENGTH, &update_max_length);
  statements_.emplace(std::move(key), stmt);
  return stmt;
}

st_mysql_stmt* Connection::run(std::string_view sql, const std::vector<Param>& params) {
  maybe_fail_back();
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
    if (code == 2006 || code == 2013) drop_statements();
    // Gone, or a Galera node that left the primary component (1047): the next connection of
    // this process starts at another server.
    if (!server_.empty() && (code == 2006 || code == 2013 || code == 1047)) mark_down(server_);
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
  maybe_fail_back();
  if (mysql_query(mysql_, "START TRANSACTION") != 0) fail("cannot start a transaction");
  in_transaction_ = true;
}

void Connection::commit() {
  in_transaction_ = false;
  // Galera certifies a transaction at commit: one that conflicts with a write committed
  // through another node fails here (1213), rolled back whole, as an InnoDB deadlock victim.
  if (mysql_commit(mysql_) != 0) fail("commit failed");
}

void Connection::rollback() noexcept {
  in_transaction_ = false;
  mysql_rollback(mysql_);
}

}  // namespace sg::db
