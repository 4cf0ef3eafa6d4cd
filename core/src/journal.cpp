#include "sg/journal.hpp"

#include <fcntl.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <stdexcept>

#include "posix_file.hpp"
#include "sg/deny_region.hpp"

namespace sg {

using posix::errno_text;
using posix::Fd;

namespace {

constexpr char kMagic[4] = {'S', 'G', 'J', '1'};

void put_u64(std::string& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void put_text(std::string& out, std::string_view text, std::size_t max) {
  text = text.substr(0, max);
  put_u64(out, text.size(), 2);
  out.append(text);
}

std::string checksum(std::string_view bytes) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  return std::string(reinterpret_cast<const char*>(digest), kJournalChecksum);
}

// Reads a payload; false on anything that does not fit exactly (which the checksum makes
// impossible short of a bug in the writer, but a reader must not trust that).
class Cursor {
 public:
  explicit Cursor(std::string_view bytes) : rest_(bytes) {}
  bool number(std::uint64_t& out, int bytes) {
    if (rest_.size() < static_cast<std::size_t>(bytes)) return false;
    out = 0;
    for (int i = 0; i < bytes; ++i) out |= std::uint64_t{static_cast<unsigned char>(rest_[i])} << (8 * i);
    rest_.remove_prefix(static_cast<std::size_t>(bytes));
    return true;
  }
  bool text(std::string& out, std::size_t max) {
    std::uint64_t length = 0;
    if (!number(length, 2) || length > max || length > rest_.size()) return false;
    out.assign(rest_.data(), static_cast<std::size_t>(length));
    rest_.remove_prefix(static_cast<std::size_t>(length));
    return true;
  }
  bool int32(std::int32_t& out) {
    std::uint64_t v = 0;
    if (!number(v, 4)) return false;
    out = static_cast<std::int32_t>(static_cast<std::uint32_t>(v));
    return true;
  }
  bool done() const { return rest_.empty(); }

 private:
  std::string_view rest_;
};

// Login fields after the kind, time and fingerprint, in file order.
bool decode_login(Cursor& in, LoginRecord& login) {
  std::uint64_t refuse = 0;
  bool ok = in.text(login.username, kJournalMaxUser) && in.text(login.cookie_name, kJournalMaxField) &&
            in.text(login.client_ip, kJournalMaxField) && in.text(login.user_agent, kJournalMaxUserAgent) &&
            in.text(login.server_name, kJournalMaxField) && in.int32(login.idle_timeout_seconds) &&
            in.int32(login.max_lifetime_seconds) && in.int32(login.max_sessions) && in.number(refuse, 1) &&
            refuse <= 1;
  login.refuse_new = refuse == 1;
  if (!ok || in.done()) return ok;  // done: the first format, or a login without single sign-out
  // Written only when there is one, so one encoding per login (the fuzz target holds us to it).
  return in.text(login.sso_key, kJournalMaxSsoKey) && in.text(login.sso_sub, kJournalMaxField) && in.done() &&
         !(login.sso_key.empty() && login.sso_sub.empty());
}

bool decode_payload(std::string_view payload, JournalEntry& entry) {
  Cursor in(payload);
  std::uint64_t kind = 0, at = 0;
  if (!in.number(kind, 1) || !in.number(at, 8)) return false;
  if (kind < static_cast<std::uint64_t>(JournalEntry::Kind::login) ||
      kind > static_cast<std::uint64_t>(JournalEntry::Kind::ticket_tie))
    return false;
  entry.kind = static_cast<JournalEntry::Kind>(kind);
  entry.login.at = static_cast<Micros>(at);
  for (auto& byte : entry.login.fingerprint.bytes) {
    std::uint64_t b = 0;
    if (!in.number(b, 1)) return false;
    byte = static_cast<std::uint8_t>(b);
  }
  if (entry.kind == JournalEntry::Kind::logout) return in.done();
  if (entry.kind == JournalEntry::Kind::ticket_tie) {
    return in.text(entry.login.cookie_name, kJournalMaxField) && in.text(entry.login.sso_key, kJournalMaxSsoKey) &&
           in.done() && !entry.login.sso_key.empty();
  }
  return decode_login(in, entry.login);
}

// A whole-file fcntl lock, released when the descriptor closes.
bool lock(int fd, short type) {
  struct flock l {};
  l.l_type = type;
  l.l_whence = SEEK_SET;
  while (fcntl(fd, F_SETLKW, &l) != 0) {
    if (errno != EINTR) return false;
  }
  return true;
}

// O_NOFOLLOW and the regular-file check: the journal's directory is the server user's, and
// nobody may point the root parent or a child at another file through it.
int open_journal(const std::string& path, int flags, std::string& error, bool* missing = nullptr) {
  int fd = ::open(path.c_str(), flags | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (missing != nullptr) *missing = errno == ENOENT;
    error = errno == ELOOP ? path + " is a symbolic link" : errno_text("cannot open " + path);
    return -1;
  }
  struct stat info {};
  if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    error = path + " is not a regular file";
    ::close(fd);
    return -1;
  }
  return fd;
}

// Threads of one process (the event MPM) are not excluded by their process's fcntl lock.
std::mutex g_append_mutex;

}  // namespace

std::string encode_journal_record(const JournalEntry& entry) {
  const LoginRecord& login = entry.login;
  std::string payload;
  put_u64(payload, static_cast<std::uint64_t>(entry.kind), 1);
  put_u64(payload, static_cast<std::uint64_t>(login.at), 8);
  payload.append(reinterpret_cast<const char*>(login.fingerprint.bytes.data()), login.fingerprint.bytes.size());
  if (entry.kind == JournalEntry::Kind::login) {
    put_text(payload, login.username, kJournalMaxUser);
    put_text(payload, login.cookie_name, kJournalMaxField);
    put_text(payload, login.client_ip, kJournalMaxField);
    put_text(payload, login.user_agent, kJournalMaxUserAgent);
    put_text(payload, login.server_name, kJournalMaxField);
    put_u64(payload, static_cast<std::uint32_t>(login.idle_timeout_seconds), 4);
    put_u64(payload, static_cast<std::uint32_t>(login.max_lifetime_seconds), 4);
    put_u64(payload, static_cast<std::uint32_t>(login.max_sessions), 4);
    put_u64(payload, login.refuse_new ? 1 : 0, 1);
    if (!login.sso_key.empty() || !login.sso_sub.empty()) {
      put_text(payload, login.sso_key, kJournalMaxSsoKey);
      put_text(payload, login.sso_sub, kJournalMaxField);
    }
  } else if (entry.kind == JournalEntry::Kind::ticket_tie) {
    put_text(payload, login.cookie_name, kJournalMaxField);
    put_text(payload, login.sso_key, kJournalMaxSsoKey);
  }
  std::string record(kMagic, sizeof kMagic);
  put_u64(record, payload.size(), 4);
  record += payload;
  record += checksum(record);
  return record;
}

JournalRead read_journal(std::string_view bytes) {
  JournalRead read;
  std::size_t at = 0;
  const std::string_view magic(kMagic, sizeof kMagic);
  while (at < bytes.size()) {
    bool whole = false;
    if (bytes.size() - at >= kJournalHeader + kJournalChecksum && bytes.substr(at, 4) == magic) {
      std::uint64_t length = 0;
      for (int i = 0; i < 4; ++i) length |= std::uint64_t{static_cast<unsigned char>(bytes[at + 4 + i])} << (8 * i);
      std::size_t size = kJournalHeader + static_cast<std::size_t>(length) + kJournalChecksum;
      if (length <= kJournalMaxPayload && bytes.size() - at >= size) {
        std::string_view body = bytes.substr(at, kJournalHeader + static_cast<std::size_t>(length));
        JournalRecord record;
        if (checksum(body) == bytes.substr(at + body.size(), kJournalChecksum) &&
            decode_payload(body.substr(kJournalHeader), record.entry)) {
          record.offset = at;
          record.end = at + size;
          read.records.push_back(std::move(record));
          read.end = at + size;
          at += size;
          whole = true;
        }
      }
    }
    if (whole) continue;
    // Damaged or torn: look for the next record (one appended after a crash).
    std::size_t next = bytes.find(magic, at + 1);
    if (next == std::string_view::npos) next = bytes.size();
    read.skipped_bytes += next - at;
    at = next;
  }
  return read;
}

JournalAppend append_journal(const std::string& path, std::uint64_t max_bytes, const JournalEntry& entry) {
  JournalAppend out;
  try {
    const std::string record = encode_journal_record(entry);
    std::lock_guard<std::mutex> guard(g_append_mutex);
    Fd file;
    file.fd = open_journal(path, O_WRONLY | O_CREAT | O_APPEND, out.error);
    if (file.fd < 0) return out;
    if (!lock(file.fd, F_WRLCK)) return out.error = errno_text("cannot lock " + path), out;
    struct stat info {};
    if (fstat(file.fd, &info) != 0) return out.error = errno_text("cannot stat " + path), out;
    if (static_cast<std::uint64_t>(info.st_size) + record.size() > max_bytes) {
      out.result = JournalAppend::Result::full;
      out.error = "journal full: " + path + " holds " + std::to_string(info.st_size) + " of its " +
                  std::to_string(max_bytes) + " bytes";
      return out;
    }
    for (std::size_t done = 0; done < record.size();) {
      ssize_t n = ::write(file.fd, record.data() + done, record.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        // A partial record is skipped by every reader; cut it off so the bound stays honest.
        out.error = errno_text("cannot write " + path);
        if (ftruncate(file.fd, info.st_size) != 0) out.error += " (and cannot cut the partial record)";
        return out;
      }
      done += static_cast<std::size_t>(n);
    }
    if (fdatasync(file.fd) != 0) return out.error = errno_text("cannot sync " + path), out;
    out.result = JournalAppend::Result::written;
  } catch (const std::exception& e) {
    out.result = JournalAppend::Result::failed;
    out.error = e.what();
  }
  return out;
}

std::uint64_t journal_size(const std::string& path) {
  struct stat info {};
  if (::lstat(path.c_str(), &info) != 0) {
    if (errno == ENOENT) return 0;
    throw std::runtime_error(errno_text("cannot stat " + path));
  }
  if (!S_ISREG(info.st_mode)) throw std::runtime_error(path + " is not a regular file");
  return static_cast<std::uint64_t>(info.st_size);
}

std::string read_journal_file(const std::string& path, std::uint64_t limit) {
  std::string error;
  bool missing = false;
  Fd file;
  file.fd = open_journal(path, O_RDONLY, error, &missing);
  if (file.fd < 0) {
    if (missing) return {};
    throw std::runtime_error(error);
  }
  if (!lock(file.fd, F_RDLCK)) throw std::runtime_error(errno_text("cannot lock " + path));
  std::string text;
  char buffer[65536];
  while (text.size() < limit) {
    ssize_t n = ::read(file.fd, buffer, static_cast<std::size_t>(std::min<std::uint64_t>(sizeof buffer, limit - text.size())));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::runtime_error(errno_text("cannot read " + path));
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  return text;
}

bool truncate_journal_if(const std::string& path, std::uint64_t replayed) {
  std::string error;
  bool missing = false;
  Fd file;
  file.fd = open_journal(path, O_WRONLY, error, &missing);
  if (file.fd < 0) {
    if (missing) return replayed == 0;
    throw std::runtime_error(error);
  }
  if (!lock(file.fd, F_WRLCK)) throw std::runtime_error(errno_text("cannot lock " + path));
  struct stat info {};
  if (fstat(file.fd, &info) != 0) throw std::runtime_error(errno_text("cannot stat " + path));
  if (static_cast<std::uint64_t>(info.st_size) != replayed) return false;
  if (ftruncate(file.fd, 0) != 0 || fdatasync(file.fd) != 0) {
    throw std::runtime_error(errno_text("cannot empty " + path));
  }
  return true;
}

std::string prepare_journal_file(const std::string& path, long uid, long gid) noexcept {
  try {
    std::string error = prepare_snapshot_directory(path, uid, gid);
    if (!error.empty()) return error;
    Fd file;
    file.fd = open_journal(path, O_WRONLY | O_CREAT | O_APPEND, error);
    if (file.fd < 0) return error;
    return posix::hand_over(file.fd, path, uid, gid);
  } catch (...) {
    return "out of memory";
  }
}

}  // namespace sg
