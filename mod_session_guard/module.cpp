// mod_session_guard: the module record, its directives and its hooks. The other files of
// this folder are the phases (internal.hpp lists them); all decisions live in the core.
//
// Request path (every child): cookie -> fingerprint -> lock-free deny-list lookup -> verdict.
// Background (one active process per instance and a hot standby, forked by the parent):
// Poller keeps the list fresh and flushes the activity children recorded in shared memory.
// Login and logout: the child writes to MariaDB through a short-lived connection, bounded
// per instance by byte locks on the instance's lock file (freed when a child dies).
#include "internal.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

namespace sg::apache {

ProcessState g_process;


const sg::DirConfig& dir_config(request_rec* r) {
  return static_cast<DirConf*>(ap_get_module_config(r->per_dir_config, &session_guard_module))->config;
}

const sg::ServerConfig& server_config(server_rec* s) {
  return static_cast<ServerConf*>(ap_get_module_config(s->module_config, &session_guard_module))->config;
}

RequestState* request_state(request_rec* r) {
  return static_cast<RequestState*>(ap_get_module_config(r->request_config, &session_guard_module));
}

std::string_view header_in(request_rec* r, const char* name) {
  const char* value = apr_table_get(r->headers_in, name);
  return value != nullptr ? std::string_view(value) : std::string_view();
}

sg::db::ConnectOptions connect_options(const sg::ServerConfig& config) {
  sg::db::ConnectOptions options;
  options.option_file = config.db_options_file.value_or("");
  options.group = config.db_group();
  return options;
}

// ---------------------------------------------------------------- configuration

// Should allocation fail while httpd builds its configuration, these hand back an unset
// (unguarded) configuration rather than let an exception into httpd.
DirConf g_unset_dir;
ServerConf g_unset_server;

template <typename Conf>
void* new_config(apr_pool_t* pool, Conf& unset) noexcept {
  try {
    return pool_new<Conf>(pool);
  } catch (...) {
    return &unset;
  }
}

void* create_dir_config(apr_pool_t* pool, char*) noexcept { return new_config(pool, g_unset_dir); }

void* merge_dir_config(apr_pool_t*, void* parent_conf, void* child_conf) noexcept {
  auto* parent = static_cast<const DirConf*>(parent_conf);
  auto* child = static_cast<DirConf*>(child_conf);
  for (DirConf::Merged* m = child->merged.load(std::memory_order_acquire); m != nullptr; m = m->next) {
    if (m->parent == parent) return m->result;
  }
  try {
    // Owned by the child section (freed with it, at restart); never by a request's pool.
    auto result = std::make_unique<DirConf>();
    result->config = sg::merge(parent->config, child->config);
    auto* node = new DirConf::Merged{parent, result.get(), child->merged.load(std::memory_order_acquire)};
    while (!child->merged.compare_exchange_weak(node->next, node, std::memory_order_acq_rel)) {
    }
    return result.release();
  } catch (...) {
    return child;
  }
}

void* create_server_config(apr_pool_t* pool, server_rec*) noexcept { return new_config(pool, g_unset_server); }

void* merge_server_config(apr_pool_t* pool, void* base, void* vhost) noexcept {
  try {
    auto* merged = pool_new<ServerConf>(pool);
    merged->config = sg::merge(static_cast<ServerConf*>(base)->config, static_cast<ServerConf*>(vhost)->config);
    return merged;
  } catch (...) {
    return vhost;
  }
}

const char* to_apache_error(cmd_parms* cmd, const sg::ConfigError& error) {
  if (!error) return nullptr;
  return apr_pstrcat(cmd->pool, cmd->cmd->name, ": ", error->c_str(), nullptr);
}

// Directive handlers run inside httpd's configuration reader: whatever the parser throws
// (only allocation failure, in practice) becomes an error message, never an exception.
template <typename Parse>
const char* directive(cmd_parms* cmd, Parse&& parse) noexcept {
  try {
    return to_apache_error(cmd, parse());
  } catch (const std::exception& e) {
    return apr_pstrcat(cmd->pool, cmd->cmd->name, ": ", e.what(), nullptr);
  } catch (...) {
    return apr_pstrcat(cmd->pool, cmd->cmd->name, ": unexpected error", nullptr);
  }
}

sg::DirConfig& dir_of(void* conf) { return static_cast<DirConf*>(conf)->config; }
sg::ServerConfig& server_of(cmd_parms* cmd) {
  return static_cast<ServerConf*>(ap_get_module_config(cmd->server->module_config, &session_guard_module))->config;
}

const char* cmd_enable(cmd_parms* cmd, void* conf, const char* arg) {
  return directive(cmd, [&] { return sg::parse_on_off(arg, dir_of(conf).enabled); });
}

const char* cmd_app_env(cmd_parms* cmd, void* conf, const char* arg) {
  return directive(cmd, [&] { return sg::parse_on_off(arg, dir_of(conf).app_env); });
}

const char* cmd_cas_tickets(cmd_parms* cmd, void* conf, const char* arg) {
  return directive(cmd, [&] { return sg::parse_on_off(arg, dir_of(conf).cas_tickets); });
}

const char* cmd_cookie(cmd_parms* cmd, void* conf, int argc, char* const argv[]) {
  return directive(cmd, [&] { return sg::parse_cookie(std::vector<std::string>(argv, argv + argc), dir_of(conf)); });
}

const char* cmd_login_form(cmd_parms* cmd, void* conf, int argc, char* const argv[]) {
  if (argc < 2) return "SessionGuardLoginForm PATH FIELD [CHECK...]";
  return directive(cmd, [&] {
    return sg::parse_login_form(argv[0], argv[1], std::vector<std::string>(argv + 2, argv + argc), dir_of(conf));
  });
}

const char* cmd_logout(cmd_parms* cmd, void* conf, int argc, char* const argv[]) {
  if (argc < 1) return "SessionGuardLogoutPath PATH [CHECK...]";
  return directive(cmd, [&] {
    return sg::parse_logout_path(argv[0], std::vector<std::string>(argv + 1, argv + argc), dir_of(conf));
  });
}

const char* cmd_user_header(cmd_parms* cmd, void* conf, const char* arg) {
  return directive(cmd, [&]() -> sg::ConfigError {
    if (*arg == '\0') return "a header name is required";
    dir_of(conf).user_header = arg;
    return std::nullopt;
  });
}

const char* cmd_deny_action(cmd_parms* cmd, void* conf, const char* kind, const char* arg) {
  return directive(cmd, [&] { return sg::parse_deny_action(kind, arg != nullptr ? arg : "", dir_of(conf).deny_action); });
}

const char* cmd_max_sessions(cmd_parms* cmd, void* conf, const char* arg) {
  return directive(cmd, [&] { return sg::parse_count(arg, 0, 100000, dir_of(conf).max_sessions); });
}

const char* cmd_max_sessions_action(cmd_parms* cmd, void* conf, const char* arg) {
  return directive(cmd, [&] { return sg::parse_max_sessions_action(arg, dir_of(conf).refuse_new); });
}

const char* cmd_idle_timeout(cmd_parms* cmd, void* conf, const char* arg) {
  return directive(cmd, [&] { return sg::parse_duration(arg, sg::kMicrosPerSecond, 0, 366LL * 24 * 3600 * sg::kMicrosPerSecond,
                                                 dir_of(conf).idle_timeout); });
}

const char* cmd_max_lifetime(cmd_parms* cmd, void* conf, const char* arg) {
  return directive(cmd, [&] { return sg::parse_duration(arg, sg::kMicrosPerSecond, 0, 366LL * 24 * 3600 * sg::kMicrosPerSecond,
                                                 dir_of(conf).max_lifetime); });
}

const char* cmd_message(cmd_parms* cmd, void* conf, const char* reason, const char* text) {
  return directive(cmd, [&] { return sg::parse_message(reason, text, dir_of(conf)); });
}

const char* cmd_db_options(cmd_parms* cmd, void*, const char* file, const char* group) {
  if (const char* error = ap_check_cmd_context(cmd, GLOBAL_ONLY)) return error;
  return directive(cmd, [&]() -> sg::ConfigError {
    const char* path = ap_server_root_relative(cmd->pool, file);
    if (path == nullptr) return std::string("invalid file name ") + file;
    // Found now, so `apachectl configtest` says so; whether the server's user may read it,
    // only the poller can tell (it says so at start).
    struct stat st {};
    if (stat(path, &st) != 0) return std::string(path) + ": " + std::strerror(errno) + " (run session-guard-db-setup)";
    if (!S_ISREG(st.st_mode)) return std::string(path) + " is not a regular file";
    server_of(cmd).db_options_file = path;
    if (group != nullptr) server_of(cmd).db_options_group = group;
    return std::nullopt;
  });
}

const char* cmd_poll_interval(cmd_parms* cmd, void*, const char* arg) {
  if (const char* error = ap_check_cmd_context(cmd, GLOBAL_ONLY)) return error;
  return directive(cmd, [&] { return sg::parse_duration(arg, 1000, 10 * 1000, 60 * sg::kMicrosPerSecond,
                                                 server_of(cmd).poll_interval); });
}

const char* cmd_fail_mode(cmd_parms* cmd, void*, const char* arg) {
  return directive(cmd, [&] { return sg::parse_fail_mode(arg, server_of(cmd).fail_mode); });
}

const char* cmd_max_stale(cmd_parms* cmd, void*, const char* arg) {
  return directive(cmd, [&] { return sg::parse_duration(arg, sg::kMicrosPerSecond, sg::kMicrosPerSecond,
                                                 7 * 24 * 3600 * sg::kMicrosPerSecond, server_of(cmd).max_stale); });
}

const char* cmd_capacity(cmd_parms* cmd, void*, const char* arg) {
  if (const char* error = ap_check_cmd_context(cmd, GLOBAL_ONLY)) return error;
  return directive(cmd, [&] { return sg::parse_count(arg, 1000, 10000000, server_of(cmd).deny_capacity); });
}

const char* cmd_revocation_retention(cmd_parms* cmd, void*, const char* arg) {
  if (const char* error = ap_check_cmd_context(cmd, GLOBAL_ONLY)) return error;
  return directive(cmd, [&] { return sg::parse_revocation_retention(arg, server_of(cmd).revocation_retention); });
}

const char* cmd_state_file(cmd_parms* cmd, void*, const char* arg) {
  if (const char* error = ap_check_cmd_context(cmd, GLOBAL_ONLY)) return error;
  return directive(cmd, [&]() -> sg::ConfigError {
    server_of(cmd).state_file = std::string_view(arg) == "none" ? "none" : ap_server_root_relative(cmd->pool, arg);
    return std::nullopt;
  });
}

const char* cmd_journal(cmd_parms* cmd, void*, int argc, char* const argv[]) {
  if (const char* error = ap_check_cmd_context(cmd, GLOBAL_ONLY)) return error;
  return directive(cmd, [&]() -> sg::ConfigError {
    sg::ServerConfig& config = server_of(cmd);
    if (auto error = sg::parse_journal(std::vector<std::string>(argv, argv + argc), config)) return error;
    if (*config.journal_file != "none") config.journal_file = ap_server_root_relative(cmd->pool, config.journal_file->c_str());
    return std::nullopt;
  });
}

const char* cmd_login_when_unreachable(cmd_parms* cmd, void*, const char* arg) {
  return directive(cmd, [&] { return sg::parse_login_when_unreachable(arg, server_of(cmd).admit_when_unreachable); });
}

// Per-directory directives are for the server's configuration only, never .htaccess: an
// app's own .htaccess (AllowOverride AuthConfig) must not be able to switch its guard off.
const command_rec kCommands[] = {
    AP_INIT_TAKE1("SessionGuard", reinterpret_cast<cmd_func>(cmd_enable), nullptr, ACCESS_CONF,
                  "On to guard this location, Off to exempt it"),
    AP_INIT_TAKE1("SessionGuardAppEnv", reinterpret_cast<cmd_func>(cmd_app_env), nullptr, ACCESS_CONF,
                  "On to name the user and session to the app in SESSION_GUARD_USER and SESSION_GUARD_SESSION (default Off)"),
    AP_INIT_TAKE1("SessionGuardCasTickets", reinterpret_cast<cmd_func>(cmd_cas_tickets), nullptr, ACCESS_CONF,
                  "On to tie a CAS service ticket to the session its response sets, for CAS single logout "
                  "(mod_auth_cas, apps with their own CAS client; default Off)"),
    AP_INIT_TAKE_ARGV("SessionGuardCookie", reinterpret_cast<cmd_func>(cmd_cookie), nullptr, ACCESS_CONF,
                      "NAME [PATH] [signed-in-only]: an app cookie, the path it is set with (default /), and "
                      "whether only signed-in users have it (remember me)"),
    AP_INIT_TAKE_ARGV("SessionGuardLoginForm", reinterpret_cast<cmd_func>(cmd_login_form), nullptr,
                      ACCESS_CONF, "PATH FIELD [redirect|status=NNN|header=NAME|body=TEXT|body!=TEXT|"
                                   "sets-cookie=NAME|clears-cookie=NAME|form:NAME=VALUE ...]"),
    AP_INIT_TAKE_ARGV("SessionGuardLogoutPath", reinterpret_cast<cmd_func>(cmd_logout), nullptr, ACCESS_CONF,
                      "PATH[?QUERY] [CHECK...]: a request there that the response confirms ends the session"),
    AP_INIT_TAKE1("SessionGuardUserHeader", reinterpret_cast<cmd_func>(cmd_user_header), nullptr,
                  ACCESS_CONF, "response header in which the app names the user"),
    AP_INIT_TAKE12("SessionGuardDenyAction", reinterpret_cast<cmd_func>(cmd_deny_action), nullptr,
                   ACCESS_CONF, "redirect URL | status CODE | page"),
    AP_INIT_TAKE1("SessionGuardMaxSessions", reinterpret_cast<cmd_func>(cmd_max_sessions), nullptr,
                  ACCESS_CONF, "concurrent sessions allowed per user (0 = no limit)"),
    AP_INIT_TAKE1("SessionGuardMaxSessionsAction", reinterpret_cast<cmd_func>(cmd_max_sessions_action), nullptr,
                  ACCESS_CONF, "evict-oldest (default) or refuse-new"),
    AP_INIT_TAKE1("SessionGuardIdleTimeout", reinterpret_cast<cmd_func>(cmd_idle_timeout), nullptr,
                  ACCESS_CONF, "end sessions idle this long on every server (0 = never)"),
    AP_INIT_TAKE1("SessionGuardMaxLifetime", reinterpret_cast<cmd_func>(cmd_max_lifetime), nullptr,
                  ACCESS_CONF, "end sessions this long after login, whatever their activity (0 = never)"),
    AP_INIT_TAKE2("SessionGuardMessage", reinterpret_cast<cmd_func>(cmd_message), nullptr, ACCESS_CONF,
                  "REASON TEXT: what the user reads when a session ends for REASON"),
    AP_INIT_TAKE12("SessionGuardDBOptions", reinterpret_cast<cmd_func>(cmd_db_options), nullptr, RSRC_CONF,
                   "FILE [GROUP]: MariaDB option file and group (default session_guard)"),
    AP_INIT_TAKE1("SessionGuardPollInterval", reinterpret_cast<cmd_func>(cmd_poll_interval), nullptr, RSRC_CONF,
                  "how often the deny-list is refreshed (default 250 ms)"),
    AP_INIT_TAKE1("SessionGuardFailMode", reinterpret_cast<cmd_func>(cmd_fail_mode), nullptr, RSRC_CONF,
                  "open or closed: what happens once the deny-list is older than SessionGuardMaxStale"),
    AP_INIT_TAKE1("SessionGuardMaxStale", reinterpret_cast<cmd_func>(cmd_max_stale), nullptr, RSRC_CONF,
                  "how old the deny-list may get before the fail mode applies (default 60 s)"),
    AP_INIT_TAKE1("SessionGuardDenyListSize", reinterpret_cast<cmd_func>(cmd_capacity), nullptr, RSRC_CONF,
                  "revoked sessions kept in shared memory (default 100000)"),
    AP_INIT_TAKE1("SessionGuardRevocationRetention", reinterpret_cast<cmd_func>(cmd_revocation_retention), nullptr,
                  RSRC_CONF, "how long a revocation is enforced: at least the app's longest session (default 168h)"),
    AP_INIT_TAKE1("SessionGuardStateFile", reinterpret_cast<cmd_func>(cmd_state_file), nullptr, RSRC_CONF,
                  "where the deny-list is kept between cold restarts (default: runtime dir; none to disable)"),
    AP_INIT_TAKE_ARGV("SessionGuardJournal", reinterpret_cast<cmd_func>(cmd_journal), nullptr, RSRC_CONF,
                      "PATH|none [MAXBYTES]: where logins and logouts wait while the database is unreachable "
                      "(default: runtime dir, 16M)"),
    AP_INIT_TAKE1("SessionGuardLoginWhenUnreachable", reinterpret_cast<cmd_func>(cmd_login_when_unreachable), nullptr,
                  RSRC_CONF, "admit (default: journalled, replayed later) or refuse (503) a login the database cannot take"),
    {nullptr, {nullptr}, nullptr, 0, RAW_ARGS, nullptr}};

void register_hooks(apr_pool_t*) {
  ap_hook_post_config(post_config, nullptr, nullptr, APR_HOOK_MIDDLE);
  // Before post_config forks the poller, so it inherits where the journal is.
  ap_hook_post_config(journal_post_config, nullptr, nullptr, APR_HOOK_FIRST);
  // After authentication (REMOTE_USER is known), before any handler runs.
  ap_hook_fixups(fixups, nullptr, nullptr, APR_HOOK_FIRST);
  ap_hook_handler(denial_handler, nullptr, nullptr, APR_HOOK_REALLY_FIRST);
  ap_hook_log_transaction(log_transaction, nullptr, nullptr, APR_HOOK_MIDDLE);
  // After the location walk, before any authentication module reads or changes the request.
  ap_hook_header_parser(keep_cookies_sent_with_ticket, nullptr, nullptr, APR_HOOK_REALLY_FIRST);
  // Optional: shown only where mod_status is loaded.
  register_status_hook();
  ap_register_input_filter(kReplayFilter, replay_filter, nullptr, AP_FTYPE_RESOURCE);
  ap_register_output_filter(kResponseFilter, response_filter, nullptr, AP_FTYPE_CONTENT_SET);
}

}  // namespace sg::apache

extern "C" {
module AP_MODULE_DECLARE_DATA session_guard_module = {
    STANDARD20_MODULE_STUFF,
    sg::apache::create_dir_config,
    sg::apache::merge_dir_config,
    sg::apache::create_server_config,
    sg::apache::merge_server_config,
    sg::apache::kCommands,
    sg::apache::register_hooks,
#if defined(AP_MODULE_FLAG_ALWAYS_MERGE)
    AP_MODULE_FLAG_ALWAYS_MERGE
#endif
};
}
