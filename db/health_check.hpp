// What `fcgi_admin doctor` and the module's poller check before trusting a database: every
// migration this build knows is applied, and the account has the privileges its queries
// need (and, for the module's account, no more: any PHP code in the server can read it).
#pragma once
#include <string>
#include <vector>

#include "mariadb.hpp"

namespace sg::db {

enum class Account { module, admin };

struct Privilege {
  std::string table;   // in the Session Guard database
  std::string type;    // SELECT, INSERT, UPDATE, DELETE
  std::string column;  // empty: the whole table
};

// What scripts/session-guard-db-setup grants each account (the two lists are kept equal by
// tests/integration/test_doctor.py, which runs this check after a set-up).
const std::vector<Privilege>& required_privileges(Account account);

// Migration file names this build was made with (sql/*.sql), oldest first.
const std::vector<std::string>& known_migrations();

struct HealthProblem {
  std::string what;  // one line, e.g. "the database lacks migrations 050_x.sql"
  std::string fix;   // what to run or change
};

// Migrations this build knows that the database has not applied. Throws StoreError.
std::vector<std::string> missing_migrations(Connection& db);
// Privileges the connected account lacks, as "INSERT on session_values" etc. Throws StoreError.
std::vector<std::string> missing_privileges(Connection& db, Account account);
// Both, as problems to print; empty when the database is fit for this build.
std::vector<HealthProblem> check_database(Connection& db, Account account);

}  // namespace sg::db
