// Login slots and the poller lock: fcntl byte locks on an anonymous file shared by forked
// processes, as the Apache parent shares one with its children and pollers.
#include "unit.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "sg/process_locks.hpp"

namespace {

struct LockFile {
  int fd = memfd_create("sg-unit-locks", MFD_CLOEXEC);
  ~LockFile() {
    if (fd >= 0) close(fd);
  }
};

// A child that takes `slots` login slots, reports how many it got through a pipe, then
// waits to be killed (as a child stuck in a slow login would be).
struct Holder {
  pid_t pid = -1;
  int got = -1;
  Holder(int fd, std::uint32_t count, int slots) {
    int pipefd[2];
    if (pipe(pipefd) != 0) return;
    pid = fork();
    if (pid == 0) {
      close(pipefd[0]);
      sg::LoginSlots mine(fd, count);
      unsigned char n = 0;
      for (int i = 0; i < slots; ++i) n += mine.try_acquire() >= 0 ? 1 : 0;
      if (write(pipefd[1], &n, 1) != 1) _exit(3);
      for (;;) pause();
    }
    close(pipefd[1]);
    unsigned char n = 0;
    if (pid > 0 && read(pipefd[0], &n, 1) == 1) got = n;
    close(pipefd[0]);
  }
  void kill_hard() {
    if (pid <= 0) return;
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    pid = -1;
  }
  ~Holder() { kill_hard(); }
};

int take_all(sg::LoginSlots& slots, std::vector<int>& taken) {
  for (int slot; (slot = slots.try_acquire()) >= 0;) taken.push_back(slot);
  return static_cast<int>(taken.size());
}

}  // namespace

SG_TEST(login_slots_respect_the_limit_in_one_process) {
  LockFile file;
  assert_true(file.fd >= 0);
  sg::LoginSlots slots(file.fd, 4);
  std::vector<int> taken;
  assert_int_equal(take_all(slots, taken), 4);
  assert_int_equal(slots.try_acquire(), -1);
  slots.release(taken[1]);
  assert_int_equal(slots.try_acquire(), taken[1]);
  for (int slot : taken) slots.release(slot);
  taken.clear();
  assert_int_equal(take_all(slots, taken), 4);
  for (int slot : taken) slots.release(slot);
}

SG_TEST(in_use_counts_this_process_and_others_until_they_die) {
  LockFile file;
  assert_true(file.fd >= 0);
  sg::LoginSlots slots(file.fd, 6);
  assert_int_equal(slots.in_use(), 0);
  int mine = slots.try_acquire();
  assert_true(mine >= 0);
  assert_int_equal(slots.in_use(), 1);  // its own lock, which F_GETLK does not show
  {
    Holder other(file.fd, 6, 2);
    assert_int_equal(other.got, 2);
    assert_int_equal(slots.in_use(), 3);
    other.kill_hard();
    assert_int_equal(slots.in_use(), 1);  // the kernel freed the dead child's bytes
  }
  slots.release(mine);
  assert_int_equal(slots.in_use(), 0);
}

SG_TEST(threads_of_one_process_never_share_a_slot) {
  // fcntl locks are per process: without the bitmap every thread would "get" slot 0.
  LockFile file;
  sg::LoginSlots slots(file.fd, 3);
  std::atomic<int> inside{0}, most{0}, refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        int slot = slots.try_acquire();
        if (slot < 0) {
          ++refused;
          continue;
        }
        int now = ++inside;
        for (int seen = most.load(); now > seen && !most.compare_exchange_weak(seen, now);) {
        }
        --inside;
        slots.release(slot);
      }
    });
  }
  for (auto& t : threads) t.join();
  assert_true(most.load() <= 3);
  assert_true(most.load() >= 1);
}

SG_TEST(slots_held_by_another_process_are_busy_until_it_dies) {
  LockFile file;
  sg::LoginSlots slots(file.fd, 4);
  Holder holder(file.fd, 4, 3);
  assert_int_equal(holder.got, 3);
  std::vector<int> taken;
  assert_int_equal(take_all(slots, taken), 1);
  assert_int_equal(sg::lock_holder(file.fd, sg::kLoginSlotsOffset + (taken[0] == 0 ? 1 : 0)), holder.pid);
  assert_int_equal(sg::lock_holder(file.fd, sg::kLoginSlotsOffset + taken[0]), 0);  // ours
  for (int slot : taken) slots.release(slot);
  // SIGKILL: no destructor, no release; the kernel drops the locks with the process.
  holder.kill_hard();
  taken.clear();
  assert_int_equal(take_all(slots, taken), 4);
  for (int slot : taken) slots.release(slot);
}

SG_TEST(forty_children_killed_while_holding_slots_leak_none) {
  // Found 1 of issue 10: 40 SIGKILLs during logins left 0 of 4 slots free.
  LockFile file;
  sg::LoginSlots slots(file.fd, 4);
  for (int round = 0; round < 40; ++round) {
    Holder holder(file.fd, 4, 1 + round % 4);
    assert_int_equal(holder.got, 1 + round % 4);
    holder.kill_hard();
  }
  std::vector<int> taken;
  assert_int_equal(take_all(slots, taken), 4);
  for (int slot : taken) slots.release(slot);
}

SG_TEST(racing_processes_never_hold_more_than_the_limit_together) {
  LockFile file;
  std::vector<Holder*> holders;
  int total = 0;
  for (int p = 0; p < 6; ++p) {
    holders.push_back(new Holder(file.fd, 4, 3));
    total += holders.back()->got;
  }
  assert_int_equal(total, 4);
  for (Holder* h : holders) delete h;
}

SG_TEST(without_a_shared_file_each_process_is_bounded_alone) {
  sg::LoginSlots slots(-1, 2);
  int a = slots.try_acquire(), b = slots.try_acquire();
  assert_true(a >= 0 && b >= 0 && a != b);
  assert_int_equal(slots.try_acquire(), -1);
  slots.release(a);
  assert_int_equal(slots.try_acquire(), a);
}

SG_TEST(a_waiting_poller_takes_over_the_moment_the_active_one_dies) {
  // The standby blocks on the poller byte; the kernel hands it over when the holder dies, so
  // the takeover does not wait for the parent to reap the dead process.
  LockFile file;
  int pipefd[2];
  assert_int_equal(pipe(pipefd), 0);
  pid_t active = fork();
  if (active == 0) {
    char ok = sg::lock_byte(file.fd, sg::kPollerLockOffset, false) ? 'y' : 'n';
    if (write(pipefd[1], &ok, 1) != 1) _exit(3);
    for (;;) pause();
  }
  char ok = 0;
  assert_int_equal(read(pipefd[0], &ok, 1), 1);
  assert_int_equal(ok, 'y');
  assert_false(sg::lock_byte(file.fd, sg::kPollerLockOffset, false));
  assert_int_equal(sg::lock_holder(file.fd, sg::kPollerLockOffset), active);
  std::atomic<bool> taken{false};
  std::thread standby([&] { taken = sg::lock_byte(file.fd, sg::kPollerLockOffset, true); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  assert_false(taken.load());
  kill(active, SIGKILL);  // not reaped yet: the lock goes with the process's death, not its reaping
  standby.join();
  assert_true(taken.load());
  waitpid(active, nullptr, 0);
  sg::unlock_byte(file.fd, sg::kPollerLockOffset);
  close(pipefd[0]);
  close(pipefd[1]);
}

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(login_slots_respect_the_limit_in_one_process),
      cmocka_unit_test(in_use_counts_this_process_and_others_until_they_die),
      cmocka_unit_test(threads_of_one_process_never_share_a_slot),
      cmocka_unit_test(slots_held_by_another_process_are_busy_until_it_dies),
      cmocka_unit_test(forty_children_killed_while_holding_slots_leak_none),
      cmocka_unit_test(racing_processes_never_hold_more_than_the_limit_together),
      cmocka_unit_test(without_a_shared_file_each_process_is_bounded_alone),
      cmocka_unit_test(a_waiting_poller_takes_over_the_moment_the_active_one_dies),
  };
  return cmocka_run_group_tests_name("process_locks", tests, nullptr, nullptr);
}
