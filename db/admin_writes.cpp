#include "admin_writes.hpp"

#include "accounts.hpp"

#include "sg/text.hpp"
#include "store.hpp"

namespace sg::db {

namespace {
// mail_outbox.body is a TEXT column.

Param optional_text(const std::string& text) {
  if (text.empty()) return Null{};
  return text;
}
}  // namespace

std::optional<LockedSession> AdminWrites::lock_active_session(const std::string& fingerprint_hex) {
  // Locked so two admins acting on the same session produce one audit entry.
  auto rows = db_.query("SELECT username, server_name FROM sessions WHERE fingerprint = ? AND state = 'active' FOR UPDATE",
                        {fingerprint_hex});
  if (rows.empty()) return std::nullopt;
  return LockedSession{to_text(rows[0][0]), to_text(rows[0][1])};
}

bool AdminWrites::end_session(const std::string& fingerprint_hex, const std::string& username, Reason reason,
                              const std::string& ended_by) {
  auto fingerprint = Fingerprint::from_hex(fingerprint_hex);
  return fingerprint && revoke_session(db_, *fingerprint, username, reason, ended_by);
}

std::vector<EndedSession> AdminWrites::end_active_where(const std::string& condition, const std::vector<Param>& params,
                                                        Reason reason, const std::string& ended_by) {
  auto rows = db_.query("SELECT fingerprint, username FROM sessions WHERE state = 'active' AND " + condition + " FOR UPDATE",
                        params);
  std::vector<EndedSession> ended;
  for (const auto& row : rows) {
    auto fingerprint = Fingerprint::from_hex(to_text(row[0]));
    if (fingerprint && revoke_session(db_, *fingerprint, to_text(row[1]), reason, ended_by))
      ended.push_back({fingerprint->short_id(), to_text(row[1])});
  }
  return ended;
}

std::vector<EndedSession> AdminWrites::end_sessions_of_user(const std::string& username, Reason reason,
                                                            const std::string& ended_by) {
  return end_active_where("username = ?", {username}, reason, ended_by);
}

std::vector<EndedSession> AdminWrites::end_sessions_idle_for(int minutes, const std::string& ended_by) {
  return end_active_where("last_access < NOW(6) - INTERVAL ? MINUTE", {static_cast<std::int64_t>(minutes)},
                          Reason::killed, ended_by);
}

std::vector<EndedSession> AdminWrites::end_sessions_except_user(const std::string& keep_user, const std::string& server,
                                                                const std::string& ended_by) {
  if (server.empty()) return end_active_where("username <> ?", {keep_user}, Reason::killed, ended_by);
  return end_active_where("username <> ? AND server_name = ?", {keep_user, server}, Reason::killed, ended_by);
}

std::vector<EndedSession> AdminWrites::end_other_sessions_of_user(const std::string& username,
                                                                  const std::string& keep_fingerprint,
                                                                  const std::string& ended_by) {
  return end_active_where("username = ? AND fingerprint <> ?", {username, keep_fingerprint}, Reason::killed, ended_by);
}

std::vector<EndedSession> AdminWrites::end_sessions_by_sso_key(const std::string& sso_key, const std::string& ended_by) {
  // Bound on the ticket's own request, or later (mod_auth_cas binds on the request after its
  // redirect) with a value the ticket's response set, which may since have been re-keyed.
  return end_active_where(
      "(sso_key = ? OR fingerprint IN (SELECT fingerprint FROM sso_ticket_values WHERE sso_key = ?) "
      "OR id IN (SELECT v.session_id FROM session_values v JOIN sso_ticket_values t ON t.fingerprint = v.fingerprint "
      "WHERE t.sso_key = ?))",
      {sso_key, sso_key, sso_key}, Reason::sso_logout, ended_by);
}

std::size_t AdminWrites::revoke_unbound_ticket_values(const std::string& sso_key, const std::string& owner) {
  auto rows = db_.query(
      "SELECT t.fingerprint FROM sso_ticket_values t WHERE t.sso_key = ? "
      "AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.fingerprint = t.fingerprint) "
      "AND NOT EXISTS (SELECT 1 FROM session_values v WHERE v.fingerprint = t.fingerprint) LIMIT ?",
      {sso_key, static_cast<std::int64_t>(kMaxUnboundTicketValues)});
  std::size_t revoked = 0;
  for (const auto& row : rows) {
    if (auto value = Fingerprint::from_hex(to_text(row[0]))) {
      insert_deny_event(db_, *value, owner, Reason::sso_logout);
      ++revoked;
    }
  }
  return revoked;
}

std::vector<EndedSession> AdminWrites::end_sessions_by_sso_subject(const std::string& sub, const std::string& ended_by) {
  return end_active_where("(sso_sub = ? OR username = ?)", {sub, sub}, Reason::sso_logout, ended_by);
}

bool AdminWrites::lock_account(const std::string& username) {
  return !db_.query("SELECT 1 FROM accounts WHERE username = ? FOR UPDATE", {username}).empty();
}

std::optional<bool> AdminWrites::lock_account_active(const std::string& username) {
  auto rows = db_.query("SELECT active FROM accounts WHERE username = ? FOR UPDATE", {username});
  if (rows.empty()) return std::nullopt;
  return to_int(rows[0][0]) != 0;
}

void AdminWrites::block_account(const std::string& username, const std::string& blocked_by, const std::string& reason) {
  set_account_blocked(db_, username, blocked_by, reason);
  insert_user_event(db_, username, true);
}

void AdminWrites::unblock_account(const std::string& username) {
  set_account_unblocked(db_, username);
  insert_user_event(db_, username, false);
}

void AdminWrites::set_max_sessions(const std::string& username, std::optional<int> limit) {
  set_account_max_sessions(db_, username, limit);
}

void AdminWrites::set_not_valid_before_now(const std::string& username) { set_account_not_valid_before_now(db_, username); }

std::string AdminWrites::email_of(const std::string& username) {
  auto rows = db_.query("SELECT email FROM accounts WHERE username = ?", {username});
  return rows.empty() ? std::string() : to_text(rows[0][0]);
}

std::uint64_t AdminWrites::insert_audit(const AuditEntry& entry) {
  db_.execute(
      "INSERT INTO audit_log (actor, actor_ip, source, action, target_user, target_session, reason, message) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      {sg::utf8_sanitize(entry.actor, 190), sg::utf8_sanitize(entry.actor_ip, 45), entry.source, entry.action,
       optional_text(sg::utf8_sanitize(entry.target_user, 190)), optional_text(entry.target_session),
       optional_text(sg::utf8_sanitize(entry.reason, 1000)), sg::utf8_sanitize(entry.message, 1000)});
  return db_.last_insert_id();
}

void AdminWrites::queue_mail(const MailEntry& mail) { db::queue_mail(db_, mail); }

bool AdminWrites::signout_nonce_used(const std::string& nonce) {
  return !db_.query("SELECT 1 FROM signout_links_used WHERE nonce = ?", {nonce}).empty();
}

bool AdminWrites::use_signout_nonce(const std::string& nonce, const std::string& username, Micros expires_at,
                                    const std::string& used_ip) {
  // The nonce's row is the single use: a second request (even a racing one) finds it.
  auto inserted = db_.execute(
      "INSERT IGNORE INTO signout_links_used (nonce, username, expires_at, used_ip) VALUES (?, ?, FROM_UNIXTIME(?), ?)",
      {nonce, username, static_cast<std::int64_t>(expires_at / kMicrosPerSecond), sg::utf8_sanitize(used_ip, 45)});
  if (inserted == 0) return false;
  // A nonce only needs remembering while its link could still verify: forget old ones.
  db_.execute("DELETE FROM signout_links_used WHERE expires_at < NOW(6) - INTERVAL 1 DAY LIMIT 100");
  return true;
}

bool AdminWrites::use_sso_token(const std::string& token_hash, std::int64_t expires_at_seconds) {
  // The key is the single use: a racing copy of the token on another server finds it.
  auto inserted = db_.execute("INSERT IGNORE INTO sso_logout_tokens (token_hash, expires_at) VALUES (?, FROM_UNIXTIME(?))",
                              {token_hash, expires_at_seconds});
  if (inserted == 0) return false;
  db_.execute("DELETE FROM sso_logout_tokens WHERE expires_at < NOW(6) - INTERVAL 1 HOUR LIMIT 100");
  return true;
}

}  // namespace sg::db
