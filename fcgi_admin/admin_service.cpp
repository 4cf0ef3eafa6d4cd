// The admin service's reads and the checks every action shares.
#include "admin_service.hpp"

#include <algorithm>
#include <cctype>

#include "sg/crypto.hpp"
#include "sg/text.hpp"

namespace sg::admin {

std::string AdminService::session_id_prefix(std::string_view id) {
  std::string hex = sg::to_lower(id);
  bool valid = hex.size() >= 8 && hex.size() <= 64 &&
               std::all_of(hex.begin(), hex.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
  return valid ? hex : std::string();
}

void validate_username(std::string_view username) {
  using Kind = OperationError::Kind;
  if (username.empty()) throw OperationError(Kind::bad_input, "a user name is required");
  if (username.size() > 190) throw OperationError(Kind::bad_input, "the user name is longer than 190 bytes");
  // Never sanitised: a name changed to fit would be somebody else's account.
  if (!sg::utf8_valid(username)) throw OperationError(Kind::bad_input, "the user name is not valid UTF-8");
  for (unsigned char c : username) {
    if (c < 0x20 || c == 0x7f) throw OperationError(Kind::bad_input, "the user name contains control characters");
  }
}

std::string AdminService::resolve_session(Repositories& r, std::string_view id) {
  std::string hex = session_id_prefix(id);
  if (hex.empty())
    throw OperationError(OperationError::Kind::bad_input, "a session id is 8 to 64 hexadecimal digits (the start of its fingerprint)");
  auto found = r.sessions.active_with_prefix(hex, 2);
  if (found.empty()) throw OperationError(OperationError::Kind::not_found, "no active session has id " + hex.substr(0, 8));
  if (found.size() > 1) throw OperationError(OperationError::Kind::conflict, "session id " + hex + " is ambiguous; give more digits");
  return found[0];
}

bool AdminService::is_admin(const std::string& user) {
  return with([&](Repositories& r) { return r.queries.is_admin(user); });
}

std::string AdminService::csrf_key() {
  if (csrf_key_.empty()) {
    csrf_key_ = with([&](Repositories& r) { return r.queries.setting("csrf_key", sg::random_hex(32)); });
  }
  return csrf_key_;
}

db::SessionPage AdminService::sessions(const db::SessionQuery& query) {
  if (!db::valid_session_sort(query.sort))
    throw OperationError(OperationError::Kind::bad_input, "unknown sort column '" + query.sort + "'");
  if (query.search.size() > 200) throw OperationError(OperationError::Kind::bad_input, "the search text is too long");
  return with([&](Repositories& r) { return r.sessions.page(query); });
}

std::uint64_t AdminService::count_sessions(const db::SessionQuery& query, std::uint64_t cap) {
  return with([&](Repositories& r) { return r.sessions.count(query, cap); });
}

db::SessionRow AdminService::find_session(const std::string& id) {
  return with([&](Repositories& r) {
    std::string fingerprint = resolve_session(r, id);
    auto row = r.sessions.by_fingerprint(fingerprint);
    if (!row) throw OperationError(OperationError::Kind::not_found, "no active session has id " + db::short_session_id(fingerprint));
    return *row;
  });
}

db::ActivityStats AdminService::activity() {
  return with([&](Repositories& r) { return r.queries.activity(sample_stale_after_); });
}
std::vector<db::UserRow> AdminService::users(const db::UserQuery& query) {
  return with([&](Repositories& r) { return r.queries.users(query); });
}
std::optional<db::UserRow> AdminService::user(const std::string& name) {
  return with([&](Repositories& r) { return r.queries.user(name); });
}
std::vector<db::AuditRow> AdminService::audit(const db::AuditQuery& query) {
  return with([&](Repositories& r) { return r.queries.audit(query); });
}
std::vector<std::string> AdminService::audit_actions() {
  return with([&](Repositories& r) { return r.queries.audit_actions(); });
}
std::vector<db::OutboxRow> AdminService::outbox(std::size_t limit, std::uint64_t before_id) {
  return with([&](Repositories& r) { return r.queries.outbox(limit, before_id); });
}
std::vector<db::InstanceHealthRow> AdminService::instance_health() {
  return with([&](Repositories& r) { return r.queries.instance_health(); });
}
std::vector<std::string> AdminService::active_servers() {
  return with([&](Repositories& r) { return r.sessions.active_servers(); });
}

std::vector<db::SessionRow> AdminService::user_sessions(const std::string& user) {
  validate_username(user);
  return with([&](Repositories& r) { return r.sessions.active_of_user(user, 200); });
}

}  // namespace sg::admin
