// What the handlers of App share: the request being handled and small helpers for its
// parameters. Internal to fcgi_admin's App (the files app.hpp names).
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "app.hpp"
#include "commands.hpp"
#include "listing.hpp"

namespace sg::admin {

using Form = std::vector<std::pair<std::string, std::string>>;

struct App::Context {
  explicit Context(Request& r) : request(r) {}
  Request& request;
  std::string method;
  std::string path;  // after the prefix, e.g. "/sessions"
  Form query;
  std::string user;  // REMOTE_USER, an admin once authorised
  std::string ip;
  bool api = false;
  std::string nonce;  // CSRF cookie value (existing or new)
  bool new_nonce = false;
  std::string csrf_key;
  bool self_service = false;  // my-sessions or a "This wasn't me" link: no admin around
  std::string csrf_scope;     // what CSRF tokens are bound to when it is not the admin's name
  const Command* command = nullptr;  // the action of an /actions/ or /api/ route
  // my-sessions: the user the module vouches for, their sessions and the one in use.
  std::string self_user;
  std::vector<db::SessionRow> own_sessions;
  std::string this_device;

  std::string get(const std::string& name) const;
  std::vector<std::string> all(const std::string& name) const;
  Actor actor() const { return Actor{user, ip, api ? "api" : "web"}; }
};

std::string field(const Form& form, const std::string& name);
std::vector<std::string> fields(const Form& form, const std::string& name);

std::uint64_t parse_id(const std::string& text, const char* what);  // throws BadRequest
void check_length(const std::string& value, std::size_t max, const char* what);  // throws BadRequest
std::string url_with(const std::string& base, const Form& params);
std::string upper(std::string text);

// The browser's CSRF nonce from its cookie; a page with forms hands out a new one if needed.
std::string cookie_nonce(const std::string& cookie_header);
void ensure_nonce(App::Context& ctx);
// Whether the browser that sent this request holds the session (one of its cookies hashes to it).
bool is_current_session(const std::string& cookie_header, const std::string& fingerprint);

// The notice after a form's action (?notice=CODE&n=&u=&m=), escaped; "" without one.
std::string notice_html(const App::Context& ctx);

Response json_response(const nlohmann::json& body, int status = 200);

// The sessions list's parameters (user, q, sort, order, limit, after, before, last, start),
// the same for the page and the API; throws BadRequest.
struct ListParams {
  db::SessionQuery query;
  std::uint64_t start = 0;
  std::string order_text;
};
ListParams session_params(const App::Context& ctx);
// The audit filters and paging cursor of the page and the API (limit left to each).
db::AuditQuery audit_params(const App::Context& ctx);
// The users filters and paging cursor of the page and the API (limit left to each).
db::UserQuery user_params(const App::Context& ctx);
// 0 (exact) for one user's sessions, else counting stops after this many rows.
std::uint64_t count_cap(const db::SessionQuery& query);

}  // namespace sg::admin
