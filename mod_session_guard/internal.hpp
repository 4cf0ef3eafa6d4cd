// The Apache glue's internal header: what the phases of mod_session_guard share. Only
// mod_session_guard/ includes httpd headers; every decision lives in the core (core/).
//
// module.cpp     configuration structures, directives, hooks, the module record
// poller.cpp     post_config: shared memory, the state file, what the poller does each poll
// poller_process.cpp  the active poller and its hot standby: fork, takeover, replace, stop
// session.cpp    logins and logouts written to MariaDB from a child, bounded per instance
// request.cpp    judging a request: cookies, query and body readings, the verdict
// response.cpp   login and logout capture from the app's response, session lineage
// denial.cpp     what a denied request gets
// journal.cpp    logins and logouts the database could not take, on disk until replayed
// status.cpp     the figures for operators: server-status and the instance's health row
#pragma once

#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <apr_strings.h>
#include <util_filter.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "sg/clock.hpp"
#include "sg/config.hpp"
#include "sg/deny_region.hpp"
#include "sg/poller.hpp"
#include "sg/process_locks.hpp"
#include "sg/types.hpp"
#include "store.hpp"

extern "C" __attribute__((visibility("default"))) module AP_MODULE_DECLARE_DATA session_guard_module;

#ifdef APLOG_USE_MODULE
APLOG_USE_MODULE(session_guard);
#endif

namespace sg::apache {

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
// Values a request may carry that some app could read as a session (every reading of every
// configured cookie, the query and the body). Browsers send one or two; hundreds are an
// attempt to fill the deny-list with a refused login's revocations.
constexpr std::size_t kMaxSessionValues = 16;

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
  std::string tracking_key;  // MACs the sg_session cookies this farm issued
  // The instance's lock file (an anonymous memfd every child and poller inherits): login
  // slots and the active poller are byte locks on it, which die with their process.
  int lock_fd = -1;
  std::optional<sg::LoginSlots> login_slots;
  std::string instance_name;  // host name ":" port: the instance's row in instance_health
};
extern ProcessState g_process;

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

const sg::DirConfig& dir_config(request_rec* r);
const sg::ServerConfig& server_config(server_rec* s);
RequestState* request_state(request_rec* r);
std::string_view header_in(request_rec* r, const char* name);
sg::db::ConnectOptions connect_options(const sg::ServerConfig& config);

// poller.cpp
int post_config(apr_pool_t* pconf, apr_pool_t* plog, apr_pool_t* ptemp, server_rec* s) noexcept;
int run_active_poller(server_rec* s, pid_t parent, const volatile std::sig_atomic_t& stop) noexcept;

// poller_process.cpp
int instance_lock_file(server_rec* s);
apr_status_t start_pollers(apr_pool_t* pconf, server_rec* s);

// session.cpp
template <typename Work>
void with_login_connection(request_rec* r, Work&& work) {
  sg::LoginSlots& slots = *g_process.login_slots;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  int slot = -1;
  while ((slot = slots.try_acquire()) < 0) {
    if (std::chrono::steady_clock::now() > deadline) throw sg::StoreError("all login connections are busy");
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  // A child killed here never runs this; the kernel frees its slot with the process.
  struct Release {
    sg::LoginSlots& slots;
    int slot;
    ~Release() { slots.release(slot); }
  } release{slots, slot};
  sg::db::Connection connection(connect_options(server_config(r->server)));
  work(connection);
}
void revoke_on_this_instance(const sg::Fingerprint& fingerprint, sg::Reason reason, sg::Micros now);
sg::Reason revoked_reason(const sg::DenyRegion& region, const RequestState& state);
// Records the binding; returns the reason to refuse it, or none.
sg::Reason bind_session(request_rec* r, RequestState& state, const std::string& username, const char* how);

// journal.cpp
int journal_post_config(apr_pool_t* pconf, apr_pool_t* plog, apr_pool_t* ptemp, server_rec* s) noexcept;
bool admit_when_unreachable(request_rec* r);
// True when the login (or logout) is on disk and will be replayed; logs why not otherwise.
bool journal_login(request_rec* r, const sg::LoginRecord& login, const char* why);
bool journal_logout(request_rec* r, const sg::Fingerprint& fingerprint, const char* why);
bool journal_ticket_tie(request_rec* r, const std::string& sso_key, const sg::Fingerprint& value,
                        const std::string& cookie_name, const char* why);
// In the poller, before each tick: replays what waits in the journal once the database answers.
void replay_journal(server_rec* s, sg::db::ReconnectingConnection& database) noexcept;

// journal.cpp, continued
std::uint64_t journal_bytes() noexcept;  // 0 without a journal or when it cannot be read

// status.cpp
constexpr sg::Micros kHealthReportInterval = 10 * sg::kMicrosPerSecond;
sg::db::InstanceHealth instance_health(sg::Micros now);
void register_status_hook();

// denial.cpp
void deny_now(request_rec* r, RequestState& state, sg::Reason reason);
void log_denial(request_rec* r, const RequestState& state, sg::Reason reason);
apr_status_t replace_response(ap_filter_t* f, apr_bucket_brigade* bb, RequestState& state, sg::Reason reason);
int denial_handler(request_rec* r) noexcept;

// request.cpp
int fixups(request_rec* r) noexcept;
apr_status_t replay_filter(ap_filter_t* f, apr_bucket_brigade* bb, ap_input_mode_t mode, apr_read_type_e block,
                           apr_off_t readbytes) noexcept;

// response.cpp
apr_status_t response_filter(ap_filter_t* f, apr_bucket_brigade* bb) noexcept;
int log_transaction(request_rec* r) noexcept;
// The query as the client sent it (after the '?') when it may carry a CAS ticket, else
// nullptr: mod_auth_cas cuts the ticket it read out of r->args.
const char* query_with_ticket(const request_rec* r) noexcept;
// Before authentication: the Cookie header as the client sent it, where a CAS ticket may be
// tied (mod_auth_cas adds the cookie it sets to the request's own header).
int keep_cookies_sent_with_ticket(request_rec* r) noexcept;

}  // namespace sg::apache
