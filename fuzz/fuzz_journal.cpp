// The journal (sg::read_journal in core/include/sg/journal.hpp): what the poller replays after
// a crash, so any bytes at all. Input: the file's bytes. Records come back in order, never
// overlapping, each exactly the bytes its entry encodes to; every byte is either in a record
// or counted as skipped; and a record appended after whatever the input holds (a torn tail
// from a crash, garbage) is read, with everything before it read as before.
#include <string>

#include "fuzz.hpp"
#include "sg/journal.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes = fuzz::as_text(data, size);
  sg::JournalRead read = sg::read_journal(bytes);

  std::size_t covered = 0, previous_end = 0;
  for (const auto& record : read.records) {
    FUZZ_CHECK(record.offset >= previous_end);
    FUZZ_CHECK(record.end > record.offset && record.end <= bytes.size());
    FUZZ_CHECK(sg::encode_journal_record(record.entry) == bytes.substr(record.offset, record.end - record.offset));
    FUZZ_CHECK(record.entry.kind == sg::JournalEntry::Kind::login || record.entry.kind == sg::JournalEntry::Kind::logout ||
               record.entry.kind == sg::JournalEntry::Kind::ticket_tie);
    covered += record.end - record.offset;
    previous_end = record.end;
  }
  FUZZ_CHECK(covered + read.skipped_bytes == bytes.size());
  FUZZ_CHECK(read.end == previous_end);

  sg::JournalEntry next;
  next.kind = sg::JournalEntry::Kind::login;
  next.login.at = static_cast<sg::Micros>(fuzz::number_from(bytes.substr(0, 8)) >> 1);
  next.login.username = std::string(bytes.substr(0, 16));
  next.login.cookie_name = "PHPSESSID";
  next.login.sso_sub = std::string(bytes.substr(0, 4));
  std::string appended = std::string(bytes) + sg::encode_journal_record(next);
  sg::JournalRead after = sg::read_journal(appended);
  FUZZ_CHECK(after.records.size() == read.records.size() + 1);
  for (std::size_t i = 0; i < read.records.size(); ++i) {
    FUZZ_CHECK(after.records[i].offset == read.records[i].offset && after.records[i].entry == read.records[i].entry);
  }
  FUZZ_CHECK(after.records.back().offset == bytes.size() && after.records.back().entry == next);
  return 0;
}
