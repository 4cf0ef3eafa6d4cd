// The admin operations, shared by the CLI, the pages and the API. SQL lives only in db/.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "mariadb.hpp"
#include "sg/types.hpp"

namespace sg::db {

struct Actor {
  std::string name;
  std::string ip;
  std::string source = "cli";  // cli, web, api, module
};

struct SessionRow {
  std::string fingerprint;
  std::string username;
  std::string state;
  Micros login_at = 0;
  Micros last_access = 0;
  std::string client_ip;
  std::string user_agent;
  std::string device;
  std::string browser;
  std::string os;
  std::string server_name;
  int idle_timeout = 0;
  int max_lifetime = 0;
  bool is_admin = false;
  Micros ended_at = 0;
  std::string ended_by;
  std::string short_id() const;
};

struct SessionQuery {
  std::string user;    // exact user name, empty = all
  std::string search;  // substring of user, IP, device, browser or OS
  std::string sort = "last_access";
  bool descending = true;
  std::size_t limit = 25;
  std::size_t offset = 0;
  bool active_only = true;
};

struct ActionResult {
  std::string message;  // the audit line, e.g. "Session 85C8A1F2 terminated by administrator admin"
  std::size_t sessions_ended = 0;
};

struct OperationError : std::runtime_error {
  enum class Kind { bad_input, not_found, conflict };
  OperationError(Kind kind, const std::string& message) : std::runtime_error(message), kind(kind) {}
  Kind kind;
};

// The admin operations, shared by the CLI, the pages and the API.
class Operations {
 public:
  explicit Operations(Connection& connection) : db_(connection) {}

  std::vector<SessionRow> sessions(const SessionQuery& query);
  std::uint64_t count_sessions(const SessionQuery& query);
  // `id` is a full fingerprint or an unambiguous prefix of at least 8 hex digits.
  ActionResult kill_session(std::string_view id, const Actor& actor);
  ActionResult kill_user(std::string_view username, const Actor& actor);
  ActionResult block_user(std::string_view username, std::string_view reason, const Actor& actor);
  ActionResult unblock_user(std::string_view username, const Actor& actor);

 private:
  std::string resolve_session(std::string_view id);
  std::size_t end_user_sessions(std::string_view username, Reason reason, const Actor& actor);
  void audit(const Actor& actor, std::string_view action, std::string_view user, std::string_view session,
             std::string_view reason, std::string_view message);

  Connection& db_;
};

void validate_username(std::string_view username);  // throws OperationError(bad_input)

}  // namespace sg::db
