// Everything Session Guard reads and writes in MariaDB. SQL lives only here.
#pragma once
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <utility>
#include <string>
#include <string_view>
#include <vector>

#include "instance_health.hpp"
#include "mariadb.hpp"
#include "reconnecting.hpp"
#include "sg/login_record.hpp"
#include "sg/poller.hpp"
#include "sg/types.hpp"

namespace sg::db {

// The poller's view of the database.
class SqlDenyFeed : public DenyFeed {
 public:
  explicit SqlDenyFeed(Connection& connection) : db_(connection) {}
  std::uint64_t max_event_id() override;
  RevocationLoad revocations_within(Micros retention, std::size_t limit) override;
  std::vector<std::string> blocked_users() override;
  std::vector<DenyEvent> events(std::uint64_t after, std::uint64_t up_to, std::size_t limit) override;
  std::uint64_t count_events(std::uint64_t after, std::uint64_t up_to) override;
  std::vector<Fingerprint> record_activity(const std::vector<ActivityRecord>& activity) override;
  std::vector<std::pair<Fingerprint, std::string>> session_users(const std::vector<Fingerprint>& sessions) override;
  std::size_t expire_sessions(std::size_t limit) override;
  // Audit lines written since `after` (by the admin pages, API or CLI), for Apache's log.
  std::vector<std::pair<std::uint64_t, std::string>> audit_lines(std::uint64_t after, std::size_t limit);
  std::uint64_t last_audit_id();
  // One upsert of this instance's row; reported_at is the database's clock.
  void report_health(const InstanceHealth& health);

 private:
  Connection& db_;
};

struct LoginOutcome {
  enum class Kind { recorded, user_blocked, over_limit };
  Kind kind = Kind::recorded;
  int limit = 0;                   // the limit that applied, for the refusal message
  std::vector<std::string> evicted;  // fingerprints ended as superseded
};

// Durable before it returns (InnoDB flushes at commit). The account row is locked for the
// whole login, which orders it against a block of the same user and against a racing
// login on another server, so a session limit can never be overrun.
LoginOutcome record_login(Connection& db, const LoginRecord& login);
// `at` (0: now) is when the logout happened (one replayed from the journal).
void record_logout(Connection& db, const Fingerprint& fingerprint, Micros at = 0);
// A CAS service ticket (its digest, `sso_key`) was on the request whose response set `value`
// for cookie `cookie_name`: a CAS logoutRequest for the ticket ends the session that value
// belongs to, or revokes the value when no session has it. `at` as for record_logout.
void tie_ticket_value(Connection& db, const std::string& sso_key, const Fingerprint& value,
                      std::string_view cookie_name, Micros at = 0);
// True when this fingerprint's row already holds the login made at `at`: a replay that a
// crash cut off before the journal was emptied must not record it (and apply limits) twice.
bool login_recorded(Connection& db, const Fingerprint& fingerprint, Micros at);
// Ends one active session and tells every poller; true when this call ended it. A block
// also revokes a fingerprint with no active row (a login the app made for a blocked user).
bool revoke_session(Connection& db, const Fingerprint& fingerprint, std::string_view username, Reason reason,
                    std::string_view ended_by);
// deny_events is written here alone: a session's revocation, or a user's blocked state
// changed (every poller then re-reads the blocked list from accounts).
void insert_deny_event(Connection& db, const Fingerprint& fingerprint, std::string_view username, Reason reason);
void insert_user_event(Connection& db, std::string_view username, bool blocked);
// A bound session's response set `value` for one of its cookies: it is the same session. A
// new value of the cookie the session was bound with becomes the row's (activity and the
// pages follow it; the old one is kept as an earlier value); a value of another cookie
// ("remember me") is kept beside it. A session ended meanwhile revokes the new value too.
enum class ValueTie { tied, session_ended, unknown_session, already_known };
ValueTie record_session_value(Connection& db, const Fingerprint& session, const Fingerprint& value,
                              std::string_view cookie_name);


}  // namespace sg::db

namespace sg::db {

// A DenyFeed that owns its connection: connects on first use and after any failure, so a
// database that comes back is picked up without restarting Apache.
class ReconnectingFeed : public DenyFeed {
 private:
  template <typename F>
  auto with(F&& action) {
    return connection_.with([&](Connection& connection) {
      SqlDenyFeed feed(connection);
      return action(feed);
    });
  }

 public:
  explicit ReconnectingFeed(ConnectOptions options)
      : connection_(std::move(options), [](Connection& connection) {
          // A backstop below the I/O timeout: a write that still meets a row lock gives up
          // as a lock timeout, never as a connection that looks like the database is gone.
          connection.execute("SET SESSION innodb_lock_wait_timeout = 2");
        }) {}
  std::uint64_t max_event_id() override { return with([](SqlDenyFeed& f) { return f.max_event_id(); }); }
  RevocationLoad revocations_within(Micros retention, std::size_t limit) override {
    return with([&](SqlDenyFeed& f) { return f.revocations_within(retention, limit); });
  }
  std::vector<std::string> blocked_users() override { return with([](SqlDenyFeed& f) { return f.blocked_users(); }); }
  std::vector<DenyEvent> events(std::uint64_t after, std::uint64_t up_to, std::size_t limit) override {
    return with([&](SqlDenyFeed& f) { return f.events(after, up_to, limit); });
  }
  std::uint64_t count_events(std::uint64_t after, std::uint64_t up_to) override {
    return with([&](SqlDenyFeed& f) { return f.count_events(after, up_to); });
  }
  std::vector<Fingerprint> record_activity(const std::vector<ActivityRecord>& activity) override {
    return with([&](SqlDenyFeed& f) { return f.record_activity(activity); });
  }
  std::vector<std::pair<Fingerprint, std::string>> session_users(const std::vector<Fingerprint>& sessions) override {
    return with([&](SqlDenyFeed& f) { return f.session_users(sessions); });
  }
  std::size_t expire_sessions(std::size_t limit) override {
    return with([&](SqlDenyFeed& f) { return f.expire_sessions(limit); });
  }
  std::vector<std::pair<std::uint64_t, std::string>> audit_lines(std::uint64_t after, std::size_t limit) {
    return with([&](SqlDenyFeed& f) { return f.audit_lines(after, limit); });
  }
  std::uint64_t last_audit_id() {
    return with([](SqlDenyFeed& f) { return f.last_audit_id(); });
  }
  void report_health(const InstanceHealth& health) {
    with([&](SqlDenyFeed& f) { f.report_health(health); });
  }
  bool connected() const { return connection_.connected(); }

 private:
  ReconnectingConnection connection_;
};

}  // namespace sg::db
