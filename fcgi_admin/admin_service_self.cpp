// What users do to their own sessions ("My sessions", "This wasn't me" links) and what an
// identity provider's single sign-out does.
#include <set>

#include "admin_service.hpp"
#include "sg/clock.hpp"
#include "sg/crypto.hpp"
#include "sg/sso.hpp"

namespace sg::admin {

namespace {
using Kind = OperationError::Kind;

// Malformed, unknown and somebody else's look the same: nothing to learn from probing.
const char* const kNoSuchOwnSession = "You have no active session with this id.";
const char* const kLinkUsed = "This link has already been used. Nothing more was changed.";

// Which sessions a logout names, and how the audit line calls it.
struct SsoTarget {
  enum class By { key, subject } by = By::key;
  std::string value;
  std::string what;
};

SsoTarget sso_target(const SsoLogout& logout) {
  if (logout.protocol == SsoLogout::Protocol::cas) {
    if (!valid_cas_ticket(logout.ticket)) throw OperationError(Kind::bad_input, "not a CAS ticket");
    return {SsoTarget::By::key, sso_key_cas_ticket(logout.ticket), "CAS single logout"};
  }
  // The provider's session, as the login recorded it; a sid never matches a ticket's digest.
  if (!logout.sid.empty())
    return {SsoTarget::By::key, sso_key_oidc_sid(logout.sid), "OpenID Connect back-channel logout (sid)"};
  if (!logout.sub.empty()) return {SsoTarget::By::subject, logout.sub, "OpenID Connect back-channel logout (sub)"};
  throw OperationError(Kind::bad_input, "a logout names neither a sub, a sid nor a ticket");
}
}  // namespace

ActionResult AdminService::self_end_session(const std::string& user, const std::string& id,
                                            const std::string& this_device, const Actor& actor) {
  validate_username(user);
  std::string hex = session_id_prefix(id);
  if (hex.empty()) throw OperationError(Kind::not_found, kNoSuchOwnSession);
  return with([&](Repositories& r) {
    db::Transaction tx(r.connection);
    auto found = r.sessions.own_active_with_prefix_for_update(user, hex);
    if (found.size() != 1) throw OperationError(Kind::not_found, kNoSuchOwnSession);
    // Judged on the session the id resolved to, however short the id was: a prefix of this
    // device's fingerprint is this device.
    if (found[0] == this_device)
      throw OperationError(Kind::conflict, "This is the session you are using now. To end it, sign out in the application.");
    if (!r.writes.end_session(found[0], user, Reason::killed, actor.name))
      throw OperationError(Kind::not_found, kNoSuchOwnSession);
    ActionResult result;
    result.sessions_ended = 1;
    result.message = "Session " + db::short_session_id(found[0]) + " signed out by its user " + user;
    result.log_lines.push_back(result.message);
    audit(r, actor, "self_sign_out", user, found[0], "", result.message);
    tx.commit();
    return result;
  });
}

ActionResult AdminService::self_end_others(const std::string& user, const std::string& keep_fingerprint,
                                           const Actor& actor) {
  validate_username(user);
  return with([&](Repositories& r) {
    db::Transaction tx(r.connection);
    auto ended = r.writes.end_other_sessions_of_user(user, keep_fingerprint, actor.name);
    ActionResult result;
    result.sessions_ended = ended.size();
    log_sessions(result, ended, " signed out by its user " + user);
    result.message = plural(ended.size(), "other session", "other sessions") + " of user " + user + " signed out by the user";
    result.log_lines.push_back(result.message);
    audit(r, actor, "self_sign_out_others", user, keep_fingerprint, "", result.message);
    tx.commit();
    return result;
  });
}

std::string AdminService::signout_key(Repositories& r) {
  if (!policy_.link_key.empty()) return policy_.link_key;
  std::string key = r.queries.setting("signout_link_key", sg::random_hex(32));
  if (key.empty()) throw StoreError("the link key could not be stored");
  return key;
}

SignoutClaim AdminService::checked_signout_claim(Repositories& r, std::string_view token) {
  SignoutClaim claim;
  switch (check_signout_token(signout_key(r), token, sg::wall_clock_micros(), claim)) {
    case TokenCheck::ok: break;
    case TokenCheck::expired:
      throw OperationError(Kind::gone, "This link has expired. Nothing was changed; if you still need to, "
                                       "sign in and use \"My sessions\", or contact your helpdesk.");
    default:
      throw OperationError(Kind::bad_input,
                           "This link is not valid (it may have been cut short or altered). Nothing was changed.");
  }
  if (r.writes.signout_nonce_used(claim.nonce)) throw OperationError(Kind::gone, kLinkUsed);
  return claim;
}

std::string AdminService::check_signout_link(const std::string& token) {
  return with([&](Repositories& r) { return checked_signout_claim(r, token).user; });
}

ActionResult AdminService::use_signout_link(const std::string& token, const Actor& actor) {
  return with([&](Repositories& r) {
    SignoutClaim claim = checked_signout_claim(r, token);
    const std::string& user = claim.user;
    db::Transaction tx(r.connection);
    if (!r.writes.use_signout_nonce(claim.nonce, user, claim.expires_at, actor.ip))
      throw OperationError(Kind::gone, kLinkUsed);
    r.writes.lock_account(user);
    auto ended = r.writes.end_sessions_of_user(user, Reason::killed, user);
    r.writes.set_not_valid_before_now(user);
    ActionResult result;
    result.sessions_ended = ended.size();
    log_sessions(result, ended, " signed out by its user " + user);
    result.message = "All sessions of user " + user + " (" + std::to_string(ended.size()) + ") signed out by " + user +
                     " through a \"This wasn't me\" link";
    result.log_lines.push_back(result.message);
    audit(r, {user, actor.ip, "link"}, "wasnt_me", user, "", "", result.message);
    tx.commit();
    return result;
  });
}

ActionResult AdminService::sso_logout(const SsoLogout& logout, const Actor& actor) {
  const SsoTarget target = sso_target(logout);
  return with([&](Repositories& r) {
    db::Transaction tx(r.connection);
    if (!logout.token_hash.empty() && !r.writes.use_sso_token(logout.token_hash, logout.token_expires))
      throw OperationError(Kind::gone, "this logout token (jti) was already used");
    auto ended = target.by == SsoTarget::By::key ? r.writes.end_sessions_by_sso_key(target.value, actor.name)
                                                 : r.writes.end_sessions_by_sso_subject(target.value, actor.name);
    // An app with its own CAS client never named its user to the web server: the values its
    // ticket's response set are revoked by themselves.
    const std::size_t unbound = logout.protocol == SsoLogout::Protocol::cas
                                    ? r.writes.revoke_unbound_ticket_values(target.value, "(CAS logout " + target.value.substr(0, 8) + ")")
                                    : 0;
    std::set<std::string> users;
    for (const auto& session : ended) users.insert(session.username);
    std::string whose = users.size() == 1 ? " of user " + *users.begin()
                        : users.empty()   ? ""
                                          : " of " + plural(users.size(), "user", "users");
    ActionResult result;
    result.sessions_ended = ended.size() + unbound;
    log_sessions(result, ended, " ended by single sign-out from " + actor.name);
    result.message = plural(ended.size(), "session", "sessions") + whose +
                     (unbound > 0 ? " and " + plural(unbound, "session", "sessions") + " of no known user" : "") +
                     " ended by " + target.what + " from " + actor.name;
    result.log_lines.push_back(result.message);
    audit(r, actor, "sso_logout", users.size() == 1 ? *users.begin() : logout.sub, "", target.what, result.message);
    tx.commit();
    return result;
  });
}

}  // namespace sg::admin
