#include "doctor.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "health_check.hpp"
#include "settings.hpp"

namespace sg::admin {

namespace {

class Report {
 public:
  explicit Report(std::ostream& out) : out_(out) {}
  void ok(const std::string& what) { out_ << "ok       " << what << "\n"; }
  void problem(const std::string& what, const std::string& fix) {
    out_ << "PROBLEM  " << what << "\n         fix: " << fix << "\n";
    ++problems_;
  }
  int problems() const { return problems_; }

 private:
  std::ostream& out_;
  int problems_ = 0;
};

// An option file holds a password: nobody but its owner and one group may read it.
void check_file_mode(Report& report, const std::string& path, const char* role) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    report.problem(std::string(role) + " " + path + ": " + std::strerror(errno), "run session-guard-db-setup");
    return;
  }
  if (st.st_mode & S_IROTH) {
    report.problem(std::string(role) + " " + path + " is readable by every local user",
                   "chmod o-rwx " + path + " (session-guard-db-setup writes it 0640)");
    return;
  }
  report.ok(std::string(role) + " " + path + " is readable by its owner and group only");
}

// Connects with `group` of `file` and checks what `account` needs; false if unreachable.
bool check_account(Report& report, const std::string& file, const std::string& group, db::Account account,
                   const char* who) {
  db::ConnectOptions options;
  options.option_file = file;
  options.group = group;
  std::unique_ptr<db::Connection> connection;
  try {
    connection = std::make_unique<db::Connection>(options);
  } catch (const StoreError& e) {
    report.problem(std::string(who) + " cannot connect: " + e.what(),
                   "check the server is up and the option file's host/socket, user and password "
                   "(session-guard-db-setup rewrites them)");
    return false;
  }
  report.ok(std::string(who) + " connects ([" + group + "] of " + file + ")");
  try {
    auto problems = db::check_database(*connection, account);
    for (const auto& p : problems) report.problem(p.what, p.fix);
    if (problems.empty()) report.ok(std::string(who) + ": schema up to date, privileges complete");
    if (account == db::Account::module) {
      // The module's password is readable by the web server, so by any PHP code in it.
      auto broad = connection->query(
          "SELECT PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES WHERE TABLE_SCHEMA = DATABASE() "
          "AND GRANTEE = CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', "
          "SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''') "
          "UNION SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE PRIVILEGE_TYPE <> 'USAGE' "
          "AND GRANTEE = CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', "
          "SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')");
      if (!broad.empty()) {
        report.problem("the module's account has " + db::to_text(broad[0][0]) +
                           " on the whole database or server, and any PHP code in the web server can read its password",
                       "give the module its own account (session-guard-db-setup creates sg_module)");
      }
    }
  } catch (const StoreError& e) {
    report.problem(std::string(who) + ": cannot read the schema version: " + e.what(),
                   "run session-guard-db-setup (it creates schema_migrations and grants SELECT on it)");
  }
  return true;
}

}  // namespace

int doctor(const std::string& option_file, std::ostream& out) {
  Report report(out);
  Settings settings;
  try {
    settings = load_settings(option_file);
  } catch (const std::exception& e) {
    report.problem(std::string("option file: ") + e.what(),
                   "run session-guard-db-setup, or name the file with --config or SG_DB_CNF");
    return 1;
  }
  report.ok("option file " + option_file + " read");
  check_file_mode(report, option_file, "the module's option file");
  if (!settings.credentials_file.empty() && settings.credentials_file != option_file) {
    check_file_mode(report, settings.credentials_file, "fcgi_admin's option file");
  } else {
    report.problem("fcgi_admin uses the module's account (no credentials_file in [fcgi_admin])",
                   "give fcgi_admin its own account and file (session-guard-db-setup writes admin.cnf)");
  }
  bool reached = check_account(report, settings.db_options_file, settings.db_group, db::Account::admin, "fcgi_admin");
  // The module's own account, as the module reads it.
  reached = check_account(report, option_file, "session_guard", db::Account::module, "the module") && reached;
  out << (report.problems() == 0 ? "no problems found\n" : std::to_string(report.problems()) + " problem(s)\n");
  if (!reached) return 3;
  return report.problems() == 0 ? 0 : 1;
}

}  // namespace sg::admin
