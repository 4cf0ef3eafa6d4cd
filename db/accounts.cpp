#include "accounts.hpp"

#include "sg/text.hpp"

namespace sg::db {

void stamp_account_login(Connection& db, const std::string& username) {
  if (db.execute("UPDATE accounts SET last_login_at = NOW(6) WHERE username = ?", {username}) == 0)
    db.execute("INSERT IGNORE INTO accounts (username, last_login_at) VALUES (?, NOW(6))", {username});
}

void set_account_blocked(Connection& db, const std::string& username, const std::string& blocked_by,
                         const std::string& reason) {
  db.execute("UPDATE accounts SET active = 0, blocked_at = NOW(6), blocked_by = ?, block_reason = ? WHERE username = ?",
             {sg::utf8_sanitize(blocked_by, 190), sg::utf8_sanitize(reason, 1000), username});
}

void set_account_unblocked(Connection& db, const std::string& username) {
  db.execute("UPDATE accounts SET active = 1, blocked_at = NULL, blocked_by = NULL, block_reason = NULL WHERE username = ?",
             {username});
}

void set_account_max_sessions(Connection& db, const std::string& username, std::optional<int> limit) {
  Param value = limit ? Param(static_cast<std::int64_t>(*limit)) : Param(Null{});
  db.execute("UPDATE accounts SET max_sessions = ? WHERE username = ?", {value, username});
}

void set_account_not_valid_before_now(Connection& db, const std::string& username) {
  db.execute("UPDATE accounts SET not_valid_before = NOW(6) WHERE username = ?", {username});
}

}  // namespace sg::db
