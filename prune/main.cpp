// session-guard-prune: deletes history older than the retention (sg/retention.hpp), run by a
// systemd timer (conf/session-guard-prune.timer). Its own database account may only read and
// delete history, so neither the module's nor fcgi_admin's account can erase the audit.
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "mariadb.hpp"
#include "retention.hpp"
#include "sg/config.hpp"

namespace {

constexpr const char* kUsage =
    "usage: session-guard-prune [OPTION...]\n"
    "  --db-options FILE      the pruner's option file (default /etc/session-guard/prune.cnf)\n"
    "  --group GROUP          its group (default session_guard_prune)\n"
    "  --ended-sessions AGE   ended sessions (default 90d)\n"
    "  --audit AGE            audit lines (default 365d)\n"
    "  --finished-mail AGE    mail sent, or failed for good (default 30d)\n"
    "  --activity-samples AGE the sessions page's activity graph (default 30d)\n"
    "  --user-events AGE      block and unblock events (default 90d)\n"
    "  --silent-instances AGE instances' health rows not reported since (default 30d)\n"
    "  --revocations AGE      the longest SessionGuardRevocationRetention of the farm (default\n"
    "                         7d); instances' reports can only make it longer\n"
    "  --batch N              rows per statement (default 1000, 1-100000)\n"
    "AGE: a number with a unit d, h, m or s (\"90d\", \"2160h\"), 1h to 3660d.\n"
    "Revocations are deleted an hour after --revocations or the longest retention an instance\n"
    "reports, whichever is longer; none while an instance reports none or a report is not a\n"
    "module's.\n";

// "90d" is not a unit the directives know; days are how retention is spoken of.
sg::ConfigError parse_age(std::string value, sg::Micros& out) {
  if (value.size() >= 2 && value.size() <= 6 && value.back() == 'd' &&
      value.find_first_not_of("0123456789") == value.size() - 1) {
    value = std::to_string(std::stoll(value.substr(0, value.size() - 1)) * 24) + "h";
  }
  std::optional<sg::Micros> age;
  if (auto error = sg::parse_duration(value, sg::kMicrosPerSecond, 3600 * sg::kMicrosPerSecond,
                                      3660LL * 24 * 3600 * sg::kMicrosPerSecond, age)) {
    return error;
  }
  out = *age;
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  sg::RetentionPolicy policy;
  sg::db::ConnectOptions options{"/etc/session-guard/prune.cnf", "session_guard_prune"};
  // A batch job: a delete of many indexed rows on a busy server may take longer than the
  // request path's I/O timeout allows, and nothing waits for it.
  options.io_timeout_seconds = 300;
  std::int64_t batch = 1000;
  const std::map<std::string, sg::Micros*> ages = {
      {"--ended-sessions", &policy.ended_sessions}, {"--audit", &policy.audit},
      {"--finished-mail", &policy.finished_mail},   {"--activity-samples", &policy.activity_samples},
      {"--user-events", &policy.user_events},       {"--silent-instances", &policy.silent_instances},
      {"--revocations", &policy.revocations},
  };
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& flag = args[i];
    if (flag == "--help" || flag == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (i + 1 >= args.size()) {
      std::cerr << "session-guard-prune: " << (flag.rfind("--", 0) == 0 ? flag + " needs a value" : "unknown argument " + flag)
                << "\n" << kUsage;
      return 2;
    }
    const std::string& value = args[++i];
    sg::ConfigError error;
    if (auto age = ages.find(flag); age != ages.end()) {
      error = parse_age(value, *age->second);
    } else if (flag == "--db-options") {
      options.option_file = value;
    } else if (flag == "--group") {
      options.group = value;
    } else if (flag == "--batch") {
      if (value.empty() || value.size() > 6 || value.find_first_not_of("0123456789") != std::string::npos ||
          (batch = std::stoll(value)) < 1 || batch > 100000) {
        error = "a number from 1 to 100000";
      }
    } else {
      std::cerr << "session-guard-prune: unknown option " << flag << "\n" << kUsage;
      return 2;
    }
    if (error) {
      std::cerr << "session-guard-prune: " << flag << " " << value << ": " << *error << "\n";
      return 2;
    }
  }
  try {
    sg::db::initialize_library();
    sg::db::Connection db(options);
    sg::db::RetentionStore store(db);
    const sg::db::PruneCounts done = store.prune(policy, static_cast<std::size_t>(batch), 100000);
    std::cout << "session-guard-prune: deleted " << done.ended_sessions << " ended sessions, " << done.revocations
              << " revocations, " << done.user_events << " user events, " << done.audit << " audit lines, "
              << done.finished_mail << " finished mails, " << done.activity_samples << " activity samples, "
              << done.silent_instances << " silent instances, " << done.ticket_ties << " CAS ticket ties\n";
    if (!sg::revocation_prune_age(policy, store.reported_retentions())) {
      std::cout << "session-guard-prune: no revocation deleted: an instance reports no revocation retention, "
                   "or one that is not a module's, or none has reported yet (instance_health)\n";
    }
    return 0;
  } catch (const sg::StoreError& e) {
    std::cerr << "session-guard-prune: database: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "session-guard-prune: " << e.what() << "\n";
    return 1;
  }
}
