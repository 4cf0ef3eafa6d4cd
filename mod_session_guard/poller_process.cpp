// The poller processes of one instance: forked by the root parent, an active one and a hot
// standby, replaced when they die and stopped with the configuration pool.
#include "internal.hpp"

#include <ap_listen.h>
#include <ap_mpm.h>
#include <mpm_common.h>

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <iterator>

namespace sg::apache {

// ---------------------------------------------------------------- the poller processes
//
// Forked by the root parent after each (re)configuration and running as the server's user,
// as mod_cgid does for its daemon. Not a mod_watchdog thread: a singleton watchdog puts a
// thread in every child, each waking ten times a second to try the singleton's lock, and a
// multi-threaded prefork child pays for it on every request.
//
// Two of them: the active poller holds the poller byte of the instance's lock file, a hot
// standby waits for it in fcntl(F_SETLKW). When the active one dies, however it dies, the
// kernel hands the lock to the standby at once, so enforcement goes on within a poll
// interval instead of waiting for the MPM to reap the dead process (up to a second); the
// parent forks the next standby when it does reap it. The parent ends both when its
// configuration pool goes (restart, stop).

volatile std::sig_atomic_t g_poller_stop = 0;

struct PollerSpawn {
  apr_pool_t* pconf = nullptr;
  server_rec* server = nullptr;
  apr_proc_t* procs[2] = {nullptr, nullptr};  // the active poller and its standby, in either order
};
PollerSpawn g_spawn;

// Standby until the poller lock is ours; false when told to stop meanwhile.
bool wait_to_be_active(server_rec* s, pid_t parent) {
  if (g_process.lock_fd < 0) return true;  // no lock file: a single poller, as before
  ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "session guard: poller process %d waiting for the poller lock",
               static_cast<int>(getpid()));
  while (!g_poller_stop && getppid() == parent) {
    if (sg::lock_byte(g_process.lock_fd, sg::kPollerLockOffset, true)) break;
    if (errno != EINTR) {
      ap_log_error(APLOG_MARK, APLOG_ERR, errno, s, "session guard: standby poller cannot wait for the poller lock");
      apr_sleep(apr_time_from_sec(1));
    }
  }
  // A SIGTERM that woke the wait with the lock still means stop: the parent signals the
  // standby before the active poller, so a restart never promotes a standby.
  return !g_poller_stop && getppid() == parent;
}

[[noreturn]] void run_poller_process(server_rec* s, pid_t parent) {
  struct sigaction stop {};
  stop.sa_handler = [](int) { g_poller_stop = 1; };
  sigemptyset(&stop.sa_mask);
  sigaction(SIGTERM, &stop, nullptr);  // no SA_RESTART: it must interrupt the standby's wait
  sigaction(SIGINT, &stop, nullptr);
  // The parent signals its whole process group on restarts; this process ends only when the
  // parent says so through SIGTERM (or disappears).
  for (int ignored : {SIGHUP, SIGUSR1, SIGWINCH, SIGPIPE}) std::signal(ignored, SIG_IGN);
  ap_close_listeners();
  apr_pool_t* pool = nullptr;
  if (apr_pool_create(&pool, nullptr) != APR_SUCCESS || ap_run_drop_privileges(pool, s) != 0) {
    ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "session guard: the poller cannot become the server's user");
    _exit(APEXIT_CHILDFATAL);
  }
  if (!wait_to_be_active(s, parent)) _exit(0);
  // The option file was found at start (as root); whether the server's user may read it
  // only this process can tell, and without it there is no database at all. Said by the
  // active poller alone, once.
  if (g_process.config.db_options_file && access(g_process.config.db_options_file->c_str(), R_OK) != 0) {
    ap_log_error(APLOG_MARK, APLOG_CRIT, errno, s,
                 "session guard: SessionGuardDBOptions %s is not readable by the server's user "
                 "(session-guard-db-setup makes it 0640, group www-data)",
                 g_process.config.db_options_file->c_str());
  }
  int code = run_active_poller(s, parent, g_poller_stop);
  // No exit(): the parent's atexit handlers and pools are not this process's to run.
  _exit(code);
}

void poller_died(int reason, void* data, int status);

// Forks a poller into a free place (the active one, or its standby).
apr_status_t start_poller() {
  auto free_place = std::find(std::begin(g_spawn.procs), std::end(g_spawn.procs), nullptr);
  if (free_place == std::end(g_spawn.procs)) return APR_SUCCESS;
  auto* proc = static_cast<apr_proc_t*>(apr_pcalloc(g_spawn.pconf, sizeof(apr_proc_t)));
  pid_t parent = getpid();
  apr_status_t rv = apr_proc_fork(proc, g_spawn.pconf);
  if (rv == APR_INCHILD) run_poller_process(g_spawn.server, parent);
  if (rv != APR_INPARENT) return rv;
  *free_place = proc;
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
      for (auto*& place : g_spawn.procs) {
        if (place == proc) place = nullptr;
      }
      break;
    default:  // RUNNING: a health check; UNREGISTER: APR is already dropping the record
      return;
  }
  int mpm_state = AP_MPMQ_STOPPING;
  if (ap_mpm_query(AP_MPMQ_MPM_STATE, &mpm_state) != APR_SUCCESS || mpm_state != AP_MPMQ_RUNNING) return;
  ap_log_error(APLOG_MARK, APLOG_ERR, 0, g_spawn.server,
               "session guard: a poller (process %d) ended with status %d; starting a new one",
               static_cast<int>(proc->pid), status);
  apr_status_t rv = start_poller();
  if (rv != APR_SUCCESS) {
    ap_log_error(APLOG_MARK, APLOG_CRIT, rv, g_spawn.server, "session guard: cannot start a new poller");
  }
}

// Runs when the configuration pool goes: the next generation starts its own pollers.
apr_status_t stop_poller(void*) {
  PollerSpawn spawn = g_spawn;
  g_spawn = PollerSpawn{};
  // Only children not yet reaped are signalled: their pids cannot have been reused. The
  // standby first, so it is never promoted by the active one's exit.
  long active = g_process.lock_fd >= 0 ? sg::lock_holder(g_process.lock_fd, sg::kPollerLockOffset) : 0;
  std::vector<pid_t> live;
  for (apr_proc_t* proc : spawn.procs) {
    if (proc != nullptr && waitpid(proc->pid, nullptr, WNOHANG) == 0) live.push_back(proc->pid);
  }
  std::stable_partition(live.begin(), live.end(), [&](pid_t pid) { return pid != active; });
  for (pid_t pid : live) kill(pid, SIGTERM);
  for (int waited_ms = 0; waited_ms < 3000 && !live.empty(); waited_ms += 10) {
    live.erase(std::remove_if(live.begin(), live.end(), [](pid_t pid) { return waitpid(pid, nullptr, WNOHANG) != 0; }),
               live.end());
    if (!live.empty()) apr_sleep(10 * 1000);
  }
  for (pid_t pid : live) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  return APR_SUCCESS;
}

// The instance's lock file: anonymous (no path for anyone to remove or pre-create), created
// by the parent and inherited by every child and poller, kept in the process pool so that
// the slots of children still finishing requests across a graceful restart keep counting.
int instance_lock_file(server_rec* s) {
  void* kept = nullptr;
  apr_pool_userdata_get(&kept, "session_guard_lock_fd", s->process->pool);
  if (kept != nullptr) return static_cast<int>(reinterpret_cast<std::intptr_t>(kept)) - 1;
  int fd = memfd_create("session_guard_locks", MFD_CLOEXEC);
  if (fd < 0) {
    ap_log_error(APLOG_MARK, APLOG_WARNING, errno, s,
                 "session guard: no lock file; login connections are bounded per child and no standby poller runs");
  }
  apr_pool_userdata_set(reinterpret_cast<void*>(static_cast<std::intptr_t>(fd) + 1), "session_guard_lock_fd",
                        apr_pool_cleanup_null, s->process->pool);
  return fd;
}

apr_status_t start_pollers(apr_pool_t* pconf, server_rec* s) {
  // One active poller per instance however many children, and its standby; never the root
  // parent itself.
  g_spawn = PollerSpawn{pconf, s, {nullptr, nullptr}};
  apr_pool_cleanup_register(pconf, nullptr, stop_poller, apr_pool_cleanup_null);
  apr_status_t rv = start_poller();
  if (rv == APR_SUCCESS && g_process.lock_fd >= 0) rv = start_poller();
  return rv;
}

}  // namespace sg::apache
