// Cookie header parsing as browsers send it (RFC 6265 section 5.4), tolerant of what legacy clients send.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sg {

using CookiePair = std::pair<std::string_view, std::string_view>;

// Views into `header`; empty names are skipped, surrounding DQUOTEs are removed.
std::vector<CookiePair> parse_cookie_header(std::string_view header);

// First cookie of that name: PHP and CGI.pm both use the first when a name repeats,
// so the guard must judge the same value the app will use.
std::optional<std::string_view> find_cookie(std::string_view header, std::string_view name);

// Value of cookie `name` set by one Set-Cookie header, if that header sets it.
std::optional<std::string_view> set_cookie_value(std::string_view set_cookie, std::string_view name);

}  // namespace sg
