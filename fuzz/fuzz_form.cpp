// Query strings and url-encoded bodies (core/include/sg/text.hpp): parse_form, url_decode,
// percent_decode. Input: any text; its first line and the rest are also used as a name and
// a value for round trips through url_encode.
#include <string>

#include "fuzz.hpp"
#include "sg/text.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text = fuzz::as_text(data, size);

  std::string decoded = sg::url_decode(text);
  std::string percent = sg::percent_decode(text);
  FUZZ_CHECK(decoded.size() <= text.size());
  FUZZ_CHECK(percent.size() <= text.size());
  if (text.find('%') == std::string_view::npos) {
    FUZZ_CHECK(percent == text);
    std::string spaced(text);
    for (char& c : spaced) if (c == '+') c = ' ';
    FUZZ_CHECK(decoded == spaced);
  }

  auto fields = sg::parse_form(text);
  std::size_t ampersands = 0;
  for (char c : text) ampersands += c == '&';
  FUZZ_CHECK(fields.size() <= ampersands + 1);
  for (const auto& [name, value] : fields) FUZZ_CHECK(name.size() + value.size() <= text.size());

  // Whatever a client encodes, the reader gives back.
  std::string_view rest = text;
  std::string_view name = fuzz::take_line(rest);
  std::string encoded_name = sg::url_encode(name);
  std::string encoded_value = sg::url_encode(rest);
  FUZZ_CHECK(encoded_name.find_first_not_of("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_.~%") ==
             std::string::npos);
  FUZZ_CHECK(sg::url_decode(encoded_name) == name);
  FUZZ_CHECK(sg::percent_decode(encoded_value) == rest);
  auto one = sg::parse_form(encoded_name + "=" + encoded_value);
  FUZZ_CHECK(one.size() == 1 && one[0].first == name && one[0].second == rest);
  auto two = sg::parse_form("a=1&" + encoded_name + "=" + encoded_value + "&&");
  FUZZ_CHECK(two.size() == 2 && two[1].first == name && two[1].second == rest);
  return 0;
}
