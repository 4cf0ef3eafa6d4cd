// Cookie readers (core/include/sg/cookie.hpp, app_reader.hpp): the Cookie request header and Set-Cookie.
// Input: first line the cookie name the guard looks for, the rest the header.
#include <string>

#include "fuzz.hpp"
#include "sg/app_reader.hpp"
#include "sg/cookie.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view rest = fuzz::as_text(data, size);
  std::string_view name = fuzz::take_line(rest);
  std::string_view header = rest;

  auto pairs = sg::parse_cookie_header(header);
  std::optional<std::string_view> first;
  for (const auto& [cookie_name, value] : pairs) {
    FUZZ_CHECK(!cookie_name.empty());
    FUZZ_CHECK(fuzz::within(cookie_name, header) && fuzz::within(value, header));
    FUZZ_CHECK(cookie_name.find_first_of(";=") == std::string_view::npos);
    FUZZ_CHECK(value.find(';') == std::string_view::npos);
    FUZZ_CHECK(cookie_name.front() != ' ' && cookie_name.front() != '\t');
    FUZZ_CHECK(cookie_name.back() != ' ' && cookie_name.back() != '\t');
    if (!first && cookie_name == name) first = value;
  }
  // find_cookie is the first pair of that name, as PHP and CGI.pm read it.
  auto found = sg::find_cookie(header, name);
  FUZZ_CHECK(found.has_value() == first.has_value());
  if (found) FUZZ_CHECK(found->data() == first->data() && found->size() == first->size());

  // Every value any reader may take (core/app_reader): never empty, never twice, and the
  // strict first pair's value among them.
  auto readings = sg::cookie_readings(header, name);
  for (std::size_t i = 0; i < readings.size(); ++i) {
    FUZZ_CHECK(!readings[i].empty());
    for (std::size_t j = 0; j < i; ++j) FUZZ_CHECK(readings[i] != readings[j]);
  }
  if (found && !found->empty()) {
    bool listed = false;
    for (const auto& value : readings) listed = listed || value == *found;
    FUZZ_CHECK(listed);
  }
  if (sg::cookie_read_alike(header, name)) FUZZ_CHECK(readings.size() == 1);
  // What the remember-me stripper leaves, no reader reads as the cookie any more.
  if (!name.empty()) FUZZ_CHECK(sg::cookie_readings(sg::without_cookie(header, name), name).empty());

  // The same text read as one Set-Cookie header of the response.
  if (auto set = sg::set_cookie_value(header, name)) {
    FUZZ_CHECK(fuzz::within(*set, header));
    FUZZ_CHECK(set->find(';') == std::string_view::npos);
  }
  return 0;
}
