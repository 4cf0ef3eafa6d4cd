#include "admin_queries.hpp"

#include <algorithm>

#include "sg/text.hpp"
#include "sql_fragments.hpp"

namespace sg::db {

namespace {

const std::string kUserColumns =
    "SELECT a.username, COALESCE(a.email, ''), a.is_admin, a.active, " + micros_of("a.blocked_at") +
    ", COALESCE(a.blocked_by, ''), COALESCE(a.block_reason, ''), "
    "(SELECT COUNT(*) FROM sessions s WHERE s.username = a.username AND s.state = 'active'), " +
    micros_of("a.last_login_at") + ", COALESCE(a.max_sessions, -1) FROM accounts a";

UserRow user_from(const Row& r) {
  UserRow u;
  u.username = to_text(r[0]);
  u.email = to_text(r[1]);
  u.is_admin = to_int(r[2]) != 0;
  u.active = to_int(r[3]) != 0;
  u.blocked_at = to_int(r[4]);
  u.blocked_by = to_text(r[5]);
  u.block_reason = to_text(r[6]);
  u.live_sessions = static_cast<std::uint64_t>(to_int(r[7]));
  u.last_login_at = to_int(r[8]);
  if (auto limit = to_int(r[9]); limit >= 0) u.max_sessions = static_cast<int>(limit);
  return u;
}

const std::string kOutboxColumns = "SELECT id, kind, " + micros_of("created_at") +
                                   ", recipient, COALESCE(target_user, ''), subject, body, state, attempts, " +
                                   micros_of("next_try_at") + ", COALESCE(last_error, ''), " + micros_of("sent_at") +
                                   " FROM mail_outbox";

OutboxRow outbox_from(const Row& r) {
  OutboxRow o;
  o.id = static_cast<std::uint64_t>(to_int(r[0]));
  o.kind = to_text(r[1]);
  o.created_at = to_int(r[2]);
  o.recipient = to_text(r[3]);
  o.target_user = to_text(r[4]);
  o.subject = to_text(r[5]);
  o.body = to_text(r[6]);
  o.state = to_text(r[7]);
  o.attempts = static_cast<int>(to_int(r[8]));
  o.next_try_at = to_int(r[9]);
  o.last_error = to_text(r[10]);
  o.sent_at = to_int(r[11]);
  return o;
}
}  // namespace

bool AdminQueries::is_admin(const std::string& username) {
  auto rows = db_.query("SELECT is_admin, active FROM accounts WHERE username = ?", {username});
  return !rows.empty() && to_int(rows[0][0]) != 0 && to_int(rows[0][1]) != 0;
}

std::string AdminQueries::setting(const std::string& name, const std::string& fresh) {
  db_.execute("INSERT IGNORE INTO admin_settings (name, value) VALUES (?, ?)", {name, fresh});
  auto rows = db_.query("SELECT value FROM admin_settings WHERE name = ?", {name});
  if (rows.empty()) throw StoreError("setting " + name + " could not be stored");
  return to_text(rows[0][0]);
}

std::vector<UserRow> AdminQueries::users(const UserQuery& query) {
  std::vector<Param> params;
  std::string sql = kUserColumns + " WHERE 1 = 1";
  if (!query.search.empty()) {
    sql += " AND a.username COLLATE utf8mb4_unicode_ci LIKE ?";  // a search for people: any case
    params.emplace_back(contains_pattern(query.search));
  }
  if (query.state == "active") sql += " AND a.active = 1";
  if (query.state == "blocked") sql += " AND a.active = 0";
  if (!query.after.empty()) {
    sql += " AND a.username > ?";
    params.emplace_back(query.after);
  }
  sql += " ORDER BY a.username LIMIT ?";
  params.emplace_back(static_cast<std::int64_t>(std::clamp<std::size_t>(query.limit, 1, 1000)));
  std::vector<UserRow> users;
  for (const auto& r : db_.query(sql, params)) users.push_back(user_from(r));
  return users;
}

std::optional<UserRow> AdminQueries::user(const std::string& username) {
  auto rows = db_.query(kUserColumns + " WHERE a.username = ?", {username});
  if (rows.empty()) return std::nullopt;
  return user_from(rows[0]);
}

std::vector<AuditRow> AdminQueries::audit(const AuditQuery& query) {
  std::vector<Param> params;
  std::string sql = "SELECT l.id, " + micros_of("l.at") +
                    ", l.actor, l.actor_ip, l.source, l.action, COALESCE(l.target_user, ''), "
                    "COALESCE(l.target_session, ''), COALESCE(l.reason, ''), l.message, "
                    "COALESCE((SELECT GROUP_CONCAT(DISTINCT m.state) FROM mail_outbox m WHERE m.audit_id = l.id), '') "
                    "FROM audit_log l WHERE 1 = 1";
  if (!query.actor.empty()) {
    sql += " AND l.actor = ?";
    params.emplace_back(query.actor);
  }
  if (!query.user.empty()) {
    sql += " AND l.target_user = ?";
    params.emplace_back(query.user);
  }
  if (!query.action.empty()) {
    sql += " AND l.action = ?";
    params.emplace_back(query.action);
  }
  if (query.before_id != 0) {
    sql += " AND l.id < ?";
    params.emplace_back(static_cast<std::int64_t>(query.before_id));
  }
  sql += " ORDER BY l.id DESC LIMIT ?";
  params.emplace_back(static_cast<std::int64_t>(std::clamp<std::size_t>(query.limit, 1, 1000)));
  std::vector<AuditRow> out;
  for (const auto& r : db_.query(sql, params)) {
    AuditRow a;
    a.id = static_cast<std::uint64_t>(to_int(r[0]));
    a.at = to_int(r[1]);
    a.actor = to_text(r[2]);
    a.actor_ip = to_text(r[3]);
    a.source = to_text(r[4]);
    a.action = to_text(r[5]);
    a.target_user = to_text(r[6]);
    a.target_session = to_text(r[7]);
    a.reason = to_text(r[8]);
    a.message = to_text(r[9]);
    a.mail_state = to_text(r[10]);
    out.push_back(std::move(a));
  }
  return out;
}

std::vector<std::string> AdminQueries::audit_actions() {
  std::vector<std::string> out;
  for (const auto& r : db_.query("SELECT DISTINCT action FROM audit_log ORDER BY action")) out.push_back(to_text(r[0]));
  return out;
}

std::vector<InstanceHealthRow> AdminQueries::instance_health() {
  std::vector<InstanceHealthRow> out;
  for (const auto& r : db_.query(
           "SELECT instance, TIMESTAMPDIFF(MICROSECOND, FROM_UNIXTIME(0), reported_at), "
           "TIMESTAMPDIFF(MICROSECOND, reported_at, NOW(6)) DIV 1000, report_interval_ms, revoked_sessions, "
           "blocked_users, deny_list_capacity, deny_list_age_ms, poll_lag_ms, COALESCE(last_db_error, ''), "
           "COALESCE(TIMESTAMPDIFF(MICROSECOND, FROM_UNIXTIME(0), last_db_error_at), 0), activity_slots_used, "
           "activity_slots, activity_dropped, revocations_dropped, login_connections_in_use, login_connections, "
           "journal_bytes, journal_records_pending FROM instance_health ORDER BY instance LIMIT 1000")) {
    InstanceHealthRow row;
    InstanceHealth& h = row.figures;
    h.instance = to_text(r[0]);
    row.reported_at = to_int(r[1]);
    row.report_age_ms = to_int(r[2]);
    h.report_interval_ms = to_int(r[3]);
    h.revoked_sessions = to_int(r[4]);
    h.blocked_users = to_int(r[5]);
    h.deny_list_capacity = to_int(r[6]);
    h.deny_list_age_ms = to_int(r[7]);
    h.poll_lag_ms = to_int(r[8]);
    h.last_db_error = to_text(r[9]);
    h.last_db_error_at = to_int(r[10]);
    h.activity_slots_used = to_int(r[11]);
    h.activity_slots = to_int(r[12]);
    h.activity_dropped = to_int(r[13]);
    h.revocations_dropped = to_int(r[14]);
    h.login_connections_in_use = to_int(r[15]);
    h.login_connections = to_int(r[16]);
    h.journal_bytes = to_int(r[17]);
    h.journal_records_pending = to_int(r[18]);
    out.push_back(std::move(row));
  }
  return out;
}

std::vector<OutboxRow> AdminQueries::outbox(std::size_t limit, std::uint64_t before_id) {
  std::vector<Param> params;
  std::string sql = kOutboxColumns;
  if (before_id != 0) {
    sql += " WHERE id < ?";
    params.emplace_back(static_cast<std::int64_t>(before_id));
  }
  sql += " ORDER BY id DESC LIMIT ?";
  params.emplace_back(static_cast<std::int64_t>(std::clamp<std::size_t>(limit, 1, 1000)));
  std::vector<OutboxRow> out;
  for (const auto& r : db_.query(sql, params)) out.push_back(outbox_from(r));
  return out;
}

ActivityStats AdminQueries::activity(Micros interval, bool force_sample) {
  ActivityStats stats;
  auto newest = db_.query("SELECT " + micros_of("MAX(at)") + ", " + micros_of("NOW()") + " FROM activity_samples");
  Micros newest_at = newest.empty() ? 0 : to_int(newest[0][0]);
  Micros now = newest.empty() ? 0 : to_int(newest[0][1]);
  if (force_sample || newest_at == 0 || now - newest_at >= interval) {
    // Counting a large table is the expensive part, so it happens once per interval for
    // all processes: the slot's primary key lets only the first writer insert.
    db_.execute(
        "INSERT IGNORE INTO activity_samples (at, active_sessions, active_users) "
        "SELECT NOW(), (SELECT COUNT(*) FROM sessions WHERE state = 'active'), "
        "(SELECT COUNT(DISTINCT username) FROM sessions WHERE state = 'active')");
  }
  auto latest = db_.query("SELECT " + micros_of("at") +
                          ", active_sessions, active_users FROM activity_samples ORDER BY at DESC LIMIT 1");
  if (!latest.empty()) {
    stats.measured_at = to_int(latest[0][0]);
    stats.active_sessions = static_cast<std::uint64_t>(to_int(latest[0][1]));
    stats.active_users = static_cast<std::uint64_t>(to_int(latest[0][2]));
  }
  auto hours = db_.query(
      "SELECT CAST(UNIX_TIMESTAMP(at) DIV 3600 AS SIGNED), MAX(active_sessions) FROM activity_samples "
      "WHERE at >= NOW() - INTERVAL 24 HOUR GROUP BY 1 ORDER BY 1");
  for (const auto& r : hours) {
    stats.chart.emplace_back(to_int(r[0]) * 3600 * kMicrosPerSecond, static_cast<std::uint64_t>(to_int(r[1])));
  }
  return stats;
}

std::vector<OutboxRow> AdminQueries::claim_due_mail(std::size_t limit, Micros lease) {
  auto due = db_.query(
      "SELECT id FROM mail_outbox WHERE state = 'pending' AND next_try_at <= NOW(6) ORDER BY next_try_at, id LIMIT ?",
      {static_cast<std::int64_t>(limit)});
  std::vector<OutboxRow> claimed;
  for (const auto& r : due) {
    std::int64_t id = to_int(r[0]);
    // Only one process wins the row: the lease moves next_try_at, so the condition fails for others.
    auto won = db_.execute(
        "UPDATE mail_outbox SET attempts = attempts + 1, next_try_at = NOW(6) + INTERVAL ? MICROSECOND "
        "WHERE id = ? AND state = 'pending' AND next_try_at <= NOW(6)",
        {static_cast<std::int64_t>(lease), id});
    if (won != 1) continue;
    auto rows = db_.query(kOutboxColumns + " WHERE id = ?", {id});
    if (!rows.empty()) claimed.push_back(outbox_from(rows[0]));
  }
  return claimed;
}

void AdminQueries::mark_sent(std::uint64_t id) {
  db_.execute("UPDATE mail_outbox SET state = 'sent', sent_at = NOW(6), last_error = NULL WHERE id = ?",
              {static_cast<std::int64_t>(id)});
}

void AdminQueries::mark_failed(std::uint64_t id, const std::string& error, Micros retry_in, bool give_up) {
  db_.execute(
      "UPDATE mail_outbox SET state = ?, last_error = ?, next_try_at = NOW(6) + INTERVAL ? MICROSECOND WHERE id = ?",
      {std::string(give_up ? "failed" : "pending"), sg::utf8_sanitize(error, 1000), static_cast<std::int64_t>(retry_in),
       static_cast<std::int64_t>(id)});
}

}  // namespace sg::db
