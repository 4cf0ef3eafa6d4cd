// Every write of the accounts table. The module stamps a login (the row is where one
// user's concurrent logins queue, see record_login); the admin side changes a block and
// the limits. Grants keep each program to its own columns (scripts/session-guard-db-setup).
#pragma once
#include <optional>
#include <string>

#include "mariadb.hpp"

namespace sg::db {

// Takes the row's exclusive lock at once (UPDATE first, then INSERT IGNORE for a new name):
// an INSERT IGNORE first would take a shared lock that two racing logins then both try to
// upgrade, a deadlock each time. Not an upsert: that needs UPDATE on the key column.
void stamp_account_login(Connection& db, const std::string& username);
void set_account_blocked(Connection& db, const std::string& username, const std::string& blocked_by,
                         const std::string& reason);
void set_account_unblocked(Connection& db, const std::string& username);
void set_account_max_sessions(Connection& db, const std::string& username, std::optional<int> limit);
void set_account_not_valid_before_now(Connection& db, const std::string& username);

}  // namespace sg::db
