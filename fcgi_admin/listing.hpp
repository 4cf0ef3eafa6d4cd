// How sessions are listed, wherever they are: the default order of each sort column and a
// session as JSON (the API and the CLI's --json).
#pragma once
#include <nlohmann/json.hpp>
#include <string_view>

#include "sg/clock.hpp"
#include "operations.hpp"

namespace sg::admin {


// "asc" for the columns people read alphabetically and for time left (soonest first), else "desc".
const char* default_order(std::string_view sort);

nlohmann::json session_json(const db::SessionRow& session, Micros now);

}  // namespace sg::admin
