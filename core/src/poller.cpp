#include "sg/poller.hpp"

#include <algorithm>
#include <utility>

#include "sg/fingerprint.hpp"

namespace sg {

namespace {
// A jump in ids larger than this is an AUTO_INCREMENT reset or a bulk gap, not a handful of
// open transactions; waiting for each id would cost memory for nothing, the resync covers it.
constexpr std::uint64_t kMaxTrackedGap = 10000;
}  // namespace

Poller::Poller(DenyFeed& feed, Clock& clock, DenyRegion& region, PollerSettings settings)
    : feed_(feed), clock_(clock), region_(region), settings_(settings) {}

TickResult Poller::tick() {
  TickResult result;
  Micros now = clock_.now();
  try {
    if (now >= next_full_resync_) {
      full_resync(now, result);
    } else {
      incremental(now, result);
    }
    if (dirty_) publish();
    result.published = std::exchange(dirty_, false);
    region_.mark_refreshed(now);
  } catch (const StoreError& e) {
    result.ok = false;
    result.error = e.what();
  }
  // One database serves both: when the read failed the write would too, so it waits a tick.
  if (result.ok) {
    try {
      flush_activity(now, result);
      // After the flush, so a session active here a moment ago is not judged idle.
      if (now >= next_expiry_) {
        result.sessions_expired = feed_.expire_sessions(settings_.expiry_batch);
        next_expiry_ = now + settings_.expiry_interval;
      }
    } catch (const StoreError& e) {
      result.ok = false;
      result.error = e.what();
    }
  }
  return result;
}

void Poller::full_resync(Micros now, TickResult& result) {
  // Read the high-water mark first: anything committed after it is picked up incrementally.
  std::uint64_t top = feed_.max_event_id();
  auto revocations = feed_.recent_revocations(region_.capacity().sessions);
  auto blocked = feed_.blocked_users();

  revoked_.clear();
  for (const auto& event : revocations) revoked_[event.fingerprint] = {event.id, event.reason};
  blocked_users_ = std::move(blocked);
  // Transactions open during the load may hold ids just below `top`: treat the ids near the
  // top that we did not load as missing, so the gap logic fetches them if they commit.
  missing_.clear();
  std::uint64_t from = top > settings_.resync_overlap ? top - settings_.resync_overlap : 0;
  for (std::uint64_t id = from + 1; id <= top; ++id) missing_[id] = now;
  for (const auto& event : revocations) missing_.erase(event.id);
  max_seen_ = top;
  next_full_resync_ = now + settings_.full_resync_interval;
  dirty_ = true;
  users_stale_ = false;
  result.full_resync = true;
  result.events_applied = revocations.size();
}

void Poller::incremental(Micros now, TickResult& result) {
  std::vector<DenyEvent> events = feed_.events(max_seen_, 0, settings_.batch_limit);
  if (!missing_.empty()) {
    auto late = feed_.events(missing_.begin()->first - 1, max_seen_, settings_.batch_limit);
    events.insert(events.end(), late.begin(), late.end());
  }
  std::sort(events.begin(), events.end(), [](const DenyEvent& a, const DenyEvent& b) { return a.id < b.id; });

  bool users_changed = false;
  for (const auto& event : events) {
    if (event.id > max_seen_) {
      if (event.id - max_seen_ - 1 <= kMaxTrackedGap) {
        for (std::uint64_t id = max_seen_ + 1; id < event.id; ++id) missing_[id] = now;
      }
      max_seen_ = event.id;
      apply(event, users_changed, result);
    } else if (missing_.erase(event.id) > 0) {
      apply(event, users_changed, result);
    }
    // else: already applied, re-read because it sits inside the window we re-check
  }
  if (users_changed) users_stale_ = true;
  if (users_stale_) {
    blocked_users_ = feed_.blocked_users();
    users_stale_ = false;
    dirty_ = true;
  }
  for (auto it = missing_.begin(); it != missing_.end();) {
    it = now - it->second > settings_.gap_timeout ? missing_.erase(it) : std::next(it);
  }
}

void Poller::apply(const DenyEvent& event, bool& users_changed, TickResult& result) {
  ++result.events_applied;
  if (event.user_changed) {
    users_changed = true;
    return;
  }
  auto [it, inserted] = revoked_.try_emplace(event.fingerprint, event.id, event.reason);
  if (!inserted && event.id > it->second.first) it->second = {event.id, event.reason};
  dirty_ = true;
}

void Poller::publish() {
  std::vector<std::pair<std::uint64_t, RevokedSession>> by_age;
  by_age.reserve(revoked_.size());
  for (const auto& [fp, entry] : revoked_) by_age.push_back({entry.first, RevokedSession{fp, entry.second}});
  // Newest first, so that when the list is over capacity the oldest revocations are dropped.
  std::sort(by_age.begin(), by_age.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<RevokedSession> sessions;
  sessions.reserve(by_age.size());
  for (auto& entry : by_age) sessions.push_back(entry.second);
  std::vector<Fingerprint> users;
  users.reserve(blocked_users_.size());
  for (const auto& name : blocked_users_) users.push_back(user_key(name));
  region_.publish(std::move(sessions), std::move(users));
}

void Poller::flush_activity(Micros now, TickResult& result) {
  if (now < next_activity_flush_) return;
  next_activity_flush_ = now + settings_.activity_flush_interval;
  auto pending = region_.pending_activity(now - settings_.activity_retention);
  if (pending.empty()) return;
  feed_.record_activity(pending);
  region_.mark_flushed(pending);
  result.activity_flushed = pending.size();
  learn_users(pending, now);
}

void Poller::learn_users(const std::vector<ActivityRecord>& flushed, Micros now) {
  std::vector<Fingerprint> unknown;
  for (const auto& record : flushed) {
    if (region_.bound_user(record.fingerprint).empty()) unknown.push_back(record.fingerprint);
  }
  if (unknown.empty()) return;
  for (const auto& [fingerprint, user] : feed_.session_users(unknown)) {
    region_.mark_bound(fingerprint, user_key(user), now, user);
  }
}

}  // namespace sg
