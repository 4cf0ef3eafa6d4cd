// The admin service: what every admin action means, for the pages, the API and the CLI
// alike. It checks the input, runs one transaction over the db/ repositories, writes the
// audit line people read ("Session 85C8A1F2 terminated by administrator admin"), queues the
// mail that tells the user (notices.hpp) and signs and checks "This wasn't me" links. The
// repositories below it only move rows; the faces above it only read requests and render.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <type_traits>

#include "admin_writes.hpp"
#include "backend.hpp"
#include "notices.hpp"
#include "reconnecting.hpp"
#include "sg/signout_link.hpp"

namespace sg::admin {

// One connection per process, opened on first use and again after any failure, so a
// database that comes back is picked up without restarting the FastCGI process.
class AdminService : public Backend {
 public:
  AdminService(db::ConnectOptions options, MailPolicy policy, Micros sample_stale_after)
      : policy_(std::move(policy)), sample_stale_after_(sample_stale_after), connection_(std::move(options)) {}

  bool is_admin(const std::string& user) override;
  std::string csrf_key() override;
  db::SessionPage sessions(const db::SessionQuery& query) override;
  std::uint64_t count_sessions(const db::SessionQuery& query, std::uint64_t cap) override;
  db::SessionRow find_session(const std::string& id) override;
  db::ActivityStats activity() override;
  std::vector<db::UserRow> users(const db::UserQuery& query) override;
  std::optional<db::UserRow> user(const std::string& name) override;
  std::vector<db::AuditRow> audit(const db::AuditQuery& query) override;
  std::vector<std::string> audit_actions() override;
  std::vector<db::OutboxRow> outbox(std::size_t limit, std::uint64_t before_id) override;
  std::vector<db::InstanceHealthRow> instance_health() override;
  ActionResult kill_session(const std::string& id, const Actor& actor) override;
  ActionResult kill_sessions(const std::vector<std::string>& ids, const Actor& actor) override;
  ActionResult kill_user(const std::string& user, const Actor& actor) override;
  ActionResult block_user(const std::string& user, const std::string& reason, const Actor& actor) override;
  ActionResult unblock_user(const std::string& user, const Actor& actor) override;
  ActionResult logout_request(const std::string& id, const std::string& subject, const std::string& body,
                              const Actor& actor) override;
  ActionResult set_user_limit(const std::string& user, std::optional<int> limit, const Actor& actor) override;
  ActionResult end_idle(int minutes, const Actor& actor) override;
  ActionResult sign_out_everyone(const std::string& server, const Actor& actor) override;
  std::vector<std::string> active_servers() override;
  std::vector<db::SessionRow> user_sessions(const std::string& user) override;
  ActionResult self_end_session(const std::string& user, const std::string& id, const std::string& this_device,
                                const Actor& actor) override;
  ActionResult self_end_others(const std::string& user, const std::string& keep_fingerprint,
                               const Actor& actor) override;
  std::string check_signout_link(const std::string& token) override;
  ActionResult use_signout_link(const std::string& token, const Actor& actor) override;
  ActionResult sso_logout(const SsoLogout& logout, const Actor& actor) override;

 private:
  // The repositories of one attempt, over the process's connection.
  struct Repositories {
    explicit Repositories(db::Connection& connection)
        : connection(connection), sessions(connection), queries(connection), writes(connection) {}
    db::Connection& connection;
    db::SessionQueries sessions;
    db::AdminQueries queries;
    db::AdminWrites writes;
  };

  // Runs `action` on the repositories and returns what it returns. Each action is a read or
  // one whole transaction, so run() may run it again after a deadlock.
  template <typename F>
  auto with(F&& action) {
    std::optional<std::invoke_result_t<F, Repositories&>> result;
    run([&](Repositories& repositories) { result.emplace(action(repositories)); });
    return std::move(*result);
  }
  void run(const std::function<void(Repositories&)>& action);

  // Lower-case hex of 8 to 64 digits (the start of a fingerprint), or "" when the id is not one.
  static std::string session_id_prefix(std::string_view id);
  // The full fingerprint of the one active session an id (8+ hex digits) names.
  static std::string resolve_session(Repositories& r, std::string_view id);
  // Ends one session in the caller's transaction: its audit row, its line and its notice.
  void kill_in_transaction(Repositories& r, const std::string& fingerprint_hex, const Actor& actor,
                           ActionResult& result);
  static std::uint64_t audit(Repositories& r, const Actor& actor, std::string action, std::string_view user,
                             std::string session, std::string_view reason, const std::string& message);
  // Queues the mail to the user's address; false when none valid is on file.
  static bool queue_mail(Repositories& r, const std::string& kind, const std::string& username, const Notice& notice,
                         std::uint64_t audit_id);
  // The action's notice to the user, with its "This wasn't me" link, when `send` and an
  // address is on file; counted in `result`.
  void notify(Repositories& r, bool send, const std::string& kind, const MailTemplate& mail,
              const std::map<std::string, std::string>& values, std::uint64_t audit_id, ActionResult& result);

  std::string signout_key(Repositories& r);
  // Verifies a token: malformed/tampered -> bad_input, expired or used -> gone.
  SignoutClaim checked_signout_claim(Repositories& r, std::string_view token);

  MailPolicy policy_;
  Micros sample_stale_after_;
  db::ReconnectingConnection connection_;
  std::string csrf_key_;
};

}  // namespace sg::admin
