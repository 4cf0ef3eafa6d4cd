// Reading the app's answer: a confirmed login binds its session, a confirmed logout ends it,
// and a bound session's new cookie values are followed (lineage).
#include "internal.hpp"

#include <algorithm>
#include <cstring>

#include "sg/app_reader.hpp"
#include "sg/cookie.hpp"
#include "sg/fingerprint.hpp"
#include "sg/sso.hpp"
#include "sg/text.hpp"

namespace sg::apache {

// The response as the login and logout rules read it; views into r's tables and `state`.
sg::AppResponse app_response(request_rec* r, const RequestState& state) {
  sg::AppResponse response;
  response.status = r->status;
  for (apr_table_t* table : {r->headers_out, r->err_headers_out}) {
    const apr_array_header_t* entries = apr_table_elts(table);
    auto* items = reinterpret_cast<const apr_table_entry_t*>(entries->elts);
    for (int i = 0; i < entries->nelts; ++i) {
      if (items[i].key == nullptr) continue;
      response.header_names.emplace_back(items[i].key);
      if (items[i].val == nullptr) continue;
      if (strcasecmp(items[i].key, "Set-Cookie") == 0) response.set_cookies.emplace_back(items[i].val);
      else if (strcasecmp(items[i].key, "Location") == 0 && response.location.empty()) response.location = items[i].val;
    }
  }
  response.body = state.response_body;
  response.body_complete = state.response_body_complete;
  return response;
}

// With no rule of its own, a logout counts when the response clears or replaces the
// session's cookie: an app that refused the logout (no CSRF token, a decoy parameter) does not.
bool logout_confirmed(request_rec* r, const RequestState& state, const sg::AppResponse& response) {
  const sg::LogoutRule& rule = *state.logout_rule;
  if (!rule.form.empty() &&
      (state.body == nullptr ||
       sg::match_form_fields(rule.form, state.body->text, state.body->truncated, header_in(r, "Content-Type")) !=
           sg::TargetMatch::yes)) {
    return false;
  }
  if (!rule.success.empty()) return sg::response_confirms(rule.success, rule.target, response) == sg::Confirmation::yes;
  std::string_view name = state.cookie != nullptr ? std::string_view(state.cookie->name) : std::string_view(kTrackingCookie);
  for (std::string_view header : response.set_cookies) {
    auto value = sg::set_cookie_value(header, name);
    if (!value) continue;
    if (sg::set_cookie_clears(header) || sg::session_fingerprint(name, *value) != *state.fingerprint) return true;
  }
  return false;
}

// A login the app accepted but whose user the module cannot read the way the app did: the
// app's session must never be usable, so every value it may have (the request's cookies,
// which an app that keeps its id across logins has just signed in, and the new one) is
// revoked, on this instance at once.
void end_unreadable_login(request_rec* r, RequestState& state, const std::optional<sg::Fingerprint>& issued) {
  std::vector<sg::Fingerprint> values = state.aliases;
  if (state.fingerprint) values.push_back(*state.fingerprint);
  if (issued) values.push_back(*issued);
  sg::Micros now = sg::wall_clock_micros();
  for (const auto& value : values) revoke_on_this_instance(value, sg::Reason::refused, now);
  // Nobody's name can be given to these revocations: they are kept under the client's
  // address, so one client's refusals compete only with each other for deny-list room
  // (fixups refuses a request with more than kMaxSessionValues values before the app runs).
  std::string owner = std::string("(refused login from ") + (r->useragent_ip != nullptr ? r->useragent_ip : "?") + ")";
  try {
    with_login_connection(r, [&](sg::db::Connection& db) {
      for (const auto& value : values) sg::db::insert_deny_event(db, value, owner, sg::Reason::refused);
    });
  } catch (const std::exception& e) {
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                  "session guard: cannot record the refusal of an unreadable login (refused on this server only): %s",
                  e.what());
  }
}

// Ties a value the response gives one of the session's cookies to the session (lineage), so
// whatever ends the session ends that value too; bound here at once for this instance.
void record_session_value(request_rec* r, const sg::Fingerprint& session, const std::string& user,
                          const sg::IssuedCookie& issued) {
  sg::Fingerprint value = sg::session_fingerprint(issued.spec->name, issued.value);
  if (value == session || g_process.region->bound_to(value, sg::user_key(user))) return;
  sg::db::ValueTie tie = sg::db::ValueTie::unknown_session;
  try {
    with_login_connection(r, [&](sg::db::Connection& db) {
      tie = sg::db::record_session_value(db, session, value, issued.spec->name);
    });
  } catch (const std::exception& e) {
    // A value we could not tie is one a kill could not end: it does not work here. (The
    // other servers learn nothing of it until the database answers; see the README.)
    revoke_on_this_instance(value, sg::Reason::expired, sg::wall_clock_micros());
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                  "session guard: cannot tie cookie %s set for session %s of %s, so it is refused on this server: %s",
                  issued.spec->name.c_str(), session.short_id().c_str(), ap_escape_logitem(r->pool, user.c_str()),
                  e.what());
    return;
  }
  switch (tie) {
    case sg::db::ValueTie::tied:
      g_process.region->mark_bound(value, sg::user_key(user), sg::wall_clock_micros(), user);
      ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "session guard: session %s of %s goes on as %s (cookie %s set by the app)",
                    session.short_id().c_str(), ap_escape_logitem(r->pool, user.c_str()), value.short_id().c_str(),
                    issued.spec->name.c_str());
      break;
    case sg::db::ValueTie::session_ended:
      // Ended while its response was on the way: the database revoked the value for every
      // server; this one enforces it at once.
      revoke_on_this_instance(value, sg::Reason::killed, sg::wall_clock_micros());
      break;
    case sg::db::ValueTie::unknown_session:
    case sg::db::ValueTie::already_known:
      break;
  }
}

// The user the app names in the configured response header, which never reaches the client.
std::string user_from_header(request_rec* r, const sg::DirConfig& config) {
  if (!config.user_header) return {};
  const char* named = apr_table_get(r->headers_out, config.user_header->c_str());
  if (named == nullptr) named = apr_table_get(r->err_headers_out, config.user_header->c_str());
  std::string user = named != nullptr ? named : "";
  apr_table_unset(r->headers_out, config.user_header->c_str());
  apr_table_unset(r->err_headers_out, config.user_header->c_str());
  return user;
}

// The user a login form the app accepted names: "" when this is no such login, none when
// the app accepted one whose user cannot be read (then it is refused).
std::optional<std::string> user_from_login_form(request_rec* r, const RequestState& state,
                                                const sg::AppResponse& response) {
  std::string_view content_type = header_in(r, "Content-Type");
  const sg::LoginForm* form = state.login_form;
  if (form == nullptr ||
      (!form->form.empty() &&
       (state.body == nullptr ||
        sg::match_form_fields(form->form, state.body->text, state.body->truncated, content_type) == sg::TargetMatch::no)))
    return std::string();
  sg::Confirmation confirmed = sg::response_confirms(form->success, form->target, response);
  if (confirmed == sg::Confirmation::no) return std::string();
  sg::FieldReading reading;
  if (confirmed == sg::Confirmation::unknown) {
    reading.kind = sg::FieldReading::Kind::unreadable;
    reading.detail = "the response is longer than the success rule reads";
  } else {
    reading = state.body == nullptr
                  ? sg::read_login_field("", true, content_type, r->args ? r->args : "", form->user_field)
                  : sg::read_login_field(state.body->text, state.body->truncated, content_type,
                                         r->args ? r->args : "", form->user_field);
  }
  if (reading.kind == sg::FieldReading::Kind::found) return std::move(reading.value);
  // Fail closed: a session we cannot name is a session nobody could end.
  ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                "session guard: refused a login the app accepted: cannot tell who signed in from field '%s': %s",
                form->user_field.c_str(), reading.detail.c_str());
  return std::nullopt;
}

// Reads the held (or first) part of the response; returns true when it replaced it.
bool judge_response(ap_filter_t* f, apr_bucket_brigade* bb, RequestState& state) {
  request_rec* r = f->r;
  const sg::DirConfig& config = dir_config(r);
  std::string user = user_from_header(r, config);
  const char* how = user.empty() ? nullptr : "response header";
  sg::AppResponse response = app_response(r, state);
  // A regenerated id: the first configured cookie the response sets is the one bound.
  const sg::CookieSpec* spec = state.cookie;
  std::optional<sg::Fingerprint> issued;
  std::vector<sg::IssuedCookie> issued_cookies;
  if (config.cookies) issued_cookies = sg::cookies_issued(response, *config.cookies);
  if (!issued_cookies.empty()) {
    spec = issued_cookies.front().spec;
    issued = sg::session_fingerprint(spec->name, issued_cookies.front().value);
  }

  if (state.logout_rule != nullptr && state.fingerprint) state.logout = logout_confirmed(r, state, response);

  if (user.empty()) {
    std::optional<std::string> named = user_from_login_form(r, state, response);
    if (!named) {
      end_unreadable_login(r, state, issued);
      replace_response(f, bb, state, sg::Reason::refused);
      return true;
    }
    user = std::move(*named);
    how = "login form";
  }
  if (user.empty()) return false;
  if (issued) {
    state.cookie = spec;
    state.fingerprint = issued;
    state.fingerprint_ambiguous = false;
  }
  if (!state.fingerprint) return false;
  sg::Reason refused = sg::Reason::none;
  if (state.fingerprint_ambiguous) {
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                  "session guard: refused the login of %s: the session cookie reads differently to different apps",
                  ap_escape_logitem(r->pool, user.c_str()));
    refused = sg::Reason::refused;
    end_unreadable_login(r, state, issued);
  } else {
    try {
      refused = bind_session(r, state, user, how);
    } catch (const sg::StoreError& e) {
      // A login we cannot record is a login we could not end later: refuse it.
      ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "session guard: cannot record login of %s: %s",
                    ap_escape_logitem(r->pool, user.c_str()), e.what());
      refused = sg::Reason::unavailable;
    }
  }
  if (refused == sg::Reason::none) {
    state.bound_here = true;
    // "Remember me" and the app's other cookies set with the login are the same session.
    for (std::size_t i = 1; i < issued_cookies.size(); ++i) {
      record_session_value(r, *state.fingerprint, user, issued_cookies[i]);
    }
    return false;
  }
  // Whatever the app signed in with this login (the new value, or the request's own when
  // the app keeps its id) is dead on this server from now; the database tells the others.
  // A login we could not record is refused too: the browser is told to drop the cookie and
  // signs in again once the database answers.
  sg::Reason local = refused == sg::Reason::unavailable ? sg::Reason::refused : refused;
  sg::Micros now = sg::wall_clock_micros();
  if (issued) revoke_on_this_instance(*issued, local, now);
  if (state.fingerprint) revoke_on_this_instance(*state.fingerprint, local, now);
  replace_response(f, bb, state, refused);
  return true;
}

// Keeps back the response (set aside) until the whole body or kMaxResponseBody is in hand.
// Returns true when the response is complete enough to judge.
bool hold_response(ap_filter_t* f, apr_bucket_brigade* bb, RequestState& state) {
  bool end = false;
  for (apr_bucket* b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb); b = APR_BUCKET_NEXT(b)) {
    if (APR_BUCKET_IS_EOS(b)) {
      end = true;
      continue;
    }
    if (APR_BUCKET_IS_METADATA(b) || !state.response_body_complete) continue;
    const char* data = nullptr;
    apr_size_t length = 0;
    if (apr_bucket_read(b, &data, &length, APR_BLOCK_READ) != APR_SUCCESS) {
      state.response_body_complete = false;
      continue;
    }
    std::size_t room = kMaxResponseBody - state.response_body.size();
    if (length > room) state.response_body_complete = false;
    state.response_body.append(data, std::min<std::size_t>(length, room));
  }
  ap_save_brigade(f, &state.held, &bb, f->r->pool);
  return end || !state.response_body_complete;
}

apr_status_t response_filter(ap_filter_t* f, apr_bucket_brigade* bb) noexcept {
  auto* state = static_cast<RequestState*>(f->ctx);
  request_rec* r = f->r;
  if (state->response_done) {
    // A replaced response: drop the rest of what the app writes.
    apr_brigade_cleanup(bb);
    return APR_SUCCESS;
  }
  try {
    if (state->hold_response) {
      if (!hold_response(f, bb, *state)) return APR_SUCCESS;
      bb = state->held;
      state->hold_response = false;
    }
    if (judge_response(f, bb, *state)) {
      ap_remove_output_filter(f);
      return APR_SUCCESS;
    }
  } catch (const std::exception& e) {
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "session guard: %s", e.what());
  } catch (...) {
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "session guard: unexpected error in response filter");
  }
  ap_remove_output_filter(f);
  return ap_pass_brigade(f->next, bb);
}

const char* query_with_ticket(const request_rec* r) noexcept {
  const char* query = r->unparsed_uri != nullptr ? std::strchr(r->unparsed_uri, '?') : nullptr;
  return query != nullptr && std::strstr(query, "ticket") != nullptr ? query + 1 : nullptr;
}

namespace {
constexpr const char* kCookiesSentNote = "session-guard-cookies-sent";

// The configuration that asks for CAS ticket ties: the request's, or an internal redirect's.
const sg::DirConfig* cas_ticket_config(request_rec* first, request_rec* last) {
  for (request_rec* r : {last, first}) {
    const sg::DirConfig& config = dir_config(r);
    if (config.enabled.value_or(false) && config.cas_tickets.value_or(false) && config.cookies) return &config;
  }
  return nullptr;
}

// CAS single logout for sessions whose login the module did not see with its ticket:
// mod_auth_cas validates ?ticket=ST-... and answers with a redirect before any handler runs
// (having cut the ticket out of r->args), and an app with its own CAS client never tells the
// web server its user. The values the response to the ticket's request set for configured
// cookies are tied to the ticket, so a logoutRequest for it ends them on every server.
// Only new values of a response that is no error: a browser lured to a link with somebody
// else's ticket sends its own session, which the app keeps (or the ticket is refused), and
// that session must not become the ticket's.
void tie_cas_tickets(request_rec* first, request_rec* r, const RequestState* state) {
  const char* query = query_with_ticket(first);
  if (query == nullptr) return;  // nearly every request: nothing more to look at
  const sg::DirConfig* config = cas_ticket_config(first, r);
  if (config == nullptr || !g_process.region || r->status >= 400) return;
  if (state != nullptr && state->denial != sg::Reason::none) return;
  const std::vector<std::string> tickets = sg::cas_tickets_in_query(query);
  if (tickets.empty()) return;
  std::vector<sg::Fingerprint> sent;
  const char* kept = apr_table_get(first->notes, kCookiesSentNote);
  std::string_view cookie_header = kept != nullptr ? std::string_view(kept) : header_in(first, "Cookie");
  for (const auto& spec : *config->cookies) {
    for (const auto& value : sg::cookie_readings(cookie_header, spec.name)) {
      sent.push_back(sg::session_fingerprint(spec.name, value));
    }
  }
  const RequestState none;
  std::vector<std::pair<sg::Fingerprint, std::string>> values;
  for (const auto& issued : sg::cookies_issued(app_response(r, state != nullptr ? *state : none), *config->cookies)) {
    sg::Fingerprint value = sg::session_fingerprint(issued.spec->name, issued.value);
    if (std::find(sent.begin(), sent.end(), value) == sent.end()) values.emplace_back(value, issued.spec->name);
  }
  if (values.empty()) return;
  std::vector<std::string> keys;
  for (const auto& ticket : tickets) keys.push_back(sg::sso_key_cas_ticket(ticket));
  try {
    with_login_connection(r, [&](sg::db::Connection& db) {
      for (const auto& key : keys) {
        for (const auto& [value, cookie] : values) sg::db::tie_ticket_value(db, key, value, cookie);
      }
    });
  } catch (const sg::StoreError& e) {
    for (const auto& key : keys) {
      for (const auto& [value, cookie] : values) {
        // A value no CAS logout could end does not work here (as an untied re-keyed value).
        if (!journal_ticket_tie(r, key, value, cookie, e.what())) {
          revoke_on_this_instance(value, sg::Reason::expired, sg::wall_clock_micros());
        }
      }
    }
    return;
  }
  for (const auto& [value, cookie] : values) {
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "session guard: session value %s (cookie %s) tied to its CAS ticket",
                  value.short_id().c_str(), cookie.c_str());
  }
}
}  // namespace

int keep_cookies_sent_with_ticket(request_rec* r) noexcept {
  if (r->main != nullptr || r->prev != nullptr || query_with_ticket(r) == nullptr) return DECLINED;
  try {
    const sg::DirConfig& config = dir_config(r);
    if (!config.enabled.value_or(false) || !config.cas_tickets.value_or(false)) return DECLINED;
  } catch (...) {
    return DECLINED;  // then the ticket's tie reads the Cookie header as it is at the end
  }
  const char* cookies = apr_table_get(r->headers_in, "Cookie");
  apr_table_setn(r->notes, kCookiesSentNote, cookies != nullptr ? cookies : "");
  return DECLINED;
}

// After the response: a confirmed logout is recorded; a bound session whose response set new
// values for its cookies (a re-keyed id, a "remember me" cookie) is followed to them; the
// values a CAS ticket's response set are tied to it.
int log_transaction(request_rec* r) noexcept {
  request_rec* first = r;
  while (r->next != nullptr) r = r->next;  // an internal redirect's last request answered
  RequestState* state = request_state(r);
  try {
    tie_cas_tickets(first, r, state);
  } catch (const std::exception& e) {
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "session guard: cannot tie a CAS ticket: %s", e.what());
  } catch (...) {
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "session guard: cannot tie a CAS ticket");
  }
  if (state == nullptr || !state->fingerprint || state->denial != sg::Reason::none || state->response_done) {
    return DECLINED;
  }
  try {
    if (state->logout) {
      try {
        with_login_connection(r, [&](sg::db::Connection& db) { sg::db::record_logout(db, *state->fingerprint); });
      } catch (const sg::StoreError& e) {
        // Replayed by the poller when the database answers (not lost: issue 10, found 2).
        if (!journal_logout(r, *state->fingerprint, e.what())) throw;
        return DECLINED;
      }
      ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "session guard: session %s logged out",
                    state->fingerprint->short_id().c_str());
      return DECLINED;
    }
    const sg::DirConfig& config = dir_config(r);
    if (!state->owned || state->bound_here || !config.cookies) return DECLINED;
    if (apr_table_get(r->headers_out, "Set-Cookie") == nullptr && apr_table_get(r->err_headers_out, "Set-Cookie") == nullptr) {
      return DECLINED;
    }
    for (const auto& issued : sg::cookies_issued(app_response(r, *state), *config.cookies)) {
      record_session_value(r, *state->owned, state->owner, issued);
    }
  } catch (const std::exception& e) {
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "session guard: cannot record the end of a request: %s", e.what());
  } catch (...) {
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "session guard: cannot record the end of a request");
  }
  return DECLINED;
}

}  // namespace sg::apache
