// Logins and logouts reach MariaDB from the child that saw them, through a short-lived
// connection; a slot counter in shared memory bounds them per instance.
#include "internal.hpp"

#include <cstring>

#include "sg/denial.hpp"
#include "sg/fingerprint.hpp"
#include "sg/sso.hpp"
#include "sg/text.hpp"

namespace sg::apache {

// Enforced here at once, not from the next poll: an app that marks a session signed in
// before the module refuses it must not serve that session meanwhile.
void revoke_on_this_instance(const sg::Fingerprint& fingerprint, sg::Reason reason, sg::Micros now) {
  g_process.region->revoke_locally(fingerprint, reason, now);
}

sg::Reason revoked_reason(const sg::DenyRegion& region, const RequestState& state) {
  sg::Reason reason = state.fingerprint ? region.session_revoked(*state.fingerprint) : sg::Reason::none;
  for (std::size_t i = 0; reason == sg::Reason::none && i < state.aliases.size(); ++i) {
    reason = region.session_revoked(state.aliases[i]);
  }
  return reason;
}

sg::LoginRecord login_record(request_rec* r, const RequestState& state, const std::string& username) {
  const sg::DirConfig& config = dir_config(r);
  sg::LoginRecord login;
  login.fingerprint = *state.fingerprint;
  login.username = username;
  login.cookie_name = state.cookie != nullptr ? state.cookie->name : kTrackingCookie;
  login.client_ip = r->useragent_ip != nullptr ? r->useragent_ip : "";
  login.user_agent = std::string(header_in(r, "User-Agent"));
  login.server_name = r->server->server_hostname != nullptr ? r->server->server_hostname : "";
  login.idle_timeout_seconds = static_cast<int>(config.idle_timeout.value_or(0) / sg::kMicrosPerSecond);
  login.max_lifetime_seconds = static_cast<int>(config.max_lifetime.value_or(0) / sg::kMicrosPerSecond);
  login.max_sessions = static_cast<int>(config.max_sessions.value_or(0));
  login.refuse_new = config.refuse_new.value_or(false);
  // Single sign-out: what ties this session to the identity provider's, when the request
  // carries it. mod_auth_openidc passes the ID token's claims as environment variables (a
  // client cannot set those; the same names as headers could be its own). A CAS service
  // ticket is in the query of the request that the CAS client (mod_auth_cas, or the app's
  // own) validated. Only digests are stored: a ticket is a bearer credential while valid.
  const char* sid = apr_table_get(r->subprocess_env, "OIDC_CLAIM_sid");
  const char* sub = apr_table_get(r->subprocess_env, "OIDC_CLAIM_sub");
  if (sid != nullptr && *sid != '\0' && std::strlen(sid) <= 255) login.sso_key = sg::sso_key_oidc_sid(sid);
  if (sub != nullptr && *sub != '\0' && std::strlen(sub) <= 255) login.sso_sub = sub;
  if (login.sso_key.empty() && r->args != nullptr) {
    std::string ticket = sg::cas_ticket_from_query(r->args);
    if (!ticket.empty()) login.sso_key = sg::sso_key_cas_ticket(ticket);
  }
  return login;
}

// Records the binding; returns the reason to refuse it, or none. A refused session is
// revoked in the database too, so the app's new session can never be used.
sg::Reason bind_session(request_rec* r, RequestState& state, const std::string& username, const char* how) {
  // A name we could not store or log faithfully is a session we could not end: refuse it.
  if (!sg::bindable_user_name(username)) {
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "session guard: refused to bind a session to the user name '%s' (%s)",
                  ap_escape_logitem(r->pool, username.substr(0, 200).c_str()), how);
    return sg::Reason::refused;
  }
  sg::DenyRegion& region = *g_process.region;
  sg::Fingerprint user = sg::user_key(username);
  if (sg::Reason revoked = revoked_reason(region, state); revoked != sg::Reason::none) return revoked;
  bool known_blocked = region.user_blocked(user);
  if (!known_blocked && region.bound_to(*state.fingerprint, user)) return sg::Reason::none;
  sg::db::LoginOutcome outcome;
  try {
    // Even a login we already know to refuse is recorded: the admin sees the attempt, and
    // the session the app just created is revoked everywhere.
    with_login_connection(r, [&](sg::db::Connection& db) { outcome = sg::db::record_login(db, login_record(r, state, username)); });
  } catch (const sg::StoreError& e) {
    if (known_blocked) {
      revoke_on_this_instance(*state.fingerprint, sg::Reason::blocked, sg::wall_clock_micros());
      return sg::Reason::blocked;
    }
    // Admitted on the last known deny-list: the journal is on disk before the login is
    // answered and the poller records it (limits, blocks made meanwhile) once it can.
    if (!admit_when_unreachable(r) || !journal_login(r, login_record(r, state, username), e.what())) throw;
    region.mark_bound(*state.fingerprint, user, sg::wall_clock_micros(), username);
    return sg::Reason::none;
  }
  switch (outcome.kind) {
    case sg::db::LoginOutcome::Kind::user_blocked:
      revoke_on_this_instance(*state.fingerprint, sg::Reason::blocked, sg::wall_clock_micros());
      return sg::Reason::blocked;
    case sg::db::LoginOutcome::Kind::over_limit:
      revoke_on_this_instance(*state.fingerprint, sg::Reason::refused, sg::wall_clock_micros());
      state.limit = outcome.limit;
      ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "session guard: login of %s refused: limit of %d sessions reached",
                    username.c_str(), outcome.limit);
      return sg::Reason::refused;
    case sg::db::LoginOutcome::Kind::recorded:
      break;
  }
  region.mark_bound(*state.fingerprint, user, sg::wall_clock_micros(), username);
  ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "session guard: session %s bound to user %s (%s)",
                state.fingerprint->short_id().c_str(), username.c_str(), how);
  for (const auto& evicted : outcome.evicted) {
    if (auto superseded = sg::Fingerprint::from_hex(evicted)) {
      revoke_on_this_instance(*superseded, sg::Reason::superseded, sg::wall_clock_micros());
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "session guard: session %s of %s superseded (limit %d)",
                  sg::Fingerprint::from_hex(evicted)->short_id().c_str(), username.c_str(), outcome.limit);
  }
  return sg::Reason::none;
}

}  // namespace sg::apache
