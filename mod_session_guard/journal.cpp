// Logins and logouts the database could not take: a child appends them to the instance's
// journal (core/journal, on disk before the login is answered), and the poller replays them
// in order through the same writes as a live login, so session limits and blocks made
// meanwhile apply at replay, then empties the journal.
#include "internal.hpp"

#include <linux/magic.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <unixd.h>

#include "sg/denial.hpp"
#include "sg/journal.hpp"

namespace sg::apache {

namespace {
// Set in the root parent before the children and the poller are forked; empty: no journal.
std::string g_journal;
std::uint64_t g_journal_max = 0;

// Read at most this much: a file grown past its bound (the bound lowered, say) is replayed in
// parts, each emptied only when read whole.
std::uint64_t read_limit() { return g_journal_max + 2 * sg::kJournalMaxPayload; }

// The poller's progress through the file as it is now: a journal that could not be emptied
// (a child appended meanwhile) is not replayed again from its start at the next tick.
std::uint64_t g_replayed = 0;
std::size_t g_replayed_total = 0;  // since the journal was last emptied, for the log
sg::Micros g_next_try = 0;
bool g_failing = false;

void replay_login(sg::db::Connection& db, const sg::LoginRecord& login, server_rec* s) {
  // A replay cut off by a crash before the journal was emptied: this one is in already.
  if (sg::db::login_recorded(db, login.fingerprint, login.at)) return;
  sg::db::LoginOutcome outcome = sg::db::record_login(db, login);
  sg::Micros now = sg::wall_clock_micros();
  // record_login wrote the deny events every server follows; this one enforces them at once.
  switch (outcome.kind) {
    case sg::db::LoginOutcome::Kind::user_blocked:
      revoke_on_this_instance(login.fingerprint, sg::Reason::blocked, now);
      ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                   "session guard: session %s of %s replayed from the journal and ended: the user is blocked",
                   login.fingerprint.short_id().c_str(), login.username.c_str());
      return;
    case sg::db::LoginOutcome::Kind::over_limit:
      revoke_on_this_instance(login.fingerprint, sg::Reason::refused, now);
      ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                   "session guard: session %s of %s replayed from the journal and refused: limit of %d sessions",
                   login.fingerprint.short_id().c_str(), login.username.c_str(), outcome.limit);
      return;
    case sg::db::LoginOutcome::Kind::recorded:
      break;
  }
  ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "session guard: session %s of %s recorded from the journal",
               login.fingerprint.short_id().c_str(), login.username.c_str());
  for (const auto& evicted : outcome.evicted) {
    auto superseded = sg::Fingerprint::from_hex(evicted);
    if (!superseded) continue;
    revoke_on_this_instance(*superseded, sg::Reason::superseded, now);
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "session guard: session %s of %s superseded (limit %d)",
                 superseded->short_id().c_str(), login.username.c_str(), outcome.limit);
  }
}

// A long outage's journal is replayed over several ticks, so the deny-list refresh between
// them is never held up for long.
constexpr std::size_t kReplayPerTick = 100;

// Replays up to kReplayPerTick records past g_replayed; returns how many. Throws StoreError
// when the database fails (the rest waits for the next try, in order).
std::size_t replay_records(const sg::JournalRead& read, sg::db::Connection& db, server_rec* s) {
  std::size_t replayed = 0;
  for (const auto& record : read.records) {
    if (record.end <= g_replayed) continue;
    if (replayed == kReplayPerTick) break;
    const sg::LoginRecord& login = record.entry.login;
    if (record.entry.kind == sg::JournalEntry::Kind::logout) {
      sg::db::record_logout(db, login.fingerprint, login.at);
      ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "session guard: session %s logged out (from the journal)",
                   login.fingerprint.short_id().c_str());
    } else if (record.entry.kind == sg::JournalEntry::Kind::ticket_tie) {
      sg::db::tie_ticket_value(db, login.sso_key, login.fingerprint, login.cookie_name, login.at);
      ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "session guard: session value %s tied to its CAS ticket (from the journal)",
                   login.fingerprint.short_id().c_str());
    } else if (!sg::bindable_user_name(login.username)) {
      // Never written so (bind_session refuses such names); a record must not stop the rest.
      ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "session guard: journal: skipped a login with an unusable user name");
    } else {
      replay_login(db, login, s);
    }
    g_replayed = record.end;
    ++replayed;
  }
  return replayed;
}

}  // namespace

int journal_post_config(apr_pool_t* pconf, apr_pool_t*, apr_pool_t*, server_rec* s) noexcept {
  if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) return OK;
  try {
    const sg::ServerConfig& config = server_config(s);
    std::string path = config.journal_file.value_or(ap_runtime_dir_relative(pconf, "session_guard/journal"));
    g_journal = path == "none" || !config.db_options_file ? std::string() : path;
    g_journal_max = config.journal_max_bytes_or_default();
    if (g_journal.empty()) return OK;
    // Created by root here, then the server's user's: children append, the poller empties it.
    bool root = geteuid() == 0;
    std::string error = sg::prepare_journal_file(g_journal, root ? long{ap_unixd_config.user_id} : -1,
                                                 root ? long{ap_unixd_config.group_id} : -1);
    if (!error.empty()) {
      ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                   "session guard: no journal (%s): logins are refused while the database is unreachable",
                   error.c_str());
      g_journal.clear();
      return OK;
    }
    struct statfs fs {};
    if (statfs(g_journal.c_str(), &fs) == 0 && fs.f_type == TMPFS_MAGIC) {
      ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                   "session guard: the journal %s is on a tmpfs: logins kept there during an outage are lost if "
                   "the machine restarts first; point SessionGuardJournal at persistent storage",
                   g_journal.c_str());
    }
    if (std::uint64_t waiting = sg::journal_size(g_journal); waiting > 0) {
      ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                   "session guard: %" APR_UINT64_T_FMT " bytes of logins and logouts wait in the journal %s; "
                   "they are recorded when the database answers",
                   static_cast<apr_uint64_t>(waiting), g_journal.c_str());
    }
  } catch (const std::exception& e) {
    ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "session guard: no journal: %s", e.what());
    g_journal.clear();
  }
  return OK;
}

bool admit_when_unreachable(request_rec* r) {
  return !g_journal.empty() && server_config(r->server).admit_when_unreachable_or_default();
}

namespace {
// On disk before it returns; logs why not otherwise.
bool append_entry(request_rec* r, sg::JournalEntry::Kind kind, sg::LoginRecord login, const std::string& what,
                  const char* why) {
  if (g_journal.empty()) return false;
  sg::JournalEntry entry;
  entry.kind = kind;
  entry.login = std::move(login);
  entry.login.at = sg::wall_clock_micros();
  sg::JournalAppend append = sg::append_journal(g_journal, g_journal_max, entry);
  if (append.result == sg::JournalAppend::Result::full) {
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                  "session guard: journal full, %s refused: %s (the database has been unreachable for long; "
                  "raise the MAXBYTES of SessionGuardJournal)",
                  what.c_str(), append.error.c_str());
  } else if (append.result != sg::JournalAppend::Result::written) {
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "session guard: cannot write the journal, %s refused: %s",
                  what.c_str(), append.error.c_str());
  } else {
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                  "session guard: %s kept in the journal until the database answers (%s)", what.c_str(), why);
  }
  return append.result == sg::JournalAppend::Result::written;
}
}  // namespace

bool journal_login(request_rec* r, const sg::LoginRecord& login, const char* why) {
  return append_entry(r, sg::JournalEntry::Kind::login, login,
                      "login of " + std::string(ap_escape_logitem(r->pool, login.username.c_str())) + " (session " +
                          login.fingerprint.short_id() + ")",
                      why);
}

bool journal_logout(request_rec* r, const sg::Fingerprint& fingerprint, const char* why) {
  sg::LoginRecord logout;
  logout.fingerprint = fingerprint;
  return append_entry(r, sg::JournalEntry::Kind::logout, logout, "logout of session " + fingerprint.short_id(), why);
}

bool journal_ticket_tie(request_rec* r, const std::string& sso_key, const sg::Fingerprint& value,
                        const std::string& cookie_name, const char* why) {
  sg::LoginRecord tie;
  tie.fingerprint = value;
  tie.cookie_name = cookie_name;
  tie.sso_key = sso_key;
  return append_entry(r, sg::JournalEntry::Kind::ticket_tie, tie, "CAS ticket of session value " + value.short_id(), why);
}

std::uint64_t journal_bytes() noexcept {
  if (g_journal.empty()) return 0;
  try {
    return sg::journal_size(g_journal);
  } catch (...) {
    return 0;
  }
}

namespace {
// For server-status: records past the replay's position in the file as last read.
std::uint32_t note_pending(const sg::JournalRead& read) {
  std::uint32_t pending = 0;
  for (const auto& record : read.records) pending += record.end > g_replayed ? 1 : 0;
  g_process.region->set_journal_pending(pending);
  return pending;
}
}  // namespace

void replay_journal(server_rec* s, sg::db::ReconnectingConnection& database) noexcept {
  if (g_journal.empty()) return;
  sg::Micros now = sg::wall_clock_micros();
  try {
    std::uint64_t size = sg::journal_size(g_journal);
    if (size == 0) {
      database.drop();  // held only while there is something to replay
      g_replayed = 0;
      g_process.region->set_journal_pending(0);
      return;
    }
    // Tried before every tick, so the journalled sessions have their rows before the tick's
    // activity flush (activity for a row not there yet would be dropped, and an idle timeout
    // would end a session that was busy through the outage). Only a database that makes us
    // wait (a connect timeout rather than a refusal) is tried less often.
    if (now < g_next_try) return;
    std::string bytes = sg::read_journal_file(g_journal, read_limit());
    sg::JournalRead read = sg::read_journal(bytes);
    // Before the replay, which throws while the database is away. Only damaged bytes, or
    // records replayed already: emptied without the database.
    std::size_t replayed = note_pending(read) == 0 ? 0 : database.with([&](sg::db::Connection& db) {
      return replay_records(read, db, s);
    });
    note_pending(read);
    g_replayed_total += replayed;
    if (g_failing) g_failing = false;
    if (read.skipped_bytes > 0 && replayed > 0) {
      ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                   "session guard: journal %s: skipped %" APR_SIZE_T_FMT " damaged bytes (a record torn by a crash)",
                   g_journal.c_str(), read.skipped_bytes);
    }
    bool all = read.records.empty() || read.records.back().end <= g_replayed;
    if (all && sg::truncate_journal_if(g_journal, bytes.size())) {
      g_replayed = 0;
      g_process.region->set_journal_pending(0);
      ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                   "session guard: journal replayed: %" APR_SIZE_T_FMT " logins and logouts recorded",
                   g_replayed_total);
      g_replayed_total = 0;
    }
  } catch (const std::exception& e) {
    if (sg::wall_clock_micros() - now > 200 * 1000) g_next_try = sg::wall_clock_micros() + sg::kMicrosPerSecond;
    if (!g_failing) {
      ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "session guard: journal not replayed yet: %s", e.what());
      g_failing = true;
    }
  }
}

}  // namespace sg::apache
