// Counters and ownership shared by the processes of one Apache instance that must not leak
// when a process dies: they are fcntl byte-range locks on one file every process inherits
// (an anonymous memfd the parent creates), and the kernel drops a process's locks when it
// exits, however it exits (SIGKILL included). A counter in shared memory cannot tell a slot
// held by a live child from one a killed child never gave back.
#pragma once
#include <atomic>
#include <cstdint>

namespace sg {

// The bytes of the instance's lock file and what each is for.
constexpr std::int64_t kLoginSlotsOffset = 0;    // one byte per login connection slot
constexpr std::int64_t kPollerLockOffset = 4096;  // held by the one active poller

// Bounds the database connections the children of one instance open for logins and logouts.
// fcntl locks belong to a process, not a thread: a bitmap in this process keeps two threads
// of one child (event MPM) from taking the same byte.
class LoginSlots {
 public:
  static constexpr std::uint32_t kMaxSlots = 64;
  // fd < 0: no shared file (it could not be created); each process is then bounded alone.
  LoginSlots(int fd, std::uint32_t count) noexcept;
  LoginSlots(const LoginSlots&) = delete;
  LoginSlots& operator=(const LoginSlots&) = delete;

  // The slot taken, or -1 when every slot is held (here or by another process).
  int try_acquire() noexcept;
  void release(int slot) noexcept;
  std::uint32_t count() const { return count_; }
  // Slots held now by any process of the instance, this one included: read from the locks
  // themselves, so a slot of a killed child stops counting when the kernel frees it.
  std::uint32_t in_use() const noexcept;

 private:
  int fd_;
  std::uint32_t count_;
  std::atomic<std::uint64_t> held_here_{0};
};

// An exclusive lock on one byte of `fd`, released by the kernel when this process ends.
// wait: block until it is free (a signal without SA_RESTART interrupts the wait: false).
bool lock_byte(int fd, std::int64_t offset, bool wait) noexcept;
void unlock_byte(int fd, std::int64_t offset) noexcept;
// The process that holds the byte now, or 0 (never this process: its own locks are not seen).
long lock_holder(int fd, std::int64_t offset) noexcept;

}  // namespace sg
