#include "commands.hpp"

#include <algorithm>
#include <cctype>

#include "sg/mail.hpp"
#include "sg/text.hpp"

namespace sg::admin {

namespace {

constexpr std::size_t kMaxSessionsAtOnce = 1000;

// --- parameters, as the table names them -------------------------------------------------------

Param session_id_param() {
  return {"id", "id", nullptr, "SESSION_ID", "the session id", ParamKind::session_id, true, 64, 0, 0,
          "A session id is 8 to 64 hexadecimal digits (the start of its fingerprint)."};
}
Param session_ids_param() {
  return {"ids", "id", nullptr, "SESSION_ID...", "the sessions", ParamKind::session_ids, true, 64, 0, 0,
          "Select at least one session, and at most 1000."};
}
Param user_param() { return {"user", "user", nullptr, "USER", "the user name", ParamKind::user, true, 190, 0, 0, ""}; }
Param text_param(const char* key, const char* flag, const char* metavar, const char* label, std::size_t max_length,
                 bool required) {
  return {key, key, flag, metavar, label, ParamKind::text, required, max_length, 0, 0, ""};
}

std::string sentence(std::string text) {
  if (!text.empty()) text[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(text[0])));
  return text;
}

bool all_digits(const std::string& text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool plausible_session_id(const std::string& id) {
  return id.size() >= 8 && id.size() <= 64 &&
         std::all_of(id.begin(), id.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; });
}

[[noreturn]] void missing(const Param& p) {
  throw CommandError(400, "missing_field", p.kind == ParamKind::text || p.kind == ParamKind::user
                                               ? sentence(p.label) + " is required."
                                               : std::string(p.rule),
                     true);
}
[[noreturn]] void invalid(const std::string& message, bool malformed = false) {
  throw CommandError(400, "invalid_field", message, malformed);
}
[[noreturn]] void wrong_type(const Param& p, const char* what) {
  invalid(std::string("'") + p.key + "' must be " + what + ".");
}

// A word or a JSON string, for the kinds that take one.
std::string one_text(const Param& p, const Input& input) {
  if (const auto* words = std::get_if<std::vector<std::string>>(&input)) return words->front();
  if (const auto* text = std::get_if<std::string>(&input)) return *text;
  wrong_type(p, "a string");
}

std::string read_text(const Param& p, const Input& input) {
  std::string text = one_text(p, input);
  if (p.required && sg::trim(text).empty()) invalid(sentence(p.label) + " is required.");
  if (text.size() > p.max_length) invalid(sentence(p.label) + " is longer than " + std::to_string(p.max_length) + " bytes.");
  return text;
}

std::string read_session_id(const Param& p, const std::string& id) {
  if (!plausible_session_id(id)) invalid(p.rule);
  return id;
}

// A whole number from a word (digits only: "-1" and "many" are not read) or from JSON.
int read_number(const Param& p, const Input& input) {
  long long n = 0;
  if (const auto* words = std::get_if<std::vector<std::string>>(&input)) {
    std::string text(sg::trim(words->front()));
    if (text.empty() || text.size() > 9 || !all_digits(text)) invalid(p.rule, true);
    n = std::stoll(text);
  } else if (const auto* json = std::get_if<long long>(&input)) {
    n = *json;
  } else {
    invalid(p.rule);
  }
  if (n < p.min || n > p.max) invalid(p.rule);
  return static_cast<int>(n);
}

Value read_value(const Param& p, const Input& input) {
  Value v;
  switch (p.kind) {
    case ParamKind::text:
      v.text = read_text(p, input);
      break;
    case ParamKind::user:
      v.text = read_text(p, input);
      validate_username(v.text);
      break;
    case ParamKind::session_id:
      v.text = read_session_id(p, one_text(p, input));
      break;
    case ParamKind::session_ids: {
      const auto* ids = std::get_if<std::vector<std::string>>(&input);
      if (ids == nullptr) wrong_type(p, "an array of session ids");
      if (ids->empty() || ids->size() > kMaxSessionsAtOnce) invalid(p.rule);
      for (const auto& id : *ids) v.list.push_back(read_session_id(session_id_param(), id));
      break;
    }
    case ParamKind::number:
      v.number = read_number(p, input);
      break;
    case ParamKind::limit: {
      const auto* words = std::get_if<std::vector<std::string>>(&input);
      bool none = std::holds_alternative<JsonNull>(input) ||
                  (words && (sg::trim(words->front()).empty() || sg::to_lower(sg::trim(words->front())) == "none"));
      if (!none) v.number = read_number(p, input);
      break;
    }
  }
  return v;
}

// --- what the actor's own sessions are ---------------------------------------------------------

std::string own_session(Backend& backend, const Values& values, const Actor& actor) {
  auto s = backend.find_session(values.at("id").text);
  return s.username == actor.name
             ? "Session " + s.short_id() + " is one of your own (" + actor.name + "): ending it signs you out."
             : "";
}

std::string own_in_selection(Backend& backend, const Values& values, const Actor& actor) {
  for (const auto& id : values.at("ids").list) {
    auto s = backend.find_session(id);
    if (s.username == actor.name) {
      return "The selection includes session " + s.short_id() + ", one of your own (" + actor.name +
             "): ending it signs you out.";
    }
  }
  return "";
}

std::string own_user(Backend&, const Values& values, const Actor& actor) {
  return values.at("user").text == actor.name
             ? "These are your own sessions (" + actor.name + "): ending them signs you out."
             : "";
}

// --- the table ---------------------------------------------------------------------------------

std::vector<Command> make_commands() {
  return {
      {"kill", "end one session (8+ hex digits of its id)", {session_id_param()}, false, "killed",
       "The session has been killed.{mail}", nullptr, own_session,
       [](Backend& b, const Values& v, const Actor& actor) {
         auto s = b.find_session(v.at("id").text);
         return Done{b.kill_session(s.fingerprint, actor), s.username};
       }},
      {"kill-many", "end several sessions, all or none", {session_ids_param()}, false, "killed_many",
       "{n} selected sessions have been killed.{mail}", nullptr, own_in_selection,
       [](Backend& b, const Values& v, const Actor& actor) {
         return Done{b.kill_sessions(v.at("ids").list, actor), ""};
       }},
      {"kill-user", "end every session of USER", {user_param()}, false, "killed_user",
       "All sessions of {user} have been killed ({n}).{mail}", nullptr, own_user,
       [](Backend& b, const Values& v, const Actor& actor) {
         const std::string& user = v.at("user").text;
         return Done{b.kill_user(user, actor), user};
       }},
      {"block", "block USER and end all their sessions",
       {user_param(), text_param("reason", "--reason", "TEXT", "the reason", 1000, true)}, false, "blocked",
       "{user} has been blocked; {n} sessions ended.{mail}", nullptr, nullptr,
       [](Backend& b, const Values& v, const Actor& actor) {
         const std::string& user = v.at("user").text;
         if (user == actor.name) throw CommandError(409, "self_block", "You cannot block your own account.");
         return Done{b.block_user(user, v.at("reason").text, actor), user};
       }},
      {"unblock", "allow USER to sign in again", {user_param()}, false, "unblocked",
       "{user} has been unblocked and may sign in again.{mail}", nullptr, nullptr,
       [](Backend& b, const Values& v, const Actor& actor) {
         const std::string& user = v.at("user").text;
         return Done{b.unblock_user(user, actor), user};
       }},
      {"set-limit", "USER's own concurrent-session limit (0 = no limit, none = the server's SessionGuardMaxSessions)",
       {user_param(),
        {"max_sessions", "limit", nullptr, "N|none", "the session limit", ParamKind::limit, true, 0, 0, 1000,
         "The session limit must be a whole number from 0 (no limit) to 1000, or none for the server's setting "
         "(null in JSON, empty in the form)."}},
       false, "limit_set", "The session limit of {user} has been changed; it applies from their next sign-in.{mail}",
       "users", nullptr,
       [](Backend& b, const Values& v, const Actor& actor) {
         const std::string& user = v.at("user").text;
         return Done{b.set_user_limit(user, v.at("max_sessions").number, actor), user};
       }},
      {"end-idle", "end every session idle longer than MINUTES",
       {{"minutes", "minutes", nullptr, "MINUTES", "the idle time", ParamKind::number, true, 0, 1, 525600,
         "The idle time must be a whole number of minutes from 1 to 525600."}},
       true, "ended_idle", "{n} idle sessions have been ended.{mail}", nullptr, nullptr,
       [](Backend& b, const Values& v, const Actor& actor) {
         return Done{b.end_idle(*v.at("minutes").number, actor), ""};
       }},
      {"sign-out-all", "end every session except the actor's own (--server: one virtual host only)",
       {text_param("server", "--server", "NAME", "the server name", 255, false)}, true, "signed_out_all",
       "{n} sessions have been signed out; yours were kept.{mail}", nullptr, nullptr,
       [](Backend& b, const Values& v, const Actor& actor) {
         return Done{b.sign_out_everyone(v.at("server").text, actor), ""};
       }},
      {"logout-request", "email the user of a session asking them to sign out",
       {session_id_param(), text_param("subject", "--subject", "TEXT", "the subject", 255, true),
        text_param("message", "--message", "TEXT", "the message", 20000, true)},
       false, "logout_sent", "The logout request email to {user} has been queued.", nullptr, nullptr,
       [](Backend& b, const Values& v, const Actor& actor) {
         auto s = b.find_session(v.at("id").text);
         return Done{b.logout_request(s.fingerprint, v.at("subject").text, v.at("message").text, actor), s.username};
       }},
  };
}

}  // namespace

const std::vector<Command>& commands() {
  static const std::vector<Command> table = make_commands();
  return table;
}

const Command* find_command(std::string_view name) {
  for (const auto& command : commands())
    if (name == command.name) return &command;
  return nullptr;
}

Values read_params(const Command& command, const Inputs& inputs) {
  Values values;
  for (const auto& p : command.params) {
    auto it = inputs.find(p.key);
    const bool given = it != inputs.end() && !std::holds_alternative<Absent>(it->second) &&
                       !(p.kind != ParamKind::limit && std::holds_alternative<JsonNull>(it->second));
    if (!given) {
      if (p.required) missing(p);
      values[p.key] = Value{};
      continue;
    }
    values[p.key] = read_value(p, it->second);
  }
  return values;
}

Outcome run_command(Backend& backend, const Command& command, const Inputs& inputs, const Actor& actor,
                    bool confirm_self) {
  Outcome outcome;
  try {
    Values values = read_params(command, inputs);
    if (command.own != nullptr && !confirm_self) {
      std::string own = command.own(backend, values, actor);
      if (!own.empty()) throw CommandError(409, "own_session", own);
    }
    outcome.done = command.run(backend, values, actor);
    outcome.message = outcome.done.result.message;
  } catch (const CommandError& e) {
    outcome.status = e.status;
    outcome.code = e.code;
    outcome.message = e.what();
    outcome.malformed = e.malformed;
  } catch (const OperationError& e) {
    outcome.status = status_of(e);
    outcome.code = code_of(e);
    outcome.message = e.what();
  }
  return outcome;
}

std::string notice_for(std::string_view notice, const std::string& user, const std::string& ended, bool mailed) {
  for (const auto& command : commands()) {
    if (notice != command.notice) continue;
    return sg::mail::expand(command.notice_text,
                            {{"user", user},
                             {"n", ended.empty() ? "0" : ended},
                             {"mail", mailed ? " An email notice has been queued." : ""}});
  }
  return "";
}

}  // namespace sg::admin
