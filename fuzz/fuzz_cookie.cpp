// Cookie readers (core/include/sg/cookie.hpp): the Cookie request header and Set-Cookie.
// Input: first line the cookie name the guard looks for, the rest the header.
#include <string>

#include "fuzz.hpp"
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

  // Every spelling an app may read: never empty, never twice, the raw value first.
  auto candidates = sg::session_cookie_candidates(header, name);
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    FUZZ_CHECK(!candidates[i].empty());
    for (std::size_t j = 0; j < i; ++j) FUZZ_CHECK(candidates[i] != candidates[j]);
  }
  if (found && !found->empty()) {
    FUZZ_CHECK(!candidates.empty());
    FUZZ_CHECK(candidates.front() == *found);
  }

  // The same text read as one Set-Cookie header of the response.
  if (auto set = sg::set_cookie_value(header, name)) {
    FUZZ_CHECK(fuzz::within(*set, header));
    FUZZ_CHECK(set->find(';') == std::string_view::npos);
  }
  return 0;
}
