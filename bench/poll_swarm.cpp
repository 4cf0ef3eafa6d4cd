// poll_swarm: many stand-in Apache instances, each the module's real poll code (sg::Poller
// over db::ReconnectingFeed into its own deny-list region, plus the audit-line read every
// poller makes), against one database. A writer revokes a fresh session every
// --kill-every-ms; each instance notes when its deny-list first denies it. Prints the
// propagation samples' p50/p99/max and the polls made; bench/poll_swarm.py adds the
// database's CPU and queries per second.
//
// With --login-threads N, N threads also record logins as fast as they can, each the way
// the module does (a new connection, db::record_login), for the logins a database takes.
//
//   poll_swarm --db-options FILE [--group G] --instances N --seconds S --interval-ms MS
//              [--login-threads N]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "mariadb.hpp"
#include "sg/clock.hpp"
#include "sg/deny_region.hpp"
#include "sg/fingerprint.hpp"
#include "sg/poller.hpp"
#include "store.hpp"

namespace {

struct WallClock : sg::Clock {
  sg::Micros now() override { return sg::wall_clock_micros(); }
};

struct Kill {
  sg::Fingerprint fingerprint;
  sg::Micros committed_at = 0;
};

struct Shared {
  std::mutex mutex;
  std::vector<Kill> kills;            // in commit order
  std::vector<double> propagation_ms;  // one per (instance, kill)
  std::atomic<bool> stop{false};
  std::atomic<bool> stop_writing{false};
  std::atomic<std::uint64_t> polls{0};
  std::atomic<std::uint64_t> failed_polls{0};
  std::atomic<std::uint64_t> logins{0};
  std::atomic<std::uint64_t> failed_logins{0};
};

void run_instance(const sg::db::ConnectOptions& options, sg::Micros interval, Shared& shared) {
  sg::RegionCapacity capacity;
  capacity.sessions = 4096;
  capacity.users = 256;
  capacity.activity = 256;
  std::vector<unsigned char> memory(sg::DenyRegion::required_size(capacity));
  WallClock clock;
  sg::DenyRegion region = sg::DenyRegion::create(memory.data(), memory.size(), capacity, clock.now());
  sg::db::ReconnectingFeed feed(options);
  sg::PollerSettings settings;
  settings.revocation_retention = 3600 * sg::kMicrosPerSecond;
  settings.activity_flush_interval = sg::kMicrosPerSecond;
  sg::Poller poller(feed, clock, region, settings);
  std::uint64_t audit_after = 0;
  std::size_t seen = 0;  // kills before this index are denied here already
  while (!shared.stop.load()) {
    const sg::Micros started = clock.now();
    sg::TickResult result = poller.tick();
    try {
      for (const auto& line : feed.audit_lines(audit_after, 100)) audit_after = line.first;
    } catch (const sg::StoreError&) {
      result.ok = false;
    }
    ++shared.polls;
    if (!result.ok) ++shared.failed_polls;
    const sg::Micros now = clock.now();
    {
      std::lock_guard<std::mutex> lock(shared.mutex);
      while (seen < shared.kills.size() && region.session_revoked(shared.kills[seen].fingerprint) != sg::Reason::none) {
        shared.propagation_ms.push_back(static_cast<double>(now - shared.kills[seen].committed_at) / 1000.0);
        ++seen;
      }
    }
    const sg::Micros spent = clock.now() - started;
    if (spent < interval) std::this_thread::sleep_for(std::chrono::microseconds(interval - spent));
  }
}

void run_writer(const sg::db::ConnectOptions& options, sg::Micros every, Shared& shared) {
  sg::db::Connection db(options);
  for (std::uint64_t n = 0; !shared.stop_writing.load(); ++n) {
    const sg::Fingerprint fingerprint = sg::session_fingerprint("PHPSESSID", "swarm-" + std::to_string(n) + "-" +
                                                                                 std::to_string(sg::wall_clock_micros()));
    db.execute("INSERT INTO deny_events (kind, fingerprint, username, reason) VALUES ('session', ?, 'swarm', 'killed')",
               {fingerprint.hex()});
    {
      std::lock_guard<std::mutex> lock(shared.mutex);
      shared.kills.push_back({fingerprint, sg::wall_clock_micros()});
    }
    std::this_thread::sleep_for(std::chrono::microseconds(every));
  }
}

void run_logins(const sg::db::ConnectOptions& options, int thread, Shared& shared) {
  for (std::uint64_t n = 0; !shared.stop_writing.load(); ++n) {
    sg::db::LoginRecord login;
    login.fingerprint = sg::session_fingerprint("PHPSESSID", "login-" + std::to_string(thread) + "-" +
                                                                 std::to_string(n) + "-" +
                                                                 std::to_string(sg::wall_clock_micros()));
    login.username = "swarm" + std::to_string(n % 1000);
    login.cookie_name = "PHPSESSID";
    login.client_ip = "127.0.0.1";
    login.server_name = "swarm";
    try {
      sg::db::Connection db(options);
      sg::db::record_login(db, login);
      ++shared.logins;
    } catch (const sg::StoreError&) {
      ++shared.failed_logins;
    }
  }
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1, static_cast<std::size_t>(p * static_cast<double>(values.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  sg::db::ConnectOptions options;
  int instances = 10, seconds = 20, interval_ms = 250, kill_every_ms = 500, login_threads = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--db-options") options.option_file = value;
    else if (flag == "--group") options.group = value;
    else if (flag == "--instances") instances = std::stoi(value);
    else if (flag == "--seconds") seconds = std::stoi(value);
    else if (flag == "--interval-ms") interval_ms = std::stoi(value);
    else if (flag == "--kill-every-ms") kill_every_ms = std::stoi(value);
    else if (flag == "--login-threads") login_threads = std::stoi(value);
    else {
      std::fprintf(stderr, "poll_swarm: unknown option %s\n", flag.c_str());
      return 2;
    }
  }
  sg::db::initialize_library();
  Shared shared;
  std::vector<std::thread> threads;
  for (int i = 0; i < instances; ++i) {
    threads.emplace_back(run_instance, std::cref(options), interval_ms * 1000LL, std::ref(shared));
  }
  // Every instance has made its first (full) load before kills are timed.
  std::this_thread::sleep_for(std::chrono::seconds(3));
  const std::uint64_t polls_before = shared.polls.load();
  std::thread writer(run_writer, std::cref(options), kill_every_ms * 1000LL, std::ref(shared));
  std::vector<std::thread> logins;
  for (int i = 0; i < login_threads; ++i) logins.emplace_back(run_logins, std::cref(options), i, std::ref(shared));
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  const std::uint64_t polls = shared.polls.load() - polls_before;
  const std::uint64_t logins_made = shared.logins.load();
  shared.stop_writing = true;
  writer.join();
  for (auto& t : logins) t.join();
  // The last kills get time to arrive everywhere: one not seen by then counts as missed.
  std::this_thread::sleep_for(std::chrono::seconds(3));
  shared.stop = true;
  for (auto& t : threads) t.join();
  std::lock_guard<std::mutex> lock(shared.mutex);
  const std::size_t expected = shared.kills.size() * static_cast<std::size_t>(instances);
  std::printf("instances=%d polls_per_second=%.1f failed_polls=%llu kills=%zu missed=%zu "
              "propagation_ms_p50=%.1f p99=%.1f max=%.1f logins_per_second=%.1f failed_logins=%llu\n",
              instances, static_cast<double>(polls) / seconds,
              static_cast<unsigned long long>(shared.failed_polls.load()), shared.kills.size(),
              expected - std::min(expected, shared.propagation_ms.size()), percentile(shared.propagation_ms, 0.50),
              percentile(shared.propagation_ms, 0.99), percentile(shared.propagation_ms, 1.0),
              static_cast<double>(logins_made) / seconds, static_cast<unsigned long long>(shared.failed_logins.load()));
  return 0;
}
