// Judging a request, before any handler runs: every value any app could read as the session
// (cookies, the query, a POSTed form read ahead), looked up in the shared deny-list.
#include "internal.hpp"

#include "sg/app_reader.hpp"
#include "sg/cookie.hpp"
#include "sg/decision.hpp"
#include "sg/fingerprint.hpp"
#include "sg/signout_link.hpp"
#include "sg/sso.hpp"
#include "sg/text.hpp"

namespace sg::apache {

// ---------------------------------------------------------------- request path

// The requests of one keep-alive connection nearly always carry the same Cookie header:
// its fingerprints are kept with the connection, so hashing happens once per connection.
struct ConnectionCookieCache {
  std::string header;
  const void* cookie_config = nullptr;
  const sg::CookieSpec* cookie = nullptr;
  std::optional<sg::Fingerprint> fingerprint;
  bool fingerprint_ambiguous = false;
  std::vector<sg::Fingerprint> aliases;
  const char* short_id = nullptr;  // in the connection's pool, for the app's environment
};

ConnectionCookieCache& connection_cache(conn_rec* c) {
  auto* cache = static_cast<ConnectionCookieCache*>(ap_get_module_config(c->conn_config, &session_guard_module));
  if (cache == nullptr) {
    cache = pool_new<ConnectionCookieCache>(c->pool);
    ap_set_module_config(c->conn_config, &session_guard_module, cache);
  }
  return *cache;
}

void identify_session_uncached(std::string_view header, const sg::DirConfig& config, RequestState& state);

// Finds the session cookie and fingerprints every way the app could read it.
void identify_session(request_rec* r, const sg::DirConfig& config, RequestState& state) {
  std::string_view header = header_in(r, "Cookie");
  const void* cookie_config = config.cookies ? static_cast<const void*>(&*config.cookies) : nullptr;
  ConnectionCookieCache& cache = connection_cache(r->connection);
  if (cache.cookie_config != cookie_config || cache.header != header) {
    RequestState fresh;
    identify_session_uncached(header, config, fresh);
    cache.header.assign(header.data(), header.size());
    cache.cookie_config = cookie_config;
    cache.cookie = fresh.cookie;
    cache.fingerprint = fresh.fingerprint;
    cache.fingerprint_ambiguous = fresh.fingerprint_ambiguous;
    cache.aliases = std::move(fresh.aliases);
    cache.short_id = fresh.fingerprint ? apr_pstrdup(r->connection->pool, fresh.fingerprint->short_id().c_str()) : nullptr;
  }
  state.short_id = cache.short_id;
  state.cookie = cache.cookie;
  state.fingerprint = cache.fingerprint;
  state.fingerprint_ambiguous = cache.fingerprint_ambiguous;
  state.aliases = cache.aliases;
  // CGI::Session takes its id from the query string when no cookie has it (?CGISESSID=):
  // such values are judged too, never bound.
  if (r->args != nullptr && *r->args != '\0') {
    auto judge_query = [&](std::string_view name) {
      for (const auto& value : sg::form_readings(r->args, name)) {
        if (value != sg::kArrayValue) state.aliases.push_back(sg::session_fingerprint(name, value));
      }
    };
    if (config.cookies) {
      for (const auto& spec : *config.cookies) judge_query(spec.name);
    } else {
      judge_query(kTrackingCookie);
    }
  }
}

// One rule for every configured cookie: each value any app could read from any of them is
// judged (a request is denied if one is revoked); the one a login binds is the first value
// of the first configured cookie present, in the order of the SessionGuardCookie lines.
void identify_session_uncached(std::string_view header, const sg::DirConfig& config, RequestState& state) {
  auto judge = [&](std::string_view name, const std::vector<std::string>& values) {
    if (values.empty()) return false;
    bool first = !state.fingerprint;
    for (std::size_t i = 0; i < values.size(); ++i) {
      sg::Fingerprint fingerprint = sg::session_fingerprint(name, values[i]);
      if (first && i == 0) state.fingerprint = fingerprint;
      else state.aliases.push_back(fingerprint);
    }
    if (first) state.fingerprint_ambiguous = values.size() > 1;
    return first;
  };
  if (header.empty()) return;
  if (!config.cookies) {
    judge(kTrackingCookie, sg::cookie_readings(header, kTrackingCookie));
    return;
  }
  for (const auto& spec : *config.cookies) {
    if (judge(spec.name, sg::cookie_readings(header, spec.name))) state.cookie = &spec;
  }
}

// A "remember me" value the module does not know as bound (a killed session's, one from
// before the guard, a forged one) would sign its holder in unrecorded: the app never sees it.
void drop_unknown_signed_in_cookies(request_rec* r, const sg::DirConfig& config, const sg::DenyRegion& region) {
  if (!config.cookies) return;
  for (const auto& spec : *config.cookies) {
    if (!spec.signed_in_only) continue;
    std::string_view header = header_in(r, "Cookie");
    auto values = sg::cookie_readings(header, spec.name);
    bool known = !values.empty() && std::all_of(values.begin(), values.end(), [&](const std::string& value) {
      return region.owner(sg::session_fingerprint(spec.name, value)).has_value();
    });
    if (values.empty() || known) continue;
    std::string kept = sg::without_cookie(header, spec.name);
    if (kept.empty()) apr_table_unset(r->headers_in, "Cookie");
    else apr_table_set(r->headers_in, "Cookie", kept.c_str());
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "session guard: removed cookie %s with a value no signed-in session has",
                  spec.name.c_str());
  }
}

void start_tracking_session(request_rec* r) {
  std::string cookie = std::string(kTrackingCookie) + "=" + sg::new_tracking_value(g_process.tracking_key) +
                       "; Path=/; HttpOnly; SameSite=Lax";
  apr_table_add(r->err_headers_out, "Set-Cookie", apr_pstrdup(r->pool, cookie.c_str()));
}

// Only a value this farm issued is a tracking session: made-up ones would each be a row.
bool tracking_cookie_issued(request_rec* r) {
  auto values = sg::cookie_readings(header_in(r, "Cookie"), kTrackingCookie);
  return values.size() == 1 && sg::tracking_value_issued(g_process.tracking_key, values.front());
}

bool same_cookies(const sg::DirConfig& a, const sg::DirConfig& b) {
  if (!a.cookies || !b.cookies) return !a.cookies && !b.cookies;
  if (a.cookies->size() != b.cookies->size()) return false;
  for (std::size_t i = 0; i < a.cookies->size(); ++i) {
    if ((*a.cookies)[i].name != (*b.cookies)[i].name) return false;
  }
  return true;
}

// Hands the kept bytes back first, in whatever sizes the reader asks for, then steps aside.
apr_status_t replay_filter(ap_filter_t* f, apr_bucket_brigade* bb, ap_input_mode_t mode, apr_read_type_e block,
                           apr_off_t readbytes) noexcept {
  auto* body = static_cast<KeptBody*>(f->ctx);
  if (body->kept == nullptr || APR_BRIGADE_EMPTY(body->kept)) {
    ap_remove_input_filter(f);
    return ap_get_brigade(f->next, bb, mode, block, readbytes);
  }
  switch (mode) {
    case AP_MODE_READBYTES: {
      apr_bucket* after = nullptr;
      apr_status_t rv = apr_brigade_partition(body->kept, readbytes, &after);
      if (rv != APR_SUCCESS && rv != APR_INCOMPLETE) return rv;
      while (!APR_BRIGADE_EMPTY(body->kept) && APR_BRIGADE_FIRST(body->kept) != after) {
        apr_bucket* b = APR_BRIGADE_FIRST(body->kept);
        APR_BUCKET_REMOVE(b);
        APR_BRIGADE_INSERT_TAIL(bb, b);
      }
      return APR_SUCCESS;
    }
    case AP_MODE_GETLINE:
      return apr_brigade_split_line(bb, body->kept, block, HUGE_STRING_LEN);
    case AP_MODE_SPECULATIVE: {
      apr_off_t copied = 0;
      for (apr_bucket* b = APR_BRIGADE_FIRST(body->kept); b != APR_BRIGADE_SENTINEL(body->kept) && copied < readbytes;
           b = APR_BUCKET_NEXT(b)) {
        apr_bucket* copy = nullptr;
        if (apr_bucket_copy(b, &copy) != APR_SUCCESS) return APR_EGENERAL;
        APR_BRIGADE_INSERT_TAIL(bb, copy);
        if (b->length != static_cast<apr_size_t>(-1)) copied += static_cast<apr_off_t>(b->length);
      }
      return APR_SUCCESS;
    }
    case AP_MODE_EXHAUSTIVE: {
      APR_BRIGADE_CONCAT(bb, body->kept);
      return ap_get_brigade(f->next, bb, mode, block, readbytes);
    }
    default:
      return ap_get_brigade(f->next, bb, mode, block, readbytes);
  }
}

bool form_content_type(std::string_view content_type) {
  std::string media = sg::to_lower(sg::trim(content_type.substr(0, content_type.find(';'))));
  return media.empty() || media == "application/x-www-form-urlencoded" || media == "multipart/form-data";
}

// Reads up to kMaxLoginBody of a POSTed form before the app runs. Returns an HTTP error when
// the client's body is broken (the app would have failed to read it as well), else OK.
int read_body_ahead(request_rec* r, RequestState& state) {
  auto* body = pool_new<KeptBody>(r->pool);
  body->kept = apr_brigade_create(r->pool, r->connection->bucket_alloc);
  state.body = body;
  // A compressed body is not what the readers would see after the app's inflate filter.
  const char* encoding = apr_table_get(r->headers_in, "Content-Encoding");
  if (encoding != nullptr && !sg::iequals(encoding, "identity")) body->truncated = true;
  apr_bucket_brigade* bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
  bool end = false;
  while (!end && body->text.size() < kMaxLoginBody) {
    apr_status_t rv = ap_get_brigade(r->input_filters, bb, AP_MODE_READBYTES, APR_BLOCK_READ,
                                     static_cast<apr_off_t>(kMaxLoginBody - body->text.size()));
    if (rv != APR_SUCCESS) return ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
    if (APR_BRIGADE_EMPTY(bb)) break;
    for (apr_bucket* b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb); b = APR_BUCKET_NEXT(b)) {
      if (APR_BUCKET_IS_EOS(b)) {
        end = true;
        continue;
      }
      if (APR_BUCKET_IS_METADATA(b)) continue;
      const char* data = nullptr;
      apr_size_t length = 0;
      if ((rv = apr_bucket_read(b, &data, &length, APR_BLOCK_READ)) != APR_SUCCESS) return HTTP_BAD_REQUEST;
      body->text.append(data, length);
      if ((rv = apr_bucket_setaside(b, r->pool)) != APR_SUCCESS && rv != APR_ENOTIMPL) return HTTP_INTERNAL_SERVER_ERROR;
    }
    APR_BRIGADE_CONCAT(body->kept, bb);
  }
  if (!end) body->truncated = true;
  ap_add_input_filter(kReplayFilter, body, r, r->connection);
  return OK;
}

// A POSTed form is read ahead once per request chain: an internal redirect carries on with
// what its first request kept (httpd drops the first request's own filters).
int take_body(request_rec* r, RequestState& state) {
  if (r->main != nullptr) return OK;
  for (request_rec* prev = r->prev; prev != nullptr; prev = prev->prev) {
    RequestState* earlier = request_state(prev);
    if (earlier != nullptr && earlier->body != nullptr) {
      state.body = earlier->body;
      if (!APR_BRIGADE_EMPTY(state.body->kept)) ap_add_input_filter(kReplayFilter, state.body, r, r->connection);
      return OK;
    }
  }
  if (r->method_number != M_POST || !form_content_type(header_in(r, "Content-Type"))) return OK;
  const char* length = apr_table_get(r->headers_in, "Content-Length");
  if (apr_table_get(r->headers_in, "Transfer-Encoding") == nullptr && (length == nullptr || std::string_view(length) == "0")) {
    return OK;
  }
  return read_body_ahead(r, state);
}

// Values in the body that some app reads as a session id (CGI::Session takes a POSTed
// CGISESSID when no cookie has one): judged, never bound.
void judge_body_ids(request_rec* r, const sg::DirConfig& config, RequestState& state) {
  if (state.body == nullptr || !config.cookies) return;
  std::string_view content_type = header_in(r, "Content-Type");
  bool multipart = sg::to_lower(content_type).find("multipart/form-data") != std::string::npos;
  for (const auto& spec : *config.cookies) {
    bool complete = true;
    std::vector<std::string> values = multipart ? sg::multipart_readings(state.body->text, content_type, spec.name, complete)
                                                : sg::form_readings(state.body->text, spec.name);
    for (const auto& value : values) {
      if (value != sg::kArrayValue) state.aliases.push_back(sg::session_fingerprint(spec.name, value));
    }
  }
}

// Who the request is for: the authenticated user (whose block is judged here), or the owner
// of a session bound in this instance, whose activity slot is stamped.
std::string request_user(request_rec* r, sg::DenyRegion& region, RequestState& state, sg::RequestFacts& facts) {
  if (r->user != nullptr) {
    facts.user_blocked = region.user_blocked(sg::user_key(r->user));
    return r->user;
  }
  if (!state.fingerprint) return {};
  // Not judged by its owner's block: a block revokes every session of the user in the
  // same transaction, and the owner's state here may lag an unblock by one poll.
  if (auto owner = region.touch(*state.fingerprint, facts.now)) {
    state.owned = state.fingerprint;
    return std::move(owner->name);
  }
  for (const auto& alias : state.aliases) {
    if (auto owner = region.touch(alias, facts.now)) {
      state.owned = alias;
      return std::move(owner->name);
    }
  }
  return {};
}

// A configured login form or logout target: the response filter reads the app's answer.
void watch_for_login_or_logout(request_rec* r, const sg::DirConfig& config, RequestState& state) {
  std::string_view uri = r->uri != nullptr ? r->uri : "";
  std::string_view args = r->args != nullptr ? r->args : "";
  if (r->method_number == M_POST && config.login_forms) {
    for (const auto& form : *config.login_forms) {
      if (form.target.matches(uri, args)) {
        state.login_form = &form;
        break;
      }
    }
  }
  // Only a candidate: the response must confirm it (logout_confirmed), and only a cookie
  // every app reads alike is one the app surely signed out (a name only one reader
  // normalises, "PHPSESSID%00=", is no session to PHP: its logout ends nothing).
  if (config.logout_targets && state.fingerprint && state.cookie != nullptr) {
    for (const auto& rule : *config.logout_targets) {
      if (rule.target.matches(uri, args) &&
          (rule.form.empty() || r->method_number == M_POST)) {
        state.logout_rule = &rule;
        break;
      }
    }
    if (state.logout_rule != nullptr && !sg::cookie_read_alike(header_in(r, "Cookie"), state.cookie->name)) {
      state.logout_rule = nullptr;
    }
  }
  if (state.login_form != nullptr || state.logout_rule != nullptr || config.user_header) {
    state.hold_response = (state.login_form != nullptr && sg::reads_body(state.login_form->success)) ||
                          (state.logout_rule != nullptr && sg::reads_body(state.logout_rule->success));
    ap_add_output_filter(kResponseFilter, &state, r, r->connection);
  }
}

// A subrequest of an allowed main request judging the same cookies (mod_dir looking up
// index.php, say) shares its verdict and state: the same session, microseconds later.
bool shares_main_verdict(request_rec* r, const sg::DirConfig& config) {
  if (r->main == nullptr) return false;
  RequestState* main_state = request_state(r->main);
  if (main_state == nullptr || main_state->denial != sg::Reason::none || !same_cookies(config, dir_config(r->main)))
    return false;
  ap_set_module_config(r->request_config, &session_guard_module, main_state);
  return true;
}

// A query carrying several CAS tickets: PHP reads the last, CGI.pm and mod_auth_cas the
// first, so the module cannot tell which one signs the session in and the ticket's logout
// could miss it. Refused before the app runs, where tickets are tied.
int refuse_ambiguous_ticket(request_rec* r, const sg::DirConfig& config, RequestState& state) {
  if (!config.cas_tickets.value_or(false)) return DECLINED;
  const char* query = query_with_ticket(r);
  if (query == nullptr || sg::cas_tickets_in_query(query).size() <= 1) return DECLINED;
  ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "session guard: refused a request carrying several CAS tickets");
  deny_now(r, state, sg::Reason::refused);
  return OK;
}

// Internal redirects (ErrorDocument, mod_rewrite in a <Directory>, mod_dir) are judged as
// requests of their own: the original may have been outside every guarded location.
int fixups(request_rec* r) noexcept {
  const sg::DirConfig& config = dir_config(r);
  if (!config.enabled.value_or(false) || !g_process.region) return DECLINED;
  if (shares_main_verdict(r, config)) return OK;
  RequestState* state = nullptr;
  try {
    state = pool_new<RequestState>(r->pool);
    ap_set_module_config(r->request_config, &session_guard_module, state);
    sg::DenyRegion& region = *g_process.region;
    const sg::ServerConfig& server = server_config(r->server);

    identify_session(r, config, *state);
    bool tracking = !config.cookies;
    if (int status = take_body(r, *state); status != OK) return status;
    judge_body_ids(r, config, *state);

    if (int status = refuse_ambiguous_ticket(r, config, *state); status != DECLINED) return status;
    if (state->aliases.size() + 1 > kMaxSessionValues) {
      ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "session guard: refused a request carrying %" APR_SIZE_T_FMT
                    " values an app could read as its session", state->aliases.size() + 1);
      deny_now(r, *state, sg::Reason::refused);
      return OK;
    }
    sg::RequestFacts facts;
    facts.now = sg::wall_clock_micros();
    facts.last_refresh = region.last_refresh();
    facts.started_at = region.started_at();
    facts.session_revoked = revoked_reason(region, *state);
    std::string user = request_user(r, region, *state, facts);
    state->owner = user;
    sg::Verdict verdict = sg::decide(facts, server.fail_mode_or_default(), server.max_stale_or_default());
    if (!verdict.allow) {
      deny_now(r, *state, verdict.reason);
      return OK;
    }
    // A subrequest (mod_dir's index lookup, say) may replace the main request's handler and
    // state, so it carries the verdict too; everything with side effects happens once, here.
    if (r->main != nullptr) return OK;
    drop_unknown_signed_in_cookies(r, config, region);

    if (state->fingerprint && r->user != nullptr) region.record_activity(*state->fingerprint, facts.now);
    if (r->user != nullptr && tracking && (!state->fingerprint || !tracking_cookie_issued(r))) {
      // Only a client that returns the cookie becomes a session: scripts that send Basic
      // credentials without keeping cookies must not create a row per request.
      start_tracking_session(r);
    } else if (r->user != nullptr && state->fingerprint) {
      // Two apps could read two different sessions from this header: bind neither.
      sg::Reason refused = state->fingerprint_ambiguous ? sg::Reason::refused
                                                        : bind_session(r, *state, r->user, "REMOTE_USER");
      if (refused != sg::Reason::none) {
        deny_now(r, *state, refused);
        return OK;
      }
    }
    // The app may use these without any library; a client cannot forge them (not headers).
    // Off unless asked for, as mod_ssl's StdEnvVars: mod_php copies every variable into
    // $_SERVER on every request, which costs it more than the module's own check (the id is
    // enough to find the session among its owner's: that is how my-sessions does).
    if (state->short_id != nullptr && !user.empty() && config.app_env.value_or(false)) {
      apr_table_setn(r->subprocess_env, "SESSION_GUARD_USER", apr_pstrmemdup(r->pool, user.data(), user.size()));
      apr_table_setn(r->subprocess_env, "SESSION_GUARD_SESSION", state->short_id);
    }

    watch_for_login_or_logout(r, config, *state);
  } catch (const std::exception& e) {
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "session guard: %s", e.what());
    if (state != nullptr && server_config(r->server).fail_mode_or_default() == sg::FailMode::closed) {
      deny_now(r, *state, sg::Reason::unavailable);
    }
  } catch (...) {
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "session guard: unexpected error");
  }
  return OK;
}

}  // namespace sg::apache
