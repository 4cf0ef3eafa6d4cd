#include "health_check.hpp"

#include <algorithm>
#include <set>
#include <tuple>

namespace sg::db {

namespace {
#include "migrations.inc"  // generated from sql/ by the Makefile: kMigrationFiles
}

const std::vector<std::string>& known_migrations() {
  static const std::vector<std::string> names(std::begin(kMigrationFiles), std::end(kMigrationFiles));
  return names;
}

const std::vector<Privilege>& required_privileges(Account account) {
  static const std::vector<Privilege> module = {
      {"deny_events", "SELECT", ""},      {"deny_events", "INSERT", ""},
      {"sessions", "SELECT", ""},         {"sessions", "INSERT", ""},
      {"sessions", "UPDATE", ""},         {"accounts", "SELECT", ""},
      {"accounts", "INSERT", "username"}, {"accounts", "INSERT", "last_login_at"},
      {"accounts", "UPDATE", "last_login_at"}, {"audit_log", "SELECT", ""},
      {"session_values", "SELECT", ""},   {"session_values", "INSERT", ""},
      {"schema_migrations", "SELECT", ""},
      {"instance_health", "SELECT", ""},  {"instance_health", "INSERT", ""},
      {"instance_health", "UPDATE", ""},  {"sso_ticket_values", "INSERT", ""},
  };
  static const std::vector<Privilege> admin = {
      {"sessions", "SELECT", ""},           {"sessions", "UPDATE", "state"},
      {"sessions", "UPDATE", "ended_at"},   {"sessions", "UPDATE", "ended_by"},
      {"accounts", "SELECT", ""},           {"accounts", "UPDATE", "active"},
      {"accounts", "UPDATE", "blocked_at"}, {"accounts", "UPDATE", "blocked_by"},
      {"accounts", "UPDATE", "block_reason"}, {"accounts", "UPDATE", "not_valid_before"},
      {"accounts", "UPDATE", "max_sessions"}, {"deny_events", "SELECT", ""},
      {"deny_events", "INSERT", ""},        {"session_values", "SELECT", ""},
      {"audit_log", "SELECT", ""},          {"audit_log", "INSERT", ""},
      {"mail_outbox", "SELECT", ""},        {"mail_outbox", "INSERT", ""},
      {"mail_outbox", "UPDATE", ""},        {"activity_samples", "SELECT", ""},
      {"activity_samples", "INSERT", ""},   {"admin_settings", "SELECT", ""},
      {"admin_settings", "INSERT", ""},     {"signout_links_used", "SELECT", ""},
      {"signout_links_used", "INSERT", ""}, {"signout_links_used", "DELETE", ""},
      {"sso_logout_tokens", "SELECT", ""},  {"sso_logout_tokens", "INSERT", ""},
      {"sso_logout_tokens", "DELETE", ""},
      {"schema_migrations", "SELECT", ""},  {"instance_health", "SELECT", ""},
      {"sso_ticket_values", "SELECT", ""},
  };
  return account == Account::module ? module : admin;
}

std::vector<std::string> missing_migrations(Connection& db) {
  std::set<std::string> applied;
  for (const auto& row : db.query("SELECT name FROM schema_migrations")) applied.insert(to_text(row[0]));
  std::vector<std::string> missing;
  for (const auto& name : known_migrations()) {
    if (!applied.count(name)) missing.push_back(name);
  }
  return missing;
}

std::vector<std::string> missing_privileges(Connection& db, Account account) {
  // information_schema shows an account its own grants, at every level.
  const std::string grantee =
      "CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')";
  std::set<std::string> global, schema;
  std::set<std::pair<std::string, std::string>> table;
  std::set<std::tuple<std::string, std::string, std::string>> column;
  for (const auto& r : db.query("SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = " + grantee))
    global.insert(to_text(r[0]));
  for (const auto& r : db.query("SELECT PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES "
                                "WHERE GRANTEE = " + grantee + " AND TABLE_SCHEMA = DATABASE()"))
    schema.insert(to_text(r[0]));
  for (const auto& r : db.query("SELECT TABLE_NAME, PRIVILEGE_TYPE FROM information_schema.TABLE_PRIVILEGES "
                                "WHERE GRANTEE = " + grantee + " AND TABLE_SCHEMA = DATABASE()"))
    table.emplace(to_text(r[0]), to_text(r[1]));
  for (const auto& r : db.query("SELECT TABLE_NAME, COLUMN_NAME, PRIVILEGE_TYPE FROM information_schema.COLUMN_PRIVILEGES "
                                "WHERE GRANTEE = " + grantee + " AND TABLE_SCHEMA = DATABASE()"))
    column.emplace(to_text(r[0]), to_text(r[1]), to_text(r[2]));
  std::vector<std::string> missing;
  for (const auto& p : required_privileges(account)) {
    bool has = global.count(p.type) || schema.count(p.type) || table.count({p.table, p.type}) ||
               (!p.column.empty() && column.count({p.table, p.column, p.type}));
    if (!has) missing.push_back(p.type + (p.column.empty() ? "" : " (" + p.column + ")") + " on " + p.table);
  }
  return missing;
}

namespace {
std::string joined(const std::vector<std::string>& items) {
  std::string text;
  for (const auto& item : items) text += (text.empty() ? "" : ", ") + item;
  return text;
}
}  // namespace

std::vector<HealthProblem> check_database(Connection& db, Account account) {
  std::vector<HealthProblem> problems;
  auto migrations = missing_migrations(db);
  if (!migrations.empty()) {
    problems.push_back({"the database lacks migrations " + joined(migrations) + " that this build needs",
                        "run session-guard-db-setup to upgrade it (live sessions are kept)"});
  }
  auto privileges = missing_privileges(db, account);
  if (!privileges.empty()) {
    problems.push_back({std::string(account == Account::module ? "the module's" : "fcgi_admin's") +
                            " database account lacks " + joined(privileges),
                        "run session-guard-db-setup, which grants each account what it needs"});
  }
  return problems;
}

}  // namespace sg::db
