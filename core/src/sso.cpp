#include "sg/sso.hpp"

#include <cstdint>
#include <vector>

#include "sg/fingerprint.hpp"
#include "sg/text.hpp"

namespace sg {

namespace {
std::string tagged_digest(std::string_view tag, std::string_view value) {
  // SHA-256 of "sso=" tag "\n" value: the tag keeps a sid and a ticket of the same text apart.
  std::string input;
  input.reserve(tag.size() + 1 + value.size());
  input.append(tag).append("\n").append(value);
  return session_fingerprint("sso", input).hex();
}

bool ticket_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '-';
}

bool name_char(char c) { return ticket_char(c) || c == ':'; }

std::string_view local_name(std::string_view qname) {
  std::size_t colon = qname.find(':');
  return colon == std::string_view::npos ? qname : qname.substr(colon + 1);
}
}  // namespace

std::string sso_key_oidc_sid(std::string_view sid) { return tagged_digest("oidc-sid", sid); }
std::string sso_key_cas_ticket(std::string_view ticket) { return tagged_digest("cas-ticket", ticket); }

bool valid_cas_ticket(std::string_view ticket) {
  if (ticket.size() < 4 || ticket.size() > 255) return false;
  if (ticket.substr(0, 3) != "ST-" && ticket.substr(0, 3) != "PT-") return false;
  for (char c : ticket) {
    if (!ticket_char(c)) return false;
  }
  return true;
}

std::string cas_ticket_from_query(std::string_view query) {
  for (const auto& [name, value] : parse_form(query)) {
    if (name == "ticket") return valid_cas_ticket(value) ? value : std::string();
  }
  return {};
}

std::optional<std::string> parse_cas_logout_request(std::string_view xml, std::string& error) {
  if (xml.size() > 16 * 1024) {
    error = "logoutRequest longer than 16 KiB";
    return std::nullopt;
  }
  if (xml.find('&') != std::string_view::npos) {
    error = "entity or character references are not accepted";
    return std::nullopt;
  }
  std::size_t pos = 0;
  auto skip_space = [&] {
    while (pos < xml.size() && (xml[pos] == ' ' || xml[pos] == '\t' || xml[pos] == '\r' || xml[pos] == '\n')) ++pos;
  };
  skip_space();
  if (xml.compare(pos, 5, "<?xml") == 0) {
    std::size_t end = xml.find("?>", pos);
    if (end == std::string_view::npos) {
      error = "unterminated XML declaration";
      return std::nullopt;
    }
    pos = end + 2;
  }
  std::vector<std::string_view> open;  // local names of the elements we are inside
  std::optional<std::string> ticket;
  bool root_seen = false;
  std::string text;  // character data of the innermost element
  while (true) {
    std::size_t lt = xml.find('<', pos);
    std::string_view chars = xml.substr(pos, lt == std::string_view::npos ? std::string_view::npos : lt - pos);
    if (open.empty() && !trim(chars).empty()) {
      error = "text outside the root element";
      return std::nullopt;
    }
    text.append(chars);
    if (lt == std::string_view::npos) break;
    if (lt + 1 >= xml.size()) {
      error = "document ends inside a tag";
      return std::nullopt;
    }
    char next = xml[lt + 1];
    if (next == '!' || next == '?') {
      error = next == '!' ? "DOCTYPE, comments and CDATA are not accepted" : "processing instructions are not accepted";
      return std::nullopt;
    }
    std::size_t gt = xml.find('>', lt);
    if (gt == std::string_view::npos) {
      error = "unterminated tag";
      return std::nullopt;
    }
    std::string_view tag = xml.substr(lt + 1, gt - lt - 1);
    pos = gt + 1;
    if (!tag.empty() && tag[0] == '/') {
      std::string_view name = trim(tag.substr(1));
      if (open.empty() || local_name(name) != open.back()) {
        error = "closing tag does not match";
        return std::nullopt;
      }
      if (open.back() == "SessionIndex") {
        if (ticket) {
          error = "more than one SessionIndex";
          return std::nullopt;
        }
        std::string value(trim(text));
        if (!valid_cas_ticket(value)) {
          error = "SessionIndex is not a service ticket";
          return std::nullopt;
        }
        ticket = value;
      }
      open.pop_back();
      text.clear();
      if (open.empty()) {
        skip_space();
        if (pos != xml.size()) {
          error = "content after the root element";
          return std::nullopt;
        }
        break;
      }
      continue;
    }
    bool self_closing = !tag.empty() && tag.back() == '/';
    if (self_closing) tag.remove_suffix(1);
    std::size_t name_end = 0;
    while (name_end < tag.size() && name_char(tag[name_end])) ++name_end;
    std::string_view name = tag.substr(0, name_end);
    if (name.empty() || (name_end < tag.size() && tag[name_end] != ' ' && tag[name_end] != '\t' &&
                         tag[name_end] != '\r' && tag[name_end] != '\n')) {
      error = "malformed tag";
      return std::nullopt;
    }
    // Attributes: quotes must balance, and a '<' inside one is not XML.
    std::string_view attributes = tag.substr(name_end);
    std::size_t quotes = 0;
    for (char c : attributes) quotes += (c == '"') ? 1 : 0;
    if (quotes % 2 != 0 || attributes.find('<') != std::string_view::npos) {
      error = "malformed attributes";
      return std::nullopt;
    }
    if (open.empty()) {
      if (root_seen) {
        error = "more than one root element";
        return std::nullopt;
      }
      if (local_name(name) != "LogoutRequest") {
        error = "the root element is not LogoutRequest";
        return std::nullopt;
      }
      root_seen = true;
    }
    if (!open.empty() && open.back() == "SessionIndex") {
      error = "SessionIndex has child elements";
      return std::nullopt;
    }
    if (open.size() >= 8) {
      error = "nested too deeply";
      return std::nullopt;
    }
    text.clear();
    if (self_closing) {
      if (local_name(name) == "SessionIndex") {
        error = "SessionIndex is empty";
        return std::nullopt;
      }
      if (open.empty()) {
        error = "the root element is empty";
        return std::nullopt;
      }
      continue;
    }
    open.push_back(local_name(name));
  }
  if (!open.empty() || !root_seen) {
    error = root_seen ? "the document ends before its root element is closed" : "no root element";
    return std::nullopt;
  }
  if (!ticket) {
    error = "no SessionIndex";
    return std::nullopt;
  }
  return ticket;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '-') v = 62;
    else if (c == '_') v = 63;
    else return std::nullopt;
    buffer = (buffer << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  if (bits >= 6) return std::nullopt;  // a length of 4n+1 characters is not base64
  return out;
}

}  // namespace sg
