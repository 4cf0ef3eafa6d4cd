#include "context.hpp"

#include <algorithm>
#include <cctype>

#include "csrf.hpp"
#include "sg/crypto.hpp"
#include "html.hpp"
#include "listing.hpp"
#include "sg/cookie.hpp"
#include "sg/fingerprint.hpp"
#include "sg/text.hpp"

namespace sg::admin {

std::string App::Context::get(const std::string& name) const { return field(query, name); }
std::vector<std::string> App::Context::all(const std::string& name) const { return fields(query, name); }

std::string field(const Form& form, const std::string& name) {
  for (const auto& [k, v] : form)
    if (k == name) return v;
  return "";
}

std::vector<std::string> fields(const Form& form, const std::string& name) {
  std::vector<std::string> out;
  for (const auto& [k, v] : form)
    if (k == name) out.push_back(v);
  return out;
}

std::uint64_t parse_id(const std::string& text, const char* what) {
  if (text.empty()) return 0;
  if (text.size() > 19 || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    throw BadRequest(std::string("The ") + what + " must be a row number.");
  return std::stoull(text);
}

void check_length(const std::string& value, std::size_t max, const char* what) {
  if (value.size() > max) throw BadRequest(std::string("The ") + what + " is too long.");
}

std::string url_with(const std::string& base, const Form& params) {
  std::string url = base;
  char sep = '?';
  for (const auto& [k, v] : params) {
    if (v.empty()) continue;
    url += sep + sg::url_encode(k) + "=" + sg::url_encode(v);
    sep = '&';
  }
  return url;
}

std::string upper(std::string text) {
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

std::string cookie_nonce(const std::string& header) {
  auto value = sg::find_cookie(header, kCsrfCookie);
  return value ? std::string(*value) : std::string();
}

void ensure_nonce(App::Context& ctx) {
  ctx.nonce = cookie_nonce(ctx.request.param("HTTP_COOKIE"));
  if (!plausible_nonce(ctx.nonce)) {
    ctx.nonce = sg::random_hex(16);
    ctx.new_nonce = true;
  }
}

bool is_current_session(const std::string& cookie_header, const std::string& fingerprint) {
  for (const auto& [name, value] : sg::parse_cookie_header(cookie_header)) {
    if (sg::session_fingerprint(name, value).hex() == fingerprint) return true;
  }
  return false;
}

Response json_response(const nlohmann::json& body, int status) {
  Response r;
  r.status = status;
  r.header("Content-Type", "application/json");
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  return r;
}

ListParams session_params(const App::Context& ctx) {
  ListParams p;
  db::SessionQuery& q = p.query;
  q.user = ctx.get("user");
  q.search = std::string(sg::trim(ctx.get("q")));
  check_length(q.user, 190, "user filter");
  check_length(q.search, 200, "search text");
  std::string sort = ctx.get("sort");
  if (!sort.empty()) {
    if (!db::valid_session_sort(sort)) throw BadRequest("Unknown sort column '" + sort + "'.");
    q.sort = sort;
  }
  std::string order = ctx.get("order");
  if (order.empty()) order = default_order(q.sort);
  if (order != "asc" && order != "desc") throw BadRequest("The order must be asc or desc.");
  q.descending = order == "desc";
  p.order_text = order;
  std::string limit = ctx.get("limit");
  if (limit.empty()) q.limit = 25;
  else if (limit == "10" || limit == "25" || limit == "50" || limit == "100") q.limit = std::stoul(limit);
  else throw BadRequest("Rows per page must be 10, 25, 50 or 100.");
  q.after_id = parse_id(ctx.get("after"), "paging cursor");
  q.before_id = parse_id(ctx.get("before"), "paging cursor");
  q.last_page = ctx.get("last") == "1";
  p.start = parse_id(ctx.get("start"), "start position");
  return p;
}

std::string notice_html(const App::Context& ctx) {
  std::string n = ctx.get("n");
  if (n.size() > 9 || !std::all_of(n.begin(), n.end(), [](char c) { return c >= '0' && c <= '9'; })) n = "";
  std::string text = notice_for(ctx.get("notice"), ctx.get("u").substr(0, 190), n, ctx.get("m") == "1");
  return text.empty() ? "" : "<div class=\"notice\" role=\"status\">" + h(text) + "</div>\n";
}

std::uint64_t count_cap(const db::SessionQuery& q) { return !q.user.empty() && q.search.empty() ? 0 : 10000; }

db::AuditQuery audit_params(const App::Context& ctx) {
  db::AuditQuery q;
  q.actor = ctx.get("admin");
  q.user = ctx.get("user");
  q.action = ctx.get("action");
  check_length(q.actor, 190, "admin filter");
  check_length(q.user, 190, "user filter");
  check_length(q.action, 32, "action filter");
  q.before_id = parse_id(ctx.get("before"), "paging cursor");
  return q;
}

db::UserQuery user_params(const App::Context& ctx) {
  db::UserQuery q;
  q.search = std::string(sg::trim(ctx.get("q")));
  q.state = ctx.get("state");
  q.after = ctx.get("after");
  check_length(q.search, 190, "search text");
  check_length(q.after, 190, "paging cursor");
  if (!q.state.empty() && q.state != "active" && q.state != "blocked") throw BadRequest("The state must be active or blocked.");
  return q;
}

}  // namespace sg::admin
