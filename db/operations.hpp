// The admin operations, shared by the CLI, the pages and the API. SQL lives only in db/.
#pragma once
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "mariadb.hpp"
#include "sg/types.hpp"

namespace sg::db {

struct Actor {
  std::string name;
  std::string ip;
  std::string source = "cli";  // cli, web, api, module, self (my-sessions), link ("This wasn't me")
};

struct SessionRow {
  std::uint64_t id = 0;  // row id: the keyset cursor, never shown as a session id
  std::string fingerprint;
  std::string username;
  std::string state;
  Micros login_at = 0;
  Micros last_access = 0;
  std::string client_ip;
  std::string user_agent;
  std::string device;
  std::string browser;
  std::string os;
  std::string server_name;
  int idle_timeout = 0;
  int max_lifetime = 0;
  bool is_admin = false;
  Micros ended_at = 0;
  std::string ended_by;
  Micros idle_deadline = 0;      // 0 = no idle timeout
  Micros absolute_deadline = 0;  // 0 = no maximum lifetime
  std::string short_id() const;
  // The sooner deadline, 0 when neither applies ("no limit").
  Micros deadline() const;
};

// Sort keys a caller may ask for; anything else is refused before SQL is built.
const std::vector<std::string>& session_sort_keys();
bool valid_session_sort(std::string_view key);

struct SessionQuery {
  std::string user;    // exact user name, empty = all
  std::string search;  // substring of user, IP, device, browser or OS
  std::string sort = "last_access";
  bool descending = true;
  std::size_t limit = 25;
  // Keyset paging: the rows after (or before) the row with this id, in the order asked for.
  std::uint64_t after_id = 0;
  std::uint64_t before_id = 0;
  bool last_page = false;  // the final `limit` rows
  bool active_only = true;
};

enum class PageMode { first, after, before, last };

// count_sessions() could not finish within its time budget (a substring search).
constexpr std::uint64_t kCountUnknown = ~std::uint64_t{0};

struct SessionPage {
  std::vector<SessionRow> rows;
  bool has_prev = false;
  bool has_next = false;
};

struct ActionResult {
  std::string message;  // the audit line, e.g. "Session 85C8A1F2 terminated by administrator admin"
  std::size_t sessions_ended = 0;
  std::size_t mails_queued = 0;
  std::vector<std::string> log_lines;  // one per audit row written
};

struct OperationError : std::runtime_error {
  enum class Kind { bad_input, not_found, conflict, gone };
  OperationError(Kind kind, const std::string& message) : std::runtime_error(message), kind(kind) {}
  Kind kind;
};

// A single sign-out the identity provider asked for (fcgi_admin/sso.cpp verified it).
struct SsoLogout {
  enum class Protocol { oidc, cas };
  Protocol protocol = Protocol::oidc;
  std::string sub;     // OIDC: the user (sub claim); "" when the token names only a sid
  std::string sid;     // OIDC: the provider's session, matched by digest against sessions.sso_key
  std::string ticket;  // CAS: the service ticket, matched by digest
  // OIDC: SHA-256 hex of iss "\n" jti, remembered until `token_expires` (seconds since the
  // epoch) so a replayed token ends nothing; "" = not a token (CAS).
  std::string token_hash;
  std::int64_t token_expires = 0;
};

struct MailTemplate {
  std::string subject;
  std::string body;
};

// Which actions tell the user by email, and in which words. Placeholders: {user} {admin}
// {session} {server} {reason} {count} {time}.
struct MailPolicy {
  bool notify_kill = true;
  bool notify_block = true;
  MailTemplate kill{"Your session was ended",
                    "Hello {user},\n\nan administrator ({admin}) ended your session {session} on {server} at {time}.\n"
                    "You will need to sign in again.\n\nIf you did not expect this, please contact your helpdesk.\n"};
  MailTemplate kill_user{"Your sessions were ended",
                         "Hello {user},\n\nan administrator ({admin}) ended all your sessions ({count}) at {time}.\n"
                         "You will need to sign in again.\n\nIf you did not expect this, please contact your helpdesk.\n"};
  MailTemplate block{"Your account has been blocked",
                     "Hello {user},\n\nyour account was blocked by an administrator ({admin}) at {time}.\n"
                     "Reason: {reason}\n\nAll your sessions have ended and you cannot sign in until the account "
                     "is unblocked. Please contact your helpdesk.\n"};
  // "This wasn't me: sign me out everywhere" in kill and block notices. link_base + token is
  // the link (from public_url; "": no link, and an error in the log); link_key signs it ("": a key
  // generated once and kept in admin_settings).
  std::string link_base;
  std::string link_key;
  Micros link_lifetime = 24 * 3600 * kMicrosPerSecond;
  MailTemplate logout_request{"Please sign out",
                              "Hello {user},\n\nplease save your work and sign out of {server} (session {session}).\n"
                              "An administrator ({admin}) needs to end your session.\n"};
};

class Operations {
 public:
  explicit Operations(Connection& connection) : db_(connection) {}
  void set_mail_policy(MailPolicy policy) { policy_ = std::move(policy); }
  const MailPolicy& mail_policy() const { return policy_; }

  SessionPage session_page(const SessionQuery& query);
  std::vector<SessionRow> sessions(const SessionQuery& query) { return session_page(query).rows; }
  // Exact up to `cap` (0 = no cap); a result of cap + 1 means "more than cap", and
  // kCountUnknown that a search could not be counted in its time budget.
  std::uint64_t count_sessions(const SessionQuery& query, std::uint64_t cap = 0);
  // An active session by full fingerprint or unambiguous prefix (8+ hex digits).
  SessionRow find_session(std::string_view id);

  ActionResult kill_session(std::string_view id, const Actor& actor);
  // All or nothing: an unknown id refuses the whole request before anything changes.
  ActionResult kill_sessions(const std::vector<std::string>& ids, const Actor& actor);
  ActionResult kill_user(std::string_view username, const Actor& actor);
  ActionResult block_user(std::string_view username, std::string_view reason, const Actor& actor);
  ActionResult unblock_user(std::string_view username, const Actor& actor);
  ActionResult logout_request(std::string_view id, std::string_view subject, std::string_view body,
                              const Actor& actor);

  // --- issue 4: policies ---
  // The user's own session limit: nullopt = none (the directive applies), 0 = no limit for
  // this user, N = at most N. The module reads it at the next login.
  ActionResult set_user_limit(std::string_view username, std::optional<int> limit, const Actor& actor);
  // Ends (as killed, like kill_session) every session idle longer than `minutes`.
  ActionResult end_idle_sessions(int minutes, const Actor& actor);
  // Ends every active session except the acting admin's own; only server `server` if given.
  ActionResult sign_out_everyone(std::string_view server, const Actor& actor);
  std::vector<std::string> active_servers();  // server names with active sessions

  // --- self-service: the user is the actor and may touch only their own sessions ---
  std::vector<SessionRow> user_sessions(std::string_view username, std::size_t limit = 200);
  // A forged id (another user's, unknown, malformed) is not_found and changes nothing; an id
  // that resolves to `this_device` (the caller's own session) is a conflict.
  ActionResult self_end_session(std::string_view username, std::string_view id, std::string_view this_device,
                                const Actor& actor);
  ActionResult self_end_others(std::string_view username, std::string_view keep_fingerprint, const Actor& actor);

  // --- single sign-out ---
  // Ends, with reason sso_logout, the active sessions the logout names: by the sid's or the
  // ticket's digest, or (a token with a sub and no sid) every session whose recorded sub or
  // user name is the sub. One audit row (source sso, actor = the provider). A token already
  // used is OperationError(gone) and ends nothing; its jti and the endings commit together.
  ActionResult sso_logout(const SsoLogout& logout, const Actor& actor);

  // --- "This wasn't me" links ---
  std::string signout_key();
  std::string make_signout_link_token(std::string_view username);
  // Verifies a token: malformed/tampered -> bad_input, expired or used -> gone. Returns the user.
  std::string check_signout_link(std::string_view token);
  // Verifies, records the nonce (single use) and ends every session of the user, in one transaction.
  ActionResult use_signout_link(std::string_view token, const Actor& actor);

 private:
  SessionPage finish_page(std::vector<SessionRow> rows, PageMode mode, std::size_t limit);
  SessionPage admin_sorted_page(const SessionQuery& query, bool scan_descending, PageMode mode,
                                const std::optional<std::string>& cursor_value, std::uint64_t cursor_id,
                                std::size_t limit);
  std::string resolve_session(std::string_view id);
  std::vector<std::string> end_user_sessions(std::string_view username, Reason reason, const Actor& actor);
  std::uint64_t audit(const Actor& actor, std::string_view action, std::string_view user, std::string_view session,
                      std::string_view reason, std::string_view message);
  // Queues a mail to the user's address in the current transaction; false when none is on file.
  bool queue_mail(std::string_view kind, std::string_view username, const std::string& subject,
                  const std::string& body, std::uint64_t audit_id);
  // The notice with its "This wasn't me" link; without a configured base, without one (logged).
  std::string with_link(const std::string& body, std::string_view username, ActionResult& result);
  std::vector<std::string> end_sessions(const std::string& where, const std::vector<Param>& params,
                                        const std::string& ended_by, std::vector<std::string>* users = nullptr,
                                        Reason reason = Reason::killed);
  std::uint64_t kill_in_transaction(const std::string& fingerprint_hex, const Actor& actor, ActionResult& result);

  Connection& db_;
  MailPolicy policy_;
};

void validate_username(std::string_view username);  // throws OperationError(bad_input)

}  // namespace sg::db
