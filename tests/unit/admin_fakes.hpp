// Test doubles for fcgi_admin: a Request that records the response, and a Backend that keeps
// sessions and accounts in memory (not a test binary: the Makefile builds test_*.cpp only).
#pragma once
#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "app.hpp"
#include "backend.hpp"
#include "request.hpp"
#include "sg/poller.hpp"

namespace fake {

class Request : public sg::admin::Request {
 public:
  std::map<std::string, std::string> params;
  std::string body_text;
  sg::admin::Response sent;
  int sends = 0;
  std::vector<std::string> logged;

  std::string param(const char* name) const override {
    auto it = params.find(name);
    return it == params.end() ? "" : it->second;
  }
  std::string body(std::size_t limit) override {
    if (body_text.size() > limit) throw sg::admin::PayloadTooLarge("The request body is larger than " + std::to_string(limit) + " bytes.");
    return body_text;
  }
  void send(const sg::admin::Response& response) override {
    sent = response;
    ++sends;
  }
  void log(const std::string& line) override { logged.push_back(line); }
};

inline sg::db::SessionRow session(std::uint64_t id, const std::string& user, const std::string& fingerprint) {
  sg::db::SessionRow s;
  s.id = id;
  s.username = user;
  s.fingerprint = fingerprint;
  s.state = "active";
  s.login_at = 1700000000LL * 1000000 + static_cast<long long>(id) * 1000000;
  s.last_access = s.login_at + 60 * 1000000LL;
  s.client_ip = "192.0.2." + std::to_string(id);
  s.user_agent = "Mozilla/5.0";
  s.device = "Desktop";
  s.browser = "Firefox 121";
  s.os = "Linux";
  s.server_name = "app.example.test";
  s.idle_timeout = 1800;
  return s;
}

inline std::string hex_id(std::uint64_t n) {
  char buffer[65];
  std::snprintf(buffer, sizeof buffer, "%016llx%048d", static_cast<unsigned long long>(n), 0);
  return buffer;
}

class Backend : public sg::admin::Backend {
 public:
  std::vector<sg::db::SessionRow> rows;
  std::map<std::string, sg::db::UserRow> accounts;
  std::vector<sg::db::AuditRow> audit_rows;
  std::vector<sg::db::OutboxRow> mails;
  std::vector<sg::db::InstanceHealthRow> health;
  std::vector<std::string> calls;  // "kill:<fp>", "block:<user>:<reason>", ...
  bool down = false;
  sg::db::SessionQuery last_query;

  Backend() {
    for (const char* name : {"admin", "alice", "bob"}) {
      sg::db::UserRow u;
      u.username = name;
      u.email = std::string(name) + "@example.test";
      u.is_admin = std::string(name) == "admin";
      accounts[name] = u;
    }
  }

  void check() {
    if (down) throw sg::StoreError("cannot connect to MariaDB: Can't connect through socket");
  }
  bool is_admin(const std::string& user) override {
    check();
    auto it = accounts.find(user);
    return it != accounts.end() && it->second.is_admin && it->second.active;
  }
  std::string csrf_key() override {
    check();
    return "unit-test-key";
  }
  sg::db::SessionPage sessions(const sg::db::SessionQuery& query) override {
    check();
    if (!sg::db::valid_session_sort(query.sort)) throw sg::admin::OperationError(sg::admin::OperationError::Kind::bad_input, "sort");
    last_query = query;
    sg::db::SessionPage page;
    for (const auto& r : rows)
      if (r.state == "active" && (query.user.empty() || r.username == query.user)) page.rows.push_back(r);
    if (page.rows.size() > query.limit) {
      page.rows.resize(query.limit);
      page.has_next = true;
    }
    return page;
  }
  std::uint64_t count_sessions(const sg::db::SessionQuery& query, std::uint64_t) override {
    check();
    return static_cast<std::uint64_t>(std::count_if(rows.begin(), rows.end(), [&](const auto& r) {
      return r.state == "active" && (query.user.empty() || r.username == query.user);
    }));
  }
  sg::db::SessionRow find_session(const std::string& id) override {
    check();
    bool hex = id.size() >= 8 && id.size() <= 64 &&
               std::all_of(id.begin(), id.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
    if (!hex) throw sg::admin::OperationError(sg::admin::OperationError::Kind::bad_input, "a session id is 8 to 64 hexadecimal digits");
    for (const auto& r : rows)
      if (r.state == "active" && r.fingerprint.compare(0, id.size(), id) == 0) return r;
    throw sg::admin::OperationError(sg::admin::OperationError::Kind::not_found, "no active session has id " + id);
  }
  sg::db::ActivityStats activity() override {
    check();
    sg::db::ActivityStats s;
    s.active_sessions = rows.size();
    s.active_users = 2;
    s.measured_at = 1700000000LL * 1000000;
    return s;
  }
  std::vector<sg::db::UserRow> users(const sg::db::UserQuery&) override {
    check();
    std::vector<sg::db::UserRow> out;
    for (const auto& [name, u] : accounts) out.push_back(u);
    return out;
  }
  std::optional<sg::db::UserRow> user(const std::string& name) override {
    check();
    auto it = accounts.find(name);
    if (it == accounts.end()) return std::nullopt;
    return it->second;
  }
  std::vector<sg::db::AuditRow> audit(const sg::db::AuditQuery&) override {
    check();
    return audit_rows;
  }
  std::vector<std::string> audit_actions() override { return {"block_user", "kill_session"}; }
  std::vector<sg::db::OutboxRow> outbox(std::size_t, std::uint64_t) override {
    check();
    return mails;
  }
  std::vector<sg::db::InstanceHealthRow> instance_health() override {
    check();
    return health;
  }
  sg::admin::ActionResult act(const std::string& call, const std::string& line) {
    check();
    calls.push_back(call);
    sg::admin::ActionResult r;
    r.message = line;
    r.log_lines.push_back(line);
    r.sessions_ended = 1;
    return r;
  }
  sg::admin::ActionResult kill_session(const std::string& id, const sg::admin::Actor& actor) override {
    auto s = find_session(id);
    for (auto& r : rows)
      if (r.fingerprint == s.fingerprint) r.state = "killed";
    return act("kill:" + s.fingerprint + ":" + actor.source,
               "Session " + s.short_id() + " terminated by administrator " + actor.name);
  }
  sg::admin::ActionResult kill_sessions(const std::vector<std::string>& ids, const sg::admin::Actor& actor) override {
    std::string all;
    for (const auto& id : ids) all += find_session(id).fingerprint.substr(0, 8) + ",";
    return act("kill_many:" + all, std::to_string(ids.size()) + " sessions terminated by administrator " + actor.name);
  }
  // As the database does: names are exact, and only a known account is acted on.
  void known(const std::string& user) {
    check();
    if (!accounts.count(user)) throw sg::admin::OperationError(sg::admin::OperationError::Kind::not_found, "no user named " + user);
  }
  sg::admin::ActionResult kill_user(const std::string& user, const sg::admin::Actor& actor) override {
    known(user);
    return act("kill_user:" + user, "sessions of user " + user + " terminated by administrator " + actor.name);
  }
  sg::admin::ActionResult block_user(const std::string& user, const std::string& reason, const sg::admin::Actor& actor) override {
    if (reason.find_first_not_of(" \t") == std::string::npos)
      throw sg::admin::OperationError(sg::admin::OperationError::Kind::bad_input, "a reason is required to block a user");
    if (user == actor.name) throw sg::admin::OperationError(sg::admin::OperationError::Kind::conflict, "you cannot block your own account");
    known(user);
    return act("block:" + user + ":" + reason, "User " + user + " blocked by administrator " + actor.name);
  }
  sg::admin::ActionResult unblock_user(const std::string& user, const sg::admin::Actor& actor) override {
    known(user);
    return act("unblock:" + user, "User " + user + " unblocked by administrator " + actor.name);
  }
  sg::admin::ActionResult logout_request(const std::string& id, const std::string& subject, const std::string& body,
                                      const sg::admin::Actor&) override {
    auto s = find_session(id);
    return act("logout:" + s.fingerprint.substr(0, 8) + ":" + subject + ":" + body, "Logout request");
  }

  std::string valid_token = "good-token";  // check_signout_link accepts only this one
  bool token_used = false;
  sg::admin::ActionResult set_user_limit(const std::string& user, std::optional<int> limit, const sg::admin::Actor& actor) override {
    known(user);
    accounts[user].max_sessions = limit;
    return act("limit:" + user + ":" + (limit ? std::to_string(*limit) : "none") + ":" + actor.source, "limit set");
  }
  sg::admin::ActionResult end_idle(int minutes, const sg::admin::Actor& actor) override {
    return act("end_idle:" + std::to_string(minutes) + ":" + actor.source, "idle ended");
  }
  sg::admin::ActionResult sign_out_everyone(const std::string& server, const sg::admin::Actor& actor) override {
    return act("sign_out_all:" + server + ":" + actor.name + ":" + actor.source, "signed out");
  }
  std::vector<std::string> active_servers() override {
    check();
    return {"app.example.test", "<b>evil</b>"};
  }
  std::vector<sg::db::SessionRow> user_sessions(const std::string& user) override {
    check();
    std::vector<sg::db::SessionRow> out;
    for (const auto& r : rows)
      if (r.state == "active" && r.username == user) out.push_back(r);
    return out;
  }
  sg::admin::ActionResult self_end_session(const std::string& user, const std::string& id, const std::string& this_device,
                                        const sg::admin::Actor& actor) override {
    for (auto& r : rows) {
      if (r.state == "active" && r.username == user && id.size() >= 8 && r.fingerprint.compare(0, id.size(), id) == 0) {
        if (r.fingerprint == this_device)
          throw sg::admin::OperationError(sg::admin::OperationError::Kind::conflict, "This is the session you are using now.");
        r.state = "killed";
        return act("self_kill:" + r.fingerprint.substr(0, 8) + ":" + actor.name + ":" + actor.source, "signed out");
      }
    }
    throw sg::admin::OperationError(sg::admin::OperationError::Kind::not_found, "You have no active session with this id.");
  }
  sg::admin::ActionResult self_end_others(const std::string& user, const std::string& keep, const sg::admin::Actor& actor) override {
    return act("self_others:" + user + ":" + keep.substr(0, 8) + ":" + actor.source, "others signed out");
  }
  std::string check_signout_link(const std::string& token) override {
    check();
    if (token != valid_token) throw sg::admin::OperationError(sg::admin::OperationError::Kind::bad_input, "This link is not valid.");
    if (token_used) throw sg::admin::OperationError(sg::admin::OperationError::Kind::gone, "This link has already been used.");
    return "alice";
  }
  sg::admin::ActionResult use_signout_link(const std::string& token, const sg::admin::Actor& actor) override {
    check_signout_link(token);
    token_used = true;
    return act("wasnt_me:" + actor.name + ":" + actor.source, "all signed out");
  }
  std::set<std::string> sso_tokens;  // jti digests seen, as sso_logout_tokens
  sg::admin::ActionResult sso_logout(const sg::admin::SsoLogout& logout, const sg::admin::Actor& actor) override {
    check();
    if (!logout.token_hash.empty() && !sso_tokens.insert(logout.token_hash).second)
      throw sg::admin::OperationError(sg::admin::OperationError::Kind::gone, "this logout token (jti) was already used");
    bool cas = logout.protocol == sg::admin::SsoLogout::Protocol::cas;
    return act("sso:" + std::string(cas ? "cas" : "oidc") + ":" + logout.sub + ":" + logout.sid + ":" + logout.ticket +
                   ":" + actor.name + ":" + actor.source,
               "ended by single sign-out");
  }
};

}  // namespace fake
