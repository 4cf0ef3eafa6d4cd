#include "store.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>
#include <set>

#include "accounts.hpp"
#include "sg/device.hpp"
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
    event.username = to_text(row[4]);
    event.at = static_cast<Micros>(to_int(row[5]));
  }
  return event;
}

// The columns event_from_row reads; `at` in the same microseconds since the epoch as
// record_activity writes.
constexpr const char* kEventColumns =
    "id, kind, fingerprint, reason, COALESCE(username, ''), "
    "TIMESTAMPDIFF(MICROSECOND, FROM_UNIXTIME(0), created_at)";

std::string state_for(Reason reason) {
  return std::string(to_string(reason));
}
}  // namespace

std::uint64_t SqlDenyFeed::max_event_id() {
  auto rows = db_.query("SELECT COALESCE(MAX(id), 0) FROM deny_events");
  return rows.empty() ? 0 : static_cast<std::uint64_t>(to_int(rows[0][0]));
}

RevocationLoad SqlDenyFeed::revocations_within(Micros retention, std::size_t limit) {
  const auto cutoff = static_cast<std::int64_t>(retention);
  // A range of ix_deny_events_kind_created: only rows within retention are read, by time
  // rather than by id (ids are given at insert, not in time order when clocks or imports
  // disagree).
  const std::string within =
      "FROM deny_events WHERE kind = 'session' AND created_at >= NOW(6) - INTERVAL ? MICROSECOND";
  RevocationLoad load;
  auto count = db_.query("SELECT COUNT(*) " + within, {cutoff});
  load.within_retention = count.empty() ? 0 : static_cast<std::uint64_t>(to_int(count[0][0]));
  std::vector<Row> rows;
  if (load.within_retention <= limit) {
    rows = db_.query(std::string("SELECT ") + kEventColumns + " " + within, {cutoff});
  } else {
    // More than fit: not the newest N (one user's thousand logins would push everyone
    // else's revocations out), but as select_revocations keeps them: rounds of each
    // user's newest, next newest, and so on.
    rows = db_.query(std::string("SELECT ") + kEventColumns + " FROM (SELECT *, ROW_NUMBER() OVER "
                     "(PARTITION BY username ORDER BY id DESC) AS nth " + within + ") r "
                     "ORDER BY nth, id DESC LIMIT ?",
                     {cutoff, static_cast<std::int64_t>(limit)});
  }
  load.events.reserve(rows.size());
  for (const auto& row : rows) load.events.push_back(event_from_row(row));
  return load;
}

std::vector<std::string> SqlDenyFeed::blocked_users() {
  std::vector<std::string> users;
  for (const auto& row : db_.query("SELECT username FROM accounts WHERE active = 0")) users.push_back(to_text(row[0]));
  return users;
}

std::vector<DenyEvent> SqlDenyFeed::events(std::uint64_t after, std::uint64_t up_to, std::size_t limit) {
  auto rows = db_.query(
      std::string("SELECT ") + kEventColumns + " FROM deny_events WHERE id > ? AND (? = 0 OR id <= ?) ORDER BY id LIMIT ?",
      {static_cast<std::int64_t>(after), static_cast<std::int64_t>(up_to), static_cast<std::int64_t>(up_to),
       static_cast<std::int64_t>(limit)});
  std::vector<DenyEvent> events;
  events.reserve(rows.size());
  for (const auto& row : rows) events.push_back(event_from_row(row));
  return events;
}

std::uint64_t SqlDenyFeed::count_events(std::uint64_t after, std::uint64_t up_to) {
  auto rows = db_.query("SELECT COUNT(*) FROM deny_events WHERE id > ? AND id <= ?",
                        {static_cast<std::int64_t>(after), static_cast<std::int64_t>(up_to)});
  return rows.empty() ? 0 : static_cast<std::uint64_t>(to_int(rows[0][0]));
}

std::vector<Fingerprint> SqlDenyFeed::record_activity(const std::vector<ActivityRecord>& activity) {
  std::vector<Fingerprint> deferred;
  // One statement per chunk rather than per session: the cost of a flush stays flat.
  constexpr std::size_t kChunk = 50;
  for (std::size_t start = 0; start < activity.size(); start += kChunk) {
    std::size_t end = std::min(activity.size(), start + kChunk);
    std::string in;
    std::vector<Param> fingerprints;
    for (std::size_t i = start; i < end; ++i) {
      in += i == start ? "?" : ", ?";
      fingerprints.emplace_back(activity[i].fingerprint.hex());
    }
    // A row another transaction holds (a login, a kill, anyone's SELECT ... FOR UPDATE) is
    // skipped, not waited for: the deny-list refresh shares this connection and must never
    // queue behind a lock. The rows we could lock are written; the others wait for the next
    // flush. The first read (a consistent read, which waits for nobody) tells a locked live
    // session from one that has ended, whose activity no longer matters.
    Transaction tx(db_);
    const std::string live_sql = "SELECT fingerprint FROM sessions WHERE state = 'active' AND fingerprint IN (" + in + ")";
    std::set<std::string> live, locked;
    for (const auto& row : db_.query(live_sql, fingerprints)) live.insert(to_text(row[0]));
    for (const auto& row : db_.query(live_sql + " FOR UPDATE SKIP LOCKED", fingerprints)) locked.insert(to_text(row[0]));
    std::string sql = "UPDATE sessions s JOIN (";
    std::vector<Param> params;
    for (std::size_t i = start; i < end; ++i) {
      const std::string hex = activity[i].fingerprint.hex();
      if (locked.count(hex) == 0) {
        if (live.count(hex) > 0) deferred.push_back(activity[i].fingerprint);
        continue;
      }
      sql += params.empty() ? "SELECT ? AS fp, ? AS seen" : " UNION ALL SELECT ?, ?";
      params.emplace_back(hex);
      params.emplace_back(static_cast<std::int64_t>(activity[i].last_seen));
    }
    sql += ") a ON s.fingerprint = a.fp SET s.last_access = GREATEST(s.last_access, "
           "FROM_UNIXTIME(0) + INTERVAL a.seen MICROSECOND), "
           "s.idle_deadline = IF(s.idle_timeout > 0, GREATEST(s.last_access, FROM_UNIXTIME(0) + INTERVAL a.seen "
           "MICROSECOND) + INTERVAL s.idle_timeout SECOND, NULL) WHERE s.state = 'active'";
    if (!params.empty()) db_.execute(sql, params);
    tx.commit();
  }
  return deferred;
}

std::vector<std::pair<Fingerprint, std::string>> SqlDenyFeed::session_users(const std::vector<Fingerprint>& sessions) {
  std::vector<std::pair<Fingerprint, std::string>> users;
  constexpr std::size_t kChunk = 50;
  for (std::size_t start = 0; start < sessions.size(); start += kChunk) {
    std::size_t end = std::min(sessions.size(), start + kChunk);
    std::string sql = "SELECT fingerprint, username FROM sessions WHERE state = 'active' AND fingerprint IN (";
    std::vector<Param> params;
    for (std::size_t i = start; i < end; ++i) {
      sql += i == start ? "?" : ", ?";
      params.emplace_back(sessions[i].hex());
    }
    sql += ")";
    for (const auto& row : db_.query(sql, params)) {
      if (auto fp = Fingerprint::from_hex(to_text(row[0]))) users.emplace_back(*fp, to_text(row[1]));
    }
  }
  return users;
}

std::size_t SqlDenyFeed::expire_sessions(std::size_t limit) {
  auto rows = db_.query(
      "(SELECT fingerprint, username FROM sessions WHERE state = 'active' AND idle_deadline < NOW(6) LIMIT ?) "
      "UNION (SELECT fingerprint, username FROM sessions WHERE state = 'active' AND absolute_deadline < NOW(6) "
      "LIMIT ?)",
      {static_cast<std::int64_t>(limit), static_cast<std::int64_t>(limit)});
  std::size_t expired = 0;
  for (const auto& row : rows) {
    auto fp = Fingerprint::from_hex(to_text(row[0]));
    if (!fp) continue;
    // Every server sweeps; the state guard makes exactly one of them end each session, and
    // the transaction keeps the ended row and its event together. A row another transaction
    // holds is left for the next sweep rather than waited for (see record_activity).
    Transaction tx(db_);
    if (db_.query("SELECT id FROM sessions WHERE fingerprint = ? AND state = 'active' FOR UPDATE SKIP LOCKED",
                  {fp->hex()}).empty())
      continue;
    if (revoke_session(db_, *fp, to_text(row[1]), Reason::expired, "timeout")) ++expired;
    tx.commit();
  }
  return expired;
}

void SqlDenyFeed::report_health(const InstanceHealth& h) {
  // No error yet: an empty text and a time of 0, stored as NULL by the NULLIFs.
  db_.execute(
      "INSERT INTO instance_health (instance, reported_at, report_interval_ms, revoked_sessions, blocked_users, "
      "deny_list_capacity, deny_list_age_ms, poll_lag_ms, last_db_error, last_db_error_at, activity_slots_used, "
      "activity_slots, activity_dropped, revocations_dropped, login_connections_in_use, login_connections, "
      "journal_bytes, journal_records_pending, revocation_retention_ms) VALUES (?, NOW(6), ?, ?, ?, ?, ?, ?, "
      "NULLIF(?, ''), FROM_UNIXTIME(0) + INTERVAL NULLIF(?, 0) MICROSECOND, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
      "ON DUPLICATE KEY UPDATE reported_at = VALUES(reported_at), report_interval_ms = VALUES(report_interval_ms), "
      "revoked_sessions = VALUES(revoked_sessions), blocked_users = VALUES(blocked_users), "
      "deny_list_capacity = VALUES(deny_list_capacity), deny_list_age_ms = VALUES(deny_list_age_ms), "
      "poll_lag_ms = VALUES(poll_lag_ms), last_db_error = VALUES(last_db_error), "
      "last_db_error_at = VALUES(last_db_error_at), activity_slots_used = VALUES(activity_slots_used), "
      "activity_slots = VALUES(activity_slots), activity_dropped = VALUES(activity_dropped), "
      "revocations_dropped = VALUES(revocations_dropped), "
      "login_connections_in_use = VALUES(login_connections_in_use), login_connections = VALUES(login_connections), "
      "journal_bytes = VALUES(journal_bytes), journal_records_pending = VALUES(journal_records_pending), "
      "revocation_retention_ms = VALUES(revocation_retention_ms)",
      {h.instance.substr(0, 255), h.report_interval_ms, h.revoked_sessions, h.blocked_users, h.deny_list_capacity,
       h.deny_list_age_ms, h.poll_lag_ms, h.last_db_error.substr(0, 255), std::int64_t{h.last_db_error_at}, h.activity_slots_used, h.activity_slots,
       h.activity_dropped, h.revocations_dropped, h.login_connections_in_use, h.login_connections, h.journal_bytes,
       h.journal_records_pending, h.revocation_retention_ms});
}

std::vector<std::pair<std::uint64_t, std::string>> SqlDenyFeed::audit_lines(std::uint64_t after, std::size_t limit) {
  std::vector<std::pair<std::uint64_t, std::string>> lines;
  for (const auto& row : db_.query("SELECT id, message FROM audit_log WHERE id > ? ORDER BY id LIMIT ?",
                                   {static_cast<std::int64_t>(after), static_cast<std::int64_t>(limit)})) {
    lines.emplace_back(static_cast<std::uint64_t>(to_int(row[0])), to_text(row[1]));
  }
  return lines;
}

std::uint64_t SqlDenyFeed::last_audit_id() {
  auto rows = db_.query("SELECT COALESCE(MAX(id), 0) FROM audit_log");
  return rows.empty() ? 0 : static_cast<std::uint64_t>(to_int(rows[0][0]));
}

namespace {
// @sg_at: the time a login or logout happened, in the connection's time zone as NOW(6) is.
void set_time(Connection& db, Micros at) {
  db.execute("SET @sg_at = IF(? > 0, FROM_UNIXTIME(?) + INTERVAL ? MICROSECOND, NOW(6))",
             {static_cast<std::int64_t>(at), static_cast<std::int64_t>(at / kMicrosPerSecond),
              static_cast<std::int64_t>(at % kMicrosPerSecond)});
}

// The session's row for this login, in state `state` (active, or ended at once as blocked or
// refused). A fingerprint seen before (the app kept its id across logins) becomes this login,
// unless it was ended by an administrator or a policy: that value stays dead.
void write_session_row(Connection& db, const LoginRecord& login, const std::string& fingerprint, const char* state) {
  const DeviceInfo device = classify_user_agent(login.user_agent);
  db.execute(
      "INSERT INTO sessions (fingerprint, username, cookie_name, state, login_at, last_access, client_ip, user_agent, "
      "device, browser, os, server_name, idle_timeout, max_lifetime, idle_deadline, absolute_deadline, ended_at, "
      "ended_by, sso_key, sso_sub) "
      "VALUES (?, ?, ?, ?, @sg_at, @sg_at, ?, ?, ?, ?, ?, ?, ?, ?, "
      "IF(? > 0, @sg_at + INTERVAL ? SECOND, NULL), IF(? > 0, @sg_at + INTERVAL ? SECOND, NULL), "
      "IF(? = 'active', NULL, NOW(6)), IF(? = 'active', NULL, 'system'), ?, ?) "
      "ON DUPLICATE KEY UPDATE "
      "username = IF(state IN ('active', 'logged_out'), VALUES(username), username), "
      "login_at = IF(state IN ('active', 'logged_out'), @sg_at, login_at), "
      "last_access = GREATEST(last_access, @sg_at), client_ip = VALUES(client_ip), user_agent = VALUES(user_agent), "
      "device = VALUES(device), browser = VALUES(browser), os = VALUES(os), server_name = VALUES(server_name), "
      "idle_timeout = VALUES(idle_timeout), max_lifetime = VALUES(max_lifetime), "
      "idle_deadline = VALUES(idle_deadline), absolute_deadline = VALUES(absolute_deadline), "
      "sso_key = IF(state IN ('active', 'logged_out'), VALUES(sso_key), sso_key), "
      "sso_sub = IF(state IN ('active', 'logged_out'), VALUES(sso_sub), sso_sub), "
      "ended_at = IF(state IN ('active', 'logged_out'), VALUES(ended_at), ended_at), "
      "ended_by = IF(state IN ('active', 'logged_out'), VALUES(ended_by), ended_by), "
      "state = IF(state IN ('active', 'logged_out'), VALUES(state), state)",
      // What the client sent is stored as valid UTF-8 cut to the column, never refused: a
      // User-Agent in Latin-1 or cut inside a character must not fail the login (503).
      {fingerprint, login.username, sg::utf8_sanitize(login.cookie_name, 64), std::string(state),
       sg::utf8_sanitize(login.client_ip, 45), sg::utf8_sanitize(login.user_agent, 512),
       std::string(to_string(device.device)), sg::utf8_sanitize(device.browser, 64),
       sg::utf8_sanitize(device.os, 64), sg::utf8_sanitize(login.server_name, 255),
       static_cast<std::int64_t>(login.idle_timeout_seconds), static_cast<std::int64_t>(login.max_lifetime_seconds),
       static_cast<std::int64_t>(login.idle_timeout_seconds), static_cast<std::int64_t>(login.idle_timeout_seconds),
       static_cast<std::int64_t>(login.max_lifetime_seconds), static_cast<std::int64_t>(login.max_lifetime_seconds),
       std::string(state), std::string(state),
       login.sso_key.size() == 64 ? Param(login.sso_key) : Param(Null{}),
       login.sso_sub.empty() ? Param(Null{}) : Param(sg::utf8_sanitize(login.sso_sub, 255))});
}

LoginOutcome record_login_once(Connection& db, const LoginRecord& login) {
  LoginOutcome outcome;
  const std::string fingerprint = login.fingerprint.hex();
  Transaction tx(db);
  // The module may only add a name and stamp its last login (scripts/db-setup's grants): an
  // account that may rename accounts could rename a blocked one out of its block.
  stamp_account_login(db, login.username);
  auto account = db.query("SELECT active, max_sessions FROM accounts WHERE username = ? FOR UPDATE", {login.username});
  bool active = account.empty() || to_int(account[0][0]) != 0;
  int limit = account.empty() || !account[0][1] ? login.max_sessions : static_cast<int>(to_int(account[0][1]));

  std::vector<Row> others;
  if (active && limit > 0) {
    others = db.query(
        "SELECT fingerprint FROM sessions WHERE username = ? AND state = 'active' AND fingerprint <> ? "
        "ORDER BY login_at, id",
        {login.username, fingerprint});
  }
  bool over_limit = limit > 0 && static_cast<int>(others.size()) >= limit;
  const char* state = !active ? "blocked" : (over_limit && login.refuse_new) ? "refused" : "active";
  set_time(db, login.at);

  write_session_row(db, login, fingerprint, state);

  if (!active) {
    insert_deny_event(db, login.fingerprint, login.username, Reason::blocked);
    outcome.kind = LoginOutcome::Kind::user_blocked;
  } else if (over_limit && login.refuse_new) {
    insert_deny_event(db, login.fingerprint, login.username, Reason::refused);
    outcome.kind = LoginOutcome::Kind::over_limit;
    outcome.limit = limit;
  } else if (over_limit) {
    // Oldest first, keeping limit - 1 of them beside the new one.
    std::size_t to_end = others.size() - static_cast<std::size_t>(limit) + 1;
    for (std::size_t i = 0; i < to_end; ++i) {
      auto fp = Fingerprint::from_hex(to_text(others[i][0]));
      if (fp && revoke_session(db, *fp, login.username, Reason::superseded, "policy")) {
        outcome.evicted.push_back(fp->hex());
      }
    }
    outcome.limit = limit;
  }
  tx.commit();
  return outcome;
}
}  // namespace

LoginOutcome record_login(Connection& db, const LoginRecord& login) {
  // A user name is a key: one changed to fit would bind the session to another account, so a
  // name MariaDB cannot store as it is refuses the login (the module answers it fail-closed).
  if (login.username.empty() || login.username.size() > 190 || !sg::utf8_valid(login.username))
    throw StoreError("cannot record a login for a user name that is empty, longer than 190 bytes or not valid UTF-8");
  // The first logins of a new name racing each other can still deadlock (both hold the gap
  // where the row will go); InnoDB has rolled the loser back whole, so it runs again.
  for (int attempt = 1;; ++attempt) {
    try {
      return record_login_once(db, login);
    } catch (const DeadlockError&) {
      if (attempt == 3) throw;
    }
  }
}

void record_logout(Connection& db, const Fingerprint& fingerprint, Micros at) {
  set_time(db, at);
  db.execute(
      "UPDATE sessions SET state = 'logged_out', ended_at = @sg_at, ended_by = username "
      "WHERE fingerprint = ? AND state = 'active'",
      {fingerprint.hex()});
}

void tie_ticket_value(Connection& db, const std::string& sso_key, const Fingerprint& value,
                      std::string_view cookie_name, Micros at) {
  set_time(db, at);
  // IGNORE: a journal replay cut off by a crash may write the same tie again.
  db.execute("INSERT IGNORE INTO sso_ticket_values (sso_key, fingerprint, cookie_name, created_at) VALUES (?, ?, ?, @sg_at)",
             {sso_key, value.hex(), sg::utf8_sanitize(cookie_name, 64)});
}

bool login_recorded(Connection& db, const Fingerprint& fingerprint, Micros at) {
  set_time(db, at);
  return !db.query("SELECT 1 FROM sessions WHERE fingerprint = ? AND login_at = @sg_at", {fingerprint.hex()}).empty();
}

void insert_deny_event(Connection& db, const Fingerprint& fingerprint, std::string_view username, Reason reason) {
  db.execute("INSERT INTO deny_events (kind, fingerprint, username, reason) VALUES ('session', ?, ?, ?)",
             {fingerprint.hex(), std::string(username), std::string(to_string(reason))});
}

void insert_user_event(Connection& db, std::string_view username, bool blocked) {
  db.execute("INSERT INTO deny_events (kind, username, reason) VALUES ('user', ?, ?)",
             {std::string(username), std::string(blocked ? "blocked" : "unblocked")});
}

bool revoke_session(Connection& db, const Fingerprint& fingerprint, std::string_view username, Reason reason,
                    std::string_view ended_by) {
  std::uint64_t ended = db.execute(
      "UPDATE sessions SET state = ?, ended_at = NOW(6), ended_by = ? WHERE fingerprint = ? AND state = 'active'",
      {state_for(reason), sg::utf8_sanitize(ended_by, 190), fingerprint.hex()});
  if (ended == 0 && reason != Reason::blocked) return false;
  insert_deny_event(db, fingerprint, username, reason);
  // Every earlier value of the session's cookie and every value of its other cookies
  // ("remember me"): the app may still accept any of them.
  db.execute(
      "INSERT INTO deny_events (kind, fingerprint, username, reason) "
      "SELECT 'session', v.fingerprint, ?, ? FROM session_values v JOIN sessions s ON s.id = v.session_id "
      "WHERE s.fingerprint = ?",
      {std::string(username), std::string(to_string(reason)), fingerprint.hex()});
  return ended > 0;
}

ValueTie record_session_value(Connection& db, const Fingerprint& session, const Fingerprint& value,
                              std::string_view cookie_name) {
  Transaction tx(db);
  // The session may be known by its current value or by one it had before.
  auto rows = db.query(
      "SELECT s.id, s.state, s.username, s.fingerprint FROM sessions s WHERE s.fingerprint = ? "
      "UNION ALL SELECT s.id, s.state, s.username, s.fingerprint FROM session_values v "
      "JOIN sessions s ON s.id = v.session_id WHERE v.fingerprint = ? LIMIT 1",
      {session.hex(), session.hex()});
  if (rows.empty()) return ValueTie::unknown_session;
  const std::string id = to_text(rows[0][0]);
  const std::string state = to_text(rows[0][1]);
  const std::string username = to_text(rows[0][2]);
  db.query("SELECT id FROM sessions WHERE id = ? FOR UPDATE", {id});
  auto known = db.query(
      "SELECT 1 FROM sessions WHERE fingerprint = ? UNION ALL SELECT 1 FROM session_values WHERE fingerprint = ?",
      {value.hex(), value.hex()});
  if (!known.empty()) return ValueTie::already_known;
  auto current = db.query("SELECT state, fingerprint, cookie_name FROM sessions WHERE id = ?", {id});
  if (current.empty()) return ValueTie::unknown_session;
  const std::string now_state = to_text(current[0][0]);
  if (now_state == "logged_out") return ValueTie::unknown_session;  // the app's next anonymous session is not this one
  if (now_state != "active") {
    // Ended while its response was on the way: the new value is as dead as the session.
    insert_deny_event(db, value, username, reason_from_string(now_state).value_or(Reason::killed));
    tx.commit();
    return ValueTie::session_ended;
  }
  if (to_text(current[0][2]) == cookie_name) {
    db.execute("INSERT INTO session_values (fingerprint, session_id, cookie_name, created_at) VALUES (?, ?, ?, NOW(6))",
               {to_text(current[0][1]), id, std::string(cookie_name)});
    db.execute("UPDATE sessions SET fingerprint = ? WHERE id = ?", {value.hex(), id});
  } else {
    db.execute("INSERT INTO session_values (fingerprint, session_id, cookie_name, created_at) VALUES (?, ?, ?, NOW(6))",
               {value.hex(), id, std::string(cookie_name)});
  }
  tx.commit();
  return ValueTie::tied;
}

}  // namespace sg::db
