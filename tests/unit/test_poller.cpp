// The poller, driven by a fake DenyFeed (an in-memory deny_events table whose rows may be
// "not yet committed") and a manual clock, over a DenyRegion in heap memory.
#include "unit.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "sg/decision.hpp"
#include "sg/deny_region.hpp"
#include "sg/fingerprint.hpp"
#include "sg/poller.hpp"

namespace {

constexpr sg::Micros kSecond = sg::kMicrosPerSecond;
constexpr sg::Micros kMs = 1000;
constexpr sg::Micros kStart = 1700000000LL * kSecond;
constexpr sg::Micros kPoll = 250 * kMs;

sg::Fingerprint fp(const std::string& name) { return sg::session_fingerprint("PHPSESSID", name); }

// The deny_events table and the accounts table, as SqlDenyFeed sees them: a row that is not
// committed yet is invisible to every query, including MAX(id).
class FakeFeed : public sg::DenyFeed {
 public:
  struct Row {
    sg::DenyEvent event;
    bool committed = true;
  };
  std::map<std::uint64_t, Row> table;
  std::vector<std::string> blocked;
  std::set<std::string> failing;  // method names, or "*" for all
  std::vector<std::vector<sg::ActivityRecord>> received;
  std::map<std::string, int> calls;

  sg::Micros now = kStart;  // the database's clock: the fixture keeps it at the poller's

  void revoke(std::uint64_t id, const sg::Fingerprint& f, sg::Reason reason = sg::Reason::killed,
              bool committed = true, const std::string& user = "") {
    Row row;
    row.event.id = id;
    row.event.fingerprint = f;
    row.event.reason = reason;
    row.event.username = user;
    row.event.at = now;
    row.committed = committed;
    table[id] = row;
  }
  void user_event(std::uint64_t id, bool committed = true) {
    Row row;
    row.event.id = id;
    row.event.user_changed = true;
    row.committed = committed;
    table[id] = row;
  }
  void commit(std::uint64_t id) { table.at(id).committed = true; }
  void remove(std::uint64_t id) { table.erase(id); }
  void go_down(const std::string& method = "*") { failing.insert(method); }
  void recover() { failing.clear(); }

  std::uint64_t max_event_id() override {
    check("max_event_id");
    std::uint64_t top = 0;
    for (const auto& [id, row] : table) {
      if (row.committed) top = std::max(top, id);
    }
    return top;
  }
  // As SqlDenyFeed's query: within retention, chosen per user when over the limit.
  sg::RevocationLoad revocations_within(sg::Micros retention, std::size_t limit) override {
    check("revocations_within");
    sg::RevocationLoad load;
    for (const auto& [id, row] : table) {
      if (row.committed && !row.event.user_changed && row.event.at >= now - retention) load.events.push_back(row.event);
    }
    load.within_retention = load.events.size();
    sg::select_revocations(load.events, limit);
    return load;
  }
  std::vector<std::string> blocked_users() override {
    check("blocked_users");
    return blocked;
  }
  std::vector<sg::DenyEvent> events(std::uint64_t after, std::uint64_t up_to, std::size_t limit) override {
    check("events");
    std::vector<sg::DenyEvent> out;
    for (const auto& [id, row] : table) {
      if (out.size() >= limit) break;
      if (row.committed && id > after && (up_to == 0 || id <= up_to)) out.push_back(row.event);
    }
    return out;
  }
  // Rows another transaction holds: SqlDenyFeed skips them (SKIP LOCKED) and says so.
  std::set<sg::Fingerprint> locked;
  std::vector<sg::Fingerprint> record_activity(const std::vector<sg::ActivityRecord>& activity) override {
    check("record_activity");
    std::vector<sg::ActivityRecord> written;
    std::vector<sg::Fingerprint> deferred;
    for (const auto& r : activity) {
      if (locked.count(r.fingerprint) > 0) {
        deferred.push_back(r.fingerprint);
      } else {
        written.push_back(r);
      }
    }
    if (!written.empty()) received.push_back(written);
    return deferred;
  }
  std::uint64_t count_events(std::uint64_t after, std::uint64_t up_to) override {
    check("count_events");
    std::uint64_t n = 0;
    for (const auto& [id, row] : table) n += row.committed && id > after && id <= up_to ? 1 : 0;
    return n;
  }
  // sessions.user for bound sessions the database knows.
  std::map<sg::Fingerprint, std::string> session_user;
  std::vector<std::vector<sg::Fingerprint>> users_asked;
  std::vector<std::pair<sg::Fingerprint, std::string>> session_users(
      const std::vector<sg::Fingerprint>& sessions) override {
    check("session_users");
    users_asked.push_back(sessions);
    std::vector<std::pair<sg::Fingerprint, std::string>> out;
    for (const auto& f : sessions) {
      auto it = session_user.find(f);
      if (it != session_user.end()) out.emplace_back(f, it->second);
    }
    return out;
  }
  std::size_t expirable = 0;  // sessions past a deadline, ended by the next expire_sessions()
  std::vector<std::size_t> expiry_limits;
  std::size_t expire_sessions(std::size_t limit) override {
    check("expire_sessions");
    expiry_limits.push_back(limit);
    std::size_t n = std::min(limit, expirable);
    expirable -= n;
    return n;
  }

  // Latest time delivered for a session, 0 if never.
  sg::Micros delivered(const sg::Fingerprint& f) const {
    sg::Micros latest = 0;
    for (const auto& batch : received) {
      for (const auto& r : batch) {
        if (r.fingerprint == f) latest = std::max(latest, r.last_seen);
      }
    }
    return latest;
  }

 private:
  void check(const std::string& method) {
    ++calls[method];
    if (failing.count("*") || failing.count(method)) {
      throw sg::StoreError("Lost connection to server during query (fake " + method + ")");
    }
  }
};

class ManualClock : public sg::Clock {
 public:
  sg::Micros t = kStart;
  sg::Micros now() override { return t; }
  void advance(sg::Micros d) { t += d; }
};

struct Fixture {
  sg::RegionCapacity capacity;
  std::unique_ptr<unsigned char[]> memory;
  ManualClock clock;
  FakeFeed feed;
  std::unique_ptr<sg::DenyRegion> region;
  std::unique_ptr<sg::Poller> poller;

  explicit Fixture(sg::PollerSettings settings = {}, std::uint32_t sessions = 1024) {
    capacity.sessions = sessions;
    capacity.users = 64;
    capacity.activity = 1024;
    std::size_t size = sg::DenyRegion::required_size(capacity);
    memory.reset(new unsigned char[size]);
    region = std::make_unique<sg::DenyRegion>(sg::DenyRegion::create(memory.get(), size, capacity, clock.t));
    poller = std::make_unique<sg::Poller>(feed, clock, *region, settings);
  }
  // One poll interval later.
  sg::TickResult tick(sg::Micros after = kPoll) {
    clock.advance(after);
    feed.now = clock.t;
    return poller->tick();
  }
  // A session bound on this instance (a login here): only those have an activity slot.
  void bind(const std::string& session, const std::string& user = "someone") {
    region->mark_bound(fp(session), sg::user_key(user), clock.t, user);
  }
  sg::Reason revoked(const std::string& name) const { return region->session_revoked(fp(name)); }
  bool blocked(const std::string& user) const { return region->user_blocked(sg::user_key(user)); }
  // The verdict the module would give a request of this session/user right now.
  sg::Verdict verdict(const std::string& session, const std::string& user, sg::FailMode mode,
                      sg::Micros max_stale) const {
    sg::RequestFacts facts;
    facts.session_revoked = region->session_revoked(fp(session));
    facts.user_blocked = !user.empty() && region->user_blocked(sg::user_key(user));
    facts.now = clock.t;
    facts.last_refresh = region->last_refresh();
    facts.started_at = region->started_at();
    return sg::decide(facts, mode, max_stale);
  }
};

#define assert_tick_ok(result)                                                       \
  do {                                                                               \
    const sg::TickResult& sg_r_ = (result);                                          \
    if (!sg_r_.ok) fail_msg("tick failed: %s", sg_r_.error.c_str());                 \
  } while (0)

}  // namespace

// --- loading ----------------------------------------------------------------------------------

SG_TEST(first_tick_full_resync_publishes) {
  Fixture f;
  f.feed.revoke(1, fp("a"), sg::Reason::killed);
  f.feed.revoke(2, fp("b"), sg::Reason::superseded);
  f.feed.user_event(3);
  f.feed.blocked = {"mallory"};
  assert_int_equal(f.region->last_refresh(), 0);
  auto r = f.tick();
  assert_tick_ok(r);
  assert_true(r.full_resync);
  assert_true(r.published);
  assert_int_equal(r.events_applied, 2);
  assert_reason(f.revoked("a"), sg::Reason::killed);
  assert_reason(f.revoked("b"), sg::Reason::superseded);
  assert_reason(f.revoked("c"), sg::Reason::none);
  assert_true(f.blocked("mallory"));
  assert_false(f.blocked("alice"));
  assert_int_equal(f.region->last_refresh(), f.clock.t);
  assert_int_equal(f.poller->max_seen(), 3);
  assert_int_equal(f.region->stats().publications, 1);
}

SG_TEST(empty_database_is_a_successful_refresh) {
  Fixture f;
  auto r = f.tick();
  assert_tick_ok(r);
  assert_true(r.full_resync);
  assert_int_equal(f.region->last_refresh(), f.clock.t);
  assert_int_equal(f.poller->max_seen(), 0);
  f.feed.revoke(1, fp("first"));
  r = f.tick();
  assert_tick_ok(r);
  assert_false(r.full_resync);
  assert_reason(f.revoked("first"), sg::Reason::killed);
}

SG_TEST(incremental_pickup_of_a_new_revocation) {
  Fixture f;
  f.feed.revoke(1, fp("a"));
  f.feed.revoke(2, fp("b"));
  assert_tick_ok(f.tick());
  int loads = f.feed.calls["revocations_within"];

  f.feed.revoke(3, fp("c"), sg::Reason::expired);
  auto r = f.tick();
  assert_tick_ok(r);
  assert_false(r.full_resync);
  assert_true(r.published);
  assert_int_equal(r.events_applied, 1);
  assert_reason(f.revoked("c"), sg::Reason::expired);
  assert_reason(f.revoked("a"), sg::Reason::killed);  // earlier ones stay
  assert_int_equal(f.poller->max_seen(), 3);
  assert_int_equal(f.region->last_refresh(), f.clock.t);
  assert_int_equal(f.feed.calls["revocations_within"], loads);  // no reload for one event

  // Nothing new: nothing applied, nothing published, but the list is fresh.
  int publications = static_cast<int>(f.region->stats().publications);
  r = f.tick();
  assert_tick_ok(r);
  assert_int_equal(r.events_applied, 0);
  assert_false(r.published);
  assert_int_equal(f.region->stats().publications, publications);
  assert_int_equal(f.region->last_refresh(), f.clock.t);
}

SG_TEST(same_session_revoked_twice_keeps_the_newest_reason) {
  Fixture f;
  f.feed.revoke(1, fp("a"), sg::Reason::superseded);
  assert_tick_ok(f.tick());
  f.feed.revoke(2, fp("a"), sg::Reason::killed);
  assert_tick_ok(f.tick());
  assert_reason(f.revoked("a"), sg::Reason::killed);
}

SG_TEST(batch_limit_pages_through_a_burst) {
  sg::PollerSettings s;
  s.batch_limit = 2;
  Fixture f(s);
  assert_tick_ok(f.tick());
  for (int i = 1; i <= 5; ++i) f.feed.revoke(static_cast<std::uint64_t>(i), fp("burst" + std::to_string(i)));
  auto r = f.tick();
  assert_tick_ok(r);
  assert_int_equal(r.events_applied, 2);
  assert_reason(f.revoked("burst2"), sg::Reason::killed);
  assert_reason(f.revoked("burst3"), sg::Reason::none);
  assert_tick_ok(f.tick());
  assert_tick_ok(f.tick());
  for (int i = 1; i <= 5; ++i) assert_reason(f.revoked("burst" + std::to_string(i)), sg::Reason::killed);
  assert_int_equal(f.poller->max_seen(), 5);
  assert_int_equal(f.poller->missing_ids(), 0);
}

// --- ids committed out of order -----------------------------------------------------------------

SG_TEST(out_of_order_commit_is_not_missed) {
  Fixture f;
  for (int i = 1; i <= 9; ++i) f.feed.revoke(static_cast<std::uint64_t>(i), fp("old" + std::to_string(i)));
  assert_tick_ok(f.tick());
  assert_int_equal(f.poller->missing_ids(), 0);

  // Two admins: the one who got id 10 commits after the one who got id 11.
  f.feed.revoke(10, fp("late"), sg::Reason::superseded, /*committed=*/false);
  f.feed.revoke(11, fp("early"), sg::Reason::killed, /*committed=*/true);
  auto r = f.tick();
  assert_tick_ok(r);
  assert_reason(f.revoked("early"), sg::Reason::killed);
  assert_reason(f.revoked("late"), sg::Reason::none);
  assert_int_equal(f.poller->max_seen(), 11);
  assert_int_equal(f.poller->missing_ids(), 1);

  // Still open on the next tick: still waiting for it.
  assert_tick_ok(f.tick());
  assert_int_equal(f.poller->missing_ids(), 1);

  f.feed.commit(10);
  r = f.tick();
  assert_tick_ok(r);
  assert_false(r.full_resync);
  assert_true(r.published);
  assert_reason(f.revoked("late"), sg::Reason::superseded);
  assert_reason(f.revoked("early"), sg::Reason::killed);
  assert_int_equal(f.poller->missing_ids(), 0);
  assert_int_equal(f.poller->max_seen(), 11);
}

SG_TEST(out_of_order_commit_during_a_full_resync) {
  // id 18 is open while the full load runs; ids 19 and 20 are already committed.
  Fixture f;
  for (int i = 1; i <= 20; ++i) {
    f.feed.revoke(static_cast<std::uint64_t>(i), fp("s" + std::to_string(i)), sg::Reason::killed, i != 18);
  }
  auto r = f.tick();
  assert_tick_ok(r);
  assert_true(r.full_resync);
  assert_reason(f.revoked("s18"), sg::Reason::none);
  assert_reason(f.revoked("s20"), sg::Reason::killed);
  assert_int_equal(f.poller->missing_ids(), 1);
  f.feed.commit(18);
  r = f.tick();
  assert_tick_ok(r);
  assert_false(r.full_resync);
  assert_reason(f.revoked("s18"), sg::Reason::killed);
  assert_int_equal(f.poller->missing_ids(), 0);
}

SG_TEST(a_commit_forty_seconds_late_is_applied_at_the_next_poll) {
  // Found 6 of issue 10: a revocation committed 40 s after a later id was enforced only at
  // the next full reload. The window count catches it at the next poll, however late.
  sg::PollerSettings s;
  s.full_resync_interval = 600 * kSecond;
  Fixture f(s);
  f.feed.revoke(1, fp("one"));
  assert_tick_ok(f.tick());
  f.feed.revoke(2, fp("forty-seconds-late"), sg::Reason::killed, false);
  f.feed.revoke(3, fp("three"));
  assert_tick_ok(f.tick());
  assert_int_equal(f.poller->missing_ids(), 1);
  const int reads = f.feed.calls["events"];
  for (int i = 0; i < 160; ++i) {  // 40 s of polls
    auto r = f.tick();
    assert_tick_ok(r);
    assert_false(r.window_reread);
    assert_false(r.published);
    assert_int_equal(r.events_applied, 0);
  }
  assert_int_equal(f.poller->missing_ids(), 1);
  // One read of new ids per poll, and no re-read of the window while its count is unchanged.
  assert_int_equal(f.feed.calls["events"], reads + 160);
  f.feed.commit(2);
  auto r = f.tick();
  assert_tick_ok(r);
  assert_false(r.full_resync);
  assert_true(r.window_reread);
  assert_true(r.published);
  assert_int_equal(r.events_applied, 1);  // only the late one: three is not applied again
  assert_reason(f.revoked("forty-seconds-late"), sg::Reason::killed);
  assert_int_equal(f.poller->missing_ids(), 0);
  // Nothing missing: no count at all.
  const int counts = f.feed.calls["count_events"];
  assert_tick_ok(f.tick());
  assert_int_equal(f.feed.calls["count_events"], counts);
}

SG_TEST(ids_that_never_exist_are_counted_not_read_again) {
  // Galera hands out ids with gaps that stay gaps; each poll costs one count, not a read.
  sg::PollerSettings s;
  s.full_resync_interval = 600 * kSecond;
  Fixture f(s);
  assert_tick_ok(f.tick());
  for (std::uint64_t id = 3; id <= 30; id += 3) f.feed.revoke(id, fp("galera" + std::to_string(id)));
  auto r = f.tick();
  assert_tick_ok(r);
  assert_int_equal(r.events_applied, 10);
  assert_int_equal(f.poller->missing_ids(), 20);
  const int reads = f.feed.calls["events"];
  for (int i = 0; i < 20; ++i) {
    r = f.tick();
    assert_tick_ok(r);
    assert_false(r.window_reread);
    assert_int_equal(r.events_applied, 0);
  }
  assert_int_equal(f.feed.calls["events"], reads + 20);
  // A row deleted inside the window (retention) costs one re-read, then counts equal again.
  f.feed.remove(9);
  r = f.tick();
  assert_true(r.window_reread);
  assert_int_equal(r.events_applied, 0);
  r = f.tick();
  assert_false(r.window_reread);
}

SG_TEST(gaps_further_back_than_the_window_are_left_to_the_full_resync) {
  sg::PollerSettings s;
  s.gap_window = 100;
  s.full_resync_interval = 600 * kSecond;
  Fixture f(s);
  f.feed.revoke(1, fp("one"));
  assert_tick_ok(f.tick());
  f.feed.revoke(2, fp("far-behind"), sg::Reason::killed, false);
  f.feed.revoke(3, fp("three"));
  assert_tick_ok(f.tick());
  assert_int_equal(f.poller->missing_ids(), 1);
  // 150 ids later the missing id is out of the window: no longer watched.
  for (std::uint64_t id = 4; id <= 153; ++id) f.feed.revoke(id, fp("n" + std::to_string(id)));
  assert_tick_ok(f.tick());
  assert_int_equal(f.poller->missing_ids(), 0);
  f.feed.commit(2);
  assert_tick_ok(f.tick());
  assert_reason(f.revoked("far-behind"), sg::Reason::none);
  auto r = f.tick(600 * kSecond);
  assert_true(r.full_resync);
  assert_reason(f.revoked("far-behind"), sg::Reason::killed);
  // A jump larger than the window tracks only its last gap_window ids.
  f.feed.revoke(1000, fp("jump"));
  assert_tick_ok(f.tick());
  assert_int_equal(f.poller->missing_ids(), 99);
}

// --- full resync --------------------------------------------------------------------------------

SG_TEST(full_resync_at_interval_reloads_everything) {
  sg::PollerSettings s;
  s.full_resync_interval = 60 * kSecond;
  Fixture f(s);
  f.feed.revoke(1, fp("a"));
  f.feed.revoke(2, fp("b"));
  auto first = f.tick();
  assert_true(first.full_resync);
  const sg::Micros first_at = f.clock.t;
  // The row for "a" disappears from the table (cleaned up, or the kill was undone).
  f.feed.remove(1);
  while (f.clock.t + kPoll < first_at + 60 * kSecond) {
    auto r = f.tick();
    assert_tick_ok(r);
    assert_false(r.full_resync);
  }
  assert_reason(f.revoked("a"), sg::Reason::killed);  // incremental polling cannot see a deletion
  auto r = f.tick();
  assert_tick_ok(r);
  assert_true(r.full_resync);
  assert_true(r.published);
  assert_reason(f.revoked("a"), sg::Reason::none);
  assert_reason(f.revoked("b"), sg::Reason::killed);
  // And the next one is an interval later again.
  r = f.tick();
  assert_false(r.full_resync);
}

SG_TEST(request_full_resync_forces_a_reload) {
  Fixture f;
  f.feed.revoke(1, fp("a"));
  assert_tick_ok(f.tick());
  f.feed.remove(1);
  assert_false(f.tick().full_resync);
  f.poller->request_full_resync();
  auto r = f.tick();
  assert_tick_ok(r);
  assert_true(r.full_resync);
  assert_reason(f.revoked("a"), sg::Reason::none);
}

SG_TEST(full_resync_keeps_newest_within_capacity) {
  Fixture f;  // 1024 sessions
  for (int i = 1; i <= 1100; ++i) f.feed.revoke(static_cast<std::uint64_t>(i), fp("n" + std::to_string(i)));
  assert_tick_ok(f.tick());
  assert_int_equal(f.region->stats().revoked_sessions, 1024);
  assert_reason(f.revoked("n1100"), sg::Reason::killed);
  assert_reason(f.revoked("n77"), sg::Reason::killed);
  assert_reason(f.revoked("n76"), sg::Reason::none);  // the oldest are the ones dropped
  // Incremental additions beyond capacity also drop the oldest.
  f.feed.revoke(1101, fp("n1101"));
  assert_tick_ok(f.tick());
  assert_reason(f.revoked("n1101"), sg::Reason::killed);
  assert_reason(f.revoked("n77"), sg::Reason::none);
  assert_reason(f.revoked("n78"), sg::Reason::killed);
}

// --- retention and fairness (issue 9 case 5) ---------------------------------------------------

namespace {
sg::DenyEvent revocation(std::uint64_t id, const std::string& user) {
  sg::DenyEvent e;
  e.id = id;
  e.fingerprint = fp(user + std::to_string(id));
  e.username = user;
  return e;
}

bool kept(const std::vector<sg::DenyEvent>& events, std::uint64_t id) {
  return std::any_of(events.begin(), events.end(), [&](const sg::DenyEvent& e) { return e.id == id; });
}
}  // namespace

SG_TEST(select_revocations_takes_from_the_user_with_the_most) {
  // a: ids 1..5, b: 6..7, c: 8. Room for 6: rounds of each user's newest give a 5,4,3 and
  // b 7,6 and c 8; a's two oldest go.
  std::vector<sg::DenyEvent> events;
  for (std::uint64_t id = 1; id <= 5; ++id) events.push_back(revocation(id, "a"));
  events.push_back(revocation(6, "b"));
  events.push_back(revocation(7, "b"));
  events.push_back(revocation(8, "c"));
  auto all = events;
  assert_int_equal(sg::select_revocations(all, 8), 0);  // everything fits: untouched
  assert_int_equal(all.size(), 8);
  assert_int_equal(sg::select_revocations(events, 6), 2);
  assert_int_equal(events.size(), 6);
  for (std::uint64_t id : {3, 4, 5, 6, 7, 8}) assert_true(kept(events, id));
  for (std::uint64_t id : {1, 2}) assert_false(kept(events, id));
  // Room for 2 of 3 users' single newest: the newest win within a round.
  assert_int_equal(sg::select_revocations(events, 2), 4);
  assert_true(kept(events, 8) && kept(events, 7));
}

SG_TEST(one_users_logins_cannot_push_out_another_users_kill) {
  // issue 9 case 5: SessionGuardDenyListSize 1000, alice's session killed, then bob logs in
  // 1,050 times with one session allowed, each login superseding the previous. Keeping the
  // newest 1000 forgot alice's kill and her cookie worked again while the database said killed.
  for (bool incremental : {false, true}) {
    Fixture f({}, 1000);
    f.feed.revoke(1, fp("alice-session"), sg::Reason::killed, true, "alice");
    if (incremental) assert_tick_ok(f.tick());  // alice's kill known before bob's logins arrive
    for (std::uint64_t id = 2; id <= 1051; ++id) {
      f.feed.revoke(id, fp("bob" + std::to_string(id)), sg::Reason::superseded, true, "bob");
    }
    std::size_t dropped = 0;
    for (int i = 0; i < 3; ++i) {
      auto r = f.tick();
      assert_tick_ok(r);
      dropped += r.revocations_dropped;
    }
    assert_reason(f.revoked("alice-session"), sg::Reason::killed);
    assert_int_equal(f.region->stats().revoked_sessions, 1000);
    // Bob's newest are kept, his oldest go, and the loss is counted.
    assert_reason(f.revoked("bob1051"), sg::Reason::superseded);
    assert_reason(f.revoked("bob53"), sg::Reason::superseded);
    assert_reason(f.revoked("bob52"), sg::Reason::none);
    assert_int_equal(f.region->stats().revocations_dropped, 51);
    assert_int_equal(dropped, 51);
    // A full load agrees (the database's query makes the same choice).
    f.poller->request_full_resync();
    auto r = f.tick();
    assert_tick_ok(r);
    assert_true(r.full_resync);
    assert_int_equal(r.revocations_dropped, 51);
    assert_reason(f.revoked("alice-session"), sg::Reason::killed);
    assert_reason(f.revoked("bob52"), sg::Reason::none);
    assert_int_equal(f.region->stats().revocations_dropped, 51);
  }
}

SG_TEST(revocations_are_kept_for_the_retention_and_then_forgotten) {
  sg::PollerSettings settings;
  settings.revocation_retention = 3600 * kSecond;
  Fixture f(settings);
  f.feed.revoke(1, fp("old"));
  assert_tick_ok(f.tick());
  f.clock.advance(3000 * kSecond);
  f.feed.now = f.clock.t;
  f.feed.revoke(2, fp("newer"));
  assert_tick_ok(f.tick());
  assert_reason(f.revoked("old"), sg::Reason::killed);  // 50 minutes: still kept
  // Past an hour: forgotten at the next publication, incremental or full.
  f.clock.advance(700 * kSecond);
  f.feed.now = f.clock.t;
  f.feed.revoke(3, fp("newest"));
  assert_tick_ok(f.tick());
  assert_reason(f.revoked("old"), sg::Reason::none);
  assert_reason(f.revoked("newer"), sg::Reason::killed);
  f.poller->request_full_resync();
  assert_tick_ok(f.tick());
  assert_reason(f.revoked("old"), sg::Reason::none);
  assert_reason(f.revoked("newer"), sg::Reason::killed);
  assert_int_equal(f.region->stats().revocations_dropped, 0);  // aged out is not dropped
}

SG_TEST(within_retention_nothing_is_forgotten_for_room_until_full) {
  // As many as fit, from many users over almost a week: all kept, the oldest too, since
  // age within the retention is never a reason to forget.
  sg::PollerSettings settings;
  settings.revocation_retention = 7 * 24 * 3600 * kSecond;
  Fixture f(settings, 1000);
  for (std::uint64_t id = 1; id <= 1000; ++id) {
    f.feed.revoke(id, fp("s" + std::to_string(id)), sg::Reason::killed, true, "user" + std::to_string(id % 300));
    f.feed.now += 600 * kSecond;  // one every ten minutes: the first is 6.9 days old
  }
  f.clock.t = f.feed.now;
  auto r = f.tick();
  assert_tick_ok(r);
  assert_int_equal(r.revocations_dropped, 0);
  assert_int_equal(f.region->stats().revoked_sessions, 1000);
  assert_reason(f.revoked("s1"), sg::Reason::killed);
}

// --- local revocations (issue 9 case 13) --------------------------------------------------------

SG_TEST(a_local_revocation_is_released_once_the_feed_brings_it) {
  Fixture f;
  assert_tick_ok(f.tick());
  // A child refused this login: denied at once on this instance, before any poll.
  assert_true(f.region->revoke_locally(fp("refused"), sg::Reason::refused, f.clock.t));
  assert_reason(f.revoked("refused"), sg::Reason::refused);
  assert_tick_ok(f.tick());
  assert_int_equal(f.region->stats().local_pending, 1);  // the feed does not have it yet
  f.feed.revoke(1, fp("refused"), sg::Reason::refused);
  assert_tick_ok(f.tick());
  assert_int_equal(f.region->stats().local_pending, 0);
  assert_reason(f.revoked("refused"), sg::Reason::refused);
}

SG_TEST(a_local_revocation_outlives_a_database_outage) {
  Fixture f;
  assert_tick_ok(f.tick());
  assert_true(f.region->revoke_locally(fp("refused"), sg::Reason::blocked, f.clock.t));
  f.feed.go_down();
  for (int i = 0; i < 20; ++i) assert_false(f.tick(60 * kSecond).ok);  // 20 minutes down
  assert_reason(f.revoked("refused"), sg::Reason::blocked);
  // Back, and the database never recorded it: it ends after kLocalRetention, not before.
  f.feed.recover();
  assert_tick_ok(f.tick());
  assert_int_equal(f.region->stats().local_pending, 0);
  assert_reason(f.revoked("refused"), sg::Reason::none);
}

// --- users ------------------------------------------------------------------------------------

SG_TEST(user_events_reload_blocked_users) {
  Fixture f;
  f.feed.revoke(1, fp("a"));
  assert_tick_ok(f.tick());
  assert_false(f.blocked("bob"));
  int loads = f.feed.calls["blocked_users"];

  f.feed.blocked = {"bob"};
  f.feed.user_event(2);
  auto r = f.tick();
  assert_tick_ok(r);
  assert_true(r.published);
  assert_true(f.blocked("bob"));
  assert_int_equal(f.feed.calls["blocked_users"], loads + 1);

  f.feed.blocked = {};
  f.feed.user_event(3);
  assert_tick_ok(f.tick());
  assert_false(f.blocked("bob"));
  assert_reason(f.revoked("a"), sg::Reason::killed);  // sessions untouched by a user reload
}

SG_TEST(blocked_users_are_read_only_on_a_user_event_or_resync) {
  Fixture f;
  assert_tick_ok(f.tick());
  int loads = f.feed.calls["blocked_users"];
  f.feed.revoke(1, fp("a"));
  assert_tick_ok(f.tick());
  assert_tick_ok(f.tick());
  assert_int_equal(f.feed.calls["blocked_users"], loads);  // no per-tick accounts query
  f.feed.blocked = {"carol"};  // changed without an event: seen at the next full resync
  assert_tick_ok(f.tick());
  assert_false(f.blocked("carol"));
  f.poller->request_full_resync();
  assert_tick_ok(f.tick());
  assert_true(f.blocked("carol"));
}

SG_TEST(user_event_survives_a_failed_blocked_users_read) {
  // The user event is read, then the accounts query fails: the event must not be lost.
  // Today the event is consumed (max_seen advances) while "users changed" is a local of the
  // failed tick, so the block is only enforced after the next full resync (60 s by default).
  Fixture f;
  f.feed.revoke(1, fp("a"));
  assert_tick_ok(f.tick());
  f.feed.blocked = {"bob"};
  f.feed.user_event(2);
  f.feed.go_down("blocked_users");
  auto r = f.tick();
  assert_false(r.ok);
  f.feed.recover();
  for (int i = 0; i < 4; ++i) assert_tick_ok(f.tick());
  assert_true(f.blocked("bob"));
}

// --- database errors ----------------------------------------------------------------------------

SG_TEST(db_errors_keep_enforcing_known_revocations) {
  Fixture f;
  f.feed.revoke(1, fp("a"));
  f.feed.blocked = {"bob"};
  assert_tick_ok(f.tick());
  const sg::Micros refreshed = f.region->last_refresh();
  assert_int_equal(refreshed, f.clock.t);

  f.feed.go_down();
  for (int i = 0; i < 20; ++i) {
    auto r = f.tick();
    assert_false(r.ok);
    assert_contains(r.error, "Lost connection");
    assert_false(r.published);
  }
  assert_int_equal(f.region->last_refresh(), refreshed);
  assert_reason(f.revoked("a"), sg::Reason::killed);
  assert_true(f.blocked("bob"));

  // A kill made while the poller could not read arrives once the database is back.
  f.feed.revoke(2, fp("during-outage"));
  f.feed.recover();
  auto r = f.tick();
  assert_tick_ok(r);
  assert_int_equal(f.region->last_refresh(), f.clock.t);
  assert_reason(f.revoked("during-outage"), sg::Reason::killed);
  assert_reason(f.revoked("a"), sg::Reason::killed);
}

SG_TEST(db_error_in_every_single_query_is_survived) {
  for (const char* method : {"max_event_id", "revocations_within", "blocked_users", "events"}) {
    Fixture f;
    f.feed.revoke(1, fp("a"));
    f.feed.user_event(2);
    f.feed.blocked = {"bob"};
    // During the first (full) load.
    f.feed.go_down(method);
    auto r = f.tick();
    if (std::string(method) != "events") {
      assert_false(r.ok);
      assert_contains(r.error, method);
      assert_int_equal(f.region->last_refresh(), 0);
      assert_int_equal(f.region->stats().publications, 0);  // nothing half-loaded is published
    }
    f.feed.recover();
    r = f.tick();
    assert_tick_ok(r);
    assert_reason(f.revoked("a"), sg::Reason::killed);
    assert_true(f.blocked("bob"));
    // During incremental polling.
    f.feed.revoke(3, fp("c"));
    f.feed.go_down(method);
    sg::Micros before = f.region->last_refresh();
    r = f.tick();
    if (std::string(method) == "events") {
      assert_false(r.ok);
      assert_int_equal(f.region->last_refresh(), before);
      assert_reason(f.revoked("c"), sg::Reason::none);
    }
    f.feed.recover();
    assert_tick_ok(f.tick());
    assert_reason(f.revoked("c"), sg::Reason::killed);
  }
}

SG_TEST(db_down_at_start_then_recovers) {
  Fixture f;
  f.feed.revoke(1, fp("a"));
  f.feed.go_down();
  for (int i = 0; i < 5; ++i) assert_false(f.tick().ok);
  assert_int_equal(f.region->last_refresh(), 0);
  f.feed.recover();
  auto r = f.tick();
  assert_tick_ok(r);
  assert_true(r.full_resync);
  assert_reason(f.revoked("a"), sg::Reason::killed);
}

// --- staleness and fail modes -------------------------------------------------------------------

SG_TEST(staleness_with_both_fail_modes) {
  const sg::Micros max_stale = 60 * kSecond;
  Fixture f;
  f.feed.revoke(1, fp("killed-session"));
  f.feed.blocked = {"bob"};
  // Never refreshed yet, just started: staleness counts from the start.
  auto v = f.verdict("fresh-session", "alice", sg::FailMode::closed, max_stale);
  assert_true(v.allow);
  assert_false(v.stale);

  assert_tick_ok(f.tick());
  f.feed.go_down();
  // 30 s of failing ticks: still fresh enough, both modes allow unknown sessions.
  for (int i = 0; i < 120; ++i) assert_false(f.tick().ok);
  for (auto mode : {sg::FailMode::open, sg::FailMode::closed}) {
    v = f.verdict("fresh-session", "alice", mode, max_stale);
    assert_true(v.allow);
    assert_false(v.stale);
    v = f.verdict("killed-session", "alice", mode, max_stale);
    assert_false(v.allow);
    assert_reason(v.reason, sg::Reason::killed);
    v = f.verdict("fresh-session", "bob", mode, max_stale);
    assert_false(v.allow);
    assert_reason(v.reason, sg::Reason::blocked);
  }
  // Past MaxStale: open allows (and says it is stale), closed denies as unavailable...
  for (int i = 0; i < 124; ++i) assert_false(f.tick().ok);
  assert_true(f.clock.t - f.region->last_refresh() > max_stale);
  v = f.verdict("fresh-session", "alice", sg::FailMode::open, max_stale);
  assert_true(v.allow);
  assert_true(v.stale);
  v = f.verdict("fresh-session", "alice", sg::FailMode::closed, max_stale);
  assert_false(v.allow);
  assert_reason(v.reason, sg::Reason::unavailable);
  assert_true(v.stale);
  // ...and both keep denying what was known, with the real reason.
  for (auto mode : {sg::FailMode::open, sg::FailMode::closed}) {
    v = f.verdict("killed-session", "alice", mode, max_stale);
    assert_false(v.allow);
    assert_reason(v.reason, sg::Reason::killed);
    v = f.verdict("fresh-session", "bob", mode, max_stale);
    assert_false(v.allow);
    assert_reason(v.reason, sg::Reason::blocked);
  }
  // Back: fresh again, closed mode allows again.
  f.feed.recover();
  assert_tick_ok(f.tick());
  v = f.verdict("fresh-session", "alice", sg::FailMode::closed, max_stale);
  assert_true(v.allow);
  assert_false(v.stale);
}

SG_TEST(database_down_since_start_goes_stale_from_start) {
  const sg::Micros max_stale = 10 * kSecond;
  Fixture f;
  f.feed.go_down();
  for (int i = 0; i < 36; ++i) assert_false(f.tick().ok);  // 9 s
  assert_true(f.verdict("s", "", sg::FailMode::closed, max_stale).allow);
  for (int i = 0; i < 8; ++i) assert_false(f.tick().ok);  // 11 s
  auto v = f.verdict("s", "", sg::FailMode::closed, max_stale);
  assert_false(v.allow);
  assert_reason(v.reason, sg::Reason::unavailable);
  assert_true(f.verdict("s", "", sg::FailMode::open, max_stale).allow);
}

// --- activity -----------------------------------------------------------------------------------

SG_TEST(activity_flush_interval_spaces_out_the_table_scans) {
  sg::PollerSettings settings;
  settings.activity_flush_interval = 1000 * 1000;
  Fixture f(settings);
  f.bind("s1");
  f.region->record_activity(fp("s1"), f.clock.t);
  auto r = f.tick();
  assert_int_equal(r.activity_flushed, 1);
  f.region->record_activity(fp("s1"), f.clock.t + 1);
  r = f.tick(250 * 1000);  // within the interval: kept for later
  assert_int_equal(r.activity_flushed, 0);
  r = f.tick(800 * 1000);  // past it
  assert_int_equal(r.activity_flushed, 1);
}

SG_TEST(activity_is_flushed_to_the_feed) {
  Fixture f;
  assert_tick_ok(f.tick());
  f.bind("s1");
  f.bind("s2");
  f.region->record_activity(fp("s1"), f.clock.t + 1);
  f.region->record_activity(fp("s2"), f.clock.t + 2);
  f.region->record_activity(fp("s1"), f.clock.t + 3);
  const sg::Micros t = f.clock.t;
  auto r = f.tick();
  assert_tick_ok(r);
  assert_int_equal(r.activity_flushed, 2);
  assert_int_equal(f.feed.received.size(), 1);
  assert_int_equal(f.feed.received[0].size(), 2);
  assert_int_equal(f.feed.delivered(fp("s1")), t + 3);
  assert_int_equal(f.feed.delivered(fp("s2")), t + 2);
  // Nothing new: no write at all.
  r = f.tick();
  assert_int_equal(r.activity_flushed, 0);
  assert_int_equal(f.feed.received.size(), 1);
  // Only what changed is written again.
  f.region->record_activity(fp("s2"), f.clock.t);
  r = f.tick();
  assert_int_equal(r.activity_flushed, 1);
  assert_int_equal(f.feed.received.size(), 2);
  assert_int_equal(f.feed.received[1].size(), 1);
  assert_true(f.feed.received[1][0].fingerprint == fp("s2"));
}

SG_TEST(activity_waits_while_the_database_is_down) {
  Fixture f;
  assert_tick_ok(f.tick());
  f.bind("s1");
  f.region->record_activity(fp("s1"), f.clock.t);
  f.feed.go_down();
  int writes = f.feed.calls["record_activity"];
  for (int i = 0; i < 10; ++i) {
    auto r = f.tick();
    assert_false(r.ok);
    f.region->record_activity(fp("s1"), f.clock.t);  // the user keeps clicking
  }
  assert_int_equal(f.feed.calls["record_activity"], writes);  // reads failed: no write attempted
  assert_int_equal(f.feed.received.size(), 0);
  const sg::Micros latest = f.clock.t;
  f.feed.recover();
  auto r = f.tick();
  assert_tick_ok(r);
  assert_int_equal(r.activity_flushed, 1);
  assert_int_equal(f.feed.delivered(fp("s1")), latest);
}

SG_TEST(activity_write_failure_keeps_records_pending_and_the_refresh_ok) {
  // Found 5 of issue 10: a failed flush failed the whole poll ("database unreachable").
  Fixture f;
  assert_tick_ok(f.tick());
  f.bind("s1");
  f.bind("s2");
  f.region->record_activity(fp("s1"), f.clock.t);
  f.region->record_activity(fp("s2"), f.clock.t);
  const sg::Micros t = f.clock.t;
  f.feed.go_down("record_activity");
  f.feed.revoke(1, fp("killed-meanwhile"));
  auto r = f.tick();
  assert_tick_ok(r);  // the refresh stands
  assert_contains(r.write_error, "record_activity");
  assert_reason(f.revoked("killed-meanwhile"), sg::Reason::killed);
  assert_int_equal(f.region->last_refresh(), f.clock.t);
  assert_int_equal(f.feed.received.size(), 0);
  r = f.tick();
  assert_tick_ok(r);
  assert_false(r.write_error.empty());
  f.feed.recover();
  r = f.tick();
  assert_tick_ok(r);
  assert_true(r.write_error.empty());
  assert_int_equal(r.activity_flushed, 2);
  assert_int_equal(f.feed.delivered(fp("s1")), t);
  assert_int_equal(f.feed.delivered(fp("s2")), t);
  r = f.tick();
  assert_int_equal(r.activity_flushed, 0);
}

SG_TEST(activity_of_a_locked_row_waits_for_the_next_flush) {
  Fixture f;
  assert_tick_ok(f.tick());
  f.bind("locked");
  f.bind("free");
  f.region->record_activity(fp("locked"), f.clock.t);
  f.region->record_activity(fp("free"), f.clock.t);
  const sg::Micros t = f.clock.t;
  f.feed.locked.insert(fp("locked"));
  auto r = f.tick();
  assert_tick_ok(r);
  assert_int_equal(r.activity_flushed, 1);
  assert_int_equal(r.activity_deferred, 1);
  assert_int_equal(f.feed.delivered(fp("free")), t);
  assert_int_equal(f.feed.delivered(fp("locked")), 0);
  r = f.tick();
  assert_int_equal(r.activity_deferred, 1);  // still locked: still pending, not lost
  f.feed.locked.clear();
  r = f.tick();
  assert_int_equal(r.activity_flushed, 1);
  assert_int_equal(r.activity_deferred, 0);
  assert_int_equal(f.feed.delivered(fp("locked")), t);
  r = f.tick();
  assert_int_equal(r.activity_flushed, 0);
}

SG_TEST(a_failed_deadline_sweep_does_not_fail_the_refresh) {
  Fixture f;
  assert_tick_ok(f.tick());
  f.feed.go_down("expire_sessions");
  auto r = f.tick(2 * kSecond);
  assert_tick_ok(r);
  assert_contains(r.write_error, "expire_sessions");
  f.feed.recover();
  f.feed.expirable = 2;
  r = f.tick(2 * kSecond);
  assert_tick_ok(r);
  assert_int_equal(r.sessions_expired, 2);
}

// --- who is behind a session, and deadlines -----------------------------------------------------

SG_TEST(flushed_sessions_learn_their_user_from_the_database) {
  // A session bound in another Apache instance (or before its slot here was freed) is only
  // sighted here; the database names it and it gets a slot, with activity from its sighting.
  Fixture f;
  assert_tick_ok(f.tick());
  f.feed.session_user[fp("s1")] = "alice";
  const sg::Micros seen = f.clock.t;
  f.region->record_activity(fp("s1"), seen);
  f.region->touch(fp("anonymous"), seen);
  assert_str_eq(f.region->bound_user(fp("s1")), "");
  auto r = f.tick();
  assert_tick_ok(r);
  assert_str_eq(f.region->bound_user(fp("s1")), "alice");
  assert_true(f.region->bound_to(fp("s1"), sg::user_key("alice")));
  assert_str_eq(f.region->bound_user(fp("anonymous")), "");
  assert_int_equal(f.feed.users_asked.size(), 1);
  assert_int_equal(f.feed.users_asked[0].size(), 2);
  assert_tick_ok(f.tick());
  assert_int_equal(f.feed.delivered(fp("s1")), seen);
  assert_int_equal(f.feed.delivered(fp("anonymous")), 0);  // no row, no slot
  // Known now: the next flush of s1 does not ask again.
  f.region->record_activity(fp("s1"), f.clock.t);
  assert_tick_ok(f.tick());
  assert_int_equal(f.feed.users_asked.size(), 1);
  // A session bound here already is not asked about either.
  f.region->mark_bound(fp("s2"), sg::user_key("bob"), f.clock.t, "bob");
  f.region->record_activity(fp("s2"), f.clock.t);
  assert_tick_ok(f.tick());
  assert_int_equal(f.feed.users_asked.size(), 1);
}

SG_TEST(session_users_failure_is_reported_and_retried) {
  Fixture f;
  assert_tick_ok(f.tick());
  f.feed.session_user[fp("s1")] = "alice";
  f.region->record_activity(fp("s1"), f.clock.t);
  f.feed.go_down("session_users");
  auto r = f.tick();
  assert_tick_ok(r);  // a write-side failure: reported, the refresh stands
  assert_contains(r.write_error, "session_users");
  assert_str_eq(f.region->bound_user(fp("s1")), "");
  f.feed.recover();
  f.region->record_activity(fp("s1"), f.clock.t);
  assert_tick_ok(f.tick());
  assert_str_eq(f.region->bound_user(fp("s1")), "alice");
}

SG_TEST(deadlines_are_swept_once_per_expiry_interval) {
  sg::PollerSettings s;
  s.expiry_interval = 1 * kSecond;
  s.expiry_batch = 50;
  Fixture f(s);
  f.feed.expirable = 120;
  auto r = f.tick();
  assert_tick_ok(r);
  assert_int_equal(r.sessions_expired, 50);
  assert_int_equal(f.feed.expiry_limits.size(), 1);
  assert_int_equal(f.feed.expiry_limits[0], 50);
  // Not again within the interval (ticks are 250 ms apart)...
  for (int i = 0; i < 3; ++i) assert_int_equal(f.tick().sessions_expired, 0);
  assert_int_equal(f.feed.expiry_limits.size(), 1);
  // ...then the next batches.
  assert_int_equal(f.tick().sessions_expired, 50);
  for (int i = 0; i < 3; ++i) f.tick();
  assert_int_equal(f.tick().sessions_expired, 20);
  assert_int_equal(f.feed.expirable, 0);
}

SG_TEST(deadline_sweep_waits_for_the_database) {
  sg::PollerSettings s;
  s.expiry_interval = 1 * kSecond;
  Fixture f(s);
  f.feed.expirable = 3;
  f.feed.go_down();
  for (int i = 0; i < 8; ++i) assert_false(f.tick().ok);
  assert_int_equal(f.feed.calls["expire_sessions"], 0);  // reads failed: not attempted
  f.feed.recover();
  f.feed.go_down("expire_sessions");
  auto r = f.tick();
  assert_tick_ok(r);
  assert_contains(r.write_error, "expire_sessions");
  f.feed.recover();
  r = f.tick();  // a failed sweep is retried at the next tick, not an interval later
  assert_tick_ok(r);
  assert_int_equal(r.sessions_expired, 3);
}

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(first_tick_full_resync_publishes),
      cmocka_unit_test(empty_database_is_a_successful_refresh),
      cmocka_unit_test(incremental_pickup_of_a_new_revocation),
      cmocka_unit_test(same_session_revoked_twice_keeps_the_newest_reason),
      cmocka_unit_test(batch_limit_pages_through_a_burst),
      cmocka_unit_test(out_of_order_commit_is_not_missed),
      cmocka_unit_test(out_of_order_commit_during_a_full_resync),
      cmocka_unit_test(a_commit_forty_seconds_late_is_applied_at_the_next_poll),
      cmocka_unit_test(ids_that_never_exist_are_counted_not_read_again),
      cmocka_unit_test(gaps_further_back_than_the_window_are_left_to_the_full_resync),
      cmocka_unit_test(full_resync_at_interval_reloads_everything),
      cmocka_unit_test(request_full_resync_forces_a_reload),
      cmocka_unit_test(full_resync_keeps_newest_within_capacity),
      cmocka_unit_test(select_revocations_takes_from_the_user_with_the_most),
      cmocka_unit_test(one_users_logins_cannot_push_out_another_users_kill),
      cmocka_unit_test(revocations_are_kept_for_the_retention_and_then_forgotten),
      cmocka_unit_test(within_retention_nothing_is_forgotten_for_room_until_full),
      cmocka_unit_test(a_local_revocation_is_released_once_the_feed_brings_it),
      cmocka_unit_test(a_local_revocation_outlives_a_database_outage),
      cmocka_unit_test(user_events_reload_blocked_users),
      cmocka_unit_test(blocked_users_are_read_only_on_a_user_event_or_resync),
      cmocka_unit_test(user_event_survives_a_failed_blocked_users_read),
      cmocka_unit_test(db_errors_keep_enforcing_known_revocations),
      cmocka_unit_test(db_error_in_every_single_query_is_survived),
      cmocka_unit_test(db_down_at_start_then_recovers),
      cmocka_unit_test(staleness_with_both_fail_modes),
      cmocka_unit_test(database_down_since_start_goes_stale_from_start),
      cmocka_unit_test(activity_is_flushed_to_the_feed),
      cmocka_unit_test(activity_flush_interval_spaces_out_the_table_scans),
      cmocka_unit_test(activity_waits_while_the_database_is_down),
      cmocka_unit_test(activity_write_failure_keeps_records_pending_and_the_refresh_ok),
      cmocka_unit_test(activity_of_a_locked_row_waits_for_the_next_flush),
      cmocka_unit_test(a_failed_deadline_sweep_does_not_fail_the_refresh),
      cmocka_unit_test(flushed_sessions_learn_their_user_from_the_database),
      cmocka_unit_test(session_users_failure_is_reported_and_retried),
      cmocka_unit_test(deadlines_are_swept_once_per_expiry_interval),
      cmocka_unit_test(deadline_sweep_waits_for_the_database),
  };
  return cmocka_run_group_tests_name("poller", tests, nullptr, nullptr);
}
