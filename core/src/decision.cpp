#include "sg/decision.hpp"

namespace sg {

Verdict decide(const RequestFacts& facts, FailMode fail_mode, Micros max_stale) {
  Verdict verdict;
  // What we already know is enforced whatever the database's state: a stale list is still true.
  if (facts.session_revoked != Reason::none) {
    verdict.allow = false;
    verdict.reason = facts.session_revoked;
  } else if (facts.user_blocked) {
    verdict.allow = false;
    verdict.reason = Reason::blocked;
  }
  Micros fresh_since = facts.last_refresh != 0 ? facts.last_refresh : facts.started_at;
  verdict.stale = facts.now - fresh_since > max_stale;
  if (verdict.allow && verdict.stale && fail_mode == FailMode::closed) {
    verdict.allow = false;
    verdict.reason = Reason::unavailable;
  }
  return verdict;
}

}  // namespace sg
