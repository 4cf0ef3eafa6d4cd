// What the core's file code (the journal, the state file) shares: private to core/src.
#pragma once
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace sg::posix {

// `what`, then the error errno holds now.
inline std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

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
