// The JSON API: reads (sessions, users, audit, outbox, instance health) and the commands' JSON face. Errors
// are rendered once, in App::respond, as {"error": CODE, "message": TEXT}.
#include <algorithm>

#include "context.hpp"
#include "html.hpp"
#include "listing.hpp"
#include "sg/text.hpp"

namespace sg::admin {

using nlohmann::json;

Response App::api_sessions(Context& ctx) {
  ListParams p = session_params(ctx);
  auto page_data = backend_.sessions(p.query);
  const std::uint64_t cap = count_cap(p.query);
  std::uint64_t total = backend_.count_sessions(p.query, cap);
  const Micros now = sg::wall_clock_micros();
  json list = json::array();
  for (const auto& s : page_data.rows) list.push_back(session_json(s, now));
  const bool uncounted = total == db::kCountUnknown;
  json body{{"sessions", list},
            {"total", uncounted ? json(nullptr) : json(total)},
            {"total_is_lower_bound", cap != 0 && total > cap && !uncounted},
            {"sort", p.query.sort},
            {"order", p.order_text},
            {"limit", p.query.limit}};
  body["next_after"] = page_data.has_next && !page_data.rows.empty() ? json(page_data.rows.back().id) : json(nullptr);
  body["prev_before"] = page_data.has_prev && !page_data.rows.empty() ? json(page_data.rows.front().id) : json(nullptr);
  return json_response(body);
}

Response App::api_users(Context& ctx) {
  db::UserQuery q = user_params(ctx);
  std::string limit = ctx.get("limit");
  q.limit = limit.empty() ? 100 : std::clamp<std::uint64_t>(parse_id(limit, "limit"), 1, 1000);
  json list = json::array();
  for (const auto& u : backend_.users(q)) {
    list.push_back(json{{"user", u.username},
                        {"email", u.email},
                        {"admin", u.is_admin},
                        {"blocked", !u.active},
                        {"blocked_by", u.blocked_by},
                        {"blocked_at", format_iso(u.blocked_at)},
                        {"block_reason", u.block_reason},
                        {"live_sessions", u.live_sessions},
                        {"last_login_at", format_iso(u.last_login_at)},
                        {"max_sessions", u.max_sessions ? json(*u.max_sessions) : json(nullptr)}});
  }
  return json_response(json{{"users", list}});
}

Response App::api_audit(Context& ctx) {
  db::AuditQuery q = audit_params(ctx);
  std::string limit = ctx.get("limit");
  q.limit = limit.empty() ? 50 : std::clamp<std::uint64_t>(parse_id(limit, "limit"), 1, 1000);
  auto rows = backend_.audit(q);
  json list = json::array();
  for (const auto& a : rows) {
    list.push_back(json{{"id", a.id},
                        {"at", format_iso(a.at)},
                        {"admin", a.actor},
                        {"admin_ip", a.actor_ip},
                        {"source", a.source},
                        {"action", a.action},
                        {"user", a.target_user},
                        {"session", a.target_session.empty() ? json(nullptr) : json(upper(a.target_session.substr(0, 8)))},
                        {"fingerprint", a.target_session},
                        {"reason", a.reason},
                        {"message", a.message},
                        {"mail", a.mail_state}});
  }
  json body{{"entries", list}};
  body["next_before"] = rows.size() == q.limit ? json(rows.back().id) : json(nullptr);
  return json_response(body);
}

Response App::api_outbox(Context& ctx) {
  json list = json::array();
  for (const auto& m : backend_.outbox(100, parse_id(ctx.get("before"), "paging cursor"))) {
    list.push_back(json{{"id", m.id},
                        {"kind", m.kind},
                        {"created_at", format_iso(m.created_at)},
                        {"to", m.recipient},
                        {"user", m.target_user},
                        {"subject", m.subject},
                        {"state", m.state},
                        {"attempts", m.attempts},
                        {"sent_at", format_iso(m.sent_at)},
                        {"last_error", m.last_error}});
  }
  return json_response(json{{"mails", list}});
}

Response App::api_health(Context&) {
  json list = json::array();
  for (const auto& row : backend_.instance_health()) list.push_back(health_json(row));
  return json_response(json{{"instances", list}, {"stale_after_intervals", kHealthStaleIntervals}});
}

namespace {
// A JSON value as a command's parameter; its type is checked against the parameter's kind.
Input input_of(const json& value) {
  if (value.is_null()) return JsonNull{};
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number_integer()) return value.get<long long>();
  if (value.is_array()) {
    std::vector<std::string> words;
    for (const auto& item : value) {
      if (!item.is_string()) return WrongType{};
      words.push_back(item.get<std::string>());
    }
    return words;
  }
  return WrongType{};
}
}  // namespace

Response App::api_command(Context& ctx) {
  const Command& command = *ctx.command;
  // Requiring JSON is the API's CSRF defence: a cross-site form cannot send it without CORS.
  std::string type = sg::to_lower(ctx.request.param("CONTENT_TYPE"));
  std::string base_type(sg::trim(type.substr(0, type.find(';'))));
  if (base_type != "application/json")
    throw UnsupportedMediaType("API requests that change something must send Content-Type: application/json.");
  json in = json::parse(ctx.request.body(settings_.max_body), nullptr, false);
  if (in.is_discarded() || !in.is_object()) throw BadRequest("The body must be a JSON object.", "invalid_json");
  Inputs inputs;
  for (const auto& p : command.params) {
    auto it = in.find(p.key);
    if (it != in.end()) inputs[p.key] = input_of(*it);
  }
  auto confirm = in.find("confirm_self");
  const bool confirm_self = confirm != in.end() && confirm->is_boolean() && confirm->get<bool>();
  Outcome outcome = run_command(backend_, command, inputs, ctx.actor(), confirm_self);
  if (outcome.code == "own_session")
    throw HttpError(409, outcome.code, outcome.message + " Send \"confirm_self\": true to end it anyway.");
  if (!outcome.ok()) throw HttpError(outcome.status, outcome.code, outcome.message);
  changed(ctx, outcome.done.result);
  const auto& result = outcome.done.result;
  return json_response(json{
      {"ok", true}, {"message", result.message}, {"sessions_ended", result.sessions_ended}, {"mails_queued", result.mails_queued}});
}

}  // namespace sg::admin
