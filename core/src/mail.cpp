#include "sg/mail.hpp"

#include <cstdio>

#include "sg/clock.hpp"

namespace sg::mail {

std::string expand(std::string_view text, const std::map<std::string, std::string>& values) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '{') {
      std::size_t close = text.find('}', i + 1);
      if (close != std::string_view::npos && close - i <= 32) {
        auto it = values.find(std::string(text.substr(i + 1, close - i - 1)));
        if (it != values.end()) {
          out += it->second;
          i = close;
          continue;
        }
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

std::string header_text(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) out.push_back(c < 0x20 || c == 0x7f ? ' ' : static_cast<char>(c));
  return out;
}

namespace {
std::string base64(std::string_view data) {
  static const char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    unsigned v = static_cast<unsigned char>(data[i]) << 16 | static_cast<unsigned char>(data[i + 1]) << 8 |
                 static_cast<unsigned char>(data[i + 2]);
    out += table[v >> 18];
    out += table[(v >> 12) & 63];
    out += table[(v >> 6) & 63];
    out += table[v & 63];
  }
  if (i < data.size()) {
    unsigned v = static_cast<unsigned char>(data[i]) << 16;
    if (i + 1 < data.size()) v |= static_cast<unsigned char>(data[i + 1]) << 8;
    out += table[v >> 18];
    out += table[(v >> 12) & 63];
    out += i + 1 < data.size() ? table[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}
}  // namespace

std::string encode_header(std::string_view text) {
  std::string clean = header_text(text);
  bool plain = true;
  for (unsigned char c : clean) plain = plain && c >= 0x20 && c < 0x7f;
  if (plain) return clean;
  // Encoded words are at most 75 characters: split the UTF-8 text on character boundaries.
  std::string out;
  std::size_t start = 0;
  while (start < clean.size()) {
    std::size_t end = std::min(clean.size(), start + 45);
    while (end > start && end < clean.size() && (static_cast<unsigned char>(clean[end]) & 0xC0) == 0x80) --end;
    if (end == start) end = std::min(clean.size(), start + 45);
    if (!out.empty()) out += "\n ";
    out += "=?UTF-8?B?" + base64(std::string_view(clean).substr(start, end - start)) + "?=";
    start = end;
  }
  return out;
}

bool valid_address(std::string_view address) {
  if (address.empty() || address.size() > 254) return false;
  std::size_t at = address.rfind('@');
  if (at == 0 || at == std::string_view::npos || at + 1 == address.size()) return false;
  if (address.front() == '-') return false;  // never mistaken for a sendmail option
  for (unsigned char c : address) {
    if (c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == '(' || c == ')' || c == ',' || c == ';' || c == '"' ||
        c == '\\')
      return false;
  }
  return true;
}

std::string format_utc(Micros micros) { return ::sg::format_utc(micros, "%Y-%m-%d %H:%M:%S UTC"); }

std::string format_message(std::string_view from, std::string_view to, std::string_view subject,
                           std::string_view body, Micros date, std::string_view message_id) {
  const std::string date_text = ::sg::format_utc(date, "%a, %d %b %Y %H:%M:%S +0000");
  std::string out;
  out += "From: " + header_text(from) + "\n";
  out += "To: " + header_text(to) + "\n";
  out += "Subject: " + encode_header(subject) + "\n";
  out += std::string("Date: ") + date_text + "\n";
  out += "Message-ID: <" + header_text(message_id) + ">\n";
  out += "MIME-Version: 1.0\n";
  out += "Content-Type: text/plain; charset=UTF-8\n";
  out += "Content-Transfer-Encoding: 8bit\n";
  out += "Auto-Submitted: auto-generated\n";
  out += "\n";
  // Normalise line ends; a line of a single "." would end the message for some MTAs
  // (sendmail -i turns that off, but be safe with every implementation).
  std::string line;
  for (std::size_t i = 0; i <= body.size(); ++i) {
    if (i == body.size() || body[i] == '\n') {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line == ".") line = "..";
      out += line;
      out += "\n";
      line.clear();
    } else {
      line.push_back(body[i]);
    }
  }
  return out;
}

Micros retry_delay(int attempts, Micros base, Micros cap) {
  if (attempts < 1) attempts = 1;
  Micros delay = base;
  for (int i = 1; i < attempts && delay < cap; ++i) delay *= 2;
  return delay < cap ? delay : cap;
}

}  // namespace sg::mail
