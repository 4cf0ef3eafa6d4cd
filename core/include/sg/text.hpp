// Escaping and form decoding: every value that reaches HTML, JSON or a URL goes through here.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sg {

std::string html_escape(std::string_view text);
std::string json_escape(std::string_view text);  // without the surrounding quotes
std::string url_encode(std::string_view text);
std::string url_decode(std::string_view text);  // '+' is a space, bad escapes kept verbatim
std::string percent_decode(std::string_view text);  // %XX only, '+' stays (PHP's cookie decoding)

// application/x-www-form-urlencoded body or query string.
std::vector<std::pair<std::string, std::string>> parse_form(std::string_view body);

// First value of a field in a multipart/form-data body; the boundary comes from Content-Type.
bool multipart_field(std::string_view body, std::string_view content_type, std::string_view field,
                     std::string& value);

// UTF-8 as RFC 3629 defines it: no overlong forms, no surrogates, nothing past U+10FFFF.
bool utf8_valid(std::string_view text);
// `text` made fit for a utf8mb4 column of `max_bytes` bytes: MariaDB rejects the whole
// statement for one invalid byte, and a column cut inside a character is invalid too. Each
// maximal ill-formed subpart becomes one U+FFFD (Unicode's recommended practice, as browsers
// decode), and a character that would not fit whole is left out, never cut.
std::string utf8_sanitize(std::string_view text, std::size_t max_bytes = std::string_view::npos);

std::string to_lower(std::string_view text);
bool iequals(std::string_view a, std::string_view b);
std::string_view trim(std::string_view text);

}  // namespace sg
