// The administrators' actions: kill, block, unblock, logout requests and the policies.
#include <set>

#include "admin_service.hpp"
#include "sg/clock.hpp"
#include "sg/crypto.hpp"
#include "sg/mail.hpp"
#include "sg/text.hpp"

namespace sg::admin {

namespace {
using Kind = OperationError::Kind;

std::string now_text() { return mail::format_utc(sg::wall_clock_micros()); }
}  // namespace

std::uint64_t AdminService::audit(Repositories& r, const Actor& actor, std::string action, std::string_view user,
                                  std::string session, std::string_view reason, const std::string& message) {
  return r.writes.insert_audit({actor.name, actor.ip, actor.source, std::move(action), std::string(user),
                                std::move(session), std::string(reason), message});
}

bool AdminService::queue_mail(Repositories& r, const std::string& kind, const std::string& username,
                              const Notice& notice, std::uint64_t audit_id) {
  std::string address = r.writes.email_of(username);
  if (!mail::valid_address(address)) return false;
  r.writes.queue_mail({kind, address, username, notice.subject, notice.body, audit_id});
  return true;
}

// The link's base is configured (public_url), never taken from a request: a Host header is
// the client's to choose, and a link that sends the victim's single-use token to an
// attacker's host would hand them the "sign me out" of somebody else's account.
void AdminService::notify(Repositories& r, bool send, const std::string& kind, const MailTemplate& mail,
                          const std::map<std::string, std::string>& values, std::uint64_t audit_id,
                          ActionResult& result) {
  if (!send) return;
  const std::string& username = values.at("user");
  Notice notice = fill(mail, values);
  std::string link;
  if (policy_.link_base.empty()) {
    result.log_lines.push_back("error: no \"This wasn't me\" link in the notice to " + username +
                               ": public_url is not set in the [fcgi_admin] settings");
  } else {
    SignoutClaim claim{username, sg::wall_clock_micros() + policy_.link_lifetime, sg::random_hex(16)};
    link = policy_.link_base + make_signout_token(signout_key(r), claim);
  }
  notice.body = with_signout_link(std::move(notice.body), link, policy_.link_lifetime);
  if (queue_mail(r, kind, username, notice, audit_id)) result.mails_queued += 1;
}

void AdminService::kill_in_transaction(Repositories& r, const std::string& fingerprint_hex, const Actor& actor,
                                       ActionResult& result) {
  const std::string short_id = db::short_session_id(fingerprint_hex);
  auto session = r.writes.lock_active_session(fingerprint_hex);
  if (!session || !Fingerprint::from_hex(fingerprint_hex))
    throw OperationError(Kind::not_found, "no active session has id " + short_id);
  r.writes.end_session(fingerprint_hex, session->username, Reason::killed, actor.name);
  std::string line = "Session " + short_id + " terminated by administrator " + actor.name;
  std::uint64_t audit_id = audit(r, actor, "kill_session", session->username, fingerprint_hex, "", line);
  result.sessions_ended += 1;
  result.log_lines.push_back(line);
  if (result.message.empty()) result.message = line;
  notify(r, policy_.notify_kill, "kill", policy_.kill,
         {{"user", session->username},
          {"admin", actor.name},
          {"session", short_id},
          {"server", session->server_name.empty() ? "the application" : session->server_name},
          {"time", now_text()}},
         audit_id, result);
}

ActionResult AdminService::kill_session(const std::string& id, const Actor& actor) {
  return with([&](Repositories& r) {
    std::string fingerprint_hex = resolve_session(r, id);
    db::Transaction tx(r.connection);
    ActionResult result;
    kill_in_transaction(r, fingerprint_hex, actor, result);
    tx.commit();
    return result;
  });
}

ActionResult AdminService::kill_sessions(const std::vector<std::string>& ids, const Actor& actor) {
  if (ids.empty()) throw OperationError(Kind::bad_input, "select at least one session");
  if (ids.size() > 1000) throw OperationError(Kind::bad_input, "at most 1000 sessions at once");
  return with([&](Repositories& r) {
    // All or nothing: an unknown id refuses the whole request before anything changes.
    std::vector<std::string> fingerprints;
    std::set<std::string> seen;
    for (const auto& id : ids) {
      std::string fingerprint = resolve_session(r, id);
      if (seen.insert(fingerprint).second) fingerprints.push_back(fingerprint);
    }
    db::Transaction tx(r.connection);
    ActionResult result;
    for (const auto& fingerprint : fingerprints) kill_in_transaction(r, fingerprint, actor, result);
    if (result.sessions_ended > 1)
      result.message = std::to_string(result.sessions_ended) + " sessions terminated by administrator " + actor.name;
    tx.commit();
    return result;
  });
}

ActionResult AdminService::kill_user(const std::string& user, const Actor& actor) {
  validate_username(user);
  return with([&](Repositories& r) {
    db::Transaction tx(r.connection);
    if (!r.writes.lock_account(user)) throw OperationError(Kind::not_found, "no user named " + user);
    ActionResult result;
    auto ended = r.writes.end_sessions_of_user(user, Reason::killed, actor.name);
    result.sessions_ended = ended.size();
    r.writes.set_not_valid_before_now(user);
    for (const auto& session : ended)
      result.log_lines.push_back("Session " + session.short_id + " terminated by administrator " + actor.name);
    result.message = plural(ended.size(), "session", "sessions") + " of user " + user + " terminated by administrator " +
                     actor.name;
    result.log_lines.push_back(result.message);
    std::uint64_t audit_id = audit(r, actor, "kill_user", user, "", "", result.message);
    notify(r, policy_.notify_kill && !ended.empty(), "kill_user", policy_.kill_user,
           {{"user", user}, {"admin", actor.name}, {"count", std::to_string(ended.size())}, {"time", now_text()}},
           audit_id, result);
    tx.commit();
    return result;
  });
}

ActionResult AdminService::block_user(const std::string& user, const std::string& reason, const Actor& actor) {
  validate_username(user);
  if (sg::trim(reason).empty()) throw OperationError(Kind::bad_input, "a reason is required to block a user");
  if (reason.size() > 1000) throw OperationError(Kind::bad_input, "the reason is longer than 1000 bytes");
  // Exact, as MariaDB compares names (binary collation, sql/020_exact_usernames.sql): "Admin"
  // is not the acting "admin" but another account, which must exist (below).
  if (user == actor.name) throw OperationError(Kind::conflict, "you cannot block your own account");
  return with([&](Repositories& r) {
    db::Transaction tx(r.connection);
    // Only a known account is blocked: a mistyped name must change nothing rather than
    // create a blocked account beside the one that was meant.
    if (!r.writes.lock_account(user)) throw OperationError(Kind::not_found, "no user named " + user);
    r.writes.block_account(user, actor.name, reason);
    auto ended = r.writes.end_sessions_of_user(user, Reason::blocked, actor.name);
    ActionResult result;
    result.sessions_ended = ended.size();
    result.message = "User " + user + " blocked by administrator " + actor.name + " (" +
                     plural(ended.size(), "session", "sessions") + " terminated)";
    result.log_lines.push_back(result.message);
    std::uint64_t audit_id = audit(r, actor, "block_user", user, "", reason, result.message);
    notify(r, policy_.notify_block, "block", policy_.block,
           {{"user", user},
            {"admin", actor.name},
            {"reason", reason},
            {"count", std::to_string(ended.size())},
            {"time", now_text()}},
           audit_id, result);
    tx.commit();
    return result;
  });
}

ActionResult AdminService::unblock_user(const std::string& user, const Actor& actor) {
  validate_username(user);
  return with([&](Repositories& r) {
    db::Transaction tx(r.connection);
    auto active = r.writes.lock_account_active(user);
    if (!active) throw OperationError(Kind::not_found, "no user named " + user);
    if (*active) throw OperationError(Kind::conflict, "user " + user + " is not blocked");
    r.writes.unblock_account(user);
    ActionResult result;
    result.message = "User " + user + " unblocked by administrator " + actor.name;
    result.log_lines.push_back(result.message);
    audit(r, actor, "unblock_user", user, "", "", result.message);
    tx.commit();
    return result;
  });
}

ActionResult AdminService::logout_request(const std::string& id, const std::string& subject, const std::string& body,
                                          const Actor& actor) {
  if (sg::trim(subject).empty()) throw OperationError(Kind::bad_input, "a subject is required");
  if (sg::trim(body).empty()) throw OperationError(Kind::bad_input, "a message is required");
  if (subject.size() > 255) throw OperationError(Kind::bad_input, "the subject is longer than 255 bytes");
  if (body.size() > 20000) throw OperationError(Kind::bad_input, "the message is longer than 20000 bytes");
  return with([&](Repositories& r) {
    std::string fingerprint_hex = resolve_session(r, id);
    const std::string short_id = db::short_session_id(fingerprint_hex);
    db::Transaction tx(r.connection);
    auto session = r.writes.lock_active_session(fingerprint_hex);
    if (!session) throw OperationError(Kind::not_found, "no active session has id " + short_id);
    ActionResult result;
    result.message = "Logout request for session " + short_id + " of user " + session->username +
                     " sent by administrator " + actor.name;
    result.log_lines.push_back(result.message);
    std::uint64_t audit_id = audit(r, actor, "logout_request", session->username, fingerprint_hex, subject, result.message);
    if (!queue_mail(r, "logout_request", session->username, {subject, body}, audit_id))
      throw OperationError(Kind::conflict, "user " + session->username + " has no valid email address on file");
    result.mails_queued = 1;
    tx.commit();
    return result;
  });
}

ActionResult AdminService::set_user_limit(const std::string& user, std::optional<int> limit, const Actor& actor) {
  validate_username(user);
  if (limit && (*limit < 0 || *limit > 1000))
    throw OperationError(Kind::bad_input, "a session limit is a number from 0 (no limit) to 1000, or none");
  return with([&](Repositories& r) {
    db::Transaction tx(r.connection);
    if (!r.writes.lock_account(user)) throw OperationError(Kind::not_found, "no user named " + user);
    r.writes.set_max_sessions(user, limit);
    std::string what = !limit ? "removed (the server's setting applies)"
                       : *limit == 0 ? "set to no limit"
                                     : "set to " + plural(static_cast<std::size_t>(*limit), "session", "sessions");
    ActionResult result;
    result.message = "Session limit of user " + user + " " + what + " by administrator " + actor.name;
    result.log_lines.push_back(result.message);
    audit(r, actor, "set_limit", user, "", limit ? std::to_string(*limit) : "none", result.message);
    tx.commit();
    return result;
  });
}

ActionResult AdminService::end_idle(int minutes, const Actor& actor) {
  if (minutes < 1 || minutes > 525600)
    throw OperationError(Kind::bad_input, "the idle time is a number of minutes from 1 to 525600");
  return with([&](Repositories& r) {
    db::Transaction tx(r.connection);
    auto ended = r.writes.end_sessions_idle_for(minutes, actor.name);
    ActionResult result;
    result.sessions_ended = ended.size();
    log_sessions(result, ended, " terminated by administrator " + actor.name);
    result.message = plural(ended.size(), "session", "sessions") + " idle longer than " +
                     plural(static_cast<std::size_t>(minutes), "minute", "minutes") + " terminated by administrator " +
                     actor.name;
    result.log_lines.push_back(result.message);
    audit(r, actor, "end_idle", "", "", std::to_string(minutes) + " min", result.message);
    tx.commit();
    return result;
  });
}

ActionResult AdminService::sign_out_everyone(const std::string& server, const Actor& actor) {
  if (server.size() > 255) throw OperationError(Kind::bad_input, "the server name is longer than 255 bytes");
  return with([&](Repositories& r) {
    db::Transaction tx(r.connection);
    auto ended = r.writes.end_sessions_except_user(actor.name, server, actor.name);
    std::set<std::string> users;
    for (const auto& session : ended) users.insert(session.username);
    ActionResult result;
    result.sessions_ended = ended.size();
    log_sessions(result, ended, " terminated by administrator " + actor.name);
    result.message = plural(ended.size(), "session", "sessions") + " of " + plural(users.size(), "user", "users") +
                     (server.empty() ? std::string() : " on " + server) + " signed out by administrator " + actor.name +
                     " (their own sessions kept)";
    result.log_lines.push_back(result.message);
    audit(r, actor, "sign_out_all", "", "", server.empty() ? "all servers" : "server " + server, result.message);
    tx.commit();
    return result;
  });
}

}  // namespace sg::admin
