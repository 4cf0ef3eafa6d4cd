// multipart/form-data bodies (sg::multipart_field in core/include/sg/text.hpp).
// Input: first line the Content-Type, second line the field wanted, the rest the body.
#include <string>

#include "fuzz.hpp"
#include "sg/text.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view rest = fuzz::as_text(data, size);
  std::string_view content_type = fuzz::take_line(rest);
  std::string_view field = fuzz::take_line(rest);
  std::string_view body = rest;

  std::string value = "unchanged";
  bool found = sg::multipart_field(body, content_type, field, value);
  if (found) {
    // The value is a part of the body, and the body names the field.
    FUZZ_CHECK(body.find(value) != std::string_view::npos);
    FUZZ_CHECK(body.find("name=\"" + std::string(field) + "\"") != std::string_view::npos);
    FUZZ_CHECK(value.size() < body.size());
  } else {
    FUZZ_CHECK(value == "unchanged");
  }
  // No boundary parameter, no parts.
  bool any_boundary = false;
  for (std::size_t i = 0; i + 9 <= content_type.size() && !any_boundary; ++i) {
    any_boundary = sg::iequals(content_type.substr(i, 9), "boundary=");
  }
  if (!any_boundary) FUZZ_CHECK(!found);
  return 0;
}
