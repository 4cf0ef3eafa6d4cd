// mod_session_guard: the only code that includes httpd headers. It turns request_rec,
// directives and apr_shm into core types and back; all decisions live in the core.
//
// Request path (every child): cookie -> fingerprint -> lock-free deny-list lookup -> verdict.
// Background (one process per instance, forked by the parent): Poller keeps the list fresh
// and flushes the activity children recorded in shared memory.
// Login and logout: the child writes to MariaDB through a short-lived connection, bounded
// per instance by a counter in shared memory.

#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <ap_listen.h>
#include <mpm_common.h>
#include <ap_mpm.h>
#include <apr_shm.h>
#include <apr_strings.h>
#include <unixd.h>
#include <util_filter.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <new>
#include <string>
#include <thread>

#include "sg/app_reader.hpp"
#include "sg/config.hpp"
#include "sg/cookie.hpp"
#include "sg/decision.hpp"
#include "sg/denial.hpp"
#include "sg/deny_region.hpp"
#include "sg/device.hpp"
#include "sg/fingerprint.hpp"
#include "sg/poller.hpp"
#include "sg/text.hpp"
#include "store.hpp"

extern "C" __attribute__((visibility("default"))) module AP_MODULE_DECLARE_DATA session_guard_module;

#ifdef APLOG_USE_MODULE
APLOG_USE_MODULE(session_guard);
#endif

namespace {

constexpr const char* kDenialHandler = "session-guard-denial";
constexpr const char* kReplayFilter = "SESSION_GUARD_REPLAY";
constexpr const char* kResponseFilter = "SESSION_GUARD_RESPONSE";
constexpr const char* kShmKey = "session_guard_shm";
// Tracks Basic-auth users (or any REMOTE_USER) when the location names no app cookie.
constexpr const char* kTrackingCookie = "sg_session";
// Of a POST body, read before the app runs (the rest streams to it untouched).
constexpr std::size_t kMaxLoginBody = 64 * 1024;
// Of a login or logout response, when a body=/body!= rule must read it.
constexpr std::size_t kMaxResponseBody = 64 * 1024;
constexpr std::int32_t kLoginConnections = 4;

// C++ objects owned by APR pools: destroyed by a pool cleanup, never leaked into httpd.
template <typename T, typename... Args>
T* pool_new(apr_pool_t* pool, Args&&... args) {
  void* memory = apr_palloc(pool, sizeof(T));
  T* object = new (memory) T(std::forward<Args>(args)...);
  apr_pool_cleanup_register(
      pool, object,
      [](void* p) -> apr_status_t {
        static_cast<T*>(p)->~T();
        return APR_SUCCESS;
      },
      apr_pool_cleanup_null);
  return object;
}

struct DirConf {
  sg::DirConfig config;
  // httpd merges <Location> settings on every request; the result for a given pair never
  // changes, so it is computed once per process and reused (sections are few).
  struct Merged {
    const DirConf* parent;
    DirConf* result;
    Merged* next;
  };
  std::atomic<Merged*> merged{nullptr};
  ~DirConf() {
    for (Merged* m = merged.load(); m != nullptr;) {
      Merged* next = m->next;
      delete m->result;
      delete m;
      m = next;
    }
  }
};

struct ServerConf {
  sg::ServerConfig config;
};

// Per-process: the mapping of the shared block, inherited by children from the parent.
struct ProcessState {
  apr_shm_t* shm = nullptr;
  std::optional<sg::DenyRegion> region;
  sg::ServerConfig config;  // main server's, which owns the poller and the DB options
  std::string state_file;   // empty: disabled
};
ProcessState g_process;

// A request body read ahead of the app, so the session ids and login fields in it are judged
// before the app acts on them; the replay filter hands the same bytes back to whoever reads.
struct KeptBody {
  apr_bucket_brigade* kept = nullptr;  // not yet handed back
  std::string text;                    // a copy for the readers
  bool truncated = false;              // more follows, or the body cannot be read as sent
};

struct RequestState {
  const sg::CookieSpec* cookie = nullptr;
  std::optional<sg::Fingerprint> fingerprint;  // what a login binds: see identify_session_uncached
  bool fingerprint_ambiguous = false;          // the bound cookie reads differently to different apps
  std::vector<sg::Fingerprint> aliases;        // every other value any app could read as a session
  const char* short_id = nullptr;              // of `fingerprint`, formatted once per connection
  sg::Reason denial = sg::Reason::none;
  int limit = 0;  // the session limit a refused login hit, for the message
  const sg::LoginForm* login_form = nullptr;
  const sg::LogoutRule* logout_rule = nullptr;
  KeptBody* body = nullptr;  // a POSTed form, read ahead
  bool logout = false;  // the app confirmed the logout
  bool bound_here = false;  // this request's response bound the session (a login)
  std::string owner;        // who the request's session belongs to, if it is bound
  std::optional<sg::Fingerprint> owned;  // the value of the request that is bound to `owner`
  bool response_done = false;
  // A response held back until a body rule has read it (or kMaxResponseBody is passed).
  bool hold_response = false;
  apr_bucket_brigade* held = nullptr;
  std::string response_body;
  bool response_body_complete = true;
};

sg::Micros now_micros() { return static_cast<sg::Micros>(apr_time_now()); }

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

void* create_dir_config(apr_pool_t* pool, char*) noexcept {
  try {
    return pool_new<DirConf>(pool);
  } catch (...) {
    return &g_unset_dir;
  }
}

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

void* create_server_config(apr_pool_t* pool, server_rec*) noexcept {
  try {
    return pool_new<ServerConf>(pool);
  } catch (...) {
    return &g_unset_server;
  }
}

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
    server_of(cmd).db_options_file = ap_server_root_relative(cmd->pool, file);
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

// Per-directory directives are for the server's configuration only, never .htaccess: an
// app's own .htaccess (AllowOverride AuthConfig) must not be able to switch its guard off.
const command_rec kCommands[] = {
    AP_INIT_TAKE1("SessionGuard", reinterpret_cast<cmd_func>(cmd_enable), nullptr, ACCESS_CONF,
                  "On to guard this location, Off to exempt it"),
    AP_INIT_TAKE1("SessionGuardAppEnv", reinterpret_cast<cmd_func>(cmd_app_env), nullptr, ACCESS_CONF,
                  "On to name the user and session to the app in SESSION_GUARD_USER and SESSION_GUARD_SESSION (default Off)"),
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
    {nullptr, {nullptr}, nullptr, 0, RAW_ARGS, nullptr}};

// ---------------------------------------------------------------- shared memory and poller

sg::RegionCapacity capacity_for(const sg::ServerConfig& config) {
  sg::RegionCapacity capacity;
  capacity.sessions = config.deny_capacity_or_default();
  return capacity;
}

// The copy on disk is only a head start for a cold start: the database stays the truth.
void save_state_file(server_rec* s) {
  if (g_process.state_file.empty()) return;
  std::string error = sg::save_snapshot_file(g_process.state_file, g_process.region->snapshot());
  if (!error.empty()) ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "session guard: state file: %s", error.c_str());
}

// Runs as root at a cold start. Whatever is wrong with the file, the start goes on without it.
void restore_state_file(server_rec* s) noexcept {
  if (g_process.state_file.empty()) return;
  try {
    sg::SnapshotFile file = sg::load_snapshot_file(g_process.state_file, now_micros());
    if (file.snapshot) {
      g_process.region->restore(*file.snapshot);
      ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                   "session guard: enforcing %u revoked sessions and %u blocked users from %s until the database answers",
                   static_cast<unsigned>(file.snapshot->sessions.size()),
                   static_cast<unsigned>(file.snapshot->blocked_users.size()), g_process.state_file.c_str());
    } else if (!file.missing) {
      ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "session guard: ignoring the state file %s: %s",
                   g_process.state_file.c_str(), file.error.c_str());
    }
    // The poller saves as the server's user, by renaming a new file over the old: it needs
    // the directory, never this file opened by root.
    bool root = geteuid() == 0;
    std::string error = sg::prepare_snapshot_directory(g_process.state_file, root ? long{ap_unixd_config.user_id} : -1,
                                                       root ? long{ap_unixd_config.group_id} : -1);
    if (!error.empty()) ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "session guard: state file: %s", error.c_str());
  } catch (const std::exception& e) {
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "session guard: ignoring the state file %s: %s",
                 g_process.state_file.c_str(), e.what());
  } catch (...) {
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "session guard: ignoring the state file %s",
                 g_process.state_file.c_str());
  }
}

class AprClock : public sg::Clock {
 public:
  sg::Micros now() override { return now_micros(); }
};

struct PollerState {
  explicit PollerState(const sg::ServerConfig& config)
      : feed(connect_options(config)), poller(feed, clock, *g_process.region, settings()) {}
  static sg::PollerSettings settings() {
    sg::PollerSettings settings;
    settings.activity_flush_interval = sg::kMicrosPerSecond;
    settings.revocation_retention = g_process.config.revocation_retention_or_default();
    return settings;
  }
  sg::db::ReconnectingFeed feed;
  AprClock clock;
  sg::Poller poller;
  bool healthy = true;
  bool first_tick = true;
  std::optional<std::uint64_t> audit_seen;  // audit lines up to here are in the log already
};

// Admin actions happen in fcgi_admin or the CLI, whose own output Apache tags as it likes;
// the poller repeats each new audit line here at INFO, once per instance.
void log_new_audit_lines(PollerState& poller, server_rec* s) {
  if (!poller.audit_seen) {
    poller.audit_seen = poller.feed.last_audit_id();
    return;
  }
  for (const auto& [id, message] : poller.feed.audit_lines(*poller.audit_seen, 100)) {
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "%s", message.c_str());
    poller.audit_seen = id;
  }
}

void poll_once(PollerState& state, server_rec* s) {
  sg::TickResult result = state.poller.tick();
  if (!result.ok && (state.healthy || state.first_tick)) {
    ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                 "session guard: database unreachable, still enforcing the deny-list last refreshed %" APR_INT64_T_FMT " ms ago "
                 "(%u revoked sessions, %u blocked users): %s",
                 static_cast<apr_int64_t>((now_micros() - g_process.region->last_refresh()) / 1000),
                 g_process.region->stats().revoked_sessions, g_process.region->stats().blocked_users,
                 result.error.c_str());
    state.poller.request_full_resync();
  } else if (result.ok && (!state.healthy || state.first_tick)) {
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                 "session guard: deny-list loaded from the database (%u revoked sessions, %u blocked users)",
                 g_process.region->stats().revoked_sessions, g_process.region->stats().blocked_users);
  }
  if (result.ok && result.activity_flushed > 0) {
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, "session guard: recorded activity of %" APR_SIZE_T_FMT " sessions",
                 result.activity_flushed);
  }
  if (result.ok && result.revocations_dropped > 0) {
    ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                 "session guard: %" APR_SIZE_T_FMT " revocations made within SessionGuardRevocationRetention do not fit "
                 "in SessionGuardDenyListSize and are not enforced from shared memory (%" APR_UINT64_T_FMT " in all); "
                 "the users with the most revocations lost their oldest",
                 result.revocations_dropped, static_cast<apr_uint64_t>(g_process.region->stats().revocations_dropped));
  }
  if (result.ok && result.published) save_state_file(s);
  if (result.ok) {
    try {
      log_new_audit_lines(state, s);
    } catch (const sg::StoreError&) {
      // The next tick reports the outage; audit lines wait until then.
    }
  }
  state.healthy = result.ok;
  state.first_tick = false;
}

// ---------------------------------------------------------------- the poller process
//
// One process per instance, forked by the root parent after each (re)configuration and
// running as the server's user, as mod_cgid does for its daemon. Not a mod_watchdog thread:
// a singleton watchdog puts a thread in every child, each waking ten times a second to try
// the singleton's lock, and a multi-threaded prefork child pays for it on every request.
// The parent kills it when its configuration pool goes (restart, stop) and starts a new one
// if it dies.

volatile std::sig_atomic_t g_poller_stop = 0;

struct PollerSpawn {
  apr_pool_t* pconf = nullptr;
  server_rec* server = nullptr;
  apr_proc_t* proc = nullptr;  // the live poller; nullptr once it is gone
};
PollerSpawn g_spawn;

[[noreturn]] void run_poller_process(server_rec* s, pid_t parent) {
  struct sigaction stop {};
  stop.sa_handler = [](int) { g_poller_stop = 1; };
  sigemptyset(&stop.sa_mask);
  sigaction(SIGTERM, &stop, nullptr);
  sigaction(SIGINT, &stop, nullptr);
  // The parent signals its whole process group on restarts; this process ends only when the
  // parent says so through SIGTERM (or disappears).
  for (int ignored : {SIGHUP, SIGUSR1, SIGWINCH, SIGPIPE}) std::signal(ignored, SIG_IGN);
  ap_close_listeners();
  apr_pool_t* pool = nullptr;
  int code = 0;
  if (apr_pool_create(&pool, nullptr) != APR_SUCCESS || ap_run_drop_privileges(pool, s) != 0) {
    ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "session guard: the poller cannot become the server's user");
    _exit(APEXIT_CHILDFATAL);
  }
  try {
    PollerState state(g_process.config);
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "session guard poller started in process %d (database options %s)",
                 static_cast<int>(getpid()), g_process.config.db_options_file.value_or("-").c_str());
    const auto interval = std::chrono::microseconds(g_process.config.poll_interval_or_default());
    while (!g_poller_stop && getppid() == parent) {
      auto next = std::chrono::steady_clock::now() + interval;
      try {
        poll_once(state, s);
      } catch (const std::exception& e) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "session guard poller: %s", e.what());
      }
      // A signal cuts the sleep short; the loop condition then decides.
      auto left = next - std::chrono::steady_clock::now();
      if (left > std::chrono::steady_clock::duration::zero() && !g_poller_stop) {
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
        timespec pause{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
        nanosleep(&pause, nullptr);
      }
    }
  } catch (const std::exception& e) {
    ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "session guard poller: %s", e.what());
    code = 1;
  } catch (...) {
    ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "session guard poller: unknown error");
    code = 1;
  }
  // No exit(): the parent's atexit handlers and pools are not this process's to run.
  _exit(code);
}

void poller_died(int reason, void* data, int status);

apr_status_t start_poller() {
  auto* proc = static_cast<apr_proc_t*>(apr_pcalloc(g_spawn.pconf, sizeof(apr_proc_t)));
  pid_t parent = getpid();
  apr_status_t rv = apr_proc_fork(proc, g_spawn.pconf);
  if (rv == APR_INCHILD) run_poller_process(g_spawn.server, parent);
  if (rv != APR_INPARENT) return rv;
  g_spawn.proc = proc;
  apr_proc_other_child_register(proc, poller_died, proc, nullptr, g_spawn.pconf);
  return APR_SUCCESS;
}

// Called in the parent by the MPM (a process that is not one of its workers was reaped, or
// a restart begins) and by APR (the registration goes with its pool).
void poller_died(int reason, void* data, int status) {
  auto* proc = static_cast<apr_proc_t*>(data);
  switch (reason) {
    case APR_OC_REASON_RESTART:  // stop_poller ends it with the configuration pool
      apr_proc_other_child_unregister(data);
      return;
    case APR_OC_REASON_DEATH:
    case APR_OC_REASON_LOST:
      apr_proc_other_child_unregister(data);
      if (g_spawn.proc == proc) g_spawn.proc = nullptr;
      break;
    default:  // RUNNING: a health check; UNREGISTER: APR is already dropping the record
      return;
  }
  int mpm_state = AP_MPMQ_STOPPING;
  if (ap_mpm_query(AP_MPMQ_MPM_STATE, &mpm_state) != APR_SUCCESS || mpm_state != AP_MPMQ_RUNNING) return;
  ap_log_error(APLOG_MARK, APLOG_ERR, 0, g_spawn.server,
               "session guard: the poller (process %d) ended with status %d; starting a new one",
               static_cast<int>(proc->pid), status);
  apr_status_t rv = start_poller();
  if (rv != APR_SUCCESS) {
    ap_log_error(APLOG_MARK, APLOG_CRIT, rv, g_spawn.server, "session guard: cannot start a new poller");
  }
}

// Runs when the configuration pool goes: the next generation starts its own poller.
apr_status_t stop_poller(void*) {
  apr_proc_t* proc = g_spawn.proc;
  g_spawn = PollerSpawn{};
  // Only a child not yet reaped is signalled: its pid cannot have been reused.
  if (proc == nullptr || waitpid(proc->pid, nullptr, WNOHANG) != 0) return APR_SUCCESS;
  kill(proc->pid, SIGTERM);
  for (int waited_ms = 0; waited_ms < 3000; waited_ms += 10) {
    if (waitpid(proc->pid, nullptr, WNOHANG) != 0) return APR_SUCCESS;
    apr_sleep(10 * 1000);
  }
  kill(proc->pid, SIGKILL);
  waitpid(proc->pid, nullptr, 0);
  return APR_SUCCESS;
}

int post_config(apr_pool_t* pconf, apr_pool_t*, apr_pool_t*, server_rec* s) noexcept {
  // httpd reads the configuration twice at start-up; only the second pass is the real one.
  if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) return OK;
  try {
    g_process.config = server_config(s);
    sg::db::initialize_library();
    if (!g_process.config.db_options_file) {
      ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                   "session guard: no SessionGuardDBOptions; guarded locations will only see an empty deny-list");
    }
    // In a directory of its own: the poller (the server's user) renames new copies into it.
    std::string state_file =
        g_process.config.state_file.value_or(ap_runtime_dir_relative(pconf, "session_guard/deny-list.state"));
    g_process.state_file = state_file == "none" ? std::string() : state_file;
    sg::RegionCapacity capacity = capacity_for(g_process.config);
    std::size_t size = sg::DenyRegion::required_size(capacity);
    if (size == 0) {
      ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "session guard: deny-list size overflows");
      return HTTP_INTERNAL_SERVER_ERROR;
    }
    // The block lives in the process pool, which survives graceful restarts: the deny-list
    // keeps being enforced while the configuration reloads.
    void* existing = nullptr;
    apr_pool_userdata_get(&existing, kShmKey, s->process->pool);
    auto* shm = static_cast<apr_shm_t*>(existing);
    if (shm != nullptr) {
      auto region = sg::DenyRegion::attach(apr_shm_baseaddr_get(shm), apr_shm_size_get(shm));
      if (region && region->capacity() == capacity) {
        g_process.shm = shm;
        g_process.region = region;
      } else {
        shm = nullptr;
      }
    }
    if (shm == nullptr) {
      apr_status_t rv = apr_shm_create(&shm, size, nullptr, s->process->pool);
      if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, "session guard: cannot create %zu bytes of shared memory", size);
        return HTTP_INTERNAL_SERVER_ERROR;
      }
      apr_pool_userdata_set(shm, kShmKey, apr_pool_cleanup_null, s->process->pool);
      g_process.shm = shm;
      g_process.region = sg::DenyRegion::create(apr_shm_baseaddr_get(shm), size, capacity, now_micros());
      restore_state_file(s);
    }

    if (!g_process.config.db_options_file) return OK;
    // One poller per instance however many children; never the root parent itself.
    g_spawn = PollerSpawn{pconf, s, nullptr};
    apr_pool_cleanup_register(pconf, nullptr, stop_poller, apr_pool_cleanup_null);
    apr_status_t rv = start_poller();
    if (rv != APR_SUCCESS) {
      ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, "session guard: cannot start the poller process");
      return HTTP_INTERNAL_SERVER_ERROR;
    }
  } catch (const std::exception& e) {
    ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "session guard: %s", e.what());
    return HTTP_INTERNAL_SERVER_ERROR;
  }
  return OK;
}

// ---------------------------------------------------------------- database writes from children

// A login or logout needs the database; the slot counter keeps this instance's connections
// bounded whatever MaxRequestWorkers is.
template <typename Work>
void with_login_connection(request_rec* r, Work&& work) {
  sg::DenyRegion& region = *g_process.region;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (!region.try_acquire_login_slot(kLoginConnections)) {
    if (std::chrono::steady_clock::now() > deadline) throw sg::StoreError("all login connections are busy");
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  struct Release {
    sg::DenyRegion& region;
    ~Release() { region.release_login_slot(); }
  } release{region};
  sg::db::Connection connection(connect_options(server_config(r->server)));
  work(connection);
}

// Enforced here at once, not from the next poll: an app that marks a session signed in
// before the module refuses it must not serve that session meanwhile.
void revoke_on_this_instance(const sg::Fingerprint& fingerprint, sg::Reason reason, sg::Micros now) {
  g_process.region->revoke_locally(fingerprint, reason, now);
}

sg::Reason revoked_reason(const sg::DenyRegion& region, const RequestState& state) {
  sg::Reason reason = state.fingerprint ? region.session_revoked(*state.fingerprint) : sg::Reason::none;
  for (std::size_t i = 0; reason == sg::Reason::none && i < state.aliases.size(); ++i) {
    reason = region.session_revoked(state.aliases[i]);
  }
  return reason;
}

sg::db::LoginRecord login_record(request_rec* r, const RequestState& state, const std::string& username) {
  const sg::DirConfig& config = dir_config(r);
  sg::db::LoginRecord login;
  login.fingerprint = *state.fingerprint;
  login.username = username;
  login.cookie_name = state.cookie != nullptr ? state.cookie->name : kTrackingCookie;
  login.client_ip = r->useragent_ip != nullptr ? r->useragent_ip : "";
  login.user_agent = std::string(header_in(r, "User-Agent"));
  login.device = sg::classify_user_agent(login.user_agent);
  login.server_name = r->server->server_hostname != nullptr ? r->server->server_hostname : "";
  login.idle_timeout_seconds = static_cast<int>(config.idle_timeout.value_or(0) / sg::kMicrosPerSecond);
  login.max_lifetime_seconds = static_cast<int>(config.max_lifetime.value_or(0) / sg::kMicrosPerSecond);
  login.max_sessions = static_cast<int>(config.max_sessions.value_or(0));
  login.refuse_new = config.refuse_new.value_or(false);
  return login;
}

// Records the binding; returns the reason to refuse it, or none. A refused session is
// revoked in the database too, so the app's new session can never be used.
sg::Reason bind_session(request_rec* r, RequestState& state, const std::string& username, const char* how) {
  // A name we could not store or log faithfully is a session we could not end: refuse it.
  if (!sg::bindable_user_name(username)) {
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "session guard: refused to bind a session to the user name '%s' (%s)",
                  ap_escape_logitem(r->pool, username.substr(0, 200).c_str()), how);
    return sg::Reason::refused;
  }
  sg::DenyRegion& region = *g_process.region;
  sg::Fingerprint user = sg::user_key(username);
  if (sg::Reason revoked = revoked_reason(region, state); revoked != sg::Reason::none) return revoked;
  bool known_blocked = region.user_blocked(user);
  if (!known_blocked && region.bound_to(*state.fingerprint, user)) return sg::Reason::none;
  sg::db::LoginOutcome outcome;
  try {
    // Even a login we already know to refuse is recorded: the admin sees the attempt, and
    // the session the app just created is revoked everywhere.
    with_login_connection(r, [&](sg::db::Connection& db) { outcome = sg::db::record_login(db, login_record(r, state, username)); });
  } catch (const sg::StoreError&) {
    if (known_blocked) {
      revoke_on_this_instance(*state.fingerprint, sg::Reason::blocked, now_micros());
      return sg::Reason::blocked;
    }
    throw;
  }
  switch (outcome.kind) {
    case sg::db::LoginOutcome::Kind::user_blocked:
      revoke_on_this_instance(*state.fingerprint, sg::Reason::blocked, now_micros());
      return sg::Reason::blocked;
    case sg::db::LoginOutcome::Kind::over_limit:
      revoke_on_this_instance(*state.fingerprint, sg::Reason::refused, now_micros());
      state.limit = outcome.limit;
      ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "session guard: login of %s refused: limit of %d sessions reached",
                    username.c_str(), outcome.limit);
      return sg::Reason::refused;
    case sg::db::LoginOutcome::Kind::recorded:
      break;
  }
  region.mark_bound(*state.fingerprint, user, now_micros(), username);
  ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "session guard: session %s bound to user %s (%s)",
                state.fingerprint->short_id().c_str(), username.c_str(), how);
  for (const auto& evicted : outcome.evicted) {
    if (auto superseded = sg::Fingerprint::from_hex(evicted)) {
      revoke_on_this_instance(*superseded, sg::Reason::superseded, now_micros());
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "session guard: session %s of %s superseded (limit %d)",
                  sg::Fingerprint::from_hex(evicted)->short_id().c_str(), username.c_str(), outcome.limit);
  }
  return sg::Reason::none;
}

// ---------------------------------------------------------------- denial

void expire_cookie(request_rec* r, const RequestState& state) {
  bool secure = ap_http_scheme(r) != nullptr && std::string_view(ap_http_scheme(r)) == "https";
  sg::CookieSpec spec;
  if (state.cookie != nullptr) spec = *state.cookie;
  else spec.name = kTrackingCookie;
  apr_table_add(r->err_headers_out, "Set-Cookie", apr_pstrdup(r->pool, sg::expired_cookie(spec, secure).c_str()));
}

// Fills status, headers and body of a denial; `body` receives the bytes to send.
void prepare_denial(request_rec* r, RequestState& state, sg::Reason reason, std::string& body) {
  const sg::DirConfig& config = dir_config(r);
  sg::DenyAction action = config.deny_action.value_or(sg::DenyAction{});
  bool json = sg::wants_json(header_in(r, "Accept"), header_in(r, "X-Requested-With"));
  bool server_auth = r->user != nullptr && r->ap_auth_type != nullptr;
  int status = sg::denial_status(action, reason, json, server_auth);
  std::string message = sg::denial_message(config, reason, state.limit);

  // The app's own cookie, if it just set one, must not reach the browser.
  apr_table_unset(r->headers_out, "Set-Cookie");
  apr_table_unset(r->err_headers_out, "Set-Cookie");
  apr_table_unset(r->headers_out, "Location");
  apr_table_unset(r->err_headers_out, "Location");
  apr_table_unset(r->headers_out, "Content-Length");
  // "unavailable" ends nothing: the session must survive until the list is fresh again.
  if (reason != sg::Reason::unavailable) expire_cookie(r, state);
  apr_table_setn(r->err_headers_out, "Cache-Control", "no-store");
  apr_table_setn(r->err_headers_out, "X-Session-Guard-Reason", apr_pstrdup(r->pool, std::string(sg::to_string(reason)).c_str()));
  r->status = status;
  r->status_line = nullptr;
  if (json) {
    ap_set_content_type(r, "application/json");
    body = sg::denial_json(reason, message);
    return;
  }
  std::string login_url;
  if (action.kind == sg::DenyAction::Kind::redirect) {
    login_url = sg::denial_redirect_url(action.url, reason, message);
    if (status == HTTP_MOVED_TEMPORARILY) {
      apr_table_setn(r->err_headers_out, "Location", apr_pstrdup(r->pool, login_url.c_str()));
    }
  } else if (config.login_forms && !config.login_forms->empty()) {
    login_url = config.login_forms->front().target.path;
  }
  ap_set_content_type(r, "text/html; charset=utf-8");
  body = sg::denial_page(reason, message, login_url);
}

void log_denial(request_rec* r, const RequestState& state, sg::Reason reason) {
  ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "session guard: denied %s request of session %s: %s",
                r->method, state.fingerprint ? state.fingerprint->short_id().c_str() : "-",
                std::string(sg::to_string(reason)).c_str());
}

int denial_handler(request_rec* r) noexcept {
  if (r->handler == nullptr || std::string_view(r->handler) != kDenialHandler) return DECLINED;
  try {
    RequestState* state = request_state(r);
    if (state == nullptr) return HTTP_INTERNAL_SERVER_ERROR;
    std::string body;
    prepare_denial(r, *state, state->denial, body);
    ap_set_content_length(r, static_cast<apr_off_t>(body.size()));
    if (!r->header_only) ap_rwrite(body.data(), static_cast<int>(body.size()), r);
    return OK;
  } catch (...) {
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "session guard: cannot render denial");
    return HTTP_FORBIDDEN;
  }
}

// ---------------------------------------------------------------- request path

// The requests of one keep-alive connection nearly always carry the same Cookie header:
// its fingerprints are kept with the connection, so hashing happens once per connection.
struct ConnectionCookieCache {
  std::string header;
  const void* cookie_config = nullptr;
  const sg::CookieSpec* cookie = nullptr;
  std::optional<sg::Fingerprint> fingerprint;
  bool fingerprint_ambiguous = false;
  std::vector<sg::Fingerprint> aliases;
  const char* short_id = nullptr;  // in the connection's pool, for the app's environment
};

ConnectionCookieCache& connection_cache(conn_rec* c) {
  auto* cache = static_cast<ConnectionCookieCache*>(ap_get_module_config(c->conn_config, &session_guard_module));
  if (cache == nullptr) {
    cache = pool_new<ConnectionCookieCache>(c->pool);
    ap_set_module_config(c->conn_config, &session_guard_module, cache);
  }
  return *cache;
}

void identify_session_uncached(std::string_view header, const sg::DirConfig& config, RequestState& state);

// Finds the session cookie and fingerprints every way the app could read it.
void identify_session(request_rec* r, const sg::DirConfig& config, RequestState& state) {
  std::string_view header = header_in(r, "Cookie");
  const void* cookie_config = config.cookies ? static_cast<const void*>(&*config.cookies) : nullptr;
  ConnectionCookieCache& cache = connection_cache(r->connection);
  if (cache.cookie_config != cookie_config || cache.header != header) {
    RequestState fresh;
    identify_session_uncached(header, config, fresh);
    cache.header.assign(header.data(), header.size());
    cache.cookie_config = cookie_config;
    cache.cookie = fresh.cookie;
    cache.fingerprint = fresh.fingerprint;
    cache.fingerprint_ambiguous = fresh.fingerprint_ambiguous;
    cache.aliases = std::move(fresh.aliases);
    cache.short_id = fresh.fingerprint ? apr_pstrdup(r->connection->pool, fresh.fingerprint->short_id().c_str()) : nullptr;
  }
  state.short_id = cache.short_id;
  state.cookie = cache.cookie;
  state.fingerprint = cache.fingerprint;
  state.fingerprint_ambiguous = cache.fingerprint_ambiguous;
  state.aliases = cache.aliases;
  // CGI::Session takes its id from the query string when no cookie has it (?CGISESSID=):
  // such values are judged too, never bound.
  if (r->args != nullptr && *r->args != '\0') {
    auto judge_query = [&](std::string_view name) {
      for (const auto& value : sg::form_readings(r->args, name)) {
        if (value != sg::kArrayValue) state.aliases.push_back(sg::session_fingerprint(name, value));
      }
    };
    if (config.cookies) {
      for (const auto& spec : *config.cookies) judge_query(spec.name);
    } else {
      judge_query(kTrackingCookie);
    }
  }
}

// One rule for every configured cookie: each value any app could read from any of them is
// judged (a request is denied if one is revoked); the one a login binds is the first value
// of the first configured cookie present, in the order of the SessionGuardCookie lines.
void identify_session_uncached(std::string_view header, const sg::DirConfig& config, RequestState& state) {
  auto judge = [&](std::string_view name, const std::vector<std::string>& values) {
    if (values.empty()) return false;
    bool first = !state.fingerprint;
    for (std::size_t i = 0; i < values.size(); ++i) {
      sg::Fingerprint fingerprint = sg::session_fingerprint(name, values[i]);
      if (first && i == 0) state.fingerprint = fingerprint;
      else state.aliases.push_back(fingerprint);
    }
    if (first) state.fingerprint_ambiguous = values.size() > 1;
    return first;
  };
  if (header.empty()) return;
  if (!config.cookies) {
    judge(kTrackingCookie, sg::cookie_readings(header, kTrackingCookie));
    return;
  }
  for (const auto& spec : *config.cookies) {
    if (judge(spec.name, sg::cookie_readings(header, spec.name))) state.cookie = &spec;
  }
}

// A "remember me" value the module does not know as bound (a killed session's, one from
// before the guard, a forged one) would sign its holder in unrecorded: the app never sees it.
void drop_unknown_signed_in_cookies(request_rec* r, const sg::DirConfig& config, const sg::DenyRegion& region) {
  if (!config.cookies) return;
  for (const auto& spec : *config.cookies) {
    if (!spec.signed_in_only) continue;
    std::string_view header = header_in(r, "Cookie");
    auto values = sg::cookie_readings(header, spec.name);
    bool known = !values.empty() && std::all_of(values.begin(), values.end(), [&](const std::string& value) {
      return region.owner(sg::session_fingerprint(spec.name, value)).has_value();
    });
    if (values.empty() || known) continue;
    std::string kept = sg::without_cookie(header, spec.name);
    if (kept.empty()) apr_table_unset(r->headers_in, "Cookie");
    else apr_table_set(r->headers_in, "Cookie", kept.c_str());
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "session guard: removed cookie %s with a value no signed-in session has",
                  spec.name.c_str());
  }
}

void deny_now(request_rec* r, RequestState& state, sg::Reason reason) {
  state.denial = reason;
  r->handler = kDenialHandler;
  log_denial(r, state, reason);
}

void start_tracking_session(request_rec* r) {
  unsigned char random[24];
  if (apr_generate_random_bytes(random, sizeof random) != APR_SUCCESS) throw std::runtime_error("no randomness");
  static const char hex[] = "0123456789abcdef";
  std::string value;
  for (unsigned char b : random) {
    value.push_back(hex[b >> 4]);
    value.push_back(hex[b & 15]);
  }
  std::string cookie = std::string(kTrackingCookie) + "=" + value + "; Path=/; HttpOnly; SameSite=Lax";
  apr_table_add(r->err_headers_out, "Set-Cookie", apr_pstrdup(r->pool, cookie.c_str()));
}

bool same_cookies(const sg::DirConfig& a, const sg::DirConfig& b) {
  if (!a.cookies || !b.cookies) return !a.cookies && !b.cookies;
  if (a.cookies->size() != b.cookies->size()) return false;
  for (std::size_t i = 0; i < a.cookies->size(); ++i) {
    if ((*a.cookies)[i].name != (*b.cookies)[i].name) return false;
  }
  return true;
}

// Hands the kept bytes back first, in whatever sizes the reader asks for, then steps aside.
apr_status_t replay_filter(ap_filter_t* f, apr_bucket_brigade* bb, ap_input_mode_t mode, apr_read_type_e block,
                           apr_off_t readbytes) noexcept {
  auto* body = static_cast<KeptBody*>(f->ctx);
  if (body->kept == nullptr || APR_BRIGADE_EMPTY(body->kept)) {
    ap_remove_input_filter(f);
    return ap_get_brigade(f->next, bb, mode, block, readbytes);
  }
  switch (mode) {
    case AP_MODE_READBYTES: {
      apr_bucket* after = nullptr;
      apr_status_t rv = apr_brigade_partition(body->kept, readbytes, &after);
      if (rv != APR_SUCCESS && rv != APR_INCOMPLETE) return rv;
      while (!APR_BRIGADE_EMPTY(body->kept) && APR_BRIGADE_FIRST(body->kept) != after) {
        apr_bucket* b = APR_BRIGADE_FIRST(body->kept);
        APR_BUCKET_REMOVE(b);
        APR_BRIGADE_INSERT_TAIL(bb, b);
      }
      return APR_SUCCESS;
    }
    case AP_MODE_GETLINE:
      return apr_brigade_split_line(bb, body->kept, block, HUGE_STRING_LEN);
    case AP_MODE_SPECULATIVE: {
      apr_off_t copied = 0;
      for (apr_bucket* b = APR_BRIGADE_FIRST(body->kept); b != APR_BRIGADE_SENTINEL(body->kept) && copied < readbytes;
           b = APR_BUCKET_NEXT(b)) {
        apr_bucket* copy = nullptr;
        if (apr_bucket_copy(b, &copy) != APR_SUCCESS) return APR_EGENERAL;
        APR_BRIGADE_INSERT_TAIL(bb, copy);
        if (b->length != static_cast<apr_size_t>(-1)) copied += static_cast<apr_off_t>(b->length);
      }
      return APR_SUCCESS;
    }
    case AP_MODE_EXHAUSTIVE: {
      APR_BRIGADE_CONCAT(bb, body->kept);
      return ap_get_brigade(f->next, bb, mode, block, readbytes);
    }
    default:
      return ap_get_brigade(f->next, bb, mode, block, readbytes);
  }
}

bool form_content_type(std::string_view content_type) {
  std::string media = sg::to_lower(sg::trim(content_type.substr(0, content_type.find(';'))));
  return media.empty() || media == "application/x-www-form-urlencoded" || media == "multipart/form-data";
}

// Reads up to kMaxLoginBody of a POSTed form before the app runs. Returns an HTTP error when
// the client's body is broken (the app would have failed to read it as well), else OK.
int read_body_ahead(request_rec* r, RequestState& state) {
  auto* body = pool_new<KeptBody>(r->pool);
  body->kept = apr_brigade_create(r->pool, r->connection->bucket_alloc);
  state.body = body;
  // A compressed body is not what the readers would see after the app's inflate filter.
  const char* encoding = apr_table_get(r->headers_in, "Content-Encoding");
  if (encoding != nullptr && !sg::iequals(encoding, "identity")) body->truncated = true;
  apr_bucket_brigade* bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
  bool end = false;
  while (!end && body->text.size() < kMaxLoginBody) {
    apr_status_t rv = ap_get_brigade(r->input_filters, bb, AP_MODE_READBYTES, APR_BLOCK_READ,
                                     static_cast<apr_off_t>(kMaxLoginBody - body->text.size()));
    if (rv != APR_SUCCESS) return ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
    if (APR_BRIGADE_EMPTY(bb)) break;
    for (apr_bucket* b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb); b = APR_BUCKET_NEXT(b)) {
      if (APR_BUCKET_IS_EOS(b)) {
        end = true;
        continue;
      }
      if (APR_BUCKET_IS_METADATA(b)) continue;
      const char* data = nullptr;
      apr_size_t length = 0;
      if ((rv = apr_bucket_read(b, &data, &length, APR_BLOCK_READ)) != APR_SUCCESS) return HTTP_BAD_REQUEST;
      body->text.append(data, length);
      if ((rv = apr_bucket_setaside(b, r->pool)) != APR_SUCCESS && rv != APR_ENOTIMPL) return HTTP_INTERNAL_SERVER_ERROR;
    }
    APR_BRIGADE_CONCAT(body->kept, bb);
  }
  if (!end) body->truncated = true;
  ap_add_input_filter(kReplayFilter, body, r, r->connection);
  return OK;
}

// A POSTed form is read ahead once per request chain: an internal redirect carries on with
// what its first request kept (httpd drops the first request's own filters).
int take_body(request_rec* r, RequestState& state) {
  if (r->main != nullptr) return OK;
  for (request_rec* prev = r->prev; prev != nullptr; prev = prev->prev) {
    RequestState* earlier = request_state(prev);
    if (earlier != nullptr && earlier->body != nullptr) {
      state.body = earlier->body;
      if (!APR_BRIGADE_EMPTY(state.body->kept)) ap_add_input_filter(kReplayFilter, state.body, r, r->connection);
      return OK;
    }
  }
  if (r->method_number != M_POST || !form_content_type(header_in(r, "Content-Type"))) return OK;
  const char* length = apr_table_get(r->headers_in, "Content-Length");
  if (apr_table_get(r->headers_in, "Transfer-Encoding") == nullptr && (length == nullptr || std::string_view(length) == "0")) {
    return OK;
  }
  return read_body_ahead(r, state);
}

// Values in the body that some app reads as a session id (CGI::Session takes a POSTed
// CGISESSID when no cookie has one): judged, never bound.
void judge_body_ids(request_rec* r, const sg::DirConfig& config, RequestState& state) {
  if (state.body == nullptr || !config.cookies) return;
  std::string_view content_type = header_in(r, "Content-Type");
  bool multipart = sg::to_lower(content_type).find("multipart/form-data") != std::string::npos;
  for (const auto& spec : *config.cookies) {
    bool complete = true;
    std::vector<std::string> values = multipart ? sg::multipart_readings(state.body->text, content_type, spec.name, complete)
                                                : sg::form_readings(state.body->text, spec.name);
    for (const auto& value : values) {
      if (value != sg::kArrayValue) state.aliases.push_back(sg::session_fingerprint(spec.name, value));
    }
  }
}

// Internal redirects (ErrorDocument, mod_rewrite in a <Directory>, mod_dir) are judged as
// requests of their own: the original may have been outside every guarded location.
int fixups(request_rec* r) noexcept {
  const sg::DirConfig& config = dir_config(r);
  if (!config.enabled.value_or(false) || !g_process.region) return DECLINED;
  // A subrequest of an allowed main request judging the same cookies (mod_dir looking up
  // index.php, say) shares its verdict and state: the same session, microseconds later.
  if (r->main != nullptr) {
    RequestState* main_state = request_state(r->main);
    if (main_state != nullptr && main_state->denial == sg::Reason::none && same_cookies(config, dir_config(r->main))) {
      ap_set_module_config(r->request_config, &session_guard_module, main_state);
      return OK;
    }
  }
  RequestState* state = nullptr;
  try {
    state = pool_new<RequestState>(r->pool);
    ap_set_module_config(r->request_config, &session_guard_module, state);
    sg::DenyRegion& region = *g_process.region;
    const sg::ServerConfig& server = server_config(r->server);

    identify_session(r, config, *state);
    bool tracking = !config.cookies;
    if (int status = take_body(r, *state); status != OK) return status;
    judge_body_ids(r, config, *state);

    sg::RequestFacts facts;
    facts.now = now_micros();
    facts.last_refresh = region.last_refresh();
    facts.started_at = region.started_at();
    std::string user;
    facts.session_revoked = revoked_reason(region, *state);
    if (r->user != nullptr) {
      user = r->user;
      facts.user_blocked = region.user_blocked(sg::user_key(user));
    } else if (state->fingerprint) {
      // Not judged by its owner's block: a block revokes every session of the user in the
      // same transaction, and the owner's state here may lag an unblock by one poll.
      if (auto owner = region.touch(*state->fingerprint, facts.now)) {
        user = std::move(owner->name);
        state->owned = state->fingerprint;
      }
      for (std::size_t i = 0; user.empty() && i < state->aliases.size(); ++i) {
        if (auto owner = region.touch(state->aliases[i], facts.now)) {
          user = std::move(owner->name);
          state->owned = state->aliases[i];
        }
      }
    }
    state->owner = user;
    sg::Verdict verdict = sg::decide(facts, server.fail_mode_or_default(), server.max_stale_or_default());
    if (!verdict.allow) {
      deny_now(r, *state, verdict.reason);
      return OK;
    }
    // A subrequest (mod_dir's index lookup, say) may replace the main request's handler and
    // state, so it carries the verdict too; everything with side effects happens once, here.
    if (r->main != nullptr) return OK;
    drop_unknown_signed_in_cookies(r, config, region);

    if (state->fingerprint && r->user != nullptr) region.record_activity(*state->fingerprint, facts.now);
    if (r->user != nullptr && tracking && !state->fingerprint) {
      // Only a client that returns the cookie becomes a session: scripts that send Basic
      // credentials without keeping cookies must not create a row per request.
      start_tracking_session(r);
    } else if (r->user != nullptr && state->fingerprint) {
      // Two apps could read two different sessions from this header: bind neither.
      sg::Reason refused = state->fingerprint_ambiguous ? sg::Reason::refused
                                                        : bind_session(r, *state, r->user, "REMOTE_USER");
      if (refused != sg::Reason::none) {
        deny_now(r, *state, refused);
        return OK;
      }
    }
    // The app may use these without any library; a client cannot forge them (not headers).
    // Off unless asked for, as mod_ssl's StdEnvVars: mod_php copies every variable into
    // $_SERVER on every request, which costs it more than the module's own check (the id is
    // enough to find the session among its owner's: that is how my-sessions does).
    if (state->short_id != nullptr && !user.empty() && config.app_env.value_or(false)) {
      apr_table_setn(r->subprocess_env, "SESSION_GUARD_USER", apr_pstrmemdup(r->pool, user.data(), user.size()));
      apr_table_setn(r->subprocess_env, "SESSION_GUARD_SESSION", state->short_id);
    }

    std::string_view uri = r->uri != nullptr ? r->uri : "";
    std::string_view args = r->args != nullptr ? r->args : "";
    if (r->method_number == M_POST && config.login_forms) {
      for (const auto& form : *config.login_forms) {
        if (sg::match_target(form.target, uri, args) != sg::TargetMatch::no) {
          state->login_form = &form;
          break;
        }
      }
    }
    // Only a candidate: the response must confirm it (logout_confirmed), and only a cookie
    // every app reads alike is one the app surely signed out (a name only one reader
    // normalises, "PHPSESSID%00=", is no session to PHP: its logout ends nothing).
    if (config.logout_targets && state->fingerprint && state->cookie != nullptr &&
        sg::cookie_read_alike(header_in(r, "Cookie"), state->cookie->name)) {
      for (const auto& rule : *config.logout_targets) {
        if (sg::match_target(rule.target, uri, args) != sg::TargetMatch::no &&
            (rule.form.empty() || r->method_number == M_POST)) {
          state->logout_rule = &rule;
          break;
        }
      }
    }
    if (state->login_form != nullptr || state->logout_rule != nullptr || config.user_header) {
      state->hold_response = (state->login_form != nullptr && sg::reads_body(state->login_form->success)) ||
                             (state->logout_rule != nullptr && sg::reads_body(state->logout_rule->success));
      ap_add_output_filter(kResponseFilter, state, r, r->connection);
    }
  } catch (const std::exception& e) {
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "session guard: %s", e.what());
    if (state != nullptr && server_config(r->server).fail_mode_or_default() == sg::FailMode::closed) {
      deny_now(r, *state, sg::Reason::unavailable);
    }
  } catch (...) {
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "session guard: unexpected error");
  }
  return OK;
}

// The response as the login and logout rules read it; views into r's tables and `state`.
sg::AppResponse app_response(request_rec* r, const RequestState& state) {
  sg::AppResponse response;
  response.status = r->status;
  for (apr_table_t* table : {r->headers_out, r->err_headers_out}) {
    const apr_array_header_t* entries = apr_table_elts(table);
    auto* items = reinterpret_cast<const apr_table_entry_t*>(entries->elts);
    for (int i = 0; i < entries->nelts; ++i) {
      if (items[i].key == nullptr) continue;
      response.header_names.emplace_back(items[i].key);
      if (items[i].val == nullptr) continue;
      if (strcasecmp(items[i].key, "Set-Cookie") == 0) response.set_cookies.emplace_back(items[i].val);
      else if (strcasecmp(items[i].key, "Location") == 0 && response.location.empty()) response.location = items[i].val;
    }
  }
  response.body = state.response_body;
  response.body_complete = state.response_body_complete;
  return response;
}

// With no rule of its own, a logout counts when the response clears or replaces the
// session's cookie: an app that refused the logout (no CSRF token, a decoy parameter) does not.
bool logout_confirmed(request_rec* r, const RequestState& state, const sg::AppResponse& response) {
  const sg::LogoutRule& rule = *state.logout_rule;
  if (!rule.form.empty() &&
      (state.body == nullptr ||
       sg::match_form_fields(rule.form, state.body->text, state.body->truncated, header_in(r, "Content-Type")) !=
           sg::TargetMatch::yes)) {
    return false;
  }
  if (!rule.success.empty()) return sg::response_confirms(rule.success, rule.target, response) == sg::Confirmation::yes;
  std::string_view name = state.cookie != nullptr ? std::string_view(state.cookie->name) : std::string_view(kTrackingCookie);
  for (std::string_view header : response.set_cookies) {
    auto value = sg::set_cookie_value(header, name);
    if (!value) continue;
    if (sg::set_cookie_clears(header) || sg::session_fingerprint(name, *value) != *state.fingerprint) return true;
  }
  return false;
}

// Replaces whatever the app produced with the denial.
apr_status_t replace_response(ap_filter_t* f, apr_bucket_brigade* bb, RequestState& state, sg::Reason reason) {
  request_rec* r = f->r;
  log_denial(r, state, reason);
  std::string body;
  prepare_denial(r, state, reason, body);
  apr_brigade_cleanup(bb);
  apr_bucket_alloc_t* alloc = f->c->bucket_alloc;
  APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_heap_create(body.data(), body.size(), nullptr, alloc));
  APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(alloc));
  ap_set_content_length(r, static_cast<apr_off_t>(body.size()));
  state.response_done = true;
  return ap_pass_brigade(f->next, bb);
}

// A login the app accepted but whose user the module cannot read the way the app did: the
// app's session must never be usable, so every value it may have (the request's cookies,
// which an app that keeps its id across logins has just signed in, and the new one) is
// revoked, on this instance at once.
void end_unreadable_login(request_rec* r, RequestState& state, const std::optional<sg::Fingerprint>& issued) {
  std::vector<sg::Fingerprint> values = state.aliases;
  if (state.fingerprint) values.push_back(*state.fingerprint);
  if (issued) values.push_back(*issued);
  sg::Micros now = now_micros();
  for (const auto& value : values) revoke_on_this_instance(value, sg::Reason::refused, now);
  try {
    with_login_connection(r, [&](sg::db::Connection& db) {
      for (const auto& value : values) sg::db::insert_deny_event(db, value, "", sg::Reason::refused);
    });
  } catch (const std::exception& e) {
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                  "session guard: cannot record the refusal of an unreadable login (refused on this server only): %s",
                  e.what());
  }
}

// Ties a value the response gives one of the session's cookies to the session (lineage), so
// whatever ends the session ends that value too; bound here at once for this instance.
void record_session_value(request_rec* r, const sg::Fingerprint& session, const std::string& user,
                          const sg::IssuedCookie& issued) {
  sg::Fingerprint value = sg::session_fingerprint(issued.spec->name, issued.value);
  if (value == session || g_process.region->bound_to(value, sg::user_key(user))) return;
  try {
    with_login_connection(r, [&](sg::db::Connection& db) {
      sg::db::record_session_value(db, session, value, issued.spec->name);
    });
    g_process.region->mark_bound(value, sg::user_key(user), now_micros(), user);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "session guard: session %s of %s goes on as %s (cookie %s set by the app)",
                  session.short_id().c_str(), ap_escape_logitem(r->pool, user.c_str()),
                  value.short_id().c_str(), issued.spec->name.c_str());
  } catch (const std::exception& e) {
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "session guard: cannot tie a re-issued cookie to session %s: %s",
                  session.short_id().c_str(), e.what());
  }
}

// Reads the held (or first) part of the response; returns true when it replaced it.
bool judge_response(ap_filter_t* f, apr_bucket_brigade* bb, RequestState& state) {
  request_rec* r = f->r;
  const sg::DirConfig& config = dir_config(r);
  std::string user;
  const char* how = nullptr;
  if (config.user_header) {
    const char* named = apr_table_get(r->headers_out, config.user_header->c_str());
    if (named == nullptr) named = apr_table_get(r->err_headers_out, config.user_header->c_str());
    if (named != nullptr && *named != '\0') {
      user = named;
      how = "response header";
    }
    apr_table_unset(r->headers_out, config.user_header->c_str());
    apr_table_unset(r->err_headers_out, config.user_header->c_str());
  }
  sg::AppResponse response = app_response(r, state);
  // A regenerated id: the first configured cookie the response sets is the one bound.
  const sg::CookieSpec* spec = state.cookie;
  std::optional<sg::Fingerprint> issued;
  std::vector<sg::IssuedCookie> issued_cookies;
  if (config.cookies) issued_cookies = sg::cookies_issued(response, *config.cookies);
  if (!issued_cookies.empty()) {
    spec = issued_cookies.front().spec;
    issued = sg::session_fingerprint(spec->name, issued_cookies.front().value);
  }

  if (state.logout_rule != nullptr && state.fingerprint) state.logout = logout_confirmed(r, state, response);

  std::string_view content_type = header_in(r, "Content-Type");
  const sg::LoginForm* form = state.login_form;
  if (form != nullptr && user.empty() &&
      (form->form.empty() ||
       (state.body != nullptr &&
        sg::match_form_fields(form->form, state.body->text, state.body->truncated, content_type) != sg::TargetMatch::no))) {
    sg::Confirmation confirmed = sg::response_confirms(form->success, form->target, response);
    if (confirmed != sg::Confirmation::no) {
      sg::FieldReading reading;
      if (confirmed == sg::Confirmation::unknown) {
        reading.kind = sg::FieldReading::Kind::unreadable;
        reading.detail = "the response is longer than the success rule reads";
      } else {
        reading = state.body == nullptr
                      ? sg::read_login_field("", true, content_type, r->args ? r->args : "", form->user_field)
                      : sg::read_login_field(state.body->text, state.body->truncated, content_type,
                                             r->args ? r->args : "", form->user_field);
      }
      if (reading.kind == sg::FieldReading::Kind::found) {
        user = std::move(reading.value);
        how = "login form";
      } else {
        // Fail closed: a session we cannot name is a session nobody could end.
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      "session guard: refused a login the app accepted: cannot tell who signed in from field '%s': %s",
                      form->user_field.c_str(), reading.detail.c_str());
        end_unreadable_login(r, state, issued);
        replace_response(f, bb, state, sg::Reason::refused);
        return true;
      }
    }
  }
  if (user.empty()) return false;
  if (issued) {
    state.cookie = spec;
    state.fingerprint = issued;
    state.fingerprint_ambiguous = false;
  }
  if (!state.fingerprint) return false;
  sg::Reason refused = sg::Reason::none;
  if (state.fingerprint_ambiguous) {
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                  "session guard: refused the login of %s: the session cookie reads differently to different apps",
                  ap_escape_logitem(r->pool, user.c_str()));
    refused = sg::Reason::refused;
    end_unreadable_login(r, state, issued);
  } else {
    try {
      refused = bind_session(r, state, user, how);
    } catch (const sg::StoreError& e) {
      // A login we cannot record is a login we could not end later: refuse it.
      ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "session guard: cannot record login of %s: %s",
                    ap_escape_logitem(r->pool, user.c_str()), e.what());
      refused = sg::Reason::unavailable;
    }
  }
  if (refused == sg::Reason::none) {
    state.bound_here = true;
    // "Remember me" and the app's other cookies set with the login are the same session.
    for (std::size_t i = 1; i < issued_cookies.size(); ++i) {
      record_session_value(r, *state.fingerprint, user, issued_cookies[i]);
    }
    return false;
  }
  // Whatever the app signed in with this login (the new value, or the request's own when
  // the app keeps its id) is dead on this server from now; the database tells the others.
  if (refused != sg::Reason::unavailable) {
    sg::Micros now = now_micros();
    if (issued) revoke_on_this_instance(*issued, refused, now);
    if (state.fingerprint) revoke_on_this_instance(*state.fingerprint, refused, now);
  }
  replace_response(f, bb, state, refused);
  return true;
}

// Keeps back the response (set aside) until the whole body or kMaxResponseBody is in hand.
// Returns true when the response is complete enough to judge.
bool hold_response(ap_filter_t* f, apr_bucket_brigade* bb, RequestState& state) {
  bool end = false;
  for (apr_bucket* b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb); b = APR_BUCKET_NEXT(b)) {
    if (APR_BUCKET_IS_EOS(b)) {
      end = true;
      continue;
    }
    if (APR_BUCKET_IS_METADATA(b) || !state.response_body_complete) continue;
    const char* data = nullptr;
    apr_size_t length = 0;
    if (apr_bucket_read(b, &data, &length, APR_BLOCK_READ) != APR_SUCCESS) {
      state.response_body_complete = false;
      continue;
    }
    std::size_t room = kMaxResponseBody - state.response_body.size();
    if (length > room) state.response_body_complete = false;
    state.response_body.append(data, std::min<std::size_t>(length, room));
  }
  ap_save_brigade(f, &state.held, &bb, f->r->pool);
  return end || !state.response_body_complete;
}

apr_status_t response_filter(ap_filter_t* f, apr_bucket_brigade* bb) noexcept {
  auto* state = static_cast<RequestState*>(f->ctx);
  request_rec* r = f->r;
  if (state->response_done) {
    // A replaced response: drop the rest of what the app writes.
    apr_brigade_cleanup(bb);
    return APR_SUCCESS;
  }
  try {
    if (state->hold_response) {
      if (!hold_response(f, bb, *state)) return APR_SUCCESS;
      bb = state->held;
      state->hold_response = false;
    }
    if (judge_response(f, bb, *state)) {
      ap_remove_output_filter(f);
      return APR_SUCCESS;
    }
  } catch (const std::exception& e) {
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "session guard: %s", e.what());
  } catch (...) {
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "session guard: unexpected error in response filter");
  }
  ap_remove_output_filter(f);
  return ap_pass_brigade(f->next, bb);
}

// After the response: a confirmed logout is recorded; a bound session whose response set new
// values for its cookies (a re-keyed id, a "remember me" cookie) is followed to them.
int log_transaction(request_rec* r) noexcept {
  while (r->next != nullptr) r = r->next;  // an internal redirect's last request answered
  RequestState* state = request_state(r);
  if (state == nullptr || !state->fingerprint || state->denial != sg::Reason::none || state->response_done) {
    return DECLINED;
  }
  try {
    if (state->logout) {
      with_login_connection(r, [&](sg::db::Connection& db) { sg::db::record_logout(db, *state->fingerprint); });
      ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "session guard: session %s logged out",
                    state->fingerprint->short_id().c_str());
      return DECLINED;
    }
    const sg::DirConfig& config = dir_config(r);
    if (!state->owned || state->bound_here || !config.cookies) return DECLINED;
    if (apr_table_get(r->headers_out, "Set-Cookie") == nullptr && apr_table_get(r->err_headers_out, "Set-Cookie") == nullptr) {
      return DECLINED;
    }
    for (const auto& issued : sg::cookies_issued(app_response(r, *state), *config.cookies)) {
      record_session_value(r, *state->owned, state->owner, issued);
    }
  } catch (const std::exception& e) {
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "session guard: cannot record the end of a request: %s", e.what());
  } catch (...) {
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "session guard: cannot record the end of a request");
  }
  return DECLINED;
}

void register_hooks(apr_pool_t*) {
  ap_hook_post_config(post_config, nullptr, nullptr, APR_HOOK_MIDDLE);
  // After authentication (REMOTE_USER is known), before any handler runs.
  ap_hook_fixups(fixups, nullptr, nullptr, APR_HOOK_FIRST);
  ap_hook_handler(denial_handler, nullptr, nullptr, APR_HOOK_REALLY_FIRST);
  ap_hook_log_transaction(log_transaction, nullptr, nullptr, APR_HOOK_MIDDLE);
  ap_register_input_filter(kReplayFilter, replay_filter, nullptr, AP_FTYPE_RESOURCE);
  ap_register_output_filter(kResponseFilter, response_filter, nullptr, AP_FTYPE_CONTENT_SET);
}

}  // namespace

extern "C" {
module AP_MODULE_DECLARE_DATA session_guard_module = {
    STANDARD20_MODULE_STUFF, create_dir_config, merge_dir_config, create_server_config, merge_server_config,
    kCommands,              register_hooks,
#if defined(AP_MODULE_FLAG_ALWAYS_MERGE)
    AP_MODULE_FLAG_ALWAYS_MERGE
#endif
};
}
