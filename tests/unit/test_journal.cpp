// The journal (core/journal): record format, torn and damaged records, the bounded file,
// appends from several processes at once.
// <fstream> before cmocka: its macros clash with names in the iostream headers.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "unit.hpp"

#include "sg/fingerprint.hpp"
#include "sg/journal.hpp"
#include "sg/sso.hpp"

namespace {

sg::JournalEntry login(const std::string& user, int n = 0) {
  sg::JournalEntry e;
  e.kind = sg::JournalEntry::Kind::login;
  sg::LoginRecord& l = e.login;
  l.at = 1700000000123456 + n;
  l.fingerprint = sg::session_fingerprint("PHPSESSID", user + std::to_string(n));
  l.username = user;
  l.cookie_name = "PHPSESSID";
  l.client_ip = "127.0.0.1";
  l.user_agent = "Mozilla/5.0 (X11; Linux x86_64)";
  l.server_name = "www.example.com";
  l.idle_timeout_seconds = 1800;
  l.max_lifetime_seconds = -1;  // never written so, but any int32 must survive
  l.max_sessions = 3;
  l.refuse_new = true;
  return e;
}

// A login made through an identity provider: single sign-out must still reach it after replay.
sg::JournalEntry sso_login(const std::string& user) {
  sg::JournalEntry e = login(user);
  e.login.sso_key = sg::sso_key_oidc_sid("sid-" + user);
  e.login.sso_sub = "sub-" + user;
  return e;
}

sg::JournalEntry logout(int n) {
  sg::JournalEntry e;
  e.kind = sg::JournalEntry::Kind::logout;
  e.login.at = 1700000000999999 + n;
  e.login.fingerprint = sg::session_fingerprint("PHPSESSID", "x" + std::to_string(n));
  return e;
}

sg::JournalEntry ticket_tie(int n) {
  sg::JournalEntry e;
  e.kind = sg::JournalEntry::Kind::ticket_tie;
  e.login.at = 1700000001000000 + n;
  e.login.fingerprint = sg::session_fingerprint("MOD_AUTH_CAS", "c" + std::to_string(n));
  e.login.cookie_name = "MOD_AUTH_CAS";
  e.login.sso_key = sg::sso_key_cas_ticket("ST-" + std::to_string(n) + "-abc");
  return e;
}

struct TempDir {
  std::string path;
  TempDir() {
    char name[] = "/tmp/sg-journal-XXXXXX";
    path = mkdtemp(name);
  }
  ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }
  std::string file() const { return path + "/journal"; }
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

SG_TEST(login_and_logout_round_trip) {
  std::string bytes = sg::encode_journal_record(login("alice")) + sg::encode_journal_record(logout(1));
  sg::JournalRead read = sg::read_journal(bytes);
  assert_int_equal(read.records.size(), 2);
  assert_true(read.records[0].entry == login("alice"));
  assert_true(read.records[1].entry == logout(1));
  assert_int_equal(read.records[0].offset, 0);
  assert_int_equal(read.records[1].offset, read.records[0].end);
  assert_int_equal(read.end, bytes.size());
  assert_int_equal(read.skipped_bytes, 0);
}

SG_TEST(a_login_keeps_its_single_sign_out_key_and_subject) {
  // Lost before: a login journalled in an outage could not be ended by a back-channel
  // logout by sid, nor by a CAS logout, once replayed.
  std::string bytes = sg::encode_journal_record(sso_login("alice")) + sg::encode_journal_record(login("bob"));
  sg::JournalRead read = sg::read_journal(bytes);
  assert_int_equal(read.records.size(), 2);
  assert_str_eq(read.records[0].entry.login.sso_key, sg::sso_key_oidc_sid("sid-alice"));
  assert_str_eq(read.records[0].entry.login.sso_sub, "sub-alice");
  assert_true(read.records[0].entry == sso_login("alice"));
  assert_true(read.records[1].entry == login("bob"));
  assert_int_equal(read.skipped_bytes, 0);
}

SG_TEST(a_ticket_tie_round_trips_and_one_without_its_ticket_is_refused) {
  std::string bytes = sg::encode_journal_record(ticket_tie(1)) + sg::encode_journal_record(logout(2));
  sg::JournalRead read = sg::read_journal(bytes);
  assert_int_equal(read.records.size(), 2);
  assert_true(read.records[0].entry == ticket_tie(1));
  assert_str_eq(read.records[0].entry.login.cookie_name, "MOD_AUTH_CAS");
  assert_str_eq(read.records[0].entry.login.sso_key, sg::sso_key_cas_ticket("ST-1-abc"));
  // A tie with no ticket would end nothing at a CAS logout: never read as one.
  sg::JournalEntry empty = ticket_tie(3);
  empty.login.sso_key.clear();
  sg::JournalRead refused = sg::read_journal(sg::encode_journal_record(empty));
  assert_int_equal(refused.records.size(), 0);
  assert_true(refused.skipped_bytes > 0);
}

SG_TEST(a_record_of_the_first_format_still_reads) {
  // Written by the previous version (no single sign-out fields), left on disk by an upgrade
  // during an outage: encode_journal_record of this login, byte for byte.
  const char first_format[] =
      "\x53\x47\x4a\x31\x6c\x00\x00\x00\x01\x40\x22\x20\x18\x24\x0a\x06\x00\xa8\xba\xb5\x6d\x5a\x69\x42"
      "\x78\x99\x04\x5e\x1f\xe7\xc9\xad\x6d\xf1\xcd\x69\xb8\xf5\x4e\x33\x3c\xb3\x40\xbd\xc4\x59\xa5\xf0"
      "\x5b\x05\x00\x61\x6c\x69\x63\x65\x09\x00\x50\x48\x50\x53\x45\x53\x53\x49\x44\x09\x00\x31\x32\x37"
      "\x2e\x30\x2e\x30\x2e\x31\x06\x00\x63\x75\x72\x6c\x2f\x38\x0f\x00\x77\x77\x77\x2e\x65\x78\x61\x6d"
      "\x70\x6c\x65\x2e\x63\x6f\x6d\x08\x07\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x01\xe2\x4f\xcd\x65"
      "\x56\x67\x87\x27";
  const std::string old(first_format, sizeof first_format - 1);
  sg::JournalRead read = sg::read_journal(old + sg::encode_journal_record(sso_login("bob")));
  assert_int_equal(read.records.size(), 2);
  assert_int_equal(read.skipped_bytes, 0);
  const sg::LoginRecord& l = read.records[0].entry.login;
  assert_true(read.records[0].entry.kind == sg::JournalEntry::Kind::login);
  assert_int_equal(l.at, 1700000000123456);
  assert_str_eq(l.fingerprint.hex(), "a8bab56d5a69427899045e1fe7c9ad6df1cd69b8f54e333cb340bdc459a5f05b");
  assert_str_eq(l.username, "alice");
  assert_str_eq(l.cookie_name, "PHPSESSID");
  assert_str_eq(l.client_ip, "127.0.0.1");
  assert_str_eq(l.user_agent, "curl/8");
  assert_str_eq(l.server_name, "www.example.com");
  assert_int_equal(l.idle_timeout_seconds, 1800);
  assert_int_equal(l.max_lifetime_seconds, 0);
  assert_int_equal(l.max_sessions, 3);
  assert_true(l.refuse_new);
  assert_str_eq(l.sso_key, "");
  assert_str_eq(l.sso_sub, "");
  // A login without single sign-out is still written in the first format.
  assert_true(sg::encode_journal_record(read.records[0].entry) == old);
}

SG_TEST(no_raw_session_value_is_written) {
  sg::JournalEntry e = login("alice");
  e.login.fingerprint = sg::session_fingerprint("PHPSESSID", "secret-session-value-123");
  std::string bytes = sg::encode_journal_record(e);
  assert_not_contains(bytes, "secret-session-value-123");
}

SG_TEST(a_torn_last_record_is_ignored_at_every_length) {
  std::string first = sg::encode_journal_record(login("alice", 1));
  std::string last = sg::encode_journal_record(login("bob", 2));
  for (std::size_t cut = 0; cut < last.size(); ++cut) {
    sg::JournalRead read = sg::read_journal(first + last.substr(0, cut));
    if (read.records.size() != 1 || !(read.records[0].entry == login("alice", 1))) {
      fail_msg("cut at %zu: %zu records", cut, read.records.size());
    }
    assert_int_equal(read.end, first.size());
    assert_int_equal(read.skipped_bytes, cut);
  }
}

SG_TEST(every_damaged_byte_is_caught_by_the_checksum) {
  std::string record = sg::encode_journal_record(login("alice"));
  for (std::size_t i = 0; i < record.size(); ++i) {
    std::string damaged = record;
    damaged[i] = static_cast<char>(damaged[i] ^ 0x20);
    sg::JournalRead read = sg::read_journal(damaged);
    if (!read.records.empty()) fail_msg("byte %zu altered, record still read", i);
  }
}

SG_TEST(records_after_a_torn_one_are_read) {
  // A crash cut a record; after the restart the children appended more behind it.
  std::string a = sg::encode_journal_record(login("alice", 1));
  std::string torn = sg::encode_journal_record(login("bob", 2)).substr(0, 30);
  std::string c = sg::encode_journal_record(logout(3));
  std::string d = sg::encode_journal_record(login("carol", 4));
  sg::JournalRead read = sg::read_journal(a + torn + c + d);
  assert_int_equal(read.records.size(), 3);
  assert_true(read.records[0].entry == login("alice", 1));
  assert_true(read.records[1].entry == logout(3));
  assert_true(read.records[2].entry == login("carol", 4));
  assert_int_equal(read.skipped_bytes, torn.size());
}

SG_TEST(garbage_and_huge_lengths_are_not_records) {
  assert_int_equal(sg::read_journal("").records.size(), 0);
  assert_int_equal(sg::read_journal(std::string(100, '\0')).records.size(), 0);
  std::string huge = "SGJ1";
  huge += std::string("\xff\xff\xff\x7f", 4);
  huge += std::string(64, 'a');
  sg::JournalRead read = sg::read_journal(huge);
  assert_int_equal(read.records.size(), 0);
  assert_int_equal(read.skipped_bytes, huge.size());
}

SG_TEST(long_fields_are_cut_not_refused) {
  sg::JournalEntry e = login("alice");
  e.login.user_agent = std::string(5000, 'u');
  e.login.server_name = std::string(400, 's');
  std::string bytes = sg::encode_journal_record(e);
  assert_true(bytes.size() <= sg::kJournalHeader + sg::kJournalMaxPayload + sg::kJournalChecksum);
  sg::JournalRead read = sg::read_journal(bytes);
  assert_int_equal(read.records.size(), 1);
  assert_int_equal(read.records[0].entry.login.user_agent.size(), sg::kJournalMaxUserAgent);
  assert_int_equal(read.records[0].entry.login.server_name.size(), sg::kJournalMaxField);
}

SG_TEST(file_append_read_and_empty) {
  TempDir dir;
  assert_int_equal(sg::journal_size(dir.file()), 0);
  assert_int_equal(sg::read_journal_file(dir.file(), 1 << 20).size(), 0);
  auto a = sg::append_journal(dir.file(), 1 << 20, login("alice"));
  assert_true(a.result == sg::JournalAppend::Result::written);
  auto b = sg::append_journal(dir.file(), 1 << 20, logout(1));
  assert_true(b.result == sg::JournalAppend::Result::written);
  struct stat info {};
  assert_int_equal(stat(dir.file().c_str(), &info), 0);
  assert_int_equal(info.st_mode & 0777, 0600);
  std::string bytes = sg::read_journal_file(dir.file(), 1 << 20);
  assert_true(bytes == slurp(dir.file()));
  assert_int_equal(sg::read_journal(bytes).records.size(), 2);
  // Something appended since it was read: not emptied, nothing lost.
  assert_false(sg::truncate_journal_if(dir.file(), bytes.size() - 1));
  assert_int_equal(sg::journal_size(dir.file()), bytes.size());
  assert_true(sg::truncate_journal_if(dir.file(), bytes.size()));
  assert_int_equal(sg::journal_size(dir.file()), 0);
}

SG_TEST(a_full_journal_refuses_with_a_clear_error) {
  TempDir dir;
  const std::size_t one = sg::encode_journal_record(login("alice")).size();
  const std::uint64_t max = 3 * one + one / 2;
  for (int i = 0; i < 3; ++i) {
    assert_true(sg::append_journal(dir.file(), max, login("alice")).result == sg::JournalAppend::Result::written);
  }
  auto full = sg::append_journal(dir.file(), max, login("alice"));
  assert_true(full.result == sg::JournalAppend::Result::full);
  assert_contains(full.error, "journal full");
  assert_int_equal(sg::journal_size(dir.file()), 3 * one);  // nothing half-written
  assert_true(sg::truncate_journal_if(dir.file(), 3 * one));
  assert_true(sg::append_journal(dir.file(), max, login("alice")).result == sg::JournalAppend::Result::written);
}

SG_TEST(links_and_other_files_are_refused) {
  TempDir dir;
  std::string target = dir.path + "/elsewhere";
  std::ofstream(target) << "keep";
  assert_int_equal(symlink(target.c_str(), dir.file().c_str()), 0);
  auto linked = sg::append_journal(dir.file(), 1 << 20, login("alice"));
  assert_true(linked.result == sg::JournalAppend::Result::failed);
  assert_contains(linked.error, "symbolic link");
  assert_str_eq(slurp(target), "keep");
  assert_false(sg::prepare_journal_file(dir.file(), -1, -1).empty());
  std::string sub = dir.path + "/d";
  assert_int_equal(mkdir(sub.c_str(), 0700), 0);
  assert_true(sg::append_journal(sub, 1 << 20, login("alice")).result == sg::JournalAppend::Result::failed);
}

SG_TEST(prepare_creates_directory_and_file) {
  TempDir dir;
  std::string path = dir.path + "/session_guard/journal";
  assert_str_eq(sg::prepare_journal_file(path, -1, -1), "");
  assert_int_equal(sg::journal_size(path), 0);
  struct stat info {};
  assert_int_equal(stat(path.c_str(), &info), 0);
  assert_true(S_ISREG(info.st_mode));
}

SG_TEST(appends_from_many_processes_never_interleave) {
  TempDir dir;
  constexpr int kProcesses = 6, kEach = 150;
  for (int p = 0; p < kProcesses; ++p) {
    pid_t pid = fork();
    if (pid == 0) {
      int bad = 0;
      for (int i = 0; i < kEach; ++i) {
        // Long records (a full User-Agent) so a write could tear if appends were not locked.
        sg::JournalEntry e = login("user" + std::to_string(p), i);
        e.login.user_agent = std::string(1000, static_cast<char>('a' + p));
        if (sg::append_journal(dir.file(), 64 << 20, e).result != sg::JournalAppend::Result::written) ++bad;
      }
      _exit(bad == 0 ? 0 : 1);
    }
  }
  for (int p = 0; p < kProcesses; ++p) {
    int status = 0;
    wait(&status);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  sg::JournalRead read = sg::read_journal(slurp(dir.file()));
  assert_int_equal(read.records.size(), kProcesses * kEach);
  assert_int_equal(read.skipped_bytes, 0);
  // Each process's records in the order it wrote them.
  int next[kProcesses] = {};
  for (const auto& r : read.records) {
    int p = r.entry.login.username.back() - '0';
    assert_int_equal(r.entry.login.at, 1700000000123456 + next[p]);
    ++next[p];
  }
}

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(login_and_logout_round_trip),
      cmocka_unit_test(a_ticket_tie_round_trips_and_one_without_its_ticket_is_refused),
      cmocka_unit_test(a_login_keeps_its_single_sign_out_key_and_subject),
      cmocka_unit_test(a_record_of_the_first_format_still_reads),
      cmocka_unit_test(no_raw_session_value_is_written),
      cmocka_unit_test(a_torn_last_record_is_ignored_at_every_length),
      cmocka_unit_test(every_damaged_byte_is_caught_by_the_checksum),
      cmocka_unit_test(records_after_a_torn_one_are_read),
      cmocka_unit_test(garbage_and_huge_lengths_are_not_records),
      cmocka_unit_test(long_fields_are_cut_not_refused),
      cmocka_unit_test(file_append_read_and_empty),
      cmocka_unit_test(a_full_journal_refuses_with_a_clear_error),
      cmocka_unit_test(links_and_other_files_are_refused),
      cmocka_unit_test(prepare_creates_directory_and_file),
      cmocka_unit_test(appends_from_many_processes_never_interleave),
  };
  return cmocka_run_group_tests_name("journal", tests, nullptr, nullptr);
}
