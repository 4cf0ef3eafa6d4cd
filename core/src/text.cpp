#include "sg/text.hpp"

#include <algorithm>
#include <cctype>

namespace sg {

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

std::string json_escape(std::string_view text) {
  static const char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        // '<' and '>' escaped too, so JSON embedded in a page can never close a tag.
        if (c < 0x20 || c == '<' || c == '>' || c == '&') {
          out += "\\u00";
          out.push_back(hex[c >> 4]);
          out.push_back(hex[c & 15]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  return out;
}

std::string url_encode(std::string_view text) {
  static const char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

namespace {
std::string decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else if (c == '%' && i + 2 < text.size() && std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      auto nibble = [](char h) { return std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : (h | 0x20) - 'a' + 10; };
      out.push_back(static_cast<char>(nibble(text[i + 1]) << 4 | nibble(text[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

std::string url_decode(std::string_view text) { return decode(text, true); }
std::string percent_decode(std::string_view text) { return decode(text, false); }

std::vector<std::pair<std::string, std::string>> parse_form(std::string_view body) {
  std::vector<std::pair<std::string, std::string>> fields;
  while (!body.empty()) {
    std::size_t amp = body.find('&');
    std::string_view part = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view{} : body.substr(amp + 1);
    if (part.empty()) continue;
    std::size_t eq = part.find('=');
    if (eq == std::string_view::npos) {
      fields.emplace_back(url_decode(part), std::string{});
    } else {
      fields.emplace_back(url_decode(part.substr(0, eq)), url_decode(part.substr(eq + 1)));
    }
  }
  return fields;
}

namespace {
std::string content_type_param(std::string_view content_type, std::string_view param) {
  std::size_t pos = 0;
  while ((pos = content_type.find(';', pos)) != std::string_view::npos) {
    ++pos;
    std::string_view rest = trim(content_type.substr(pos));
    if (rest.size() > param.size() && iequals(rest.substr(0, param.size()), param) && rest[param.size()] == '=') {
      std::string_view value = rest.substr(param.size() + 1);
      value = value.substr(0, value.find(';'));
      value = trim(value);
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
      return std::string(value);
    }
  }
  return {};
}
}  // namespace

bool multipart_field(std::string_view body, std::string_view content_type, std::string_view field,
                     std::string& value) {
  std::string boundary = content_type_param(content_type, "boundary");
  if (boundary.empty()) return false;
  const std::string delimiter = "--" + boundary;
  std::size_t pos = body.find(delimiter);
  while (pos != std::string_view::npos) {
    pos += delimiter.size();
    if (body.substr(pos, 2) == "--") return false;  // closing delimiter
    std::size_t headers_end = body.find("\r\n\r\n", pos);
    if (headers_end == std::string_view::npos) return false;
    std::string_view headers = body.substr(pos, headers_end - pos);
    std::size_t next = body.find("\r\n" + delimiter, headers_end + 4);
    if (next == std::string_view::npos) return false;  // part truncated by the read limit
    std::string wanted = "name=\"" + std::string(field) + "\"";
    std::string lower_headers = to_lower(headers);
    std::size_t disposition = lower_headers.find("content-disposition:");
    if (disposition != std::string::npos) {
      std::size_t line_end = headers.find("\r\n", disposition);
      std::string_view line = headers.substr(disposition, line_end == std::string_view::npos ? line_end : line_end - disposition);
      std::size_t at = line.find(wanted);
      // "filename=" also ends in name=: require a separator before it.
      if (at != std::string_view::npos && at > 0 && (line[at - 1] == ' ' || line[at - 1] == ';')) {
        value = std::string(body.substr(headers_end + 4, next - headers_end - 4));
        return true;
      }
    }
    pos = next + 2;
  }
  return false;
}

std::string to_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

}  // namespace sg

namespace sg {

namespace {
// The length of the well-formed character at text[i] (Unicode table 3-7), or 0 with `bad`
// set to the length of the ill-formed subpart that starts there (at least 1).
std::size_t utf8_char(std::string_view text, std::size_t i, std::size_t& bad) {
  const auto c = static_cast<unsigned char>(text[i]);
  if (c < 0x80) return 1;
  std::size_t trail;
  unsigned char low = 0x80, high = 0xBF;  // the range of the first trail byte
  if (c >= 0xC2 && c <= 0xDF) {
    trail = 1;
  } else if (c == 0xE0) {
    trail = 2, low = 0xA0;  // below: overlong
  } else if (c == 0xED) {
    trail = 2, high = 0x9F;  // above: UTF-16 surrogates
  } else if (c >= 0xE1 && c <= 0xEF) {
    trail = 2;
  } else if (c == 0xF0) {
    trail = 3, low = 0x90;  // below: overlong
  } else if (c == 0xF4) {
    trail = 3, high = 0x8F;  // above: past U+10FFFF
  } else if (c >= 0xF1 && c <= 0xF3) {
    trail = 3;
  } else {
    bad = 1;  // a stray trail byte, C0/C1 (always overlong) or F5..FF
    return 0;
  }
  for (std::size_t k = 1; k <= trail; ++k) {
    if (i + k >= text.size()) {
      bad = k;
      return 0;
    }
    const auto b = static_cast<unsigned char>(text[i + k]);
    if (b < (k == 1 ? low : 0x80) || b > (k == 1 ? high : 0xBF)) {
      bad = k;
      return 0;
    }
  }
  return trail + 1;
}
}  // namespace

bool utf8_valid(std::string_view text) {
  std::size_t bad = 0;
  for (std::size_t i = 0; i < text.size();) {
    std::size_t n = utf8_char(text, i, bad);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string utf8_sanitize(std::string_view text, std::size_t max_bytes) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(std::min(text.size(), max_bytes));
  for (std::size_t i = 0; i < text.size();) {
    std::size_t bad = 0;
    std::size_t n = utf8_char(text, i, bad);
    std::string_view piece = n != 0 ? text.substr(i, n) : kReplacement;
    if (out.size() + piece.size() > max_bytes) break;
    out += piece;
    i += n != 0 ? n : bad;
  }
  return out;
}

}  // namespace sg
