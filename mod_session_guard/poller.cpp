// post_config: the shared block (deny-list and activity), the state file a cold start reads,
// and what the poller process that keeps the block in step with MariaDB does each poll
// (poller_process.cpp starts and replaces the processes).
#include "internal.hpp"

#include <ap_listen.h>
#include <apr_shm.h>
#include <unixd.h>

#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>

#include "health_check.hpp"
#include "sg/signout_link.hpp"

namespace sg::apache {

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
    sg::SnapshotFile file = sg::load_snapshot_file(g_process.state_file, sg::wall_clock_micros());
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
  sg::Micros now() override { return sg::wall_clock_micros(); }
};

struct PollerState {
  explicit PollerState(const sg::ServerConfig& config)
      : feed(connect_options(config)),
        database(connect_options(config)),
        poller(feed, clock, *g_process.region, settings()) {}
  static sg::PollerSettings settings() {
    sg::PollerSettings settings;
    settings.activity_flush_interval = sg::kMicrosPerSecond;
    settings.revocation_retention = g_process.config.revocation_retention_or_default();
    return settings;
  }
  sg::db::ReconnectingFeed feed;
  // The journal's replay and the start-up check of the schema, beside the feed's connection
  // (whose short lock wait is for the tick's own writes).
  sg::db::ReconnectingConnection database;
  AprClock clock;
  sg::Poller poller;
  bool healthy = true;
  bool writes_ok = true;
  bool first_tick = true;
  bool database_checked = false;  // check_database_fit has run against a live database
  bool health_reported = true;  // the last health upsert worked (its failure is said once)
  sg::Micros next_health_report = 0;
  std::optional<std::uint64_t> audit_seen;  // audit lines up to here are in the log already
};

// Admin actions happen in fcgi_admin or the CLI, whose own output Apache tags as it likes;
// the poller repeats each new audit line here at INFO, once per instance. The position is
// kept in the shared block (and the state file), so a poller that replaces another, after a
// SIGKILL or a graceful restart, goes on where the last one stopped; only a cold start with
// no state begins at the newest line.
void log_new_audit_lines(PollerState& poller, server_rec* s) {
  sg::DenyRegion& region = *g_process.region;
  if (!poller.audit_seen) {
    std::uint64_t top = poller.feed.last_audit_id();
    std::optional<std::uint64_t> kept = region.audit_logged();
    // Kept above the newest: another database (or a restored one); nothing of it is logged.
    poller.audit_seen = kept && *kept <= top ? *kept : top;
    region.set_audit_logged(*poller.audit_seen);
  }
  for (const auto& [id, message] : poller.feed.audit_lines(*poller.audit_seen, 100)) {
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "%s", message.c_str());
    poller.audit_seen = id;
    region.set_audit_logged(id);
  }
}

// About every kHealthReportInterval, on the poller's own connection. Only a figure for the
// admin pages: a failure (a database not yet migrated to 050, say) never fails the refresh.
void report_health(PollerState& state, server_rec* s, sg::Micros now) {
  if (now < state.next_health_report) return;
  state.next_health_report = now + kHealthReportInterval;
  try {
    state.feed.report_health(instance_health(now));
    if (!state.health_reported) {
      ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, "session guard: instance health reported to the database again");
    }
    state.health_reported = true;
  } catch (const std::exception& e) {
    if (state.health_reported) {
      ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                   "session guard: cannot report this instance's health to the database (is sql/050 applied?): %s",
                   e.what());
    }
    state.health_reported = false;
  }
}

// Once per poller, at its first answer from the database: a schema older than this build or
// an account without a privilege it needs would otherwise show only as odd failures later.
void check_database_fit(PollerState& state, server_rec* s) {
  state.database_checked = true;
  try {
    auto problems = state.database.with(
        [](sg::db::Connection& connection) { return sg::db::check_database(connection, sg::db::Account::module); });
    state.database.drop();  // kept only while a journal waits (replay_journal)
    for (const auto& problem : problems) {
      ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "session guard: %s: %s", problem.what.c_str(), problem.fix.c_str());
    }
  } catch (const std::exception& e) {
    ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                 "session guard: cannot check the database's schema version and privileges: %s "
                 "(run session-guard-db-setup)", e.what());
  }
}

void poll_once(PollerState& state, server_rec* s) {
  // First: the tick's activity flush needs the journalled sessions' rows.
  replay_journal(s, state.database);
  sg::TickResult result = state.poller.tick();
  g_process.region->note_poll(sg::wall_clock_micros(), result.ok ? std::string_view() : std::string_view(result.error));
  if (!result.ok && (state.healthy || state.first_tick)) {
    const sg::Micros refreshed = g_process.region->last_refresh();
    const std::string list =
        refreshed == 0 ? std::string("before any deny-list was read from it")
                       : "still enforcing the deny-list last refreshed " +
                             std::to_string((sg::wall_clock_micros() - refreshed) / 1000) + " ms ago (" +
                             std::to_string(g_process.region->stats().revoked_sessions) + " revoked sessions, " +
                             std::to_string(g_process.region->stats().blocked_users) + " blocked users)";
    // MariaDB's "Table '...' doesn't exist" (1146): it answers, but holds no Session Guard schema.
    const bool no_schema = result.error.find("doesn't exist") != std::string::npos;
    ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "session guard: %s, %s: %s",
                 no_schema ? "the database has no Session Guard schema (run session-guard-db-setup)"
                           : "database unreachable",
                 list.c_str(), result.error.c_str());
    state.poller.request_full_resync();
  } else if (result.ok && (!state.healthy || state.first_tick)) {
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                 "session guard: deny-list loaded from the database (%u revoked sessions, %u blocked users)",
                 g_process.region->stats().revoked_sessions, g_process.region->stats().blocked_users);
  }
  if (result.ok && !state.database_checked) check_database_fit(state, s);
  // The refresh stood; only the activity flush or the deadline sweep failed (a lock held
  // too long, say). Said once, not every second, and not as an outage.
  if (result.ok && !result.write_error.empty() && state.writes_ok) {
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "session guard: activity and deadlines not written yet, retrying: %s",
                 result.write_error.c_str());
  }
  if (result.ok) state.writes_ok = result.write_error.empty();
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
  if (result.ok) {
    try {
      log_new_audit_lines(state, s);
    } catch (const sg::StoreError&) {
      // The next tick reports the outage; audit lines wait until then.
    }
  }
  // After the audit lines: the file then holds their position too.
  if (result.ok && result.published) save_state_file(s);
  if (result.ok) report_health(state, s, sg::wall_clock_micros());
  state.healthy = result.ok;
  state.first_tick = false;
}

// The active poller's loop, in the poller process; returns its exit status.
int run_active_poller(server_rec* s, pid_t parent, const volatile std::sig_atomic_t& stop) noexcept {
  int code = 0;
  try {
    PollerState state(g_process.config);
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "session guard poller started in process %d (database options %s)",
                 static_cast<int>(getpid()), g_process.config.db_options_file.value_or("-").c_str());
    const auto interval = std::chrono::microseconds(g_process.config.poll_interval_or_default());
    while (!stop && getppid() == parent) {
      auto next = std::chrono::steady_clock::now() + interval;
      try {
        poll_once(state, s);
      } catch (const std::exception& e) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "session guard poller: %s", e.what());
      }
      // A signal cuts the sleep short; the loop condition then decides.
      auto left = next - std::chrono::steady_clock::now();
      if (left > std::chrono::steady_clock::duration::zero() && !stop) {
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
  return code;
}

// The key every server of a farm shares without another secret to deploy: derived from the
// database option file they all use (read here as root, before the children exist); without
// one, a random key kept in the process pool, so graceful restarts keep it.
std::string tracking_key(server_rec* s) {
  if (g_process.config.db_options_file) {
    std::ifstream in(*g_process.config.db_options_file, std::ios::binary);
    std::string text;
    if (in) text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (!text.empty()) return sg::hmac_sha256_hex("session guard tracking cookie", text);
  }
  void* kept = nullptr;
  apr_pool_userdata_get(&kept, "session_guard_tracking_key", s->process->pool);
  if (kept != nullptr) return static_cast<const char*>(kept);
  std::string key = sg::random_hex(32);
  apr_pool_userdata_set(apr_pstrdup(s->process->pool, key.c_str()), "session_guard_tracking_key", apr_pool_cleanup_null,
                        s->process->pool);
  return key;
}

// How this instance is named in instance_health: the host and the main server's port (or
// the first listener's), so two instances on one host stay apart.
std::string instance_name(server_rec* s) {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "unknown");
  unsigned port = s->port;
  if (port == 0 && ap_listeners != nullptr && ap_listeners->bind_addr != nullptr) port = ap_listeners->bind_addr->port;
  return std::string(host) + ":" + std::to_string(port);
}

int post_config(apr_pool_t* pconf, apr_pool_t*, apr_pool_t*, server_rec* s) noexcept {
  // httpd reads the configuration twice at start-up; only the second pass is the real one.
  if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) return OK;
  try {
    g_process.config = server_config(s);
    g_process.tracking_key = tracking_key(s);
    g_process.instance_name = instance_name(s);
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
      g_process.region = sg::DenyRegion::create(apr_shm_baseaddr_get(shm), size, capacity, sg::wall_clock_micros());
      restore_state_file(s);
    }

    g_process.lock_fd = instance_lock_file(s);
    g_process.login_slots.emplace(g_process.lock_fd, static_cast<std::uint32_t>(kLoginConnections));

    if (!g_process.config.db_options_file) return OK;
    apr_status_t rv = start_pollers(pconf, s);
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

}  // namespace sg::apache
