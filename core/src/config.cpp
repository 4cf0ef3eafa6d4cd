#include "sg/config.hpp"

#include <algorithm>
#include <cctype>
#include <limits>

#include "sg/app_reader.hpp"
#include "sg/text.hpp"

namespace sg {

bool RequestTarget::matches(std::string_view uri_path, std::string_view query_string) const {
  return match_target(*this, uri_path, query_string) != TargetMatch::no;
}

template <typename T>
static const std::optional<T>& pick(const std::optional<T>& parent, const std::optional<T>& child) {
  return child ? child : parent;
}

DirConfig merge(const DirConfig& parent, const DirConfig& child) {
  DirConfig out;
  out.enabled = pick(parent.enabled, child.enabled);
  out.cookies = pick(parent.cookies, child.cookies);
  out.login_forms = pick(parent.login_forms, child.login_forms);
  out.user_header = pick(parent.user_header, child.user_header);
  out.logout_targets = pick(parent.logout_targets, child.logout_targets);
  out.deny_action = pick(parent.deny_action, child.deny_action);
  out.max_sessions = pick(parent.max_sessions, child.max_sessions);
  out.refuse_new = pick(parent.refuse_new, child.refuse_new);
  out.idle_timeout = pick(parent.idle_timeout, child.idle_timeout);
  out.max_lifetime = pick(parent.max_lifetime, child.max_lifetime);
  out.app_env = pick(parent.app_env, child.app_env);
  out.cas_tickets = pick(parent.cas_tickets, child.cas_tickets);
  out.messages = parent.messages;
  for (const auto& [reason, text] : child.messages) out.messages[reason] = text;
  return out;
}

ServerConfig merge(const ServerConfig& base, const ServerConfig& vhost) {
  ServerConfig out;
  out.db_options_file = pick(base.db_options_file, vhost.db_options_file);
  out.db_options_group = pick(base.db_options_group, vhost.db_options_group);
  out.poll_interval = pick(base.poll_interval, vhost.poll_interval);
  out.fail_mode = pick(base.fail_mode, vhost.fail_mode);
  out.max_stale = pick(base.max_stale, vhost.max_stale);
  out.deny_capacity = pick(base.deny_capacity, vhost.deny_capacity);
  out.revocation_retention = pick(base.revocation_retention, vhost.revocation_retention);
  out.state_file = pick(base.state_file, vhost.state_file);
  out.journal_file = pick(base.journal_file, vhost.journal_file);
  out.journal_max_bytes = pick(base.journal_max_bytes, vhost.journal_max_bytes);
  out.admit_when_unreachable = pick(base.admit_when_unreachable, vhost.admit_when_unreachable);
  return out;
}

ConfigError parse_on_off(std::string_view arg, std::optional<bool>& out) {
  if (iequals(arg, "on")) out = true;
  else if (iequals(arg, "off")) out = false;
  else return "expected On or Off, got '" + std::string(arg) + "'";
  return std::nullopt;
}

static bool valid_cookie_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (unsigned char c : name) {
    if (c <= 0x20 || c >= 0x7f || std::string_view("()<>@,;:\\\"/[]?={}").find(static_cast<char>(c)) != std::string_view::npos) {
      return false;
    }
  }
  return true;
}

ConfigError parse_cookie(const std::vector<std::string>& args, DirConfig& config) {
  if (args.empty() || args.size() > 3) return "expected NAME [PATH] [signed-in-only]";
  std::string_view name = args[0];
  if (!valid_cookie_name(name)) return "'" + std::string(name) + "' is not a valid cookie name (1-64 token characters)";
  CookieSpec spec;
  spec.name = std::string(name);
  for (std::size_t i = 1; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (iequals(arg, "signed-in-only")) {
      spec.signed_in_only = true;
    } else if (i == 1 && !arg.empty() && arg.front() == '/') {
      spec.path = std::string(arg);
    } else if (i == 1) {
      return "cookie path must start with '/', got '" + std::string(arg) + "'";
    } else {
      return "expected signed-in-only, got '" + std::string(arg) + "'";
    }
  }
  if (!config.cookies) config.cookies.emplace();
  for (const auto& existing : *config.cookies) {
    if (existing.name == spec.name) return "cookie '" + spec.name + "' is named twice";
  }
  config.cookies->push_back(std::move(spec));
  return std::nullopt;
}

ConfigError parse_request_target(std::string_view arg, RequestTarget& out) {
  if (arg.empty() || arg.front() != '/') return "path must start with '/', got '" + std::string(arg) + "'";
  std::size_t q = arg.find('?');
  out.path = std::string(arg.substr(0, q));
  out.query.clear();
  if (q != std::string_view::npos) {
    out.query = parse_form(arg.substr(q + 1));
    if (out.query.empty()) return "empty query after '?' in '" + std::string(arg) + "'";
  }
  return std::nullopt;
}

namespace {
ConfigError parse_checks(const std::vector<std::string>& tokens, FormFields& form, std::vector<ResponseCheck>& checks) {
  for (const std::string& token_text : tokens) {
    std::string_view token = token_text;
    ResponseCheck check;
    auto value_after = [&](std::string_view prefix) -> std::optional<std::string_view> {
      if (token.size() <= prefix.size() || token.substr(0, prefix.size()) != prefix) return std::nullopt;
      return token.substr(prefix.size());
    };
    if (iequals(token, "redirect")) {
      check.kind = ResponseCheck::Kind::redirect_away;
    } else if (token.substr(0, 7) == "status=") {
      std::optional<std::uint32_t> status;
      if (parse_count(token.substr(7), 100, 599, status)) return "bad status in '" + token_text + "'";
      check.kind = ResponseCheck::Kind::status;
      check.status = static_cast<int>(*status);
    } else if (auto header = value_after("header=")) {
      check.kind = ResponseCheck::Kind::header;
      check.text = std::string(*header);
    } else if (auto lacks = value_after("body!=")) {
      check.kind = ResponseCheck::Kind::body_lacks;
      check.text = std::string(*lacks);
    } else if (auto has = value_after("body=")) {
      check.kind = ResponseCheck::Kind::body_has;
      check.text = std::string(*has);
    } else if (auto sets = value_after("sets-cookie=")) {
      check.kind = ResponseCheck::Kind::sets_cookie;
      check.text = std::string(*sets);
    } else if (auto clears = value_after("clears-cookie=")) {
      check.kind = ResponseCheck::Kind::clears_cookie;
      check.text = std::string(*clears);
    } else if (auto field = value_after("form:")) {
      std::size_t eq = field->find('=');
      if (eq == 0 || eq == std::string_view::npos) return "form field must be form:NAME=VALUE, got '" + token_text + "'";
      form.emplace_back(std::string(field->substr(0, eq)), std::string(field->substr(eq + 1)));
      continue;
    } else {
      return "expected redirect, status=NNN, header=NAME, body=TEXT, body!=TEXT, sets-cookie=NAME, clears-cookie=NAME "
             "or form:NAME=VALUE, got '" + token_text + "'";
    }
    checks.push_back(std::move(check));
  }
  return std::nullopt;
}
}  // namespace

ConfigError parse_login_form(std::string_view path, std::string_view field, const std::vector<std::string>& checks,
                             DirConfig& config) {
  LoginForm form;
  if (auto error = parse_request_target(path, form.target)) return error;
  if (field.empty()) return "the form field that names the user is missing";
  form.user_field = std::string(field);
  if (auto error = parse_checks(checks, form.form, form.success)) return error;
  if (form.success.empty()) form.success.push_back(ResponseCheck{});
  // Apps answer 200 to failed logins too: a 2xx status alone would bind every failed
  // attempt to the name typed in, and let a signed-in user relabel his session.
  bool only_success_status = std::all_of(form.success.begin(), form.success.end(), [](const ResponseCheck& c) {
    return c.kind == ResponseCheck::Kind::status && c.status >= 200 && c.status < 300;
  });
  if (only_success_status) {
    return "a 2xx status alone cannot tell a failed login from a successful one: add body=TEXT, body!=TEXT, "
           "sets-cookie=NAME or header=NAME";
  }
  if (!config.login_forms) config.login_forms.emplace();
  config.login_forms->push_back(std::move(form));
  return std::nullopt;
}

ConfigError parse_logout_path(std::string_view path, const std::vector<std::string>& checks, DirConfig& config) {
  LogoutRule rule;
  if (auto error = parse_request_target(path, rule.target)) return error;
  if (auto error = parse_checks(checks, rule.form, rule.success)) return error;
  if (!config.logout_targets) config.logout_targets.emplace();
  config.logout_targets->push_back(std::move(rule));
  return std::nullopt;
}

ConfigError parse_deny_action(std::string_view kind, std::string_view arg, std::optional<DenyAction>& out) {
  DenyAction action;
  if (iequals(kind, "redirect")) {
    bool absolute = arg.substr(0, 7) == "http://" || arg.substr(0, 8) == "https://";
    if (arg.empty() || (!absolute && arg.front() != '/')) {
      return "redirect needs a URL starting with '/' or http(s)://, got '" + std::string(arg) + "'";
    }
    if (arg.find_first_of("\r\n") != std::string_view::npos) return "redirect URL contains a line break";
    action.kind = DenyAction::Kind::redirect;
    action.url = std::string(arg);
  } else if (iequals(kind, "status")) {
    std::optional<std::uint32_t> code;
    if (parse_count(arg, 400, 599, code)) return "status must be a 4xx or 5xx code, got '" + std::string(arg) + "'";
    action.kind = DenyAction::Kind::status;
    action.status = static_cast<int>(*code);
  } else if (iequals(kind, "page")) {
    action.kind = DenyAction::Kind::page;
  } else {
    return "expected 'redirect URL', 'status CODE' or 'page', got '" + std::string(kind) + "'";
  }
  out = std::move(action);
  return std::nullopt;
}

ConfigError parse_fail_mode(std::string_view arg, std::optional<FailMode>& out) {
  if (iequals(arg, "open")) out = FailMode::open;
  else if (iequals(arg, "closed")) out = FailMode::closed;
  else return "expected open or closed, got '" + std::string(arg) + "'";
  return std::nullopt;
}

ConfigError parse_max_sessions_action(std::string_view arg, std::optional<bool>& refuse_new) {
  if (iequals(arg, "evict-oldest")) refuse_new = false;
  else if (iequals(arg, "refuse-new")) refuse_new = true;
  else return "expected evict-oldest or refuse-new, got '" + std::string(arg) + "'";
  return std::nullopt;
}

ConfigError parse_message(std::string_view reason, std::string_view text, DirConfig& config) {
  auto parsed = reason_from_string(reason);
  if (!parsed || *parsed == Reason::none || *parsed == Reason::logged_out) {
    return "reason must be killed, blocked, superseded, expired, refused, sso_logout or unavailable, got '" + std::string(reason) + "'";
  }
  if (text.empty() || text.size() > 1000) return "message must be 1 to 1000 bytes";
  config.messages[*parsed] = std::string(text);
  return std::nullopt;
}

namespace {
// The shortest exact spelling of a duration, for messages: 10ms, 1s, 90s, 5m, 168h.
std::string duration_text(Micros micros) {
  if (micros == 0) return "0";
  if (micros % (3600 * kMicrosPerSecond) == 0) return std::to_string(micros / (3600 * kMicrosPerSecond)) + "h";
  if (micros % (60 * kMicrosPerSecond) == 0) return std::to_string(micros / (60 * kMicrosPerSecond)) + "m";
  if (micros % kMicrosPerSecond == 0) return std::to_string(micros / kMicrosPerSecond) + "s";
  return std::to_string(micros / 1000) + "ms";
}
}  // namespace

ConfigError parse_duration(std::string_view arg, Micros default_unit, Micros min, Micros max,
                           std::optional<Micros>& out) {
  const std::string allowed = "a duration from " + duration_text(min) + " to " + duration_text(max) +
                              " (a number with ms, s, m or h; a bare number is " +
                              (default_unit == 1000 ? "milliseconds" : "seconds") + ")";
  std::size_t digits = 0;
  while (digits < arg.size() && std::isdigit(static_cast<unsigned char>(arg[digits]))) ++digits;
  if (digits == 0 || digits > 12) return "expected " + allowed + ", got '" + std::string(arg) + "'";
  Micros value = std::stoll(std::string(arg.substr(0, digits)));
  std::string_view unit = arg.substr(digits);
  Micros scale = default_unit;
  if (unit == "ms") scale = 1000;
  else if (unit == "s") scale = kMicrosPerSecond;
  else if (unit == "m") scale = 60 * kMicrosPerSecond;
  else if (unit == "h") scale = 3600 * kMicrosPerSecond;
  else if (!unit.empty()) return "unknown unit in '" + std::string(arg) + "': expected " + allowed;
  if (value > max / scale || value * scale < min) return "'" + std::string(arg) + "' is out of range: expected " + allowed;
  out = value * scale;
  return std::nullopt;
}

ConfigError parse_revocation_retention(std::string_view arg, std::optional<Micros>& out) {
  return parse_duration(arg, kMicrosPerSecond, ServerConfig::kMinRevocationRetention,
                        ServerConfig::kMaxRevocationRetention, out);
}

ConfigError parse_journal(const std::vector<std::string>& args, ServerConfig& config) {
  if (args.empty() || args.size() > 2 || args[0].empty()) return "expected PATH|none [MAXBYTES]";
  const std::string& path = args[0];
  if (path != "none" && path.find('\0') != std::string::npos) return "the path contains a NUL byte";
  std::optional<std::uint64_t> max;
  if (args.size() == 2) {
    std::string_view arg = args[1];
    std::size_t digits = 0;
    while (digits < arg.size() && std::isdigit(static_cast<unsigned char>(arg[digits]))) ++digits;
    std::string_view unit = arg.substr(digits);
    std::uint64_t scale = 1;
    if (iequals(unit, "k")) scale = 1ULL << 10;
    else if (iequals(unit, "m")) scale = 1ULL << 20;
    else if (iequals(unit, "g")) scale = 1ULL << 30;
    else if (!unit.empty()) digits = 0;
    const std::string range = "64K to 1G";
    if (digits == 0 || digits > 10) return "MAXBYTES must be a size like 16M (bytes, K, M or G, " + range + "), got '" + args[1] + "'";
    std::uint64_t value = std::stoull(std::string(arg.substr(0, digits)));
    if (value > ServerConfig::kMaxJournalBytes / scale || value * scale < ServerConfig::kMinJournalBytes) {
      return "MAXBYTES '" + args[1] + "' is outside " + range;
    }
    max = value * scale;
  }
  config.journal_file = path;
  if (max) config.journal_max_bytes = max;
  return std::nullopt;
}

ConfigError parse_login_when_unreachable(std::string_view arg, std::optional<bool>& admit) {
  if (iequals(arg, "admit")) admit = true;
  else if (iequals(arg, "refuse")) admit = false;
  else return "expected admit or refuse, got '" + std::string(arg) + "'";
  return std::nullopt;
}

ConfigError parse_count(std::string_view arg, std::uint32_t min, std::uint32_t max, std::optional<std::uint32_t>& out) {
  const std::string allowed = "a whole number from " + std::to_string(min) + " to " + std::to_string(max);
  if (arg.empty() || arg.size() > 10) return "expected " + allowed + ", got '" + std::string(arg) + "'";
  std::uint64_t value = 0;
  for (char c : arg) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return "expected " + allowed + ", got '" + std::string(arg) + "'";
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (value < min || value > max) return "expected " + allowed + ", got " + std::string(arg);
  out = static_cast<std::uint32_t>(value);
  return std::nullopt;
}

}  // namespace sg
