#include "operations.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>

#include "sg/text.hpp"
#include "store.hpp"

namespace sg::db {

namespace {
std::string micros_of(const char* column) {
  return std::string("CAST(UNIX_TIMESTAMP(") + column + ") * 1000000 AS SIGNED)";
}
}  // namespace

std::string SessionRow::short_id() const {
  std::string id = fingerprint.substr(0, 8);
  for (char& c : id) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return id;
}

void validate_username(std::string_view username) {
  if (username.empty()) throw OperationError(OperationError::Kind::bad_input, "a user name is required");
  if (username.size() > 190) throw OperationError(OperationError::Kind::bad_input, "the user name is longer than 190 bytes");
  for (unsigned char c : username) {
    if (c < 0x20 || c == 0x7f) throw OperationError(OperationError::Kind::bad_input, "the user name contains control characters");
  }
}

namespace {
const std::map<std::string, std::string>& sort_columns() {
  // The only way a sort key reaches SQL: looked up here, never copied from input.
  static const std::map<std::string, std::string> columns = {
      {"user", "s.username"},      {"login", "s.login_at"},     {"last_access", "s.last_access"},
      {"ip", "s.client_ip"},       {"device", "s.device"},      {"server", "s.server_name"},
      {"session", "s.fingerprint"}, {"idle", "s.last_access"}, {"timeout", "s.idle_timeout"},
      {"admin", "a.is_admin"},     {"browser", "s.browser"},    {"state", "s.state"}};
  return columns;
}

std::string where_clause(const SessionQuery& query, std::vector<Param>& params) {
  std::string where = " WHERE 1 = 1";
  if (query.active_only) where += " AND s.state = 'active'";
  if (!query.user.empty()) {
    where += " AND s.username = ?";
    params.emplace_back(query.user);
  }
  if (!query.search.empty()) {
    std::string like = "%";
    for (char c : query.search) {
      if (c == '%' || c == '_' || c == '\\') like.push_back('\\');
      like.push_back(c);
    }
    like += "%";
    where += " AND (s.username LIKE ? OR s.client_ip LIKE ? OR s.device LIKE ? OR s.browser LIKE ? OR s.os LIKE ?)";
    for (int i = 0; i < 5; ++i) params.emplace_back(like);
  }
  return where;
}
}  // namespace

std::vector<SessionRow> Operations::sessions(const SessionQuery& query) {
  auto column = sort_columns().find(query.sort);
  if (column == sort_columns().end()) {
    throw OperationError(OperationError::Kind::bad_input, "unknown sort column '" + query.sort + "'");
  }
  // "idle" grows as last access shrinks: flip the direction so the header means what it says.
  bool descending = query.sort == "idle" ? !query.descending : query.descending;
  std::vector<Param> params;
  std::string sql = "SELECT s.fingerprint, s.username, s.state, " + micros_of("s.login_at") + ", " +
                    micros_of("s.last_access") +
                    ", s.client_ip, s.user_agent, s.device, s.browser, s.os, s.server_name, s.idle_timeout, "
                    "s.max_lifetime, COALESCE(a.is_admin, 0), " +
                    micros_of("s.ended_at") +
                    ", COALESCE(s.ended_by, '') FROM sessions s LEFT JOIN accounts a ON a.username = s.username" +
                    where_clause(query, params) + " ORDER BY " + column->second + (descending ? " DESC" : " ASC") +
                    ", s.id" + (descending ? " DESC" : " ASC") + " LIMIT ? OFFSET ?";
  params.emplace_back(static_cast<std::int64_t>(std::min<std::size_t>(query.limit, 1000)));
  params.emplace_back(static_cast<std::int64_t>(query.offset));
  std::vector<SessionRow> sessions;
  for (const auto& row : db_.query(sql, params)) {
    SessionRow s;
    s.fingerprint = to_text(row[0]);
    s.username = to_text(row[1]);
    s.state = to_text(row[2]);
    s.login_at = to_int(row[3]);
    s.last_access = to_int(row[4]);
    s.client_ip = to_text(row[5]);
    s.user_agent = to_text(row[6]);
    s.device = to_text(row[7]);
    s.browser = to_text(row[8]);
    s.os = to_text(row[9]);
    s.server_name = to_text(row[10]);
    s.idle_timeout = static_cast<int>(to_int(row[11]));
    s.max_lifetime = static_cast<int>(to_int(row[12]));
    s.is_admin = to_int(row[13]) != 0;
    s.ended_at = to_int(row[14]);
    s.ended_by = to_text(row[15]);
    sessions.push_back(std::move(s));
  }
  return sessions;
}

std::uint64_t Operations::count_sessions(const SessionQuery& query) {
  std::vector<Param> params;
  std::string sql = "SELECT COUNT(*) FROM sessions s" + where_clause(query, params);
  auto rows = db_.query(sql, params);
  return rows.empty() ? 0 : static_cast<std::uint64_t>(to_int(rows[0][0]));
}

std::string Operations::resolve_session(std::string_view id) {
  std::string hex;
  for (char c : id) hex.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  bool valid = hex.size() >= 8 && hex.size() <= 64 &&
               std::all_of(hex.begin(), hex.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
  if (!valid) {
    throw OperationError(OperationError::Kind::bad_input,
                         "a session id is 8 to 64 hexadecimal digits (the start of its fingerprint)");
  }
  auto rows = db_.query("SELECT fingerprint FROM sessions WHERE fingerprint LIKE ? AND state = 'active' LIMIT 2",
                        {hex + "%"});
  if (rows.empty()) throw OperationError(OperationError::Kind::not_found, "no active session has id " + std::string(id));
  if (rows.size() > 1) {
    throw OperationError(OperationError::Kind::conflict,
                         "session id " + std::string(id) + " is ambiguous; give more digits");
  }
  return to_text(rows[0][0]);
}

void Operations::audit(const Actor& actor, std::string_view action, std::string_view user, std::string_view session,
                       std::string_view reason, std::string_view message) {
  auto optional_text = [](std::string_view text) -> Param {
    if (text.empty()) return Null{};
    return std::string(text);
  };
  db_.execute(
      "INSERT INTO audit_log (actor, actor_ip, source, action, target_user, target_session, reason, message) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      {actor.name, actor.ip, actor.source, std::string(action), optional_text(user), optional_text(session),
       optional_text(reason), std::string(message)});
}

ActionResult Operations::kill_session(std::string_view id, const Actor& actor) {
  std::string fingerprint_hex = resolve_session(id);
  auto fingerprint = Fingerprint::from_hex(fingerprint_hex);
  if (!fingerprint) throw OperationError(OperationError::Kind::not_found, "no active session has id " + std::string(id));
  Transaction tx(db_);
  // Lock the row so two admins killing the same session produce one audit entry.
  auto rows = db_.query("SELECT username FROM sessions WHERE fingerprint = ? AND state = 'active' FOR UPDATE",
                        {fingerprint_hex});
  if (rows.empty()) throw OperationError(OperationError::Kind::not_found, "no active session has id " + std::string(id));
  std::string username = to_text(rows[0][0]);
  revoke_session(db_, *fingerprint, username, Reason::killed, actor.name);
  ActionResult result;
  result.sessions_ended = 1;
  result.message = "Session " + fingerprint->short_id() + " terminated by administrator " + actor.name;
  audit(actor, "kill_session", username, fingerprint_hex, "", result.message);
  tx.commit();
  return result;
}

std::size_t Operations::end_user_sessions(std::string_view username, Reason reason, const Actor& actor) {
  auto rows = db_.query("SELECT fingerprint FROM sessions WHERE username = ? AND state = 'active' FOR UPDATE",
                        {std::string(username)});
  for (const auto& row : rows) {
    if (auto fp = Fingerprint::from_hex(to_text(row[0]))) revoke_session(db_, *fp, username, reason, actor.name);
  }
  return rows.size();
}

ActionResult Operations::kill_user(std::string_view username, const Actor& actor) {
  validate_username(username);
  Transaction tx(db_);
  auto known = db_.query("SELECT 1 FROM accounts WHERE username = ?", {std::string(username)});
  if (known.empty()) throw OperationError(OperationError::Kind::not_found, "no user named " + std::string(username));
  ActionResult result;
  result.sessions_ended = end_user_sessions(username, Reason::killed, actor);
  db_.execute("UPDATE accounts SET not_valid_before = NOW(6) WHERE username = ?", {std::string(username)});
  result.message = std::to_string(result.sessions_ended) + (result.sessions_ended == 1 ? " session" : " sessions") +
                   " of user " + std::string(username) + " terminated by administrator " + actor.name;
  audit(actor, "kill_user", username, "", "", result.message);
  tx.commit();
  return result;
}

ActionResult Operations::block_user(std::string_view username, std::string_view reason, const Actor& actor) {
  validate_username(username);
  if (sg::trim(reason).empty()) throw OperationError(OperationError::Kind::bad_input, "a reason is required to block a user");
  if (reason.size() > 1000) throw OperationError(OperationError::Kind::bad_input, "the reason is longer than 1000 bytes");
  if (username == actor.name) throw OperationError(OperationError::Kind::conflict, "you cannot block your own account");
  Transaction tx(db_);
  // The account row is updated first: its lock orders concurrent block/unblock of one user.
  db_.execute(
      "INSERT INTO accounts (username, active, blocked_at, blocked_by, block_reason) VALUES (?, 0, NOW(6), ?, ?) "
      "ON DUPLICATE KEY UPDATE active = 0, blocked_at = NOW(6), blocked_by = VALUES(blocked_by), "
      "block_reason = VALUES(block_reason)",
      {std::string(username), actor.name, std::string(reason)});
  db_.execute("INSERT INTO deny_events (kind, username, reason) VALUES ('user', ?, 'blocked')", {std::string(username)});
  ActionResult result;
  result.sessions_ended = end_user_sessions(username, Reason::blocked, actor);
  result.message = "User " + std::string(username) + " blocked by administrator " + actor.name + " (" +
                   std::to_string(result.sessions_ended) + (result.sessions_ended == 1 ? " session" : " sessions") +
                   " terminated)";
  audit(actor, "block_user", username, "", reason, result.message);
  tx.commit();
  return result;
}

ActionResult Operations::unblock_user(std::string_view username, const Actor& actor) {
  validate_username(username);
  Transaction tx(db_);
  auto rows = db_.query("SELECT active FROM accounts WHERE username = ? FOR UPDATE", {std::string(username)});
  if (rows.empty()) throw OperationError(OperationError::Kind::not_found, "no user named " + std::string(username));
  if (to_int(rows[0][0]) != 0) {
    throw OperationError(OperationError::Kind::conflict, "user " + std::string(username) + " is not blocked");
  }
  db_.execute("UPDATE accounts SET active = 1, blocked_at = NULL, blocked_by = NULL, block_reason = NULL WHERE username = ?",
              {std::string(username)});
  db_.execute("INSERT INTO deny_events (kind, username, reason) VALUES ('user', ?, 'unblocked')", {std::string(username)});
  ActionResult result;
  result.message = "User " + std::string(username) + " unblocked by administrator " + actor.name;
  audit(actor, "unblock_user", username, "", "", result.message);
  tx.commit();
  return result;
}

}  // namespace sg::db
