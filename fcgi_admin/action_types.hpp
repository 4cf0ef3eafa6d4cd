// What an admin action is given and what it answers, on every face (pages, API, CLI).
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace sg::admin {

struct Actor {
  std::string name;
  std::string ip;
  std::string source = "cli";  // cli, web, api, module, self (my-sessions), link ("This wasn't me")
};

struct ActionResult {
  std::string message;  // the audit line, e.g. "Session 85C8A1F2 terminated by administrator admin"
  std::size_t sessions_ended = 0;
  std::size_t mails_queued = 0;
  std::vector<std::string> log_lines;  // one per audit row written
};

// A refusal: nothing was changed. Its kind decides the HTTP status (status_of in backend.hpp).
struct OperationError : std::runtime_error {
  enum class Kind { bad_input, not_found, conflict, gone };
  OperationError(Kind kind, const std::string& message) : std::runtime_error(message), kind(kind) {}
  Kind kind;
};

// A single sign-out the identity provider asked for (fcgi_admin/sso.cpp verified it).
struct SsoLogout {
  enum class Protocol { oidc, cas };
  Protocol protocol = Protocol::oidc;
  std::string sub;     // OIDC: the user (sub claim); "" when the token names only a sid
  std::string sid;     // OIDC: the provider's session, matched by digest against sessions.sso_key
  std::string ticket;  // CAS: the service ticket, matched by digest
  // OIDC: SHA-256 hex of iss "\n" jti, remembered until `token_expires` (seconds since the
  // epoch) so a replayed token ends nothing; "" = not a token (CAS).
  std::string token_hash;
  std::int64_t token_expires = 0;
};

void validate_username(std::string_view username);  // throws OperationError(bad_input)

}  // namespace sg::admin
