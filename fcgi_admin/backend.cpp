#include "backend.hpp"

#include "csrf.hpp"
#include "sg/crypto.hpp"

namespace sg::admin {

template <typename F>
auto SqlBackend::with(F&& action) {
  // A deadlock victim (or, on Galera, a transaction refused for a conflicting write through
  // another node) was rolled back whole and changed nothing: it runs again.
  for (int attempt = 1;; ++attempt) {
    try {
      if (!connection_) connection_ = std::make_unique<db::Connection>(options_);
      db::Operations ops(*connection_);
      ops.set_mail_policy(policy_);
      db::AdminQueries queries(*connection_);
      return action(ops, queries);
    } catch (const db::DeadlockError&) {
      if (attempt == 3) {
        connection_.reset();
        throw;
      }
    } catch (const StoreError&) {
      connection_.reset();
      throw;
    }
  }
}

int status_of(const db::OperationError& error) {
  switch (error.kind) {
    case db::OperationError::Kind::bad_input: return 400;
    case db::OperationError::Kind::not_found: return 404;
    case db::OperationError::Kind::conflict: return 409;
    case db::OperationError::Kind::gone: return 410;
  }
  return 400;
}

const char* code_of(const db::OperationError& error) {
  switch (error.kind) {
    case db::OperationError::Kind::bad_input: return "bad_request";
    case db::OperationError::Kind::not_found: return "not_found";
    case db::OperationError::Kind::conflict: return "conflict";
    case db::OperationError::Kind::gone: return "gone";
  }
  return "bad_request";
}

bool SqlBackend::is_admin(const std::string& user) {
  return with([&](db::Operations&, db::AdminQueries& q) { return q.is_admin(user); });
}

std::string SqlBackend::csrf_key() {
  if (csrf_key_.empty()) {
    csrf_key_ = with([&](db::Operations&, db::AdminQueries& q) { return q.setting("csrf_key", sg::random_hex(32)); });
  }
  return csrf_key_;
}

db::SessionPage SqlBackend::sessions(const db::SessionQuery& query) {
  return with([&](db::Operations& o, db::AdminQueries&) { return o.session_page(query); });
}
std::uint64_t SqlBackend::count_sessions(const db::SessionQuery& query, std::uint64_t cap) {
  return with([&](db::Operations& o, db::AdminQueries&) { return o.count_sessions(query, cap); });
}
db::SessionRow SqlBackend::find_session(const std::string& id) {
  return with([&](db::Operations& o, db::AdminQueries&) { return o.find_session(id); });
}
db::ActivityStats SqlBackend::activity() {
  return with([&](db::Operations&, db::AdminQueries& q) { return q.activity(sample_stale_after_); });
}
std::vector<db::UserRow> SqlBackend::users(const db::UserQuery& query) {
  return with([&](db::Operations&, db::AdminQueries& q) { return q.users(query); });
}
std::optional<db::UserRow> SqlBackend::user(const std::string& name) {
  return with([&](db::Operations&, db::AdminQueries& q) { return q.user(name); });
}
std::vector<db::AuditRow> SqlBackend::audit(const db::AuditQuery& query) {
  return with([&](db::Operations&, db::AdminQueries& q) { return q.audit(query); });
}
std::vector<std::string> SqlBackend::audit_actions() {
  return with([&](db::Operations&, db::AdminQueries& q) { return q.audit_actions(); });
}
std::vector<db::InstanceHealthRow> SqlBackend::instance_health() {
  return with([](db::Operations&, db::AdminQueries& q) { return q.instance_health(); });
}

std::vector<db::OutboxRow> SqlBackend::outbox(std::size_t limit, std::uint64_t before_id) {
  return with([&](db::Operations&, db::AdminQueries& q) { return q.outbox(limit, before_id); });
}
db::ActionResult SqlBackend::kill_session(const std::string& id, const db::Actor& actor) {
  return with([&](db::Operations& o, db::AdminQueries&) { return o.kill_session(id, actor); });
}
db::ActionResult SqlBackend::kill_sessions(const std::vector<std::string>& ids, const db::Actor& actor) {
  return with([&](db::Operations& o, db::AdminQueries&) { return o.kill_sessions(ids, actor); });
}
db::ActionResult SqlBackend::kill_user(const std::string& user, const db::Actor& actor) {
  return with([&](db::Operations& o, db::AdminQueries&) { return o.kill_user(user, actor); });
}
db::ActionResult SqlBackend::block_user(const std::string& user, const std::string& reason, const db::Actor& actor) {
  return with([&](db::Operations& o, db::AdminQueries&) { return o.block_user(user, reason, actor); });
}
db::ActionResult SqlBackend::unblock_user(const std::string& user, const db::Actor& actor) {
  return with([&](db::Operations& o, db::AdminQueries&) { return o.unblock_user(user, actor); });
}
db::ActionResult SqlBackend::logout_request(const std::string& id, const std::string& subject, const std::string& body,
                                            const db::Actor& actor) {
  return with([&](db::Operations& o, db::AdminQueries&) { return o.logout_request(id, subject, body, actor); });
}

db::ActionResult SqlBackend::set_user_limit(const std::string& user, std::optional<int> limit, const db::Actor& actor) {
  return with([&](db::Operations& o, db::AdminQueries&) { return o.set_user_limit(user, limit, actor); });
}
db::ActionResult SqlBackend::end_idle(int minutes, const db::Actor& actor) {
  return with([&](db::Operations& o, db::AdminQueries&) { return o.end_idle_sessions(minutes, actor); });
}
db::ActionResult SqlBackend::sign_out_everyone(const std::string& server, const db::Actor& actor) {
  return with([&](db::Operations& o, db::AdminQueries&) { return o.sign_out_everyone(server, actor); });
}
std::vector<std::string> SqlBackend::active_servers() {
  return with([&](db::Operations& o, db::AdminQueries&) { return o.active_servers(); });
}
std::vector<db::SessionRow> SqlBackend::user_sessions(const std::string& user) {
  return with([&](db::Operations& o, db::AdminQueries&) { return o.user_sessions(user); });
}
db::ActionResult SqlBackend::self_end_session(const std::string& user, const std::string& id,
                                              const std::string& this_device, const db::Actor& actor) {
  return with([&](db::Operations& o, db::AdminQueries&) { return o.self_end_session(user, id, this_device, actor); });
}
db::ActionResult SqlBackend::self_end_others(const std::string& user, const std::string& keep_fingerprint,
                                             const db::Actor& actor) {
  return with([&](db::Operations& o, db::AdminQueries&) { return o.self_end_others(user, keep_fingerprint, actor); });
}
std::string SqlBackend::check_signout_link(const std::string& token) {
  return with([&](db::Operations& o, db::AdminQueries&) { return o.check_signout_link(token); });
}
db::ActionResult SqlBackend::use_signout_link(const std::string& token, const db::Actor& actor) {
  return with([&](db::Operations& o, db::AdminQueries&) { return o.use_signout_link(token, actor); });
}

db::ActionResult SqlBackend::sso_logout(const db::SsoLogout& logout, const db::Actor& actor) {
  return with([&](db::Operations& o, db::AdminQueries&) { return o.sso_logout(logout, actor); });
}

}  // namespace sg::admin
