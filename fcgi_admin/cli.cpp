// The command line's face of the commands (commands.hpp): words and flags in, the audit line
// or the refusal out, with an exit status; plus the read-only and service subcommands.
#include "cli.hpp"

#include <pwd.h>
#include <unistd.h>

#include <map>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "doctor.hpp"
#include "html.hpp"
#include "listing.hpp"
#include "server.hpp"
#include "settings.hpp"

namespace sg::admin {

namespace {

// The usage text, its command lines built from the table so a new command documents itself.
std::string usage() {
  auto line = [](const std::string& synopsis, const std::string& summary) {
    std::string out = "  " + synopsis;
    out += out.size() < 36 ? std::string(36 - out.size(), ' ') : "\n" + std::string(36, ' ');
    return out + summary + "\n";
  };
  std::string out =
      "usage: fcgi_admin [--config FILE] [--group GROUP] [--as NAME] COMMAND ...\n"
      "commands:\n" +
      line("sessions [--user U] [--json]", "list active sessions");
  for (const auto& command : commands()) {
    std::string synopsis = command.name;
    for (const auto& p : command.params) {
      std::string word = p.flag != nullptr ? std::string(p.flag) + " " + p.metavar : std::string(p.metavar);
      synopsis += " " + (p.required ? word : "[" + word + "]");
    }
    if (command.sweeping) synopsis += " --yes";
    out += line(synopsis, command.summary);
  }
  return out + line("deliver-mail [--loop]", "send due mail from the outbox (once, or every mail_interval)") +
         line("doctor", "check the option files, the connection, the schema and both accounts' privileges") +
         line("serve", "FastCGI responder (the default with no command)") +
         "With no command, fcgi_admin serves the admin pages over FastCGI.\n"
         "--config defaults to $SG_DB_CNF or /etc/session-guard/db.cnf; --group to [session_guard_admin] when\n"
         "the file (or one it includes) has it, else [session_guard]; --as defaults to the Unix user.\n"
         "Exit status: 0 done, 1 usage or not confirmed, 2 refused, 3 database error.\n";
}

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
  if (flag == "--config" || flag == "--group" || flag == "--as" || flag == "--user") return true;
  for (const auto& command : commands())
    for (const auto& p : command.params)
      if (p.flag != nullptr && flag == p.flag) return true;
  return false;
}

int list_sessions(Backend& backend, const Options& options, std::ostream& out) {
  db::SessionQuery query;
  if (auto it = options.flags.find("--user"); it != options.flags.end()) query.user = it->second;
  query.limit = 1000;
  auto sessions = backend.sessions(query).rows;
  if (options.flags.count("--json")) {
    const Micros now = sg::wall_clock_micros();
    nlohmann::json list = nlohmann::json::array();
    for (const auto& s : sessions) list.push_back(session_json(s, now));
    out << list.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
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
  std::uint64_t total = sessions.size() < query.limit ? sessions.size() : backend.count_sessions(query, 0);
  if (total > sessions.size()) out << "showing " << sessions.size() << " of ";
  out << total << (total == 1 ? " active session\n" : " active sessions\n");
  return 0;
}

bool is_cli_command_word(const std::string& word) {
  return word == "sessions" || find_command(word) != nullptr || word == "deliver-mail" || word == "serve" ||
         word == "doctor";
}

// The words after the command name and the flags, as the command's parameters: positional
// ones in table order, the last of them taking every remaining word when it is a list.
// Returns false (and says why) when the words do not fit.
bool gather(const Command& command, const Options& options, Inputs& inputs, std::ostream& err) {
  std::size_t next = 1;
  std::size_t positional = 0;
  for (const auto& p : command.params) {
    if (p.flag != nullptr) {
      auto it = options.flags.find(p.flag);
      if (it != options.flags.end()) inputs[p.key] = std::vector<std::string>{it->second};
      continue;
    }
    ++positional;
    if (next >= options.positional.size()) continue;  // missing: the command says so
    if (p.kind == ParamKind::session_ids) {
      inputs[p.key] = std::vector<std::string>(options.positional.begin() + static_cast<long>(next), options.positional.end());
      next = options.positional.size();
    } else {
      inputs[p.key] = std::vector<std::string>{options.positional[next++]};
    }
  }
  if (next < options.positional.size() || options.positional.size() < positional + 1) {
    err << "fcgi_admin: " << command.name << " takes " << positional << " argument" << (positional == 1 ? "" : "s")
        << "\n" << usage();
    return false;
  }
  return true;
}

// Words and flags, wherever the flags stand (scripts put --as last as often as first).
bool parse(const std::vector<std::string>& args, Options& options, std::ostream& err) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.rfind("--", 0) == 0 && arg != "--help") {
      std::string value;
      if (takes_value(arg)) {
        if (i + 1 >= args.size()) {
          err << "fcgi_admin: " << arg << " needs a value\n" << usage();
          return false;
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
  return true;
}

// The command's parameters from the words, and its confirmation; 0, or 1 with the reason said.
int prepare(const Command& command, const Options& options, Inputs& inputs, std::ostream& err) {
  if (!gather(command, options, inputs, err)) return 1;
  if (command.sweeping && !options.flags.count("--yes")) {
    err << "fcgi_admin: " << command.name << " would " << command.summary << " (as " << options.actor
        << "); nothing was changed. Add --yes to go ahead.\n";
    return 1;
  }
  return 0;
}

int run_prepared(Backend& backend, const Command& command, const Inputs& inputs, const std::string& actor,
                 std::ostream& out, std::ostream& err, bool& mailed) {
  // A command line names its target explicitly, so ending the actor's own sessions needs
  // no second confirmation (and scripts that do it keep working).
  Outcome outcome = run_command(backend, command, inputs, Actor{actor, "", "cli"}, true);
  if (!outcome.ok()) {
    err << "fcgi_admin: " << outcome.message << "\n";
    return outcome.malformed ? 1 : 2;
  }
  out << outcome.message << "\n";
  mailed = outcome.done.result.mails_queued > 0;
  return 0;
}

}  // namespace

bool is_cli_command(const std::string& word) {
  return is_cli_command_word(word) || word == "help" || word == "--help" || (word.size() > 2 && word.rfind("--", 0) == 0);
}

int run_cli_command(Backend& backend, const std::vector<std::string>& words, const std::string& actor,
                    std::ostream& out, std::ostream& err) {
  Options options;
  options.actor = actor;
  if (!parse(words, options, err)) return 1;
  const Command* command = options.positional.empty() ? nullptr : find_command(options.positional[0]);
  if (command == nullptr) {
    err << "fcgi_admin: not a command of the table\n" << usage();
    return 1;
  }
  Inputs inputs;
  if (int status = prepare(*command, options, inputs, err)) return status;
  bool mailed = false;
  return run_prepared(backend, *command, inputs, options.actor, out, err, mailed);
}

int run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  Options options;
  if (const char* env = std::getenv("SG_DB_CNF")) options.config = env;
  else options.config = "/etc/session-guard/db.cnf";
  options.actor = unix_user();
  if (!parse(args, options, err)) return 1;
  if (options.positional.empty() || options.positional[0] == "help" || options.positional[0] == "--help") {
    (options.positional.empty() ? err : out) << usage();
    return options.positional.empty() ? 1 : 0;
  }
  const std::string name = options.positional[0];
  const Command* command = find_command(name);
  if (!is_cli_command_word(name)) {
    err << "fcgi_admin: unknown command '" << name << "'\n" << usage();
    return 1;
  }
  if (options.actor.empty()) {
    err << "fcgi_admin: --as needs a name\n";
    return 1;
  }
  Inputs inputs;
  if (command != nullptr) {
    if (int status = prepare(*command, options, inputs, err)) return status;
  } else if (options.positional.size() != 1) {
    err << "fcgi_admin: " << name << " takes 0 arguments\n" << usage();
    return 1;
  }

  if (name == "doctor") return doctor(options.config, out);
  admin::Settings settings;
  try {
    settings = load_settings(options.config);
  } catch (const std::exception& e) {
    err << "fcgi_admin: " << e.what() << "\n";
    return 1;
  }
  if (!options.group.empty()) settings.db_group = options.group;
  if (name == "serve") return serve(settings);
  if (name == "deliver-mail") {
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
    AdminService backend = admin_service(settings);
    if (name == "sessions") return list_sessions(backend, options, out);
    bool mailed = false;
    int status = run_prepared(backend, *command, inputs, options.actor, out, err, mailed);
    // Best effort: a mail that cannot go now stays queued for the FastCGI process or `deliver-mail`.
    if (mailed) Worker(settings).run_once(false);
    return status;
  } catch (const StoreError& e) {
    err << "fcgi_admin: database error: " << e.what() << "\n";
    return 3;
  }
}

}  // namespace sg::admin
