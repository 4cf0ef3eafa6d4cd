// A login the request path accepted, as the database records it and as the journal keeps it
// while the database cannot take it: one struct, so a field added for one cannot be lost by
// the other.
#pragma once
#include <cstdint>
#include <string>
#include <tuple>

#include "sg/types.hpp"

namespace sg {

struct LoginRecord {
  Fingerprint fingerprint;
  std::string username;
  std::string cookie_name;
  std::string client_ip;
  std::string user_agent;  // the device, browser and OS are classified from it when recorded
  std::string server_name;
  std::int32_t idle_timeout_seconds = 0;
  std::int32_t max_lifetime_seconds = 0;
  std::int32_t max_sessions = 0;  // from the directive; the account's own limit overrides it
  bool refuse_new = false;        // at the limit: refuse this login rather than end the oldest
  Micros at = 0;                  // when it happened (a login replayed from the journal); 0: now
  // Single sign-out: what ties the session to the identity provider's session, when the
  // request that established it carried one (sg/sso.hpp). "" = none, stored as NULL.
  std::string sso_key;  // hex SHA-256 of the OIDC sid or the CAS service ticket, never the value
  std::string sso_sub;  // the OIDC `sub` claim

  auto fields() const {
    return std::tie(fingerprint, username, cookie_name, client_ip, user_agent, server_name, idle_timeout_seconds,
                    max_lifetime_seconds, max_sessions, refuse_new, at, sso_key, sso_sub);
  }
  bool operator==(const LoginRecord& other) const { return fields() == other.fields(); }
};

}  // namespace sg
