#include "sg/cookie.hpp"

#include "sg/text.hpp"

namespace sg {

namespace {
std::string_view unquote(std::string_view value) {
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"') return value.substr(1, value.size() - 2);
  return value;
}
}  // namespace

std::vector<CookiePair> parse_cookie_header(std::string_view header) {
  std::vector<CookiePair> cookies;
  while (!header.empty()) {
    std::size_t semi = header.find(';');
    std::string_view part = trim(header.substr(0, semi));
    header = semi == std::string_view::npos ? std::string_view{} : header.substr(semi + 1);
    std::size_t eq = part.find('=');
    // A pair without '=' is a nameless value in browsers; no app session lives there.
    if (eq == std::string_view::npos) continue;
    std::string_view name = trim(part.substr(0, eq));
    if (name.empty()) continue;
    cookies.emplace_back(name, unquote(trim(part.substr(eq + 1))));
  }
  return cookies;
}

std::optional<std::string_view> find_cookie(std::string_view header, std::string_view name) {
  for (const auto& [cookie_name, value] : parse_cookie_header(header)) {
    if (cookie_name == name) return value;
  }
  return std::nullopt;
}

std::optional<std::string_view> set_cookie_value(std::string_view set_cookie, std::string_view name) {
  std::string_view first = trim(set_cookie.substr(0, set_cookie.find(';')));
  std::size_t eq = first.find('=');
  if (eq == std::string_view::npos || trim(first.substr(0, eq)) != name) return std::nullopt;
  return unquote(trim(first.substr(eq + 1)));
}

}  // namespace sg
