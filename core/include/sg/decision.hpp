// The verdict for one request, from facts the glue gathered without I/O.
#pragma once
#include "sg/config.hpp"
#include "sg/types.hpp"

namespace sg {

struct RequestFacts {
  Reason session_revoked = Reason::none;  // from the deny-list, for the request's session cookie
  bool user_blocked = false;              // the authenticated or bound user is blocked
  Micros now = 0;
  Micros last_refresh = 0;  // when the deny-list last matched the database; 0 = never
  Micros started_at = 0;    // when this Apache instance started waiting for the database
};

struct Verdict {
  bool allow = true;
  Reason reason = Reason::none;
  bool stale = false;  // the deny-list is older than MaxStale (logged, and decides in closed mode)
};

Verdict decide(const RequestFacts& facts, FailMode fail_mode, Micros max_stale);

}  // namespace sg
