#include "store.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>

#include "sg/text.hpp"

namespace sg::db {

namespace {
DenyEvent event_from_row(const Row& row) {
  DenyEvent event;
  event.id = static_cast<std::uint64_t>(to_int(row[0]));
  event.user_changed = to_text(row[1]) == "user";
  if (!event.user_changed) {
    if (auto fp = Fingerprint::from_hex(to_text(row[2]))) event.fingerprint = *fp;
    event.reason = reason_from_string(to_text(row[3])).value_or(Reason::killed);
  }
  return event;
}

std::string state_for(Reason reason) {
  return std::string(to_string(reason));
}
}  // namespace

std::uint64_t SqlDenyFeed::max_event_id() {
  auto rows = db_.query("SELECT COALESCE(MAX(id), 0) FROM deny_events");
  return rows.empty() ? 0 : static_cast<std::uint64_t>(to_int(rows[0][0]));
}

std::vector<DenyEvent> SqlDenyFeed::recent_revocations(std::size_t limit) {
  auto rows = db_.query(
      "SELECT id, kind, fingerprint, reason FROM deny_events WHERE kind = 'session' ORDER BY id DESC LIMIT ?",
      {static_cast<std::int64_t>(limit)});
  std::vector<DenyEvent> events;
  events.reserve(rows.size());
  for (const auto& row : rows) events.push_back(event_from_row(row));
  return events;
}

std::vector<std::string> SqlDenyFeed::blocked_users() {
  std::vector<std::string> users;
  for (const auto& row : db_.query("SELECT username FROM accounts WHERE active = 0")) users.push_back(to_text(row[0]));
  return users;
}

std::vector<DenyEvent> SqlDenyFeed::events(std::uint64_t after, std::uint64_t up_to, std::size_t limit) {
  auto rows = db_.query(
      "SELECT id, kind, fingerprint, reason FROM deny_events WHERE id > ? AND (? = 0 OR id <= ?) ORDER BY id LIMIT ?",
      {static_cast<std::int64_t>(after), static_cast<std::int64_t>(up_to), static_cast<std::int64_t>(up_to),
       static_cast<std::int64_t>(limit)});
  std::vector<DenyEvent> events;
  events.reserve(rows.size());
  for (const auto& row : rows) events.push_back(event_from_row(row));
  return events;
}

void SqlDenyFeed::record_activity(const std::vector<ActivityRecord>& activity) {
  // One statement per chunk rather than per session: the cost of a flush stays flat.
  constexpr std::size_t kChunk = 50;
  for (std::size_t start = 0; start < activity.size(); start += kChunk) {
    std::size_t end = std::min(activity.size(), start + kChunk);
    std::string sql = "UPDATE sessions s JOIN (";
    std::vector<Param> params;
    for (std::size_t i = start; i < end; ++i) {
      sql += i == start ? "SELECT ? AS fp, ? AS seen" : " UNION ALL SELECT ?, ?";
      params.emplace_back(activity[i].fingerprint.hex());
      params.emplace_back(static_cast<std::int64_t>(activity[i].last_seen));
    }
    sql += ") a ON s.fingerprint = a.fp SET s.last_access = GREATEST(s.last_access, "
           "FROM_UNIXTIME(0) + INTERVAL a.seen MICROSECOND) WHERE s.state = 'active'";
    db_.execute(sql, params);
  }
}

LoginOutcome record_login(Connection& db, const LoginRecord& login) {
  db.execute(
      "INSERT INTO accounts (username, last_login_at) VALUES (?, NOW(6)) "
      "ON DUPLICATE KEY UPDATE last_login_at = NOW(6)",
      {login.username});
  // A fingerprint seen before (the app kept its id across logins) becomes this login, unless
  // it was ended by an administrator or a policy: that value stays dead.
  db.execute(
      "INSERT INTO sessions (fingerprint, username, cookie_name, state, login_at, last_access, client_ip, user_agent, "
      "device, browser, os, server_name, idle_timeout, max_lifetime) "
      "VALUES (?, ?, ?, 'active', NOW(6), NOW(6), ?, ?, ?, ?, ?, ?, ?, ?) "
      "ON DUPLICATE KEY UPDATE "
      "username = IF(state IN ('active', 'logged_out'), VALUES(username), username), "
      "login_at = IF(state IN ('active', 'logged_out'), NOW(6), login_at), "
      "last_access = NOW(6), client_ip = VALUES(client_ip), user_agent = VALUES(user_agent), "
      "device = VALUES(device), browser = VALUES(browser), os = VALUES(os), server_name = VALUES(server_name), "
      "ended_at = IF(state IN ('active', 'logged_out'), NULL, ended_at), "
      "ended_by = IF(state IN ('active', 'logged_out'), NULL, ended_by), "
      "state = IF(state IN ('active', 'logged_out'), 'active', state)",
      {login.fingerprint.hex(), login.username, login.cookie_name, login.client_ip.substr(0, 45),
       login.user_agent.substr(0, 512), std::string(to_string(login.device.device)), login.device.browser.substr(0, 64),
       login.device.os.substr(0, 64), login.server_name.substr(0, 255),
       static_cast<std::int64_t>(login.idle_timeout_seconds), static_cast<std::int64_t>(login.max_lifetime_seconds)});
  auto rows = db.query("SELECT active FROM accounts WHERE username = ?", {login.username});
  if (!rows.empty() && to_int(rows[0][0]) == 0) {
    revoke_session(db, login.fingerprint, login.username, Reason::blocked, "system");
    return LoginOutcome::user_blocked;
  }
  return LoginOutcome::recorded;
}

void record_logout(Connection& db, const Fingerprint& fingerprint) {
  db.execute(
      "UPDATE sessions SET state = 'logged_out', ended_at = NOW(6), ended_by = username "
      "WHERE fingerprint = ? AND state = 'active'",
      {fingerprint.hex()});
}

void revoke_session(Connection& db, const Fingerprint& fingerprint, std::string_view username, Reason reason,
                    std::string_view ended_by) {
  db.execute(
      "UPDATE sessions SET state = ?, ended_at = NOW(6), ended_by = ? WHERE fingerprint = ? AND state = 'active'",
      {state_for(reason), std::string(ended_by), fingerprint.hex()});
  db.execute("INSERT INTO deny_events (kind, fingerprint, username, reason) VALUES ('session', ?, ?, ?)",
             {fingerprint.hex(), std::string(username), std::string(to_string(reason))});
}

}  // namespace sg::db
