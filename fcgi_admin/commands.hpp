// The admin's write actions, each defined once: its parameters (how each face spells them,
// what is valid, the message when not), the service operation it runs and what it reports.
// The forms, the JSON API and the CLI only gather parameters and render the Outcome, so an
// action is added by adding one entry to the table in commands.cpp.
#pragma once
#include <cstddef>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "backend.hpp"

namespace sg::admin {

enum class ParamKind {
  session_id,   // 8 to 64 hex digits: the start of a fingerprint
  session_ids,  // 1 to 1000 session ids
  user,         // an account name, exact (validate_username)
  text,         // free text of at most max_length bytes
  number,       // a whole number from min to max
  limit,        // a whole number from min to max, or none (JSON null, "none" or "" as text)
};

struct Param {
  const char* key;      // in JSON bodies, and the name the command reads it by
  const char* field;    // form field
  const char* flag;     // command-line flag ("--reason"); nullptr: a positional word, in table order
  const char* metavar;  // the value in the CLI's usage ("USER")
  const char* label;    // in messages ("the reason")
  ParamKind kind;
  bool required;
  std::size_t max_length;  // text
  int min, max;            // number, limit
  const char* rule;        // why a number or list was refused, the same words on every face
};

// One parameter as a face received it. Forms and the command line give words (several for a
// list); the API gives what the JSON held, whose type matters ({"minutes":"5"} is refused).
struct Absent {};
struct JsonNull {};
struct WrongType {};  // a JSON value no parameter accepts (true, 1.5, {}, [1])
using Input = std::variant<Absent, JsonNull, WrongType, std::string, long long, std::vector<std::string>>;
using Inputs = std::map<std::string, Input>;  // by Param::key

// A parameter once read: which member is set depends on its kind.
struct Value {
  std::string text;
  std::vector<std::string> list;
  std::optional<int> number;
};
using Values = std::map<std::string, Value>;

struct Done {
  ActionResult result;
  std::string user;  // the account the action was about ("" for several), for the form's notice
};

struct Command {
  const char* name;     // the CLI word, /actions/NAME and /api/NAME
  const char* summary;  // the CLI's help line
  std::vector<Param> params;
  bool sweeping;        // ends sessions of many users: the CLI wants --yes
  const char* notice;   // the notice code the form redirects with
  // What the page shows afterwards; {user}, {n} (sessions ended) and {mail} (" An email
  // notice has been queued." when one was) are filled in.
  const char* notice_text;
  const char* back;     // the page the form returns to; nullptr: the one it came from
  // Which of the actor's own sessions this would end, as a sentence ("" = none); such a
  // command runs only when confirm_self is given. nullptr: it never ends the actor's own.
  std::string (*own)(Backend&, const Values&, const Actor&);
  Done (*run)(Backend&, const Values&, const Actor&);  // may throw CommandError or OperationError
};

// What a command did, or why it did nothing. The faces render it; nothing here is HTML or JSON.
struct Outcome {
  int status = 200;       // 200 done; else the HTTP status: 400, 404, 409, 410
  std::string code;       // for the API: "missing_field", "invalid_field", "not_found", "own_session", ...
  std::string message;    // done: the audit line; else why not
  bool malformed = false; // a value missing or not of its kind ("many" for a number): a usage error on the CLI
  Done done;
  bool ok() const { return status == 200; }
};

// A refusal by the command itself (its parameters or its own rules), before the Backend acts.
struct CommandError : std::runtime_error {
  CommandError(int status, std::string code, const std::string& message, bool malformed = false)
      : std::runtime_error(message), status(status), code(std::move(code)), malformed(malformed) {}
  int status;
  std::string code;
  bool malformed;
};

const std::vector<Command>& commands();
const Command* find_command(std::string_view name);

// Reads and checks every parameter (throws CommandError); the confirmation pages use it to
// refuse what the action would refuse before showing anything.
Values read_params(const Command& command, const Inputs& inputs);

// Reads the parameters, asks about the actor's own sessions, runs the operation. Refusals
// (the command's and the Backend's OperationError) come back as an Outcome; a StoreError
// (database down) is thrown, for each face to report in its way.
Outcome run_command(Backend& backend, const Command& command, const Inputs& inputs, const Actor& actor,
                    bool confirm_self);

// The notice a form shows after `notice` (a Command::notice) worked; "" for an unknown code.
std::string notice_for(std::string_view notice, const std::string& user, const std::string& ended, bool mailed);

}  // namespace sg::admin
