// What the core's file code (the journal, the state file) shares: private to core/src.
#pragma once
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace sg::posix {

// `what`, then the error errno holds now.
inline std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

// Gives the open file `path` to uid/gid (uid -1: leaves it); an error text or "".
inline std::string hand_over(int fd, const std::string& path, long uid, long gid) {
  if (uid < 0 || ::fchown(fd, static_cast<uid_t>(uid), static_cast<gid_t>(gid)) == 0) return {};
  return errno_text("cannot hand " + path + " to the server's user");
}

// Closes the descriptor it holds, however the function that opened it returns.
struct Fd {
  int fd = -1;
  Fd() = default;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace sg::posix
