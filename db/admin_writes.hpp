// What the admin actions write, one statement group each, inside the caller's transaction:
// ending sessions (through revoke_session, so every poller enforces them), accounts, the
// audit log, the mail outbox, and the single-use records of links and logout tokens.
// SQL in, rows out: what the rows mean to people is the admin service's (fcgi_admin/).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mariadb.hpp"
#include "outbox.hpp"
#include "sg/types.hpp"

namespace sg::db {

struct EndedSession {
  std::string short_id;
  std::string username;
};

struct LockedSession {
  std::string username;
  std::string server_name;
};

struct AuditEntry {
  std::string actor;
  std::string actor_ip;
  std::string source;  // cli, web, api, module, self, link, sso
  std::string action;
  std::string target_user;     // "" = none
  std::string target_session;  // full fingerprint, "" = none
  std::string reason;          // "" = none
  std::string message;
};

class AdminWrites {
 public:
  explicit AdminWrites(Connection& connection) : db_(connection) {}

  // --- sessions: each returns the sessions this call ended ---
  std::optional<LockedSession> lock_active_session(const std::string& fingerprint_hex);
  bool end_session(const std::string& fingerprint_hex, const std::string& username, Reason reason,
                   const std::string& ended_by);
  std::vector<EndedSession> end_sessions_of_user(const std::string& username, Reason reason, const std::string& ended_by);
  std::vector<EndedSession> end_sessions_idle_for(int minutes, const std::string& ended_by);
  // Every user's but `keep_user`'s; only on `server` unless it is "".
  std::vector<EndedSession> end_sessions_except_user(const std::string& keep_user, const std::string& server,
                                                     const std::string& ended_by);
  std::vector<EndedSession> end_other_sessions_of_user(const std::string& username, const std::string& keep_fingerprint,
                                                       const std::string& ended_by);
  std::vector<EndedSession> end_sessions_by_sso_key(const std::string& sso_key, const std::string& ended_by);
  // Values a CAS ticket's response set that no session has (an app with its own CAS client,
  // which never told the web server its user): each revoked by itself, under `owner`. A real
  // ticket is validated once, so it has one or two; more are not a sign-in's.
  static constexpr std::size_t kMaxUnboundTicketValues = 16;
  std::size_t revoke_unbound_ticket_values(const std::string& sso_key, const std::string& owner);
  // A token naming only a subject: its recorded sub, or a user of that name.
  std::vector<EndedSession> end_sessions_by_sso_subject(const std::string& sub, const std::string& ended_by);

  // --- accounts (each locks the row first: its lock orders concurrent changes of one user) ---
  bool lock_account(const std::string& username);  // false: no such account
  std::optional<bool> lock_account_active(const std::string& username);
  // Blocking and unblocking also tell every poller (a user row of deny_events).
  void block_account(const std::string& username, const std::string& blocked_by, const std::string& reason);
  void unblock_account(const std::string& username);
  void set_max_sessions(const std::string& username, std::optional<int> limit);
  // Sessions the app re-keys after now are not this user's old ones.
  void set_not_valid_before_now(const std::string& username);
  std::string email_of(const std::string& username);  // "" = none on file

  std::uint64_t insert_audit(const AuditEntry& entry);  // the row's id
  void queue_mail(const MailEntry& mail);

  // --- single use: false when the record was already there ---
  bool signout_nonce_used(const std::string& nonce);
  bool use_signout_nonce(const std::string& nonce, const std::string& username, Micros expires_at,
                         const std::string& used_ip);
  bool use_sso_token(const std::string& token_hash, std::int64_t expires_at_seconds);

 private:
  std::vector<EndedSession> end_active_where(const std::string& condition, const std::vector<Param>& params,
                                             Reason reason, const std::string& ended_by);

  Connection& db_;
};

}  // namespace sg::db
