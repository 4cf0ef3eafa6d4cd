// HTML writing for the admin pages. Every dynamic value goes through h(); pages contain no
// inline script or style (the CSP forbids both), only /static/admin.{css,js}.
#pragma once
#include <initializer_list>
#include <string>
#include <string_view>

#include "sg/types.hpp"

namespace sg::admin {

std::string h(std::string_view text);  // HTML-escaped, safe in text and quoted attributes
std::string format_time(Micros micros);  // "2026-11-23 16:04:05" (UTC), "-" for 0
std::string format_iso(Micros micros);   // "2026-11-23T16:04:05Z", "" for 0
std::string format_duration(Micros micros);  // "2h 05m", "3m 07s", "12s"
std::string format_count(std::uint64_t n);   // "1,000,000"

// A column heading of a list; `optional` columns are the first to go on a narrow screen.
struct Heading {
  const char* label;
  bool optional = false;
};
// A list's table up to its body: "<div class=table-wrap><table>", the caption (for screen
// readers), the headings, and "<tbody>" (with `body_id` for the refreshing script).
std::string table_start(std::string_view caption, std::initializer_list<Heading> headings, std::string_view body_id = "");
// The one row a list shows when nothing matches.
std::string empty_row(int columns, std::string_view text);

struct PageFrame {
  std::string title;
  std::string prefix;  // "/session-guard"
  std::string active;  // "sessions", "users", "audit" or ""
  std::string user;    // signed-in admin, "" on error pages before authorisation
  int refresh_seconds = 0;  // the sessions page refreshes itself
  bool self_service = false;  // a user's own pages: no admin navigation, brand links to my-sessions
};

std::string page(const PageFrame& frame, std::string_view content);

extern const char* const kAdminCss;
extern const char* const kAdminJs;

// The Content-Security-Policy sent with every response.
extern const char* const kContentSecurityPolicy;

}  // namespace sg::admin
