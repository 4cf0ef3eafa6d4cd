#include "sg/app_reader.hpp"

#include <algorithm>
#include <cctype>
#include <optional>

#include "sg/text.hpp"

namespace sg {

namespace {

enum class NameMatch { none, string, array };

// A field sent with no value ("user=") is a reading too: "user=&user=bob" is two answers.
constexpr std::string_view kEmptyValue = "\x01[empty]";

bool php_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

std::string_view ltrim_space(std::string_view text) {
  while (!text.empty() && php_space(text.front())) text.remove_prefix(1);
  return text;
}

// PHP's php_register_variable_ex: leading spaces dropped, C string (cut at NUL), ' ' and
// '.' become '_', and "name[...]" makes an array; a '[' with no ']' becomes '_'.
NameMatch php_name_match(std::string_view name, std::string_view wanted) {
  name = ltrim_space(name);
  name = name.substr(0, name.find('\0'));
  std::string mangled;
  mangled.reserve(name.size());
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (c == '[') {
      if (name.find(']', i + 1) != std::string_view::npos) {
        return mangled == wanted ? NameMatch::array : NameMatch::none;
      }
      mangled.push_back('_');
      mangled.append(name.substr(i + 1));
      break;
    }
    mangled.push_back(c == ' ' || c == '.' ? '_' : c);
  }
  return mangled == wanted ? NameMatch::string : NameMatch::none;
}

void append_utf8(std::string& out, std::uint32_t code) {
  if (code < 0x80) {
    out.push_back(static_cast<char>(code));
  } else if (code < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (code >> 6)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
  } else if (code < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (code >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (code >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
  }
}

std::optional<std::uint32_t> hex_at(std::string_view text, std::size_t at, std::size_t digits) {
  if (at + digits > text.size()) return std::nullopt;
  std::uint32_t value = 0;
  for (std::size_t i = at; i < at + digits; ++i) {
    char c = text[i];
    if (!std::isxdigit(static_cast<unsigned char>(c))) return std::nullopt;
    value = value * 16 + static_cast<std::uint32_t>(std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : (c | 0x20) - 'a' + 10);
  }
  return value;
}

// CGI::Util::unescape, which CGI.pm and CGI::Cookie use for names and values alike: '+' is
// a space, %XX a byte, and the non-standard %uXXXX a character written as UTF-8 (surrogate
// pairs joined).
std::string cgi_unescape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+') {
      out.push_back(' ');
      continue;
    }
    if (c == '%' && i + 1 < text.size() && text[i + 1] == 'u') {
      if (auto high = hex_at(text, i + 2, 4)) {
        if (*high >= 0xD800 && *high <= 0xDBFF && i + 7 < text.size() && text[i + 6] == '%' && text[i + 7] == 'u') {
          if (auto low = hex_at(text, i + 8, 4); low && *low >= 0xDC00 && *low <= 0xDFFF) {
            append_utf8(out, 0x10000 + (*high - 0xD800) * 0x400 + (*low - 0xDC00));
            i += 11;
            continue;
          }
        }
        append_utf8(out, *high);
        i += 5;
        continue;
      }
    }
    if (c == '%') {
      if (auto byte = hex_at(text, i + 1, 2)) {
        out.push_back(static_cast<char>(*byte));
        i += 2;
        continue;
      }
    }
    out.push_back(c);
  }
  return out;
}

NameMatch name_match(std::string_view raw, std::string_view wanted) {
  if (raw == wanted || trim(raw) == wanted) return NameMatch::string;
  // Only a name with something to decode, trim or mangle can read differently: the common
  // case (an unrelated cookie or field) costs a comparison or two and no allocation.
  static constexpr char kSpecial[] = "%+.[ \t\r\n\v\f";  // and NUL, the array's own last byte
  if (raw.find_first_of(std::string_view(kSpecial, sizeof kSpecial)) == std::string_view::npos) {
    return NameMatch::none;
  }
  std::string_view rest = ltrim_space(raw);
  if (url_decode(rest) == wanted || trim(url_decode(raw)) == wanted || cgi_unescape(raw) == wanted ||
      cgi_unescape(rest) == wanted) {
    return NameMatch::string;
  }
  NameMatch php = php_name_match(raw, wanted);
  if (php != NameMatch::none) return php;
  return php_name_match(url_decode(raw), wanted);
}

std::string_view unquote(std::string_view value) {
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"') return value.substr(1, value.size() - 2);
  return value;
}

class Readings {
 public:
  void add(std::string_view value) {
    if (value.empty()) return;
    for (const auto& known : values_) {
      if (known == value) return;
    }
    values_.emplace_back(value);
  }
  std::vector<std::string> take() { return std::move(values_); }

 private:
  std::vector<std::string> values_;
};

// Calls visit(name, value, has_equals) for each piece of `text` between separators.
template <typename Visit>
void split_pairs(std::string_view text, std::string_view separators, Visit&& visit) {
  while (true) {
    std::size_t end = text.find_first_of(separators);
    std::string_view part = text.substr(0, end);
    std::size_t eq = part.find('=');
    if (eq == std::string_view::npos) visit(part, std::string_view(), false);
    else visit(part.substr(0, eq), part.substr(eq + 1), true);
    if (end == std::string_view::npos) break;
    text = text.substr(end + 1);
  }
}

std::string media_type(std::string_view content_type) {
  return to_lower(trim(content_type.substr(0, content_type.find(';'))));
}

// The multipart boundary as PHP's rfc1867.c finds it: "boundary" case-sensitively, else in
// any case; after '=', a quoted value or up to ',' or ';'.
std::string php_boundary(std::string_view content_type) {
  std::size_t at = content_type.find("boundary");
  if (at == std::string_view::npos) at = to_lower(content_type).find("boundary");
  if (at == std::string_view::npos) return {};
  std::size_t eq = content_type.find('=', at);
  if (eq == std::string_view::npos) return {};
  std::string_view value = content_type.substr(eq + 1);
  if (!value.empty() && value.front() == '"') {
    std::size_t end = value.find('"', 1);
    return end == std::string_view::npos ? std::string() : std::string(value.substr(1, end - 1));
  }
  return std::string(value.substr(0, value.find_first_of(",;")));
}

// CGI.pm: /boundary=\"?([^\";,]+)\"?/, case-sensitive.
std::string cgi_boundary(std::string_view content_type) {
  std::size_t at = content_type.find("boundary=");
  if (at == std::string_view::npos) return {};
  std::string_view value = content_type.substr(at + 9);
  if (!value.empty() && value.front() == '"') value.remove_prefix(1);
  return std::string(value.substr(0, value.find_first_of("\";,")));
}

// The one boundary every reader agrees on, or nothing: two readers splitting the body at
// different boundaries read different fields.
std::string boundary_of(std::string_view content_type) {
  std::string php = php_boundary(content_type);
  if (php.empty() || php != cgi_boundary(content_type)) return {};
  return php;
}

// Every name a Content-Disposition line gives its part, quoted or not (PHP reads both;
// CGI.pm reads the quoted one).
std::vector<std::string> disposition_names(std::string_view headers) {
  // Over the whole header block, not one line: PHP joins folded lines and takes the last
  // name=, CGI.pm the first; every one found is a reading.
  std::vector<std::string> names;
  std::string lower = to_lower(headers);
  for (std::size_t at = lower.find("name"); at != std::string::npos; at = lower.find("name", at + 4)) {
    bool separated = at > 0 && (php_space(headers[at - 1]) || headers[at - 1] == ';');
    std::size_t eq = at + 4;
    while (eq < headers.size() && (headers[eq] == ' ' || headers[eq] == '\t')) ++eq;
    if (!separated || eq >= headers.size() || headers[eq] != '=') continue;
    std::string_view value = ltrim_space(headers.substr(eq + 1));
    if (!value.empty() && value.front() == '"') {
      std::size_t end = value.find('"', 1);
      std::string_view quoted = value.substr(1, end == std::string_view::npos ? std::string_view::npos : end - 1);
      names.emplace_back(quoted);
      std::string unescaped;  // PHP reads backslash escapes inside the quotes
      for (std::size_t i = 1; i < value.size() && value[i] != '"'; ++i) {
        if (value[i] == '\\' && i + 1 < value.size()) ++i;
        unescaped.push_back(value[i]);
      }
      names.push_back(std::move(unescaped));
    } else {
      names.emplace_back(trim(value.substr(0, value.find_first_of(";\r\n"))));
    }
  }
  return names;
}

}  // namespace

bool name_reads_as(std::string_view raw_name, std::string_view wanted) {
  return name_match(raw_name, wanted) != NameMatch::none;
}

std::vector<std::string> cookie_readings(std::string_view header, std::string_view name) {
  Readings readings;
  // PHP and RFC 6265 readers: pairs end at ';' only, values are taken whole.
  split_pairs(header, ";", [&](std::string_view raw_name, std::string_view value, bool has_equals) {
    if (!has_equals || name_match(raw_name, name) != NameMatch::string) return;
    std::string_view trimmed = trim(value);
    readings.add(unquote(trimmed));
    readings.add(trimmed);
    readings.add(value);
    if (value.find('%') != std::string_view::npos) {
      readings.add(percent_decode(unquote(trimmed)));
      readings.add(percent_decode(trimmed));
      readings.add(percent_decode(value));
    }
  });
  // CGI::Cookie: pairs also end at ',', a value ends at '&', '+' is a space, %uXXXX decoded.
  if (header.find_first_of(",&+%") != std::string_view::npos) {
    split_pairs(header, ";,", [&](std::string_view raw_name, std::string_view value, bool has_equals) {
      if (!has_equals || name_match(raw_name, name) != NameMatch::string) return;
      std::string_view trimmed = trim(value);
      readings.add(cgi_unescape(trimmed.substr(0, trimmed.find_first_of("&;"))));
      readings.add(url_decode(trimmed.substr(0, trimmed.find('&'))));
      readings.add(url_decode(unquote(trimmed)));
      readings.add(url_decode(trimmed));
    });
  }
  return readings.take();
}

bool cookie_read_alike(std::string_view header, std::string_view name) {
  std::vector<std::string> readings = cookie_readings(header, name);
  if (readings.size() != 1) return false;
  bool exact = false;
  split_pairs(header, ";", [&](std::string_view raw_name, std::string_view value, bool has_equals) {
    if (has_equals && ltrim_space(raw_name) == name && trim(value) == readings.front()) exact = true;
  });
  return exact;
}

std::string without_cookie(std::string_view header, std::string_view name) {
  std::string kept;
  split_pairs(header, ";", [&](std::string_view raw_name, std::string_view value, bool has_equals) {
    std::string_view piece = has_equals ? std::string_view(raw_name.data(), raw_name.size() + 1 + value.size()) : raw_name;
    bool read_as_name = has_equals && name_match(raw_name, name) != NameMatch::none;
    split_pairs(piece, ",", [&](std::string_view sub_name, std::string_view, bool sub_equals) {
      if (sub_equals && name_match(sub_name, name) != NameMatch::none) read_as_name = true;
    });
    if (read_as_name || trim(piece).empty()) return;
    if (!kept.empty()) kept += ";";
    kept.append(piece.data(), piece.size());
  });
  return std::string(trim(kept));
}

std::vector<std::string> form_readings(std::string_view encoded, std::string_view name) {
  Readings readings;
  auto visit = [&](std::string_view raw_name, std::string_view value, bool) {
    switch (name_match(raw_name, name)) {
      case NameMatch::none:
        return;
      case NameMatch::array:
        readings.add(kArrayValue);
        return;
      case NameMatch::string:
        // An empty value is a reading too: "user=&user=bob" is two different answers.
        readings.add(value.empty() ? kEmptyValue : std::string_view());
        if (!value.empty()) {
          readings.add(url_decode(value));
          readings.add(cgi_unescape(value));  // differs only with %uXXXX: then it is ambiguous
        }
        return;
    }
  };
  if (encoded.empty()) return {};
  split_pairs(encoded, "&", visit);   // PHP
  split_pairs(encoded, "&;", visit);  // CGI.pm
  return readings.take();
}

std::vector<std::string> multipart_readings(std::string_view body, std::string_view content_type,
                                            std::string_view name, bool& complete) {
  Readings readings;
  complete = false;
  std::string boundary = boundary_of(content_type);
  if (boundary.empty()) return {};
  const std::string delimiter = "--" + boundary;
  std::size_t pos = body.find(delimiter);
  while (pos != std::string_view::npos) {
    pos += delimiter.size();
    if (body.substr(pos, 2) == "--") {
      complete = true;
      break;
    }
    std::size_t crlf = body.find("\r\n\r\n", pos);
    std::size_t lf = body.find("\n\n", pos);
    std::size_t headers_end = std::min(crlf, lf);
    if (headers_end == std::string_view::npos) break;
    std::size_t content = headers_end + (headers_end == crlf ? 4 : 2);
    // A delimiter counts only at the start of a line, as in PHP's and CGI.pm's parsers.
    std::size_t next = body.find("\n" + delimiter, content > 0 ? content - 1 : 0);
    if (next == std::string_view::npos) break;  // cut off: the rest is unknown
    std::string_view value = next < content ? std::string_view() : body.substr(content, next - content);
    if (!value.empty() && value.back() == '\r') value.remove_suffix(1);
    ++next;
    for (const auto& part_name : disposition_names(body.substr(pos, headers_end - pos))) {
      NameMatch match = name_match(part_name, name);
      if (match == NameMatch::array) readings.add(kArrayValue);
      else if (match == NameMatch::string) readings.add(value.empty() ? kEmptyValue : value);
    }
    pos = next;
  }
  return readings.take();
}

FieldReading read_login_field(std::string_view body, bool body_truncated, std::string_view content_type,
                              std::string_view query, std::string_view field) {
  FieldReading result;
  std::vector<std::string> readings = form_readings(query, field);  // PHP's $_REQUEST has them too
  std::string media = media_type(content_type);
  auto unreadable = [&](std::string why) {
    result.kind = FieldReading::Kind::unreadable;
    result.detail = std::move(why);
    return result;
  };
  if (media == "multipart/form-data") {
    bool complete = false;
    for (auto& value : multipart_readings(body, content_type, field, complete)) readings.push_back(std::move(value));
    if (!complete || body_truncated) return unreadable("the multipart body is longer than the module reads or malformed");
  } else if (media.empty() || media == "application/x-www-form-urlencoded") {
    if (body_truncated) return unreadable("the body is longer than the module reads");
    for (auto& value : form_readings(body, field)) readings.push_back(std::move(value));
  } else {
    return unreadable("the body is " + media + ", not a form");
  }
  std::sort(readings.begin(), readings.end());
  readings.erase(std::unique(readings.begin(), readings.end()), readings.end());
  if (std::find(readings.begin(), readings.end(), std::string(kArrayValue)) != readings.end()) {
    return unreadable("the field is sent as an array");
  }
  if (readings.empty()) {
    result.detail = "the field is not in the request";
    return result;
  }
  if (readings.size() > 1) {
    result.kind = FieldReading::Kind::ambiguous;
    result.detail = "the field is sent " + std::to_string(readings.size()) + " times with different values";
    return result;
  }
  if (readings.front() == kEmptyValue) {
    result.detail = "the field is empty";
    return result;
  }
  result.kind = FieldReading::Kind::found;
  result.value = std::move(readings.front());
  return result;
}

namespace {
TargetMatch combine(TargetMatch a, TargetMatch b) {
  if (a == TargetMatch::no || b == TargetMatch::no) return TargetMatch::no;
  if (a == TargetMatch::ambiguous || b == TargetMatch::ambiguous) return TargetMatch::ambiguous;
  return TargetMatch::yes;
}

TargetMatch match_readings(const std::vector<std::string>& readings, std::string_view wanted) {
  bool any = false;
  bool all = true;
  for (const auto& value : readings) {
    if (value == wanted || (wanted.empty() && value == kEmptyValue)) any = true;
    else all = false;
  }
  if (!any) return TargetMatch::no;
  return all ? TargetMatch::yes : TargetMatch::ambiguous;
}
}  // namespace

TargetMatch match_target(const RequestTarget& target, std::string_view uri_path, std::string_view query) {
  bool path_ok = uri_path == target.path ||
                 (target.path.back() != '/' && uri_path.size() > target.path.size() &&
                  uri_path.compare(0, target.path.size(), target.path) == 0 && uri_path[target.path.size()] == '/');
  if (!path_ok) return TargetMatch::no;
  TargetMatch result = TargetMatch::yes;
  for (const auto& [name, value] : target.query) {
    result = combine(result, match_readings(form_readings(query, name), value));
  }
  return result;
}

TargetMatch match_form_fields(const std::vector<std::pair<std::string, std::string>>& required,
                              std::string_view body, bool body_truncated, std::string_view content_type) {
  TargetMatch result = TargetMatch::yes;
  std::string media = media_type(content_type);
  for (const auto& [name, value] : required) {
    std::vector<std::string> readings;
    bool complete = !body_truncated;
    if (media == "multipart/form-data") {
      bool parsed = false;
      readings = multipart_readings(body, content_type, name, parsed);
      complete = complete && parsed;
    } else if (media.empty() || media == "application/x-www-form-urlencoded") {
      readings = form_readings(body, name);
    } else {
      return TargetMatch::no;
    }
    TargetMatch field = match_readings(readings, value);
    if (field == TargetMatch::yes && !complete) field = TargetMatch::ambiguous;
    result = combine(result, field);
  }
  return result;
}

}  // namespace sg

namespace sg {

bool set_cookie_clears(std::string_view set_cookie) {
  std::size_t semi = set_cookie.find(';');
  std::string_view first = trim(set_cookie.substr(0, semi));
  std::size_t eq = first.find('=');
  std::string_view value = eq == std::string_view::npos ? std::string_view() : unquote(trim(first.substr(eq + 1)));
  if (value.empty() || value == "deleted") return true;
  std::string attributes = semi == std::string_view::npos ? std::string() : to_lower(set_cookie.substr(semi));
  std::size_t at = attributes.find("max-age=");
  if (at == std::string::npos) return false;
  std::string_view age = trim(std::string_view(attributes).substr(at + 8));
  return !age.empty() && (age.front() == '-' || age.front() == '0');
}

namespace {
bool redirects_away(const RequestTarget& target, const AppResponse& response) {
  if (response.status < 300 || response.status > 399 || response.location.empty()) return false;
  std::string_view location = response.location;
  if (auto scheme = location.find("://"); scheme != std::string_view::npos) {
    auto path = location.find('/', scheme + 3);
    location = path == std::string_view::npos ? std::string_view("/") : location.substr(path);
  }
  location = location.substr(0, location.find('#'));
  std::size_t q = location.find('?');
  std::string_view path = location.substr(0, q);
  std::string_view query = q == std::string_view::npos ? std::string_view() : location.substr(q + 1);
  // Back to the login page itself (with ?error=1, say) is how apps answer a failure.
  return match_target(target, path, query) == TargetMatch::no;
}

bool sets_cookie(const AppResponse& response, std::string_view name, bool clearing) {
  for (std::string_view header : response.set_cookies) {
    std::string_view first = trim(header.substr(0, header.find(';')));
    std::size_t eq = first.find('=');
    if (eq == std::string_view::npos || trim(first.substr(0, eq)) != name) continue;
    if (set_cookie_clears(header) == clearing) return true;
  }
  return false;
}
}  // namespace

bool reads_body(const std::vector<ResponseCheck>& checks) {
  return std::any_of(checks.begin(), checks.end(), [](const ResponseCheck& c) {
    return c.kind == ResponseCheck::Kind::body_has || c.kind == ResponseCheck::Kind::body_lacks;
  });
}

Confirmation response_confirms(const std::vector<ResponseCheck>& checks, const RequestTarget& target,
                               const AppResponse& response) {
  bool unknown = false;
  for (const auto& check : checks) {
    bool holds = false;
    bool cannot_tell = false;
    switch (check.kind) {
      case ResponseCheck::Kind::redirect_away:
        holds = redirects_away(target, response);
        break;
      case ResponseCheck::Kind::status:
        holds = response.status == check.status;
        break;
      case ResponseCheck::Kind::header:
        holds = std::any_of(response.header_names.begin(), response.header_names.end(),
                            [&](std::string_view name) { return iequals(name, check.text); });
        break;
      case ResponseCheck::Kind::body_has:
        holds = response.body.find(check.text) != std::string_view::npos;
        cannot_tell = !holds && !response.body_complete;
        break;
      case ResponseCheck::Kind::body_lacks:
        holds = response.body.find(check.text) == std::string_view::npos;
        if (holds && !response.body_complete) {
          cannot_tell = true;
          holds = false;
        }
        break;
      case ResponseCheck::Kind::sets_cookie:
        holds = sets_cookie(response, check.text, false);
        break;
      case ResponseCheck::Kind::clears_cookie:
        holds = sets_cookie(response, check.text, true);
        break;
    }
    if (!holds && !cannot_tell) return Confirmation::no;
    if (cannot_tell) unknown = true;
  }
  return unknown ? Confirmation::unknown : Confirmation::yes;
}

std::vector<IssuedCookie> cookies_issued(const AppResponse& response, const std::vector<CookieSpec>& cookies) {
  std::vector<IssuedCookie> issued;
  for (const auto& spec : cookies) {
    std::optional<std::string> last;
    for (std::string_view header : response.set_cookies) {
      std::string_view first = trim(header.substr(0, header.find(';')));
      std::size_t eq = first.find('=');
      if (eq == std::string_view::npos || trim(first.substr(0, eq)) != spec.name) continue;
      if (set_cookie_clears(header)) last.reset();
      else last = std::string(unquote(trim(first.substr(eq + 1))));
    }
    if (last) issued.push_back(IssuedCookie{&spec, std::move(*last)});
  }
  return issued;
}

}  // namespace sg
