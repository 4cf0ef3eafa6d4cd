// How sessions are listed, wherever they are: the default order of each sort column and a
// session as JSON (the API and the CLI's --json).
#pragma once
#include <nlohmann/json.hpp>
#include <string_view>

#include "sg/clock.hpp"
#include "instance_health.hpp"
#include "session_queries.hpp"

namespace sg::admin {


// "asc" for the columns people read alphabetically and for time left (soonest first), else "desc".
const char* default_order(std::string_view sort);

nlohmann::json session_json(const db::SessionRow& session, Micros now);

// An instance that has not reported for this many of its intervals is flagged stale: its
// poller is gone, or cannot reach the database (which its own server-status then says).
constexpr std::int64_t kHealthStaleIntervals = 3;
bool health_stale(const db::InstanceHealthRow& row);
nlohmann::json health_json(const db::InstanceHealthRow& row);

}  // namespace sg::admin
