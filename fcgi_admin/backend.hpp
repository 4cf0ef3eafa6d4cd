// Everything the pages and the API need from the database, behind one interface: the real
// one (SqlBackend) runs db::Operations and db::AdminQueries; unit tests use a fake. Every
// method may throw StoreError (database down: 503) or db::OperationError (4xx).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "admin_queries.hpp"
#include "operations.hpp"

namespace sg::admin {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual bool is_admin(const std::string& user) = 0;
  virtual std::string csrf_key() = 0;

  virtual db::SessionPage sessions(const db::SessionQuery& query) = 0;
  virtual std::uint64_t count_sessions(const db::SessionQuery& query, std::uint64_t cap) = 0;
  virtual db::SessionRow find_session(const std::string& id) = 0;
  virtual db::ActivityStats activity() = 0;
  virtual std::vector<db::UserRow> users(const db::UserQuery& query) = 0;
  virtual std::optional<db::UserRow> user(const std::string& name) = 0;
  virtual std::vector<db::AuditRow> audit(const db::AuditQuery& query) = 0;
  virtual std::vector<std::string> audit_actions() = 0;
  virtual std::vector<db::OutboxRow> outbox(std::size_t limit, std::uint64_t before_id) = 0;
  virtual std::vector<db::InstanceHealthRow> instance_health() = 0;

  virtual db::ActionResult kill_session(const std::string& id, const db::Actor& actor) = 0;
  virtual db::ActionResult kill_sessions(const std::vector<std::string>& ids, const db::Actor& actor) = 0;
  virtual db::ActionResult kill_user(const std::string& user, const db::Actor& actor) = 0;
  virtual db::ActionResult block_user(const std::string& user, const std::string& reason, const db::Actor& actor) = 0;
  virtual db::ActionResult unblock_user(const std::string& user, const db::Actor& actor) = 0;
  virtual db::ActionResult logout_request(const std::string& id, const std::string& subject, const std::string& body,
                                          const db::Actor& actor) = 0;

  virtual db::ActionResult set_user_limit(const std::string& user, std::optional<int> limit, const db::Actor& actor) = 0;
  virtual db::ActionResult end_idle(int minutes, const db::Actor& actor) = 0;
  virtual db::ActionResult sign_out_everyone(const std::string& server, const db::Actor& actor) = 0;
  virtual std::vector<std::string> active_servers() = 0;
  virtual std::vector<db::SessionRow> user_sessions(const std::string& user) = 0;
  // `this_device`: the caller's own session (full fingerprint), which the id must not name.
  virtual db::ActionResult self_end_session(const std::string& user, const std::string& id,
                                            const std::string& this_device, const db::Actor& actor) = 0;
  virtual db::ActionResult self_end_others(const std::string& user, const std::string& keep_fingerprint,
                                           const db::Actor& actor) = 0;
  virtual std::string check_signout_link(const std::string& token) = 0;  // the user it names
  virtual db::ActionResult use_signout_link(const std::string& token, const db::Actor& actor) = 0;
  virtual db::ActionResult sso_logout(const db::SsoLogout& logout, const db::Actor& actor) = 0;
};

// How a refusal from the Backend answers over HTTP: its status and the API's error code.
int status_of(const db::OperationError& error);
const char* code_of(const db::OperationError& error);

// One connection per process, opened on first use and again after any failure, so a
// database that comes back is picked up without restarting the FastCGI process.
class SqlBackend : public Backend {
 public:
  SqlBackend(db::ConnectOptions options, db::MailPolicy policy, Micros sample_stale_after)
      : options_(std::move(options)), policy_(std::move(policy)), sample_stale_after_(sample_stale_after) {}

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
  db::ActionResult kill_session(const std::string& id, const db::Actor& actor) override;
  db::ActionResult kill_sessions(const std::vector<std::string>& ids, const db::Actor& actor) override;
  db::ActionResult kill_user(const std::string& user, const db::Actor& actor) override;
  db::ActionResult block_user(const std::string& user, const std::string& reason, const db::Actor& actor) override;
  db::ActionResult unblock_user(const std::string& user, const db::Actor& actor) override;
  db::ActionResult logout_request(const std::string& id, const std::string& subject, const std::string& body,
                                  const db::Actor& actor) override;
  db::ActionResult set_user_limit(const std::string& user, std::optional<int> limit, const db::Actor& actor) override;
  db::ActionResult end_idle(int minutes, const db::Actor& actor) override;
  db::ActionResult sign_out_everyone(const std::string& server, const db::Actor& actor) override;
  std::vector<std::string> active_servers() override;
  std::vector<db::SessionRow> user_sessions(const std::string& user) override;
  db::ActionResult self_end_session(const std::string& user, const std::string& id, const std::string& this_device,
                                    const db::Actor& actor) override;
  db::ActionResult self_end_others(const std::string& user, const std::string& keep_fingerprint,
                                   const db::Actor& actor) override;
  std::string check_signout_link(const std::string& token) override;
  db::ActionResult use_signout_link(const std::string& token, const db::Actor& actor) override;
  db::ActionResult sso_logout(const db::SsoLogout& logout, const db::Actor& actor) override;

 private:
  template <typename F>
  auto with(F&& action);

  db::ConnectOptions options_;
  db::MailPolicy policy_;
  Micros sample_stale_after_;
  std::unique_ptr<db::Connection> connection_;
  std::string csrf_key_;
};

}  // namespace sg::admin
