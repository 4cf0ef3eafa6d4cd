// How the apps behind the module read a request: PHP, Perl CGI.pm / CGI::Cookie, and a
// strict RFC 6265 reader (what browsers and most frameworks do). Every way back in found so
// far came from the module reading a cookie, a form field or a path differently from the
// app, so the module never picks one reading: it takes the union of what any of these
// readers could see, judges every value, and treats disagreement as "cannot tell".
//
// Names, as each reader normalises them:
//   strict   cookie names trimmed of spaces and tabs, nothing decoded
//   PHP      leading whitespace dropped, %XX decoded (form names; cookie names before PHP 8),
//            cut at NUL, ' ' and '.' become '_', "name[...]" is an array, never a string
//   CGI.pm   %XX and '+' decoded; cookies split on ';' and ',', forms on '&' and ';'
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "sg/config.hpp"

namespace sg {

// True when some reader takes a field or cookie spelled `raw_name` to be `wanted`.
bool name_reads_as(std::string_view raw_name, std::string_view wanted);

// Every non-empty value any reader could take as cookie `name` from a Cookie header, each
// once, the plain reading first. Not only the first of a repeated name: readers disagree
// on which pair is "the" cookie once names are normalised.
std::vector<std::string> cookie_readings(std::string_view header, std::string_view name);

// True when every reader takes the same single value for cookie `name`, from a pair spelled
// exactly `name`: only then can the module be sure the app saw the session it is told ended.
bool cookie_read_alike(std::string_view header, std::string_view name);

// The Cookie header without any pair some reader could take as cookie `name` (pairs are
// dropped whole at ';', and with every ','-joined pair CGI.pm would split out of them).
std::string without_cookie(std::string_view header, std::string_view name);

// Every value any reader could take for field `name` in a query string or url-encoded body
// (split on '&' and on ';'), each once. Arrays ("name[]=") read as the marker kArrayValue.
inline constexpr std::string_view kArrayValue = "\x01[array]";
std::vector<std::string> form_readings(std::string_view encoded, std::string_view name);

// The same for a multipart/form-data body; `complete` is false when a part that could hold
// the field is cut off or the body cannot be parsed (then the readings are not all known).
std::vector<std::string> multipart_readings(std::string_view body, std::string_view content_type,
                                            std::string_view name, bool& complete);

// What the user field of a login says, read as every app family would.
struct FieldReading {
  enum class Kind { found, missing, ambiguous, unreadable };
  Kind kind = Kind::missing;
  std::string value;   // when found
  std::string detail;  // why not, for the error log
};
FieldReading read_login_field(std::string_view body, bool body_truncated, std::string_view content_type,
                              std::string_view query, std::string_view field);

// A logout or login target against a request: the path itself or below it (PATH_INFO: PHP
// and CGI both run the script for /login.php/x), with each required query parameter read by
// every reader. `ambiguous`: some reader sees the parameter and another sees it differently.
enum class TargetMatch { no, yes, ambiguous };
TargetMatch match_target(const RequestTarget& target, std::string_view uri_path, std::string_view query);

// The required form fields of a target, in a request body (url-encoded or multipart).
TargetMatch match_form_fields(const std::vector<std::pair<std::string, std::string>>& required,
                              std::string_view body, bool body_truncated, std::string_view content_type);

}  // namespace sg

namespace sg {

// What the app answered, as far as login and logout rules look at it.
struct AppResponse {
  int status = 0;
  std::string_view location;                 // Location header, if any
  std::vector<std::string_view> set_cookies;   // every Set-Cookie header
  std::vector<std::string_view> header_names;  // every response header's name
  std::string_view body;                     // the start of the body, when a rule reads it
  bool body_complete = true;                 // false: the body was longer than what was kept
};

// A Set-Cookie that ends its cookie: an empty or "deleted" value, or Max-Age <= 0.
bool set_cookie_clears(std::string_view set_cookie);

enum class Confirmation { yes, no, unknown };  // unknown: a body rule could not see the whole body
// Every check must hold; `target` is the login or logout URL a redirect must lead away from.
Confirmation response_confirms(const std::vector<ResponseCheck>& checks, const RequestTarget& target,
                               const AppResponse& response);
bool reads_body(const std::vector<ResponseCheck>& checks);

// The values a response gives the configured cookies, in the order of the SessionGuardCookie
// lines: the last Set-Cookie of each name, as the browser keeps it; deletions are not values.
struct IssuedCookie {
  const CookieSpec* spec = nullptr;
  std::string value;
};
std::vector<IssuedCookie> cookies_issued(const AppResponse& response, const std::vector<CookieSpec>& cookies);

}  // namespace sg
