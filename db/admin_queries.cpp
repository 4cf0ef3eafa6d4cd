#include "admin_queries.hpp"

#include <algorithm>

#include "sg/text.hpp"
#include "columns.hpp"
#include "outbox.hpp"
#include "sql_fragments.hpp"

namespace sg::db {

namespace {

const std::vector<Column<UserRow>>& user_columns() {
  static const std::vector<Column<UserRow>> columns = {
      {"a.username", &UserRow::username},
      {"COALESCE(a.email, '')", &UserRow::email},
      {"a.is_admin", &UserRow::is_admin},
      {"a.active", &UserRow::active},
      {micros_of("a.blocked_at"), &UserRow::blocked_at},
      {"COALESCE(a.blocked_by, '')", &UserRow::blocked_by},
      {"COALESCE(a.block_reason, '')", &UserRow::block_reason},
      {"(SELECT COUNT(*) FROM sessions s WHERE s.username = a.username AND s.state = 'active')", &UserRow::live_sessions},
      {micros_of("a.last_login_at"), &UserRow::last_login_at},
      {"a.max_sessions", &UserRow::max_sessions},
  };
  return columns;
}
const std::string kUserColumns = "SELECT " + select_list(user_columns()) + " FROM accounts a";

const std::vector<Column<OutboxRow>>& outbox_columns() {
  static const std::vector<Column<OutboxRow>> columns = {
      {"id", &OutboxRow::id},
      {"kind", &OutboxRow::kind},
      {micros_of("created_at"), &OutboxRow::created_at},
      {"recipient", &OutboxRow::recipient},
      {"COALESCE(target_user, '')", &OutboxRow::target_user},
      {"subject", &OutboxRow::subject},
      {"body", &OutboxRow::body},
      {"state", &OutboxRow::state},
      {"attempts", &OutboxRow::attempts},
      {micros_of("next_try_at"), &OutboxRow::next_try_at},
      {"COALESCE(last_error, '')", &OutboxRow::last_error},
      {micros_of("sent_at"), &OutboxRow::sent_at},
  };
  return columns;
}
const std::string kOutboxColumns = "SELECT " + select_list(outbox_columns()) + " FROM mail_outbox";

const std::vector<Column<AuditRow>>& audit_columns() {
  static const std::vector<Column<AuditRow>> columns = {
      {"l.id", &AuditRow::id},
      {micros_of("l.at"), &AuditRow::at},
      {"l.actor", &AuditRow::actor},
      {"l.actor_ip", &AuditRow::actor_ip},
      {"l.source", &AuditRow::source},
      {"l.action", &AuditRow::action},
      {"COALESCE(l.target_user, '')", &AuditRow::target_user},
      {"COALESCE(l.target_session, '')", &AuditRow::target_session},
      {"COALESCE(l.reason, '')", &AuditRow::reason},
      {"l.message", &AuditRow::message},
      {"COALESCE((SELECT GROUP_CONCAT(DISTINCT m.state) FROM mail_outbox m WHERE m.audit_id = l.id), '')",
       &AuditRow::mail_state},
  };
  return columns;
}

// The figures as the poller wrote them, after the two columns of the report's age.
const std::vector<Column<InstanceHealth>>& health_columns() {
  static const std::vector<Column<InstanceHealth>> columns = {
      {"instance", &InstanceHealth::instance},
      {"report_interval_ms", &InstanceHealth::report_interval_ms},
      {"revoked_sessions", &InstanceHealth::revoked_sessions},
      {"blocked_users", &InstanceHealth::blocked_users},
      {"deny_list_capacity", &InstanceHealth::deny_list_capacity},
      {"deny_list_age_ms", &InstanceHealth::deny_list_age_ms},
      {"poll_lag_ms", &InstanceHealth::poll_lag_ms},
      {"COALESCE(last_db_error, '')", &InstanceHealth::last_db_error},
      {"COALESCE(TIMESTAMPDIFF(MICROSECOND, FROM_UNIXTIME(0), last_db_error_at), 0)", &InstanceHealth::last_db_error_at},
      {"activity_slots_used", &InstanceHealth::activity_slots_used},
      {"activity_slots", &InstanceHealth::activity_slots},
      {"activity_dropped", &InstanceHealth::activity_dropped},
      {"revocations_dropped", &InstanceHealth::revocations_dropped},
      {"login_connections_in_use", &InstanceHealth::login_connections_in_use},
      {"login_connections", &InstanceHealth::login_connections},
      {"journal_bytes", &InstanceHealth::journal_bytes},
      {"journal_records_pending", &InstanceHealth::journal_records_pending},
  };
  return columns;
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
  for (const auto& r : db_.query(sql, params)) users.push_back(read_record(user_columns(), r));
  return users;
}

std::optional<UserRow> AdminQueries::user(const std::string& username) {
  auto rows = db_.query(kUserColumns + " WHERE a.username = ?", {username});
  if (rows.empty()) return std::nullopt;
  return read_record(user_columns(), rows[0]);
}

std::vector<AuditRow> AdminQueries::audit(const AuditQuery& query) {
  std::vector<Param> params;
  std::string sql = "SELECT " + select_list(audit_columns()) + " FROM audit_log l WHERE 1 = 1";
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
  for (const auto& r : db_.query(sql, params)) out.push_back(read_record(audit_columns(), r));
  return out;
}

std::vector<std::string> AdminQueries::audit_actions() {
  std::vector<std::string> out;
  for (const auto& r : db_.query("SELECT DISTINCT action FROM audit_log ORDER BY action")) out.push_back(to_text(r[0]));
  return out;
}

std::vector<InstanceHealthRow> AdminQueries::instance_health() {
  std::vector<InstanceHealthRow> out;
  for (const auto& r : db_.query("SELECT TIMESTAMPDIFF(MICROSECOND, FROM_UNIXTIME(0), reported_at), "
                                 "TIMESTAMPDIFF(MICROSECOND, reported_at, NOW(6)) DIV 1000, " +
                                 select_list(health_columns()) + " FROM instance_health ORDER BY instance LIMIT 1000")) {
    InstanceHealthRow row;
    row.reported_at = to_int(r[0]);
    row.report_age_ms = to_int(r[1]);
    read_into(row.figures, health_columns(), r, 2);
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
  for (const auto& r : db_.query(sql, params)) out.push_back(read_record(outbox_columns(), r));
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
    if (!lease_due_mail(db_, static_cast<std::uint64_t>(id), lease)) continue;
    auto rows = db_.query(kOutboxColumns + " WHERE id = ?", {id});
    if (!rows.empty()) claimed.push_back(read_record(outbox_columns(), rows[0]));
  }
  return claimed;
}

void AdminQueries::mark_sent(std::uint64_t id) { mark_mail_sent(db_, id); }

void AdminQueries::mark_failed(std::uint64_t id, const std::string& error, Micros retry_in, bool give_up) {
  mark_mail_failed(db_, id, error, retry_in, give_up);
}

}  // namespace sg::db
