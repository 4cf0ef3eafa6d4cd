// What a denied request gets: a redirect, a JSON 401, a status, or the built-in page; the
// app's cookie is cleared so the browser starts afresh.
#include "internal.hpp"

#include "sg/denial.hpp"

namespace sg::apache {

// ---------------------------------------------------------------- denial

void expire_cookie(request_rec* r, const RequestState& state) {
  bool secure = ap_http_scheme(r) != nullptr && std::string_view(ap_http_scheme(r)) == "https";
  sg::CookieSpec spec;
  if (state.cookie != nullptr) spec = *state.cookie;
  else spec.name = kTrackingCookie;
  apr_table_add(r->err_headers_out, "Set-Cookie", apr_pstrdup(r->pool, sg::expired_cookie(spec, secure).c_str()));
}

// Fills status, headers and body of a denial; `body` receives the bytes to send.
void prepare_denial(request_rec* r, RequestState& state, sg::Reason reason, std::string& body) {
  const sg::DirConfig& config = dir_config(r);
  sg::DenyAction action = config.deny_action.value_or(sg::DenyAction{});
  bool json = sg::wants_json(header_in(r, "Accept"), header_in(r, "X-Requested-With"));
  bool server_auth = r->user != nullptr && r->ap_auth_type != nullptr && sg::credentials_resent_by_browser(r->ap_auth_type);
  int status = sg::denial_status(action, reason, json, server_auth);
  std::string message = sg::denial_message(config, reason, state.limit);

  // The app's own cookie, if it just set one, must not reach the browser.
  apr_table_unset(r->headers_out, "Set-Cookie");
  apr_table_unset(r->err_headers_out, "Set-Cookie");
  apr_table_unset(r->headers_out, "Location");
  apr_table_unset(r->err_headers_out, "Location");
  apr_table_unset(r->headers_out, "Content-Length");
  // "unavailable" ends nothing: the session must survive until the list is fresh again.
  if (reason != sg::Reason::unavailable) expire_cookie(r, state);
  apr_table_setn(r->err_headers_out, "Cache-Control", "no-store");
  apr_table_setn(r->err_headers_out, "X-Session-Guard-Reason", apr_pstrdup(r->pool, std::string(sg::to_string(reason)).c_str()));
  r->status = status;
  r->status_line = nullptr;
  if (json) {
    ap_set_content_type(r, "application/json");
    body = sg::denial_json(reason, message);
    return;
  }
  std::string login_url;
  if (action.kind == sg::DenyAction::Kind::redirect) {
    login_url = sg::denial_redirect_url(action.url, reason, message);
    if (status == HTTP_MOVED_TEMPORARILY) {
      apr_table_setn(r->err_headers_out, "Location", apr_pstrdup(r->pool, login_url.c_str()));
    }
  } else if (config.login_forms && !config.login_forms->empty()) {
    login_url = config.login_forms->front().target.path;
  }
  ap_set_content_type(r, "text/html; charset=utf-8");
  body = sg::denial_page(reason, message, login_url);
}

void log_denial(request_rec* r, const RequestState& state, sg::Reason reason) {
  ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "session guard: denied %s request of session %s: %s",
                r->method, state.fingerprint ? state.fingerprint->short_id().c_str() : "-",
                std::string(sg::to_string(reason)).c_str());
}

int denial_handler(request_rec* r) noexcept {
  if (r->handler == nullptr || std::string_view(r->handler) != kDenialHandler) return DECLINED;
  try {
    RequestState* state = request_state(r);
    if (state == nullptr) return HTTP_INTERNAL_SERVER_ERROR;
    std::string body;
    prepare_denial(r, *state, state->denial, body);
    ap_set_content_length(r, static_cast<apr_off_t>(body.size()));
    if (!r->header_only) ap_rwrite(body.data(), static_cast<int>(body.size()), r);
    return OK;
  } catch (...) {
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "session guard: cannot render denial");
    return HTTP_FORBIDDEN;
  }
}

void deny_now(request_rec* r, RequestState& state, sg::Reason reason) {
  state.denial = reason;
  r->handler = kDenialHandler;
  log_denial(r, state, reason);
}

// Replaces whatever the app produced with the denial.
apr_status_t replace_response(ap_filter_t* f, apr_bucket_brigade* bb, RequestState& state, sg::Reason reason) {
  request_rec* r = f->r;
  log_denial(r, state, reason);
  std::string body;
  prepare_denial(r, state, reason, body);
  apr_brigade_cleanup(bb);
  apr_bucket_alloc_t* alloc = f->c->bucket_alloc;
  APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_heap_create(body.data(), body.size(), nullptr, alloc));
  APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(alloc));
  ap_set_content_length(r, static_cast<apr_off_t>(body.size()));
  state.response_done = true;
  return ap_pass_brigade(f->next, bb);
}

}  // namespace sg::apache
