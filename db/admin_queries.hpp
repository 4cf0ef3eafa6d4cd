// Read-side queries of the admin pages (users, audit, outbox, activity samples), the
// outbox delivery bookkeeping (its writes are outbox.cpp's) and fcgi_admin's shared
// settings. SQL lives only in db/.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "instance_health.hpp"
#include "mariadb.hpp"
#include "sg/types.hpp"

namespace sg::db {

struct UserRow {
  std::string username;
  std::string email;
  bool is_admin = false;
  bool active = true;
  Micros blocked_at = 0;
  std::string blocked_by;
  std::string block_reason;
  std::uint64_t live_sessions = 0;
  Micros last_login_at = 0;
  std::optional<int> max_sessions;  // the user's own session limit (0 = none); unset: the server's
};

struct UserQuery {
  std::string search;  // substring of the name
  std::string state;   // "", "active" or "blocked"
  std::string after;   // keyset: names after this one
  std::size_t limit = 50;
};

struct AuditRow {
  std::uint64_t id = 0;
  Micros at = 0;
  std::string actor;
  std::string actor_ip;
  std::string source;
  std::string action;
  std::string target_user;
  std::string target_session;  // full fingerprint; pages show the short id
  std::string reason;
  std::string message;
  std::string mail_state;  // state of the mail queued with this action, if any
};

struct AuditQuery {
  std::string actor;
  std::string user;
  std::string action;
  std::uint64_t before_id = 0;  // keyset: older than this row
  std::size_t limit = 50;
};

struct OutboxRow {
  std::uint64_t id = 0;
  std::string kind;
  Micros created_at = 0;
  std::string recipient;
  std::string target_user;
  std::string subject;
  std::string body;
  std::string state;
  int attempts = 0;
  Micros next_try_at = 0;
  std::string last_error;
  Micros sent_at = 0;
};

struct ActivityStats {
  std::uint64_t active_sessions = 0;
  std::uint64_t active_users = 0;
  Micros measured_at = 0;
  std::vector<std::pair<Micros, std::uint64_t>> chart;  // (hour start, max active sessions seen that hour)
};

class AdminQueries {
 public:
  explicit AdminQueries(Connection& connection) : db_(connection) {}

  bool is_admin(const std::string& username);
  // A setting shared by every fcgi_admin process; `fresh` is stored if none exists yet.
  std::string setting(const std::string& name, const std::string& fresh);

  std::vector<UserRow> users(const UserQuery& query);
  std::optional<UserRow> user(const std::string& username);
  std::vector<AuditRow> audit(const AuditQuery& query);
  std::vector<std::string> audit_actions();
  std::vector<OutboxRow> outbox(std::size_t limit, std::uint64_t before_id = 0);
  // Every instance that ever reported, by name (a few rows: one per Apache instance).
  std::vector<InstanceHealthRow> instance_health();

  // Takes a sample of the live counts if the newest is older than `interval`; returns the stats.
  ActivityStats activity(Micros interval, bool force_sample = false);

  // --- delivery ---
  // Claims up to `limit` due mails for this process for `lease` (others skip them meanwhile).
  std::vector<OutboxRow> claim_due_mail(std::size_t limit, Micros lease);
  void mark_sent(std::uint64_t id);
  void mark_failed(std::uint64_t id, const std::string& error, Micros retry_in, bool give_up);

 private:
  Connection& db_;
};

}  // namespace sg::db
