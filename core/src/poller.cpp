#include "sg/poller.hpp"

#include <algorithm>
#include <set>
#include <utility>

#include "sg/fingerprint.hpp"

namespace sg {

std::size_t select_revocations(std::vector<DenyEvent>& events, std::size_t capacity) {
  if (events.size() <= capacity) return 0;
  // Rank each revocation within its user's, newest first; keep the lowest ranks, newest first
  // among equal ranks.
  std::sort(events.begin(), events.end(), [](const DenyEvent& a, const DenyEvent& b) {
    return a.username < b.username || (a.username == b.username && a.id > b.id);
  });
  std::vector<std::pair<std::size_t, std::size_t>> order;  // (rank, index)
  order.reserve(events.size());
  for (std::size_t i = 0, rank = 0; i < events.size(); ++i) {
    rank = (i > 0 && events[i].username == events[i - 1].username) ? rank + 1 : 0;
    order.emplace_back(rank, i);
  }
  std::nth_element(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(capacity), order.end(),
                   [&](const auto& a, const auto& b) {
                     return a.first < b.first || (a.first == b.first && events[a.second].id > events[b.second].id);
                   });
  std::vector<DenyEvent> kept;
  kept.reserve(capacity);
  for (std::size_t i = 0; i < capacity; ++i) kept.push_back(std::move(events[order[i].second]));
  std::size_t dropped = events.size() - capacity;
  events = std::move(kept);
  return dropped;
}

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
    if (dirty_) publish(now, result);
    result.published = std::exchange(dirty_, false);
    region_.mark_refreshed(now);
  } catch (const StoreError& e) {
    result.ok = false;
    result.error = e.what();
  }
  // Local revocations stay until the feed has them; they expire by age only while the
  // database answers, so an outage does not end them early.
  region_.sweep_local(now, result.ok);
  // When the read failed the writes would too, so they wait a tick. A write that fails (a
  // row lock held too long, say) is retried at its own interval and never fails the refresh.
  if (result.ok) {
    try {
      flush_activity(now, result);
    } catch (const StoreError& e) {
      result.write_error = e.what();
    }
    try {
      // After the flush, so a session active here a moment ago is not judged idle.
      if (now >= next_expiry_) {
        result.sessions_expired = feed_.expire_sessions(settings_.expiry_batch);
        next_expiry_ = now + settings_.expiry_interval;
      }
    } catch (const StoreError& e) {
      if (result.write_error.empty()) result.write_error = e.what();
    }
  }
  return result;
}

void Poller::full_resync(Micros now, TickResult& result) {
  // Read the high-water mark first: anything committed after it is picked up incrementally.
  std::uint64_t top = feed_.max_event_id();
  // Which ids near the top exist, read before the loads so that every one of them is in
  // what the loads return; the others may belong to transactions open during the load.
  const std::uint64_t from = top > settings_.resync_overlap ? top - settings_.resync_overlap : 0;
  auto recent = feed_.events(from, top, static_cast<std::size_t>(top - from));
  RevocationLoad load = feed_.revocations_within(settings_.revocation_retention, region_.capacity().sessions);
  auto& revocations = load.events;
  auto blocked = feed_.blocked_users();

  revoked_.clear();
  for (const auto& event : revocations) {
    DenyEvent& kept = revoked_[event.fingerprint];
    if (event.id > kept.id) kept = event;
    if (kept.at == 0) kept.at = now;
  }
  revocations_dropped_ = load.within_retention > revocations.size() ? load.within_retention - revocations.size() : 0;
  result.revocations_dropped = static_cast<std::size_t>(revocations_dropped_);
  blocked_users_ = std::move(blocked);
  missing_.clear();
  for (std::uint64_t id = from + 1; id <= top; ++id) missing_.insert(id);
  for (const auto& event : recent) missing_.erase(event.id);
  max_seen_ = top;
  next_full_resync_ = now + settings_.full_resync_interval;
  dirty_ = true;
  users_stale_ = false;
  result.full_resync = true;
  result.events_applied = revocations.size();
}

// Ids between the highest seen and `below` are missing (only the last gap_window of them:
// a larger jump is an AUTO_INCREMENT reset or a bulk gap, and the full resync covers it).
void Poller::note_gap(std::uint64_t below) {
  std::uint64_t first = max_seen_ + 1;
  if (below > settings_.gap_window && below - settings_.gap_window > first) first = below - settings_.gap_window;
  for (std::uint64_t id = first; id < below; ++id) missing_.insert(id);
}

void Poller::incremental(Micros now, TickResult& result) {
  std::vector<DenyEvent> events = feed_.events(max_seen_, 0, settings_.batch_limit);
  bool users_changed = false;
  for (const auto& event : events) {
    if (event.id <= max_seen_) continue;  // not asked for; a feed that ignores `after`
    note_gap(event.id);
    max_seen_ = event.id;
    apply(event, now, users_changed, result);
  }
  const std::uint64_t floor = max_seen_ > settings_.gap_window ? max_seen_ - settings_.gap_window : 0;
  missing_.erase(missing_.begin(), missing_.lower_bound(floor + 1));
  check_window(now, users_changed, result);
  if (users_changed) users_stale_ = true;
  if (users_stale_) {
    blocked_users_ = feed_.blocked_users();
    users_stale_ = false;
    dirty_ = true;
  }
}

// A late commit (an id below the highest seen, given at insert and committed after higher
// ones) is found by the next poll whatever its delay: every id of the window that is not
// missing has been seen, so more committed rows than that means one of the missing arrived.
void Poller::check_window(Micros now, bool& users_changed, TickResult& result) {
  if (missing_.empty()) return;
  const std::uint64_t low = *missing_.begin() - 1;
  const std::uint64_t expected = (max_seen_ - low) - missing_.size();
  if (feed_.count_events(low, max_seen_) == expected) return;
  result.window_reread = true;
  std::set<std::uint64_t> present;
  for (const auto& event : feed_.events(low, max_seen_, static_cast<std::size_t>(max_seen_ - low))) {
    present.insert(event.id);
    if (missing_.erase(event.id) > 0) apply(event, now, users_changed, result);
  }
  // Fewer rows than expected: some were deleted (retention). Counting them as missing keeps
  // the next count equal instead of re-reading the window on every poll.
  for (std::uint64_t id = low + 1; id <= max_seen_; ++id) {
    if (present.count(id) == 0) missing_.insert(id);
  }
}

void Poller::apply(const DenyEvent& event, Micros now, bool& users_changed, TickResult& result) {
  ++result.events_applied;
  if (event.user_changed) {
    users_changed = true;
    return;
  }
  auto [it, inserted] = revoked_.try_emplace(event.fingerprint, event);
  if (!inserted && event.id > it->second.id) it->second = event;
  if (it->second.at == 0) it->second.at = now;
  dirty_ = true;
}

void Poller::publish(Micros now, TickResult& result) {
  const Micros forget_before = now - settings_.revocation_retention;
  for (auto it = revoked_.begin(); it != revoked_.end();) {
    it = it->second.at < forget_before ? revoked_.erase(it) : std::next(it);
  }
  const std::size_t capacity = region_.capacity().sessions;
  if (revoked_.size() > capacity) {
    std::vector<DenyEvent> all;
    all.reserve(revoked_.size());
    for (auto& entry : revoked_) all.push_back(std::move(entry.second));
    std::size_t dropped = select_revocations(all, capacity);
    revoked_.clear();
    for (auto& event : all) revoked_.emplace(event.fingerprint, std::move(event));
    revocations_dropped_ += dropped;
    result.revocations_dropped += dropped;
  }
  region_.set_revocations_dropped(revocations_dropped_);
  std::vector<RevokedSession> sessions;
  sessions.reserve(revoked_.size());
  for (const auto& [fp, event] : revoked_) sessions.push_back(RevokedSession{fp, event.reason});
  std::vector<Fingerprint> users;
  users.reserve(blocked_users_.size());
  for (const auto& name : blocked_users_) users.push_back(user_key(name));
  region_.publish(std::move(sessions), std::move(users));
}

void Poller::flush_activity(Micros now, TickResult& result) {
  if (now < next_activity_flush_) return;
  next_activity_flush_ = now + settings_.activity_flush_interval;
  auto pending = region_.pending_activity(now - settings_.activity_retention);
  if (!pending.empty()) {
    // Sessions whose rows another transaction holds stay pending for the next flush.
    auto deferred = feed_.record_activity(pending);
    if (!deferred.empty()) {
      std::set<Fingerprint> later(deferred.begin(), deferred.end());
      pending.erase(std::remove_if(pending.begin(), pending.end(),
                                   [&](const ActivityRecord& r) { return later.count(r.fingerprint) > 0; }),
                    pending.end());
      result.activity_deferred = later.size();
    }
    region_.mark_flushed(pending);
    result.activity_flushed = pending.size();
    learn_users(pending, now);
  }
  learn_sightings();
}

// Sessions bound on another server (or here, before a slot was freed) are only sighted
// here: the database says which are live, and those get a slot, their user and their
// activity from the moment they were seen (flushed with the next batch).
void Poller::learn_sightings() {
  auto sightings = region_.take_sightings();
  if (sightings.empty()) return;
  std::map<Fingerprint, Micros> first_seen;
  for (const auto& s : sightings) {
    auto [it, inserted] = first_seen.emplace(s.fingerprint, s.last_seen);
    if (!inserted) it->second = std::min(it->second, s.last_seen);
  }
  std::vector<Fingerprint> asked;
  asked.reserve(first_seen.size());
  for (const auto& entry : first_seen) asked.push_back(entry.first);
  for (const auto& [fingerprint, user] : feed_.session_users(asked)) {
    region_.mark_bound(fingerprint, user_key(user), first_seen[fingerprint], user);
  }
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
