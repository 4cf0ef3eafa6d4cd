// The per-instance journal: logins, logouts and ticket ties the request path accepted while the database
// could not take them, kept on disk until the poller has replayed them in order.
//
// One append-only file of records, each
//   "SGJ1" | u32 payload length (little endian) | payload | first 8 bytes of SHA-256(all before)
// so a record torn by a crash (or any damaged byte) fails its checksum and is skipped, never
// misread. The reader resynchronises on the next magic whose checksum holds: records appended
// after a torn one (a crash, then a restart) are not lost. Fingerprints only, never a raw
// session id. No Apache, no MariaDB: the glue is mod_session_guard/journal.cpp.
//
// A login's payload ends with its single sign-out key and subject, written only when it has
// one: a record of the first format (which had neither) still reads, as a login without.
// A ticket tie (a CAS service ticket seen on the request whose response set a session
// cookie) keeps the fingerprint, the cookie's name and the ticket's digest.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sg/login_record.hpp"

namespace sg {

struct JournalEntry {
  enum class Kind : std::uint8_t { login = 1, logout = 2, ticket_tie = 3 };
  Kind kind = Kind::login;
  // Every field of a login; a logout has only the fingerprint and the time; a ticket tie the
  // fingerprint, the time, cookie_name and sso_key. `at` is when the request path accepted
  // it (µs since the epoch), never 0.
  LoginRecord login;
  bool operator==(const JournalEntry& other) const { return kind == other.kind && login == other.login; }
};

// Text fields are cut to these (bytes) when written; the database stores less anyway.
constexpr std::size_t kJournalMaxUser = 190;
constexpr std::size_t kJournalMaxField = 255;
constexpr std::size_t kJournalMaxSsoKey = 64;  // hex SHA-256
constexpr std::size_t kJournalMaxUserAgent = 1024;
constexpr std::size_t kJournalHeader = 8;    // magic + length
constexpr std::size_t kJournalChecksum = 8;
// Larger than any record encode_journal_record writes; the reader refuses longer lengths.
constexpr std::size_t kJournalMaxPayload = 4096;

std::string encode_journal_record(const JournalEntry& entry);

struct JournalRecord {
  JournalEntry entry;
  std::size_t offset = 0;  // where its magic starts
  std::size_t end = 0;     // one past its checksum
};

struct JournalRead {
  std::vector<JournalRecord> records;  // in file order
  std::size_t skipped_bytes = 0;       // damaged or torn bytes passed over
  std::size_t end = 0;                 // one past the last whole record (0 when none)
};

// Never throws on any input and never returns a record whose checksum failed.
JournalRead read_journal(std::string_view bytes);

// ---------------------------------------------------------------- the file
//
// Appends are serialised between processes by an fcntl lock on the file and between threads
// of one process by a mutex (fcntl locks do not exclude threads), and each is on disk
// (fdatasync) before append_journal returns.

struct JournalAppend {
  enum class Result { written, full, failed };
  Result result = Result::failed;
  std::string error;  // for full and failed
};

// Creates the file (mode 0600) when missing; refuses a symbolic link or anything but a
// regular file. `max_bytes` bounds the file: a record that would pass it is refused (full).
JournalAppend append_journal(const std::string& path, std::uint64_t max_bytes, const JournalEntry& entry);

// Size in bytes; 0 when missing. Throws std::runtime_error on any other error.
std::uint64_t journal_size(const std::string& path);

// The whole file (at most `limit` bytes), read under a shared lock so no append is half seen.
// Empty when missing. Throws std::runtime_error.
std::string read_journal_file(const std::string& path, std::uint64_t limit);

// Under the exclusive lock: when the file still holds exactly `replayed` bytes (nothing was
// appended since they were read), empties it and returns true; otherwise leaves it alone.
bool truncate_journal_if(const std::string& path, std::uint64_t replayed);

// Creates the file and hands it to uid/gid (-1: leave) so the server's user can append;
// returns an error text or "".
std::string prepare_journal_file(const std::string& path, long uid, long gid) noexcept;

}  // namespace sg
