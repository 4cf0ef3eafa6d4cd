// How the apps' readers see a request (core/app_reader): login fields in url-encoded and
// multipart bodies, targets with query parameters, form fields, and response rules.
// Input lines: field name, Content-Type, query string, then the body.
#include <algorithm>
#include <string>

#include "fuzz.hpp"
#include "sg/app_reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view rest = fuzz::as_text(data, size);
  std::string_view field = fuzz::take_line(rest);
  std::string_view content_type = fuzz::take_line(rest);
  std::string_view query = fuzz::take_line(rest);
  std::string_view body = rest;

  sg::FieldReading reading = sg::read_login_field(body, false, content_type, query, field);
  if (reading.kind == sg::FieldReading::Kind::found) {
    FUZZ_CHECK(!reading.value.empty());
    FUZZ_CHECK(reading.value != sg::kArrayValue);
    // Found means every reader agrees: the query's own readings are that value or none.
    for (const auto& value : sg::form_readings(query, field)) FUZZ_CHECK(value == reading.value);
  } else {
    FUZZ_CHECK(reading.value.empty());
    FUZZ_CHECK(!reading.detail.empty());
  }
  // A body the module could not read whole is never "found".
  FUZZ_CHECK(sg::read_login_field(body, true, content_type, query, field).kind != sg::FieldReading::Kind::found);

  for (const auto& value : sg::form_readings(body, field)) FUZZ_CHECK(!value.empty());
  bool complete = false;
  for (const auto& value : sg::multipart_readings(body, content_type, field, complete)) FUZZ_CHECK(!value.empty());

  sg::RequestTarget target{"/login.php", {{std::string(field), std::string(query.substr(0, 8))}}};
  if (!field.empty()) {
    sg::TargetMatch match = sg::match_target(target, "/login.php", query);
    auto readings = sg::form_readings(query, field);
    if (match == sg::TargetMatch::yes) FUZZ_CHECK(!readings.empty());
    FUZZ_CHECK(sg::match_target(target, "/other.php", query) == sg::TargetMatch::no);
    sg::FormFields required{{std::string(field), std::string(query.substr(0, 8))}};
    FUZZ_CHECK(sg::match_form_fields(required, body, true, content_type) != sg::TargetMatch::yes);
  }

  sg::AppResponse response;
  response.status = 200;
  response.body = body;
  response.location = query;
  response.set_cookies = {content_type};
  std::vector<sg::ResponseCheck> checks{{sg::ResponseCheck::Kind::body_lacks, 0, std::string(field)},
                                        {sg::ResponseCheck::Kind::redirect_away, 0, ""}};
  FUZZ_CHECK(sg::response_confirms(checks, target, response) == sg::Confirmation::no);  // a 200 is no redirect
  response.body_complete = false;
  checks.pop_back();
  FUZZ_CHECK(sg::response_confirms(checks, target, response) != sg::Confirmation::yes);
  (void)sg::set_cookie_clears(content_type);
  return 0;
}
