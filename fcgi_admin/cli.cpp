#include "cli.hpp"

#include "html.hpp"

#include <pwd.h>
#include <unistd.h>

#include <ctime>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>

#include "admin_queries.hpp"
#include "mailer.hpp"
#include "mariadb.hpp"
#include "operations.hpp"
#include "server.hpp"
#include "settings.hpp"
#include "store.hpp"

namespace sg::admin {

namespace {

constexpr const char* kUsage =
    "usage: fcgi_admin [--config FILE] [--group GROUP] [--as NAME] COMMAND ...\n"
    "commands:\n"
    "  sessions [--user U] [--json]      list active sessions\n"
    "  kill SESSION_ID                   end one session (8+ hex digits of its id)\n"
    "  kill-user USER                    end every session of USER\n"
    "  block USER --reason TEXT          block USER and end all their sessions\n"
    "  unblock USER                      allow USER to sign in again\n"
    "  set-limit USER N|none             USER's own concurrent-session limit (0 = no limit,\n"
    "                                    none = the server's SessionGuardMaxSessions)\n"
    "  end-idle MINUTES --yes            end every session idle longer than MINUTES\n"
    "  sign-out-all [--server NAME] --yes  end every session except those of --as (one virtual host only)\n"
    "  deliver-mail [--loop]             send due mail from the outbox (once, or every mail_interval)\n"
    "  serve                             FastCGI responder (the default with no command)\n"
    "With no command, fcgi_admin serves the admin pages over FastCGI.\n"
    "--config defaults to $SG_DB_CNF or /etc/session-guard/db.cnf; --group to [session_guard_admin] when\n"
    "the file (or one it includes) has it, else [session_guard]; --as defaults to the Unix user.\n";

std::string unix_user() {
  if (const passwd* pw = getpwuid(geteuid())) return pw->pw_name;
  return "uid" + std::to_string(geteuid());
}

struct Options {
  std::string config;
  std::string group;  // empty: [session_guard_admin] if the file has it, else [session_guard]
  std::string actor;
  std::vector<std::string> positional;
  std::map<std::string, std::string> flags;
};

// Flags that take a value; every other --flag is boolean.
bool takes_value(const std::string& flag) {
  return flag == "--config" || flag == "--group" || flag == "--as" || flag == "--user" || flag == "--reason" ||
         flag == "--server";
}

int list_sessions(db::Operations& ops, const Options& options, std::ostream& out) {
  db::SessionQuery query;
  if (auto it = options.flags.find("--user"); it != options.flags.end()) query.user = it->second;
  query.limit = 1000;
  auto sessions = ops.sessions(query);
  if (options.flags.count("--json")) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& s : sessions) {
      list.push_back({{"id", s.short_id()},
                      {"fingerprint", s.fingerprint},
                      {"user", s.username},
                      {"login_at", format_time(s.login_at)},
                      {"last_access", format_time(s.last_access)},
                      {"ip", s.client_ip},
                      {"device", s.device},
                      {"browser", s.browser},
                      {"os", s.os},
                      {"server", s.server_name},
                      {"admin", s.is_admin}});
    }
    out << list.dump(2) << "\n";
    return 0;
  }
  char line[512];
  std::snprintf(line, sizeof line, "%-8s  %-16s  %-19s  %-19s  %-15s  %-7s  %s\n", "ID", "USER", "LOGIN (UTC)",
                "LAST ACCESS (UTC)", "IP", "DEVICE", "BROWSER / OS");
  out << line;
  for (const auto& s : sessions) {
    std::snprintf(line, sizeof line, "%-8s  %-16s  %-19s  %-19s  %-15s  %-7s  %s / %s\n", s.short_id().c_str(),
                  s.username.c_str(), format_time(s.login_at).c_str(), format_time(s.last_access).c_str(),
                  s.client_ip.c_str(), s.device.c_str(), s.browser.c_str(), s.os.c_str());
    out << line;
  }
  std::uint64_t total = sessions.size() < query.limit ? sessions.size() : ops.count_sessions(query);
  if (total > sessions.size()) out << "showing " << sessions.size() << " of ";
  out << total << (total == 1 ? " active session\n" : " active sessions\n");
  return 0;
}

}  // namespace

bool is_cli_command(const std::string& word) {
  return word == "sessions" || word == "kill" || word == "kill-user" || word == "block" || word == "unblock" || word == "set-limit" || word == "end-idle" || word == "sign-out-all" ||
         word == "deliver-mail" || word == "serve" || word == "help" || word == "--help" || (word.size() > 2 && word.rfind("--", 0) == 0);
}

int run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  Options options;
  if (const char* env = std::getenv("SG_DB_CNF")) options.config = env;
  else options.config = "/etc/session-guard/db.cnf";
  options.actor = unix_user();
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.rfind("--", 0) == 0 && arg != "--help") {
      std::string value;
      if (takes_value(arg)) {
        if (i + 1 >= args.size()) {
          err << "fcgi_admin: " << arg << " needs a value\n" << kUsage;
          return 1;
        }
        value = args[++i];
      }
      if (arg == "--config") options.config = value;
      else if (arg == "--group") options.group = value;
      else if (arg == "--as") options.actor = value;
      else options.flags[arg] = value;
    } else {
      options.positional.push_back(arg);
    }
  }
  if (options.positional.empty() || options.positional[0] == "help" || options.positional[0] == "--help") {
    (options.positional.empty() ? err : out) << kUsage;
    return options.positional.empty() ? 1 : 0;
  }
  const std::string command = options.positional[0];
  auto need = [&](std::size_t count) {
    if (options.positional.size() == count + 1) return true;
    err << "fcgi_admin: " << command << " takes " << count << " argument" << (count == 1 ? "" : "s") << "\n" << kUsage;
    return false;
  };
  if (options.actor.empty()) {
    err << "fcgi_admin: --as needs a name\n";
    return 1;
  }

  admin::Settings settings;
  try {
    settings = load_settings(options.config);
  } catch (const std::exception& e) {
    err << "fcgi_admin: " << e.what() << "\n";
    return 1;
  }
  if (!options.group.empty()) settings.db_group = options.group;
  if (command == "serve") {
    if (!need(0)) return 1;
    return serve(settings);
  }
  if (command == "deliver-mail") {
    if (!need(0)) return 1;
    Worker worker(settings);
    if (!options.flags.count("--loop")) return worker.run_once(false) ? 0 : 3;
    install_stop_handlers();
    while (!stop_requested()) {
      worker.run_once(true);
      for (Micros waited = 0; waited < settings.mail_interval && !stop_requested(); waited += 100000) usleep(100000);
    }
    return 0;
  }

  try {
    db::ConnectOptions connect;
    connect.option_file = settings.db_options_file;  // the credentials_file it names, if any
    connect.group = settings.db_group;
    db::Connection connection(connect);
    db::Operations ops(connection);
    ops.set_mail_policy(settings.policy);
    db::Actor actor{options.actor, "", "cli"};
    db::ActionResult result;
    // An action rolled back as a deadlock victim (or, on Galera, for a conflicting write
    // through another node) changed nothing: run it again, as MariaDB advises.
    auto retrying = [](auto action) {
      for (int attempt = 1;; ++attempt) {
        try {
          return action();
        } catch (const db::DeadlockError&) {
          if (attempt == 3) throw;
        }
      }
    };
    if (command == "sessions") {
      if (!need(0)) return 1;
      return list_sessions(ops, options, out);
    } else if (command == "kill") {
      if (!need(1)) return 1;
      result = retrying([&] { return ops.kill_session(options.positional[1], actor); });
    } else if (command == "kill-user") {
      if (!need(1)) return 1;
      result = retrying([&] { return ops.kill_user(options.positional[1], actor); });
    } else if (command == "block") {
      if (!need(1)) return 1;
      auto reason = options.flags.find("--reason");
      if (reason == options.flags.end()) {
        err << "fcgi_admin: block needs --reason TEXT\n";
        return 1;
      }
      result = retrying([&] { return ops.block_user(options.positional[1], reason->second, actor); });
    } else if (command == "unblock") {
      if (!need(1)) return 1;
      result = retrying([&] { return ops.unblock_user(options.positional[1], actor); });
    } else if (command == "set-limit") {
      if (!need(2)) return 1;
      const std::string& text = options.positional[2];
      std::optional<int> limit;
      if (text != "none") {
        if (text.empty() || text.size() > 4 || text.find_first_not_of("0123456789") != std::string::npos) {
          err << "fcgi_admin: set-limit takes a number (0 = no limit) or none\n";
          return 1;
        }
        limit = std::stoi(text);
      }
      result = retrying([&] { return ops.set_user_limit(options.positional[1], limit, actor); });
    } else if (command == "end-idle") {
      if (!need(1)) return 1;
      if (!options.flags.count("--yes")) {
        err << "fcgi_admin: end-idle ends the sessions of every user idle longer than " << options.positional[1]
            << " minutes; nothing was changed. Add --yes to go ahead.\n";
        return 1;
      }
      const std::string& text = options.positional[1];
      if (text.empty() || text.size() > 6 || text.find_first_not_of("0123456789") != std::string::npos) {
        err << "fcgi_admin: end-idle takes a number of minutes\n";
        return 1;
      }
      result = retrying([&] { return ops.end_idle_sessions(std::stoi(text), actor); });
    } else if (command == "sign-out-all") {
      if (!need(0)) return 1;
      if (!options.flags.count("--yes")) {
        err << "fcgi_admin: sign-out-all ends every session except those of " << options.actor
            << " (--as); nothing was changed. Add --yes to go ahead.\n";
        return 1;
      }
      auto server = options.flags.find("--server");
      result = retrying([&] { return ops.sign_out_everyone(server == options.flags.end() ? "" : server->second, actor); });
    } else {
      err << "fcgi_admin: unknown command '" << command << "'\n" << kUsage;
      return 1;
    }
    out << result.message << "\n";
    if (result.mails_queued > 0) {
      // Best effort: the mail stays queued for the FastCGI process or `deliver-mail` if this fails.
      try {
        db::AdminQueries queries(connection);
        deliver_due(queries, settings, [&](const std::string& line) { err << "fcgi_admin: " << line << "\n"; });
      } catch (const StoreError& e) {
        err << "fcgi_admin: mail stays queued: " << e.what() << "\n";
      }
    }
    return 0;
  } catch (const db::OperationError& e) {
    err << "fcgi_admin: " << e.what() << "\n";
    return 2;
  } catch (const StoreError& e) {
    err << "fcgi_admin: database error: " << e.what() << "\n";
    return 3;
  }
}

}  // namespace sg::admin
