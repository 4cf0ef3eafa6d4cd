// Everything the pages, the API and the CLI ask of the admin side, behind one interface: the
// real one is the admin service (admin_service.hpp, over the db/ repositories); unit tests
// use a fake. Every method may throw StoreError (database down: 503) or OperationError (4xx).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "action_types.hpp"
#include "admin_queries.hpp"
#include "session_queries.hpp"

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

  virtual ActionResult kill_session(const std::string& id, const Actor& actor) = 0;
  virtual ActionResult kill_sessions(const std::vector<std::string>& ids, const Actor& actor) = 0;
  virtual ActionResult kill_user(const std::string& user, const Actor& actor) = 0;
  virtual ActionResult block_user(const std::string& user, const std::string& reason, const Actor& actor) = 0;
  virtual ActionResult unblock_user(const std::string& user, const Actor& actor) = 0;
  virtual ActionResult logout_request(const std::string& id, const std::string& subject, const std::string& body,
                                          const Actor& actor) = 0;

  virtual ActionResult set_user_limit(const std::string& user, std::optional<int> limit, const Actor& actor) = 0;
  virtual ActionResult end_idle(int minutes, const Actor& actor) = 0;
  virtual ActionResult sign_out_everyone(const std::string& server, const Actor& actor) = 0;
  virtual std::vector<std::string> active_servers() = 0;
  virtual std::vector<db::SessionRow> user_sessions(const std::string& user) = 0;
  // `this_device`: the caller's own session (full fingerprint), which the id must not name.
  virtual ActionResult self_end_session(const std::string& user, const std::string& id,
                                            const std::string& this_device, const Actor& actor) = 0;
  virtual ActionResult self_end_others(const std::string& user, const std::string& keep_fingerprint,
                                           const Actor& actor) = 0;
  virtual std::string check_signout_link(const std::string& token) = 0;  // the user it names
  virtual ActionResult use_signout_link(const std::string& token, const Actor& actor) = 0;
  virtual ActionResult sso_logout(const SsoLogout& logout, const Actor& actor) = 0;
};

// How a refusal answers over HTTP: its status and the API's error code.
int status_of(const OperationError& error);
const char* code_of(const OperationError& error);

}  // namespace sg::admin
