#include "sg/sso.hpp"

#include <cstdint>
#include <vector>

#include "sg/app_reader.hpp"
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

std::vector<std::string> cas_tickets_in_query(std::string_view query) {
  std::vector<std::string> tickets;
  for (auto& value : form_readings(query, "ticket")) {
    if (valid_cas_ticket(value) && tickets.size() < kMaxTicketsPerQuery) tickets.push_back(std::move(value));
  }
  return tickets;
}

namespace {
bool xml_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// One pass over a logoutRequest, a tag at a time; see parse_cas_logout_request.
class CasLogoutReader {
 public:
  explicit CasLogoutReader(std::string_view xml) : xml_(xml) {}

  std::optional<std::string> read(std::string& error) {
    Step step = declaration();
    while (step == Step::more) step = next_tag();
    if (step == Step::done && (!open_.empty() || !root_seen_)) {
      step = fail(root_seen_ ? "the document ends before its root element is closed" : "no root element");
    }
    if (step == Step::done && !ticket_) step = fail("no SessionIndex");
    if (step == Step::failed) {
      error = error_;
      return std::nullopt;
    }
    return ticket_;
  }

 private:
  enum class Step { more, done, failed };

  Step fail(const char* why) {
    error_ = why;
    return Step::failed;
  }

  void skip_space() {
    while (pos_ < xml_.size() && xml_space(xml_[pos_])) ++pos_;
  }

  Step declaration() {
    skip_space();
    if (xml_.compare(pos_, 5, "<?xml") != 0) return Step::more;
    std::size_t end = xml_.find("?>", pos_);
    if (end == std::string_view::npos) return fail("unterminated XML declaration");
    pos_ = end + 2;
    return Step::more;
  }

  // The character data up to the next tag, then the tag.
  Step next_tag() {
    std::size_t lt = xml_.find('<', pos_);
    std::string_view chars = xml_.substr(pos_, lt == std::string_view::npos ? std::string_view::npos : lt - pos_);
    if (open_.empty() && !trim(chars).empty()) return fail("text outside the root element");
    text_.append(chars);
    if (lt == std::string_view::npos) return Step::done;
    if (lt + 1 >= xml_.size()) return fail("document ends inside a tag");
    if (xml_[lt + 1] == '!') return fail("DOCTYPE, comments and CDATA are not accepted");
    if (xml_[lt + 1] == '?') return fail("processing instructions are not accepted");
    std::size_t gt = xml_.find('>', lt);
    if (gt == std::string_view::npos) return fail("unterminated tag");
    std::string_view tag = xml_.substr(lt + 1, gt - lt - 1);
    pos_ = gt + 1;
    if (!tag.empty() && tag[0] == '/') return closing_tag(trim(tag.substr(1)));
    return opening_tag(tag);
  }

  Step closing_tag(std::string_view name) {
    if (open_.empty() || local_name(name) != open_.back()) return fail("closing tag does not match");
    if (open_.back() == "SessionIndex") {
      if (ticket_) return fail("more than one SessionIndex");
      std::string value(trim(text_));
      if (!valid_cas_ticket(value)) return fail("SessionIndex is not a service ticket");
      ticket_ = value;
    }
    open_.pop_back();
    text_.clear();
    if (!open_.empty()) return Step::more;
    skip_space();
    return pos_ == xml_.size() ? Step::done : fail("content after the root element");
  }

  Step opening_tag(std::string_view tag) {
    bool self_closing = !tag.empty() && tag.back() == '/';
    if (self_closing) tag.remove_suffix(1);
    std::size_t name_end = 0;
    while (name_end < tag.size() && name_char(tag[name_end])) ++name_end;
    std::string_view name = tag.substr(0, name_end);
    if (name.empty() || (name_end < tag.size() && !xml_space(tag[name_end]))) return fail("malformed tag");
    // Attributes: quotes must balance, and a '<' inside one is not XML.
    std::string_view attributes = tag.substr(name_end);
    std::size_t quotes = 0;
    for (char c : attributes) quotes += (c == '"') ? 1 : 0;
    if (quotes % 2 != 0 || attributes.find('<') != std::string_view::npos) return fail("malformed attributes");
    if (open_.empty()) {
      if (root_seen_) return fail("more than one root element");
      if (local_name(name) != "LogoutRequest") return fail("the root element is not LogoutRequest");
      root_seen_ = true;
    }
    if (!open_.empty() && open_.back() == "SessionIndex") return fail("SessionIndex has child elements");
    if (open_.size() >= 8) return fail("nested too deeply");
    text_.clear();
    if (!self_closing) {
      open_.push_back(local_name(name));
      return Step::more;
    }
    if (local_name(name) == "SessionIndex") return fail("SessionIndex is empty");
    return open_.empty() ? fail("the root element is empty") : Step::more;
  }

  std::string_view xml_;
  std::size_t pos_ = 0;
  std::vector<std::string_view> open_;  // local names of the elements we are inside
  std::optional<std::string> ticket_;
  bool root_seen_ = false;
  std::string text_;  // character data of the innermost element
  std::string error_;
};
}  // namespace

std::optional<std::string> parse_cas_logout_request(std::string_view xml, std::string& error) {
  if (xml.size() > 16 * 1024) {
    error = "logoutRequest longer than 16 KiB";
    return std::nullopt;
  }
  if (xml.find('&') != std::string_view::npos) {
    error = "entity or character references are not accepted";
    return std::nullopt;
  }
  return CasLogoutReader(xml).read(error);
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
