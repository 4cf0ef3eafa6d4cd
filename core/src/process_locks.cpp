#include "sg/process_locks.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

namespace sg {

namespace {
bool set_lock(int fd, std::int64_t offset, short type, bool wait) noexcept {
  struct flock lock {};
  lock.l_type = type;
  lock.l_whence = SEEK_SET;
  lock.l_start = static_cast<off_t>(offset);
  lock.l_len = 1;
  return fcntl(fd, wait ? F_SETLKW : F_SETLK, &lock) == 0;
}
}  // namespace

bool lock_byte(int fd, std::int64_t offset, bool wait) noexcept { return set_lock(fd, offset, F_WRLCK, wait); }

void unlock_byte(int fd, std::int64_t offset) noexcept { set_lock(fd, offset, F_UNLCK, false); }

long lock_holder(int fd, std::int64_t offset) noexcept {
  struct flock lock {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  lock.l_start = static_cast<off_t>(offset);
  lock.l_len = 1;
  // F_GETLK never reports this process's own locks.
  return fcntl(fd, F_GETLK, &lock) == 0 && lock.l_type != F_UNLCK ? static_cast<long>(lock.l_pid) : 0;
}

LoginSlots::LoginSlots(int fd, std::uint32_t count) noexcept : fd_(fd), count_(std::min(count, kMaxSlots)) {}

int LoginSlots::try_acquire() noexcept {
  for (std::uint32_t i = 0; i < count_; ++i) {
    const std::uint64_t bit = std::uint64_t{1} << i;
    if (held_here_.fetch_or(bit, std::memory_order_acq_rel) & bit) continue;  // another thread here has it
    if (fd_ < 0 || lock_byte(fd_, kLoginSlotsOffset + i, false)) return static_cast<int>(i);
    held_here_.fetch_and(~bit, std::memory_order_acq_rel);  // another process has it
  }
  return -1;
}

void LoginSlots::release(int slot) noexcept {
  if (slot < 0 || static_cast<std::uint32_t>(slot) >= count_) return;
  if (fd_ >= 0) unlock_byte(fd_, kLoginSlotsOffset + slot);
  held_here_.fetch_and(~(std::uint64_t{1} << slot), std::memory_order_acq_rel);
}

std::uint32_t LoginSlots::in_use() const noexcept {
  const std::uint64_t here = held_here_.load(std::memory_order_acquire);
  std::uint32_t used = 0;
  for (std::uint32_t i = 0; i < count_; ++i) {
    // lock_holder cannot see this process's own locks: the bitmap says which those are.
    if ((here >> i) & 1U || (fd_ >= 0 && lock_holder(fd_, kLoginSlotsOffset + i) != 0)) ++used;
  }
  return used;
}

}  // namespace sg
