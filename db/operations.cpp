#include "sg/clock.hpp"
#include "operations.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <map>
#include <set>

#include "sg/mail.hpp"
#include "sg/signout_link.hpp"
#include "sg/sso.hpp"
#include "sg/text.hpp"
#include "store.hpp"

namespace sg::db {

namespace {
std::string micros_of(const char* column) {
  return std::string("CAST(UNIX_TIMESTAMP(") + column + ") * 1000000 AS SIGNED)";
}

struct SortColumn {
  std::string order;   // ORDER BY expression (index order)
  std::string cursor;  // the same value as it is compared in the keyset condition
  std::string index;   // the index that serves "active sessions ordered by this" (sql/002_admin.sql)
};

// The only way a sort key reaches SQL: looked up here, never copied from input.
const std::map<std::string, SortColumn>& sort_columns() {
  static const std::map<std::string, SortColumn> columns = {
      {"user", {"s.username", "s.username", "ix_sessions_state_user"}},
      {"login", {"s.login_at", "s.login_at", "ix_sessions_state_login"}},
      {"last_access", {"s.last_access", "s.last_access", "ix_sessions_state_access"}},
      {"idle", {"s.last_access", "s.last_access", "ix_sessions_state_access"}},
      {"ip", {"s.client_ip", "s.client_ip", "ix_sessions_state_ip"}},
      // ENUMs sort by their index, so the cursor compares the index too.
      {"device", {"s.device", "s.device + 0", "ix_sessions_state_device"}},
      {"browser", {"s.browser", "s.browser", "ix_sessions_state_browser"}},
      {"server", {"s.server_name", "s.server_name", "ix_sessions_state_server"}},
      {"timeout", {"s.idle_timeout", "s.idle_timeout", "ix_sessions_state_timeout"}},
      {"session", {"s.fingerprint", "s.fingerprint", "ix_sessions_state_fingerprint"}},
      // The sooner of the idle and absolute deadlines, a stored column (sql/011_admin_policies.sql).
      {"time_left", {"s.deadline", "s.deadline", "ix_sessions_state_deadline"}},
      // Not indexed (it lives in accounts): sorting all sessions by it is a filesort.
      {"admin", {"COALESCE(a.is_admin, 0)", "COALESCE(a.is_admin, 0)", ""}},
  };
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
    // Names compare exactly everywhere else (sql/020_exact_usernames.sql); a search is for
    // people, so "ALICE" still finds alice.
    where += " AND (s.username COLLATE utf8mb4_unicode_ci LIKE ? OR s.client_ip LIKE ? OR s.device LIKE ? OR "
             "s.browser LIKE ? OR s.os LIKE ?)";
    for (int i = 0; i < 5; ++i) params.emplace_back(like);
  }
  return where;
}

const std::string kSelectColumns =
    "SELECT s.id, s.fingerprint, s.username, s.state, " + micros_of("s.login_at") + ", " + micros_of("s.last_access") +
    ", s.client_ip, s.user_agent, s.device, s.browser, s.os, s.server_name, s.idle_timeout, "
    "s.max_lifetime, COALESCE(a.is_admin, 0), " +
    micros_of("s.ended_at") + ", COALESCE(s.ended_by, ''), " + micros_of("s.idle_deadline") + ", " +
    micros_of("s.absolute_deadline") + " FROM sessions s";
const std::string kJoinAccounts = " LEFT JOIN accounts a ON a.username = s.username";
const std::string kSessionColumns = kSelectColumns + kJoinAccounts;

SessionRow session_from(const Row& row) {
  SessionRow s;
  s.id = static_cast<std::uint64_t>(to_int(row[0]));
  s.fingerprint = to_text(row[1]);
  s.username = to_text(row[2]);
  s.state = to_text(row[3]);
  s.login_at = to_int(row[4]);
  s.last_access = to_int(row[5]);
  s.client_ip = to_text(row[6]);
  s.user_agent = to_text(row[7]);
  s.device = to_text(row[8]);
  s.browser = to_text(row[9]);
  s.os = to_text(row[10]);
  s.server_name = to_text(row[11]);
  s.idle_timeout = static_cast<int>(to_int(row[12]));
  s.max_lifetime = static_cast<int>(to_int(row[13]));
  s.is_admin = to_int(row[14]) != 0;
  s.ended_at = to_int(row[15]);
  s.ended_by = to_text(row[16]);
  s.idle_deadline = to_int(row[17]);
  s.absolute_deadline = to_int(row[18]);
  return s;
}

// mail_outbox.body is a TEXT column.
constexpr std::size_t kMaxMailBody = 65535;

std::string short_of(std::string_view fingerprint_hex) {
  std::string id(fingerprint_hex.substr(0, 8));
  for (char& c : id) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return id;
}
}  // namespace

const std::vector<std::string>& session_sort_keys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> k;
    for (const auto& entry : sort_columns()) k.push_back(entry.first);
    return k;
  }();
  return keys;
}

bool valid_session_sort(std::string_view key) { return sort_columns().count(std::string(key)) != 0; }

std::string SessionRow::short_id() const { return short_of(fingerprint); }

Micros SessionRow::deadline() const {
  if (idle_deadline == 0) return absolute_deadline;
  if (absolute_deadline == 0) return idle_deadline;
  return std::min(idle_deadline, absolute_deadline);
}

void validate_username(std::string_view username) {
  if (username.empty()) throw OperationError(OperationError::Kind::bad_input, "a user name is required");
  if (username.size() > 190) throw OperationError(OperationError::Kind::bad_input, "the user name is longer than 190 bytes");
  // Never sanitised: a name changed to fit would be somebody else's account.
  if (!sg::utf8_valid(username)) throw OperationError(OperationError::Kind::bad_input, "the user name is not valid UTF-8");
  for (unsigned char c : username) {
    if (c < 0x20 || c == 0x7f) throw OperationError(OperationError::Kind::bad_input, "the user name contains control characters");
  }
}

SessionPage Operations::session_page(const SessionQuery& query) {
  auto column = sort_columns().find(query.sort);
  if (column == sort_columns().end()) {
    throw OperationError(OperationError::Kind::bad_input, "unknown sort column '" + query.sort + "'");
  }
  if (query.search.size() > 200) throw OperationError(OperationError::Kind::bad_input, "the search text is too long");
  // "idle" grows as last access shrinks: flip the direction so the header means what it says.
  const bool descending = query.sort == "idle" ? !query.descending : query.descending;
  using Mode = PageMode;
  Mode mode = Mode::first;
  std::optional<std::string> cursor_value;
  std::uint64_t cursor_id = query.after_id != 0 ? query.after_id : query.before_id;
  if (cursor_id != 0) {
    auto rows = db_.query("SELECT " + column->second.cursor +
                              " FROM sessions s LEFT JOIN accounts a ON a.username = s.username WHERE s.id = ?",
                          {static_cast<std::int64_t>(cursor_id)});
    if (!rows.empty() && rows[0][0]) {
      cursor_value = rows[0][0];
      mode = query.after_id != 0 ? Mode::after : Mode::before;
    }
  } else if (query.last_page) {
    mode = Mode::last;
  }
  const bool scan_descending = (mode == Mode::first || mode == Mode::after) ? descending : !descending;
  const std::size_t limit = std::clamp<std::size_t>(query.limit, 1, 1000);

  if (query.sort == "admin") return admin_sorted_page(query, scan_descending, mode, cursor_value, cursor_id, limit);
  std::vector<Param> params;
  std::string hint;
  if (cursor_value && query.active_only) {
    // The optimizer prefers reading the index from its start ("ref" on the state) and
    // filtering, which is a scan as long as the distance from the top; the hint makes it
    // seek to the cursor instead (a range). Measured: 290 ms -> 2 ms 100,000 rows deep.
    if (!query.user.empty() && column->second.index == "ix_sessions_state_access")
      hint = " FORCE INDEX (ix_sessions_user_state_access)";
    else if (query.user.empty() && !column->second.index.empty())
      hint = " FORCE INDEX (" + column->second.index + ")";
  }
  std::string sql = kSelectColumns + hint + kJoinAccounts + where_clause(query, params);
  if (cursor_value) {
    const char* cmp = scan_descending ? " < " : " > ";
    const std::string& expr = column->second.order;
    if (query.sort == "device") {
      // An ENUM compares as text but sorts by its index, so no range over it means the
      // same thing in both: name the cursor's value, then the values that follow it.
      static const char* const devices[] = {"Desktop", "Tablet", "Phone"};
      long index = std::stol(*cursor_value);
      if (index < 1 || index > 3) index = 1;
      sql += std::string(" AND ((s.device = ? AND s.id") + cmp + "?)";
      params.emplace_back(std::string(devices[index - 1]));
      params.emplace_back(static_cast<std::int64_t>(cursor_id));
      for (long i = 1; i <= 3; ++i) {
        if (scan_descending ? i < index : i > index) {
          sql += " OR s.device = ?";
          params.emplace_back(std::string(devices[i - 1]));
        }
      }
      sql += ")";
    } else {
      // (col = v AND id < c) OR col < v: two ranges of the index, read in its order, so
      // neither a long run of equal values nor the distance from the top is scanned.
      sql += " AND ((" + expr + " = ? AND s.id" + cmp + "?) OR " + expr + cmp + "?)";
      Param value = *cursor_value;
      if (query.sort == "timeout") value = static_cast<std::int64_t>(std::stoll(*cursor_value));
      params.push_back(value);
      params.emplace_back(static_cast<std::int64_t>(cursor_id));
      params.push_back(value);
    }
  }
  const char* dir = scan_descending ? " DESC" : " ASC";
  sql += " ORDER BY " + column->second.order + dir + ", s.id" + dir + " LIMIT ?";
  params.emplace_back(static_cast<std::int64_t>(limit + 1));

  std::vector<SessionRow> rows;
  for (const auto& row : db_.query(sql, params)) rows.push_back(session_from(row));
  return finish_page(std::move(rows), mode, limit);
}

SessionPage Operations::finish_page(std::vector<SessionRow> rows, PageMode mode, std::size_t limit) {
  SessionPage page;
  page.rows = std::move(rows);
  bool more = page.rows.size() > limit;
  if (more) page.rows.resize(limit);
  if (mode == PageMode::before || mode == PageMode::last) std::reverse(page.rows.begin(), page.rows.end());
  switch (mode) {
    case PageMode::first: page.has_next = more; break;
    case PageMode::after: page.has_prev = true; page.has_next = more; break;
    case PageMode::before: page.has_next = true; page.has_prev = more; break;
    case PageMode::last: page.has_prev = more; break;
  }
  return page;
}

// The admin flag lives in accounts, so no index orders sessions by it. The order is
// (is_admin, id): read it as two partitions, each in primary-key order, admins' sessions
// through the few admin accounts and everyone else's along (state, id).
SessionPage Operations::admin_sorted_page(const SessionQuery& query, bool scan_descending, PageMode mode,
                                          const std::optional<std::string>& cursor_value, std::uint64_t cursor_id,
                                          std::size_t limit) {
  const int cursor_flag = cursor_value ? (std::stoi(*cursor_value) != 0 ? 1 : 0) : -1;
  const int partitions[2] = {scan_descending ? 1 : 0, scan_descending ? 0 : 1};
  const char* cmp = scan_descending ? " < " : " > ";
  const char* dir = scan_descending ? " DESC" : " ASC";
  std::vector<SessionRow> rows;
  bool reached = cursor_flag < 0;
  for (int flag : partitions) {
    if (!reached && flag != cursor_flag) continue;
    std::vector<Param> params;
    std::string sql;
    if (flag == 1) {
      // Few admins: start from their accounts (the optimizer would walk all live sessions).
      std::string from = kSelectColumns.substr(0, kSelectColumns.rfind(" FROM sessions s"));
      sql = from + " FROM accounts a STRAIGHT_JOIN sessions s ON s.username = a.username" + where_clause(query, params) +
            " AND a.is_admin = 1";
    } else {
      std::string hint = query.user.empty() && query.active_only ? " FORCE INDEX (ix_sessions_state)" : "";
      sql = kSelectColumns + hint + kJoinAccounts + where_clause(query, params) + " AND COALESCE(a.is_admin, 0) = 0";
    }
    if (!reached) {
      sql += std::string(" AND s.id") + cmp + "?";
      params.emplace_back(static_cast<std::int64_t>(cursor_id));
      reached = true;
    }
    sql += std::string(" ORDER BY s.id") + dir + " LIMIT ?";
    params.emplace_back(static_cast<std::int64_t>(limit + 1 - rows.size()));
    for (const auto& row : db_.query(sql, params)) rows.push_back(session_from(row));
    if (rows.size() > limit) break;
  }
  return finish_page(std::move(rows), mode, limit);
}

std::uint64_t Operations::count_sessions(const SessionQuery& query, std::uint64_t cap) {
  std::vector<Param> params;
  std::string sql;
  if (cap == 0) {
    sql = "SELECT COUNT(*) FROM sessions s" + where_clause(query, params);
  } else {
    sql = "SELECT COUNT(*) FROM (SELECT 1 FROM sessions s" + where_clause(query, params) + " LIMIT ?) capped";
    params.emplace_back(static_cast<std::int64_t>(cap + 1));
  }
  if (!query.search.empty()) {
    // A substring search can only be counted by reading every live session: give it a
    // time budget and say "not counted" rather than make the page wait.
    sql = "SET STATEMENT max_statement_time = 0.1 FOR " + sql;
    try {
      auto rows = db_.query(sql, params);
      return rows.empty() ? 0 : static_cast<std::uint64_t>(to_int(rows[0][0]));
    } catch (const StoreError& e) {
      std::string what = e.what();
      if (what.find("max_statement_time") != std::string::npos || what.find("(1969)") != std::string::npos)
        return kCountUnknown;
      throw;
    }
  }
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
  if (rows.empty()) throw OperationError(OperationError::Kind::not_found, "no active session has id " + hex.substr(0, 8));
  if (rows.size() > 1) {
    throw OperationError(OperationError::Kind::conflict, "session id " + hex + " is ambiguous; give more digits");
  }
  return to_text(rows[0][0]);
}

SessionRow Operations::find_session(std::string_view id) {
  std::string fingerprint = resolve_session(id);
  auto rows = db_.query(kSessionColumns + " WHERE s.fingerprint = ?", {fingerprint});
  if (rows.empty()) throw OperationError(OperationError::Kind::not_found, "no active session has id " + short_of(fingerprint));
  return session_from(rows[0]);
}

std::uint64_t Operations::audit(const Actor& actor, std::string_view action, std::string_view user,
                                std::string_view session, std::string_view reason, std::string_view message) {
  auto optional_text = [](std::string_view text) -> Param {
    if (text.empty()) return Null{};
    return std::string(text);
  };
  db_.execute(
      "INSERT INTO audit_log (actor, actor_ip, source, action, target_user, target_session, reason, message) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      {sg::utf8_sanitize(actor.name, 190), sg::utf8_sanitize(actor.ip, 45), actor.source, std::string(action),
       optional_text(sg::utf8_sanitize(user, 190)), optional_text(session), optional_text(sg::utf8_sanitize(reason, 1000)),
       sg::utf8_sanitize(message, 1000)});
  return db_.last_insert_id();
}

bool Operations::queue_mail(std::string_view kind, std::string_view username, const std::string& subject,
                            const std::string& body, std::uint64_t audit_id) {
  auto rows = db_.query("SELECT email FROM accounts WHERE username = ?", {std::string(username)});
  if (rows.empty() || !rows[0][0] || !mail::valid_address(*rows[0][0])) return false;
  db_.execute(
      "INSERT INTO mail_outbox (kind, recipient, target_user, subject, body, audit_id) VALUES (?, ?, ?, ?, ?, ?)",
      {std::string(kind), *rows[0][0], std::string(username), sg::utf8_sanitize(subject, 255),
       sg::utf8_sanitize(body, kMaxMailBody), static_cast<std::int64_t>(audit_id)});
  return true;
}

std::uint64_t Operations::kill_in_transaction(const std::string& fingerprint_hex, const Actor& actor,
                                              ActionResult& result) {
  auto fingerprint = Fingerprint::from_hex(fingerprint_hex);
  // Lock the row so two admins killing the same session produce one audit entry.
  auto rows = db_.query(
      "SELECT username, server_name FROM sessions WHERE fingerprint = ? AND state = 'active' FOR UPDATE",
      {fingerprint_hex});
  if (!fingerprint || rows.empty()) {
    throw OperationError(OperationError::Kind::not_found, "no active session has id " + short_of(fingerprint_hex));
  }
  std::string username = to_text(rows[0][0]);
  std::string server = to_text(rows[0][1]);
  revoke_session(db_, *fingerprint, username, Reason::killed, actor.name);
  std::string line = "Session " + fingerprint->short_id() + " terminated by administrator " + actor.name;
  std::uint64_t audit_id = audit(actor, "kill_session", username, fingerprint_hex, "", line);
  result.sessions_ended += 1;
  result.log_lines.push_back(line);
  if (result.message.empty()) result.message = line;
  if (policy_.notify_kill) {
    std::map<std::string, std::string> values = {{"user", username},
                                                 {"admin", actor.name},
                                                 {"session", fingerprint->short_id()},
                                                 {"server", server.empty() ? "the application" : server},
                                                 {"time", mail::format_utc(sg::wall_clock_micros())}};
    if (queue_mail("kill", username, mail::expand(policy_.kill.subject, values),
                   with_link(mail::expand(policy_.kill.body, values), username, result), audit_id))
      result.mails_queued += 1;
  }
  return audit_id;
}

ActionResult Operations::kill_session(std::string_view id, const Actor& actor) {
  std::string fingerprint_hex = resolve_session(id);
  Transaction tx(db_);
  ActionResult result;
  kill_in_transaction(fingerprint_hex, actor, result);
  tx.commit();
  return result;
}

ActionResult Operations::kill_sessions(const std::vector<std::string>& ids, const Actor& actor) {
  if (ids.empty()) throw OperationError(OperationError::Kind::bad_input, "select at least one session");
  if (ids.size() > 1000) throw OperationError(OperationError::Kind::bad_input, "at most 1000 sessions at once");
  std::vector<std::string> fingerprints;
  std::set<std::string> seen;
  for (const auto& id : ids) {
    std::string fp = resolve_session(id);
    if (seen.insert(fp).second) fingerprints.push_back(fp);
  }
  Transaction tx(db_);
  ActionResult result;
  for (const auto& fp : fingerprints) kill_in_transaction(fp, actor, result);
  if (result.sessions_ended > 1) {
    result.message = std::to_string(result.sessions_ended) + " sessions terminated by administrator " + actor.name;
  }
  tx.commit();
  return result;
}

std::vector<std::string> Operations::end_user_sessions(std::string_view username, Reason reason, const Actor& actor) {
  auto rows = db_.query("SELECT fingerprint FROM sessions WHERE username = ? AND state = 'active' FOR UPDATE",
                        {std::string(username)});
  std::vector<std::string> ended;
  for (const auto& row : rows) {
    if (auto fp = Fingerprint::from_hex(to_text(row[0]))) {
      revoke_session(db_, *fp, username, reason, actor.name);
      ended.push_back(fp->short_id());
    }
  }
  return ended;
}

ActionResult Operations::kill_user(std::string_view username, const Actor& actor) {
  validate_username(username);
  Transaction tx(db_);
  auto known = db_.query("SELECT 1 FROM accounts WHERE username = ? FOR UPDATE", {std::string(username)});
  if (known.empty()) throw OperationError(OperationError::Kind::not_found, "no user named " + std::string(username));
  ActionResult result;
  auto ended = end_user_sessions(username, Reason::killed, actor);
  result.sessions_ended = ended.size();
  db_.execute("UPDATE accounts SET not_valid_before = NOW(6) WHERE username = ?", {std::string(username)});
  for (const auto& id : ended) result.log_lines.push_back("Session " + id + " terminated by administrator " + actor.name);
  result.message = std::to_string(result.sessions_ended) + (result.sessions_ended == 1 ? " session" : " sessions") +
                   " of user " + std::string(username) + " terminated by administrator " + actor.name;
  result.log_lines.push_back(result.message);
  std::uint64_t audit_id = audit(actor, "kill_user", username, "", "", result.message);
  if (policy_.notify_kill && result.sessions_ended > 0) {
    std::map<std::string, std::string> values = {{"user", std::string(username)},
                                                 {"admin", actor.name},
                                                 {"count", std::to_string(result.sessions_ended)},
                                                 {"time", mail::format_utc(sg::wall_clock_micros())}};
    if (queue_mail("kill_user", username, mail::expand(policy_.kill_user.subject, values),
                   with_link(mail::expand(policy_.kill_user.body, values), username, result), audit_id))
      result.mails_queued += 1;
  }
  tx.commit();
  return result;
}

ActionResult Operations::block_user(std::string_view username, std::string_view reason, const Actor& actor) {
  validate_username(username);
  if (sg::trim(reason).empty()) throw OperationError(OperationError::Kind::bad_input, "a reason is required to block a user");
  if (reason.size() > 1000) throw OperationError(OperationError::Kind::bad_input, "the reason is longer than 1000 bytes");
  // Exact, as MariaDB compares names (binary collation, sql/020_exact_usernames.sql): "Admin"
  // is not the acting "admin" but another account, which must exist (below).
  if (username == actor.name) throw OperationError(OperationError::Kind::conflict, "you cannot block your own account");
  Transaction tx(db_);
  // The account row is locked first: its lock orders concurrent block/unblock of one user.
  // Only a known account is blocked: a mistyped name must change nothing rather than create
  // a blocked account beside the one that was meant.
  auto known = db_.query("SELECT 1 FROM accounts WHERE username = ? FOR UPDATE", {std::string(username)});
  if (known.empty()) throw OperationError(OperationError::Kind::not_found, "no user named " + std::string(username));
  db_.execute("UPDATE accounts SET active = 0, blocked_at = NOW(6), blocked_by = ?, block_reason = ? WHERE username = ?",
              {sg::utf8_sanitize(actor.name, 190), sg::utf8_sanitize(reason, 1000), std::string(username)});
  db_.execute("INSERT INTO deny_events (kind, username, reason) VALUES ('user', ?, 'blocked')", {std::string(username)});
  ActionResult result;
  auto ended = end_user_sessions(username, Reason::blocked, actor);
  result.sessions_ended = ended.size();
  result.message = "User " + std::string(username) + " blocked by administrator " + actor.name + " (" +
                   std::to_string(result.sessions_ended) + (result.sessions_ended == 1 ? " session" : " sessions") +
                   " terminated)";
  result.log_lines.push_back(result.message);
  std::uint64_t audit_id = audit(actor, "block_user", username, "", reason, result.message);
  if (policy_.notify_block) {
    std::map<std::string, std::string> values = {{"user", std::string(username)},
                                                 {"admin", actor.name},
                                                 {"reason", std::string(reason)},
                                                 {"count", std::to_string(result.sessions_ended)},
                                                 {"time", mail::format_utc(sg::wall_clock_micros())}};
    if (queue_mail("block", username, mail::expand(policy_.block.subject, values),
                   with_link(mail::expand(policy_.block.body, values), username, result), audit_id))
      result.mails_queued += 1;
  }
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
  result.log_lines.push_back(result.message);
  audit(actor, "unblock_user", username, "", "", result.message);
  tx.commit();
  return result;
}

ActionResult Operations::logout_request(std::string_view id, std::string_view subject, std::string_view body,
                                        const Actor& actor) {
  if (sg::trim(subject).empty()) throw OperationError(OperationError::Kind::bad_input, "a subject is required");
  if (sg::trim(body).empty()) throw OperationError(OperationError::Kind::bad_input, "a message is required");
  if (subject.size() > 255) throw OperationError(OperationError::Kind::bad_input, "the subject is longer than 255 bytes");
  if (body.size() > 20000) throw OperationError(OperationError::Kind::bad_input, "the message is longer than 20000 bytes");
  std::string fingerprint_hex = resolve_session(id);
  Transaction tx(db_);
  auto rows = db_.query("SELECT username FROM sessions WHERE fingerprint = ? AND state = 'active' FOR UPDATE",
                        {fingerprint_hex});
  if (rows.empty()) throw OperationError(OperationError::Kind::not_found, "no active session has id " + short_of(fingerprint_hex));
  std::string username = to_text(rows[0][0]);
  ActionResult result;
  result.message = "Logout request for session " + short_of(fingerprint_hex) + " of user " + username +
                   " sent by administrator " + actor.name;
  result.log_lines.push_back(result.message);
  std::uint64_t audit_id = audit(actor, "logout_request", username, fingerprint_hex, subject, result.message);
  if (!queue_mail("logout_request", username, std::string(subject), std::string(body), audit_id)) {
    throw OperationError(OperationError::Kind::conflict, "user " + username + " has no valid email address on file");
  }
  result.mails_queued = 1;
  tx.commit();
  return result;
}


// --- issue 4: policies --------------------------------------------------------------------------

namespace {
// Placeholders for the IN list of a batch (never values: those are bound).
std::string plural(std::size_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}
}  // namespace

// One log line per ended session, but a bulk action over thousands writes a summary after
// the first kLoggedSessions (the audit row and the database have every one).
constexpr std::size_t kLoggedSessions = 200;
static void log_sessions(ActionResult& result, const std::vector<std::string>& ended, const std::string& what) {
  for (std::size_t i = 0; i < ended.size() && i < kLoggedSessions; ++i) result.log_lines.push_back("Session " + ended[i] + what);
  if (ended.size() > kLoggedSessions)
    result.log_lines.push_back("... and " + std::to_string(ended.size() - kLoggedSessions) + " more sessions" + what);
}

// The base is configured (public_url), never taken from a request: a Host header is the
// client's to choose, and a link that sends the victim's single-use token to an attacker's
// host would hand them the "sign me out" of somebody else's account, or a phishing page.
std::string Operations::with_link(const std::string& body, std::string_view username, ActionResult& result) {
  if (policy_.link_base.empty()) {
    result.log_lines.push_back("error: no \"This wasn't me\" link in the notice to " + std::string(username) +
                               ": public_url is not set in the [fcgi_admin] settings");
    return body;
  }
  std::string link = policy_.link_base + make_signout_link_token(username);
  std::string hours = std::to_string(std::max<Micros>(1, policy_.link_lifetime / (3600 * kMicrosPerSecond)));
  std::string text = body;
  const std::string placeholder = "{link}";
  if (auto at = text.find(placeholder); at != std::string::npos) return text.replace(at, placeholder.size(), link);
  if (!text.empty() && text.back() != '\n') text += "\n";
  text += "\nThis wasn't me: sign me out everywhere\n" + link + "\n(The link works once, within " + hours +
          (hours == "1" ? " hour" : " hours") + ".)\n";
  return text;
}

std::string Operations::signout_key() {
  if (!policy_.link_key.empty()) return policy_.link_key;
  db_.execute("INSERT IGNORE INTO admin_settings (name, value) VALUES ('signout_link_key', ?)", {sg::random_hex(32)});
  auto rows = db_.query("SELECT value FROM admin_settings WHERE name = 'signout_link_key'");
  if (rows.empty() || !rows[0][0] || rows[0][0]->empty()) throw StoreError("the link key could not be stored");
  return *rows[0][0];
}

std::string Operations::make_signout_link_token(std::string_view username) {
  SignoutClaim claim;
  claim.user = std::string(username);
  claim.expires_at = sg::wall_clock_micros() + policy_.link_lifetime;
  claim.nonce = sg::random_hex(16);
  return make_signout_token(signout_key(), claim);
}

std::string Operations::check_signout_link(std::string_view token) {
  SignoutClaim claim;
  switch (check_signout_token(signout_key(), token, sg::wall_clock_micros(), claim)) {
    case TokenCheck::ok: break;
    case TokenCheck::expired:
      throw OperationError(OperationError::Kind::gone, "This link has expired. Nothing was changed; if you still need to, "
                                                       "sign in and use \"My sessions\", or contact your helpdesk.");
    default:
      throw OperationError(OperationError::Kind::bad_input,
                           "This link is not valid (it may have been cut short or altered). Nothing was changed.");
  }
  auto used = db_.query("SELECT 1 FROM signout_links_used WHERE nonce = ?", {claim.nonce});
  if (!used.empty()) throw OperationError(OperationError::Kind::gone, "This link has already been used. Nothing more was changed.");
  return claim.user;
}

std::vector<std::string> Operations::end_sessions(const std::string& where, const std::vector<Param>& params,
                                                  const std::string& ended_by, std::vector<std::string>* users,
                                                  Reason reason) {
  auto rows = db_.query("SELECT fingerprint, username FROM sessions WHERE state = 'active' AND " + where + " FOR UPDATE",
                        params);
  std::vector<std::string> ended;
  for (const auto& row : rows) {
    auto fp = Fingerprint::from_hex(to_text(row[0]));
    if (!fp) continue;
    // The same UPDATE + deny_events row as kill_session: every poller enforces it.
    if (revoke_session(db_, *fp, to_text(row[1]), reason, ended_by)) {
      ended.push_back(fp->short_id());
      if (users) users->push_back(to_text(row[1]));
    }
  }
  return ended;
}

ActionResult Operations::set_user_limit(std::string_view username, std::optional<int> limit, const Actor& actor) {
  validate_username(username);
  if (limit && (*limit < 0 || *limit > 1000))
    throw OperationError(OperationError::Kind::bad_input, "a session limit is a number from 0 (no limit) to 1000, or none");
  Transaction tx(db_);
  auto rows = db_.query("SELECT max_sessions FROM accounts WHERE username = ? FOR UPDATE", {std::string(username)});
  if (rows.empty()) throw OperationError(OperationError::Kind::not_found, "no user named " + std::string(username));
  Param value = limit ? Param(static_cast<std::int64_t>(*limit)) : Param(Null{});
  db_.execute("UPDATE accounts SET max_sessions = ? WHERE username = ?", {value, std::string(username)});
  ActionResult result;
  std::string what = !limit ? "removed (the server's setting applies)"
                     : *limit == 0 ? "set to no limit"
                                   : "set to " + plural(static_cast<std::size_t>(*limit), "session", "sessions");
  result.message = "Session limit of user " + std::string(username) + " " + what + " by administrator " + actor.name;
  result.log_lines.push_back(result.message);
  audit(actor, "set_limit", username, "", limit ? std::to_string(*limit) : "none", result.message);
  tx.commit();
  return result;
}

ActionResult Operations::end_idle_sessions(int minutes, const Actor& actor) {
  if (minutes < 1 || minutes > 525600)
    throw OperationError(OperationError::Kind::bad_input, "the idle time is a number of minutes from 1 to 525600");
  Transaction tx(db_);
  ActionResult result;
  auto ended = end_sessions("last_access < NOW(6) - INTERVAL ? MINUTE", {static_cast<std::int64_t>(minutes)}, actor.name);
  result.sessions_ended = ended.size();
  log_sessions(result, ended, " terminated by administrator " + actor.name);
  result.message = plural(ended.size(), "session", "sessions") + " idle longer than " +
                   plural(static_cast<std::size_t>(minutes), "minute", "minutes") + " terminated by administrator " +
                   actor.name;
  result.log_lines.push_back(result.message);
  audit(actor, "end_idle", "", "", std::to_string(minutes) + " min", result.message);
  tx.commit();
  return result;
}

ActionResult Operations::sign_out_everyone(std::string_view server, const Actor& actor) {
  if (server.size() > 255) throw OperationError(OperationError::Kind::bad_input, "the server name is longer than 255 bytes");
  Transaction tx(db_);
  ActionResult result;
  std::string where = "username <> ?";
  std::vector<Param> params = {actor.name};
  if (!server.empty()) {
    where += " AND server_name = ?";
    params.emplace_back(std::string(server));
  }
  std::vector<std::string> users;
  auto ended = end_sessions(where, params, actor.name, &users);
  std::set<std::string> distinct(users.begin(), users.end());
  result.sessions_ended = ended.size();
  log_sessions(result, ended, " terminated by administrator " + actor.name);
  result.message = plural(ended.size(), "session", "sessions") + " of " + plural(distinct.size(), "user", "users") +
                   (server.empty() ? std::string() : " on " + std::string(server)) + " signed out by administrator " +
                   actor.name + " (their own sessions kept)";
  result.log_lines.push_back(result.message);
  audit(actor, "sign_out_all", "", "", server.empty() ? "all servers" : "server " + std::string(server), result.message);
  tx.commit();
  return result;
}

std::vector<std::string> Operations::active_servers() {
  std::vector<std::string> out;
  for (const auto& row : db_.query("SELECT DISTINCT server_name FROM sessions WHERE state = 'active' ORDER BY 1 LIMIT 200"))
    out.push_back(to_text(row[0]));
  return out;
}

std::vector<SessionRow> Operations::user_sessions(std::string_view username, std::size_t limit) {
  validate_username(username);
  std::vector<SessionRow> out;
  for (const auto& row : db_.query(kSessionColumns + " WHERE s.username = ? AND s.state = 'active' "
                                                     "ORDER BY s.last_access DESC, s.id DESC LIMIT ?",
                                   {std::string(username), static_cast<std::int64_t>(std::clamp<std::size_t>(limit, 1, 1000))}))
    out.push_back(session_from(row));
  return out;
}

ActionResult Operations::self_end_session(std::string_view username, std::string_view id, std::string_view this_device,
                                          const Actor& actor) {
  validate_username(username);
  std::string hex;
  for (char c : id) hex.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  bool valid = hex.size() >= 8 && hex.size() <= 64 &&
               std::all_of(hex.begin(), hex.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
  // Malformed, unknown and somebody else's look the same: nothing to learn from probing.
  if (!valid) throw OperationError(OperationError::Kind::not_found, "You have no active session with this id.");
  Transaction tx(db_);
  auto rows = db_.query("SELECT fingerprint FROM sessions WHERE username = ? AND state = 'active' AND fingerprint LIKE ? "
                        "LIMIT 2 FOR UPDATE",
                        {std::string(username), hex + "%"});
  if (rows.size() != 1) throw OperationError(OperationError::Kind::not_found, "You have no active session with this id.");
  // Judged on the session the id resolved to, however short the id was: a prefix of this
  // device's fingerprint is this device.
  if (to_text(rows[0][0]) == this_device)
    throw OperationError(OperationError::Kind::conflict,
                         "This is the session you are using now. To end it, sign out in the application.");
  auto fp = Fingerprint::from_hex(to_text(rows[0][0]));
  if (!fp || !revoke_session(db_, *fp, username, Reason::killed, actor.name))
    throw OperationError(OperationError::Kind::not_found, "You have no active session with this id.");
  ActionResult result;
  result.sessions_ended = 1;
  result.message = "Session " + fp->short_id() + " signed out by its user " + std::string(username);
  result.log_lines.push_back(result.message);
  audit(actor, "self_sign_out", username, fp->hex(), "", result.message);
  tx.commit();
  return result;
}

ActionResult Operations::self_end_others(std::string_view username, std::string_view keep_fingerprint, const Actor& actor) {
  validate_username(username);
  Transaction tx(db_);
  auto ended = end_sessions("username = ? AND fingerprint <> ?", {std::string(username), std::string(keep_fingerprint)},
                            actor.name);
  ActionResult result;
  result.sessions_ended = ended.size();
  log_sessions(result, ended, " signed out by its user " + std::string(username));
  result.message = plural(ended.size(), "other session", "other sessions") + " of user " + std::string(username) +
                   " signed out by the user";
  result.log_lines.push_back(result.message);
  audit(actor, "self_sign_out_others", username, std::string(keep_fingerprint), "", result.message);
  tx.commit();
  return result;
}

ActionResult Operations::use_signout_link(std::string_view token, const Actor& actor) {
  std::string username = check_signout_link(token);
  SignoutClaim claim;
  check_signout_token(signout_key(), token, sg::wall_clock_micros(), claim);
  Transaction tx(db_);
  // The nonce's row is the single use: a second request (even a racing one) finds it.
  auto inserted = db_.execute(
      "INSERT IGNORE INTO signout_links_used (nonce, username, expires_at, used_ip) "
      "VALUES (?, ?, FROM_UNIXTIME(?), ?)",
      {claim.nonce, username, static_cast<std::int64_t>(claim.expires_at / kMicrosPerSecond), sg::utf8_sanitize(actor.ip, 45)});
  if (inserted == 0) throw OperationError(OperationError::Kind::gone, "This link has already been used. Nothing more was changed.");
  // A nonce only needs remembering while its link could still verify: forget old ones.
  db_.execute("DELETE FROM signout_links_used WHERE expires_at < NOW(6) - INTERVAL 1 DAY LIMIT 100");
  db_.query("SELECT 1 FROM accounts WHERE username = ? FOR UPDATE", {username});
  auto ended = end_sessions("username = ?", {username}, username);
  db_.execute("UPDATE accounts SET not_valid_before = NOW(6) WHERE username = ?", {username});
  ActionResult result;
  result.sessions_ended = ended.size();
  log_sessions(result, ended, " signed out by its user " + username);
  result.message = "All sessions of user " + username + " (" + std::to_string(ended.size()) + ") signed out by " + username +
                   " through a \"This wasn't me\" link";
  result.log_lines.push_back(result.message);
  Actor who = actor;
  who.name = username;
  who.source = "link";
  audit(who, "wasnt_me", username, "", "", result.message);
  tx.commit();
  return result;
}

ActionResult Operations::sso_logout(const SsoLogout& logout, const Actor& actor) {
  std::string where;
  std::vector<Param> params;
  std::string what;
  if (logout.protocol == SsoLogout::Protocol::cas) {
    if (!valid_cas_ticket(logout.ticket)) throw OperationError(OperationError::Kind::bad_input, "not a CAS ticket");
    where = "sso_key = ?";
    params = {sso_key_cas_ticket(logout.ticket)};
    what = "CAS single logout";
  } else if (!logout.sid.empty()) {
    // The provider's session, as the login recorded it; a sid never matches a ticket's digest.
    where = "sso_key = ?";
    params = {sso_key_oidc_sid(logout.sid)};
    what = "OpenID Connect back-channel logout (sid)";
  } else if (!logout.sub.empty()) {
    where = "(sso_sub = ? OR username = ?)";
    params = {logout.sub, logout.sub};
    what = "OpenID Connect back-channel logout (sub)";
  } else {
    throw OperationError(OperationError::Kind::bad_input, "a logout names neither a sub, a sid nor a ticket");
  }
  Transaction tx(db_);
  if (!logout.token_hash.empty()) {
    // The key is the single use: a racing copy of the token on another server finds it.
    auto inserted = db_.execute("INSERT IGNORE INTO sso_logout_tokens (token_hash, expires_at) VALUES (?, FROM_UNIXTIME(?))",
                                {logout.token_hash, static_cast<std::int64_t>(logout.token_expires)});
    if (inserted == 0) throw OperationError(OperationError::Kind::gone, "this logout token (jti) was already used");
    db_.execute("DELETE FROM sso_logout_tokens WHERE expires_at < NOW(6) - INTERVAL 1 HOUR LIMIT 100");
  }
  std::vector<std::string> users;
  auto ended = end_sessions(where, params, actor.name, &users, Reason::sso_logout);
  ActionResult result;
  result.sessions_ended = ended.size();
  std::set<std::string> distinct(users.begin(), users.end());
  std::string who = distinct.size() == 1 ? " of user " + *distinct.begin()
                    : distinct.empty()   ? ""
                                         : " of " + plural(distinct.size(), "user", "users");
  log_sessions(result, ended, " ended by single sign-out from " + actor.name);
  result.message = plural(ended.size(), "session", "sessions") + who + " ended by " + what + " from " + actor.name;
  result.log_lines.push_back(result.message);
  audit(actor, "sso_logout", distinct.size() == 1 ? *distinct.begin() : logout.sub, "", what, result.message);
  tx.commit();
  return result;
}

}  // namespace sg::db
