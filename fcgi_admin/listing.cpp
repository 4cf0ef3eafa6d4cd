#include "listing.hpp"

#include <algorithm>
#include <chrono>

#include "html.hpp"

namespace sg::admin {

const char* default_order(std::string_view sort) {
  for (const char* ascending : {"user", "ip", "device", "browser", "server", "session", "time_left"})
    if (sort == ascending) return "asc";
  return "desc";
}

nlohmann::json session_json(const db::SessionRow& s, Micros now) {
  using nlohmann::json;
  return json{{"id", s.short_id()},
              {"fingerprint", s.fingerprint},
              {"user", s.username},
              {"admin", s.is_admin},
              {"state", s.state},
              {"login_at", format_iso(s.login_at)},
              {"last_access", format_iso(s.last_access)},
              {"idle_seconds", std::max<Micros>(0, now - s.last_access) / kMicrosPerSecond},
              {"ip", s.client_ip},
              {"user_agent", s.user_agent},
              {"device", s.device},
              {"browser", s.browser},
              {"os", s.os},
              {"server", s.server_name},
              {"idle_timeout", s.idle_timeout},
              {"max_lifetime", s.max_lifetime},
              {"deadline", s.deadline() == 0 ? json(nullptr) : json(format_iso(s.deadline()))},
              {"time_left_seconds",
               s.deadline() == 0 ? json(nullptr) : json(std::max<Micros>(0, s.deadline() - now) / kMicrosPerSecond)}};
}

}  // namespace sg::admin
