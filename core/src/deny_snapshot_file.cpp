// The deny-list as text (the state file a cold start reads) and the file itself.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include "posix_file.hpp"
#include "sg/deny_region.hpp"

namespace sg {

using posix::errno_text;
using posix::Fd;

std::string serialize_snapshot(const DenySnapshot& snapshot) {
  std::string out = "session-guard-deny-list 1 " + std::to_string(snapshot.refreshed_at) + "\n";
  out.reserve(out.size() + snapshot.sessions.size() * 68 + snapshot.blocked_users.size() * 66 + 32);
  for (const auto& s : snapshot.sessions) {
    out += "s " + s.fingerprint.hex() + " " + std::to_string(static_cast<int>(s.reason)) + "\n";
  }
  for (const auto& u : snapshot.blocked_users) out += "u " + u.hex() + "\n";
  if (snapshot.audit_logged) out += "a " + std::to_string(*snapshot.audit_logged) + "\n";
  out += "end " + std::to_string(snapshot.sessions.size() + snapshot.blocked_users.size()) + "\n";
  return out;
}

namespace {
// Digits only, no sign, within [0, max]: std::stoll would throw on 9999999999999999999.
std::optional<std::uint64_t> parse_decimal(std::string_view text, std::uint64_t max) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    auto digit = static_cast<std::uint64_t>(c - '0');
    if (value > (max - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

std::optional<DenySnapshot> parse_snapshot_lines(std::string_view text, Micros now, std::string& why) {
  DenySnapshot snapshot;
  std::size_t lines = 0;
  bool ended = false;
  while (!text.empty()) {
    std::size_t newline = text.find('\n');
    if (ended) return why = "data after the end line", std::nullopt;
    if (newline == std::string_view::npos) return why = "torn last line", std::nullopt;
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline + 1);
    if (lines++ == 0) {
      constexpr std::string_view kHead = "session-guard-deny-list 1 ";
      if (line.substr(0, kHead.size()) != kHead) return why = "not a deny-list (bad header)", std::nullopt;
      auto time = parse_decimal(line.substr(kHead.size()),
                                static_cast<std::uint64_t>(std::numeric_limits<Micros>::max()));
      if (!time) return why = "refresh time out of range", std::nullopt;
      snapshot.refreshed_at = static_cast<Micros>(*time);
      // A time ahead of ours is a forged file or a clock gone wrong; either way, not trusted.
      if (now > std::numeric_limits<Micros>::max() - kSnapshotClockSkew ||
          snapshot.refreshed_at > now + kSnapshotClockSkew) {
        return why = "refresh time in the future", std::nullopt;
      }
    } else if (line.size() == 66 + 2 && line.substr(0, 2) == "s ") {
      auto fp = Fingerprint::from_hex(line.substr(2, 64));
      if (!fp || line[66] != ' ' || line[67] < '1' || line[67] > '7') return why = "bad session line", std::nullopt;
      snapshot.sessions.push_back(RevokedSession{*fp, static_cast<Reason>(line[67] - '0')});
    } else if (line.size() == 66 && line.substr(0, 2) == "u ") {
      auto key = Fingerprint::from_hex(line.substr(2));
      if (!key) return why = "bad user line", std::nullopt;
      snapshot.blocked_users.push_back(*key);
    } else if (line.substr(0, 2) == "a ") {
      auto id = parse_decimal(line.substr(2), std::numeric_limits<std::uint64_t>::max());
      if (!id) return why = "bad audit line", std::nullopt;
      snapshot.audit_logged = *id;
    } else if (line.substr(0, 4) == "end ") {
      auto count = parse_decimal(line.substr(4), std::numeric_limits<std::uint64_t>::max());
      if (!count || *count != snapshot.sessions.size() + snapshot.blocked_users.size()) {
        return why = "line count does not match", std::nullopt;
      }
      ended = true;
    } else {
      return why = "unknown line " + std::to_string(lines), std::nullopt;
    }
  }
  if (lines == 0) return why = "empty file", std::nullopt;
  if (!ended) return why = "no end line", std::nullopt;
  return snapshot;
}
}  // namespace

std::optional<DenySnapshot> parse_snapshot(std::string_view text, Micros now, std::string* why) noexcept {
  try {
    std::string reason;
    auto snapshot = parse_snapshot_lines(text, now, reason);
    if (why != nullptr) *why = reason;
    return snapshot;
  } catch (...) {  // bad_alloc on a huge file: ignored like any other bad file
    if (why != nullptr) why->clear();
    return std::nullopt;
  }
}

namespace {
// Far beyond any real list (10 million entries are about 700 MB): refuse rather than read.
constexpr off_t kMaxSnapshotFile = off_t{1} << 30;

std::string directory_of(const std::string& path) {
  std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

SnapshotFile load_snapshot_file(const std::string& path, Micros now) noexcept {
  SnapshotFile result;
  try {
    Fd file;
    file.fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (file.fd < 0) {
      if (errno == ENOENT) {
        result.missing = true;
      } else {
        result.error = errno == ELOOP ? "a symbolic link, not followed" : errno_text("cannot open");
      }
      return result;
    }
    struct stat info {};
    if (fstat(file.fd, &info) != 0) return result.error = errno_text("cannot stat"), result;
    if (!S_ISREG(info.st_mode)) return result.error = "not a regular file", result;
    if (info.st_size > kMaxSnapshotFile) return result.error = "larger than any deny-list", result;
    std::string text(static_cast<std::size_t>(info.st_size), '\0');
    std::size_t got = 0;
    while (got < text.size()) {
      ssize_t n = ::read(file.fd, &text[got], text.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return result.error = errno_text("cannot read"), result;
      if (n == 0) break;
      got += static_cast<std::size_t>(n);
    }
    text.resize(got);
    result.snapshot = parse_snapshot(text, now, &result.error);
  } catch (...) {
    result.snapshot.reset();
    result.error = "out of memory";
  }
  return result;
}

std::string save_snapshot_file(const std::string& path, const DenySnapshot& snapshot) noexcept {
  try {
    std::string text = serialize_snapshot(snapshot);
    std::string name = path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
    std::string temp = directory_of(path) + "/." + name + ".XXXXXX";
    Fd file;
    // mkostemp creates with O_EXCL (mode 0600): it never opens an existing file or a link.
    file.fd = mkostemp(&temp[0], O_CLOEXEC);
    if (file.fd < 0) return errno_text("cannot create a file beside " + path);
    std::string error;
    for (std::size_t done = 0; done < text.size() && error.empty();) {
      ssize_t n = ::write(file.fd, text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) error = errno_text("cannot write " + temp);
      else done += static_cast<std::size_t>(n);
    }
    if (error.empty() && fsync(file.fd) != 0) error = errno_text("cannot sync " + temp);
    if (error.empty() && ::close(std::exchange(file.fd, -1)) != 0) error = errno_text("cannot close " + temp);
    // rename replaces the name itself, even when it is a link: nothing outside is written.
    if (error.empty() && ::rename(temp.c_str(), path.c_str()) != 0) error = errno_text("cannot rename onto " + path);
    if (!error.empty()) ::unlink(temp.c_str());
    return error;
  } catch (...) {
    return "out of memory";
  }
}

std::string prepare_snapshot_directory(const std::string& path, long uid, long gid) noexcept {
  try {
    std::string directory = directory_of(path);
    struct stat info {};
    if (::lstat(directory.c_str(), &info) == 0) {
      if (S_ISLNK(info.st_mode)) return directory + " is a symbolic link";
      if (!S_ISDIR(info.st_mode)) return directory + " is not a directory";
      return {};
    }
    if (errno != ENOENT) return errno_text("cannot inspect " + directory);
    if (::mkdir(directory.c_str(), 0700) != 0 && errno != EEXIST) return errno_text("cannot create " + directory);
    Fd dir;
    dir.fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir.fd < 0) return errno_text("cannot open " + directory);
    return posix::hand_over(dir.fd, directory, uid, gid);
  } catch (...) {
    return "out of memory";
  }
}

}  // namespace sg
