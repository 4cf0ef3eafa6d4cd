// Writers that take untrusted text (user names, User-Agents, cookie values) into HTML, JSON,
// URLs and mail headers (core/include/sg/text.hpp, mail.hpp): whatever the input, the output
// cannot leave its context. Input: any bytes.
#include <string>

#include "fuzz.hpp"
#include "sg/mail.hpp"
#include "sg/text.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text = fuzz::as_text(data, size);

  std::string html = sg::html_escape(text);
  FUZZ_CHECK(html.find_first_of("<>\"'") == std::string::npos);
  for (std::size_t at = html.find('&'); at != std::string::npos; at = html.find('&', at + 1)) {
    std::string_view rest = std::string_view(html).substr(at);
    FUZZ_CHECK(rest.rfind("&amp;", 0) == 0 || rest.rfind("&lt;", 0) == 0 || rest.rfind("&gt;", 0) == 0 ||
               rest.rfind("&quot;", 0) == 0 || rest.rfind("&#39;", 0) == 0);
  }

  std::string json = sg::json_escape(text);
  for (std::size_t i = 0; i < json.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(json[i]);
    FUZZ_CHECK(c >= 0x20 && c != '<' && c != '>' && c != '&');
    if (c == '\\') {
      FUZZ_CHECK(i + 1 < json.size() && std::string_view("\"\\nrtu").find(json[i + 1]) != std::string_view::npos);
      ++i;  // the escaped character
    } else {
      FUZZ_CHECK(c != '"');
    }
  }

  std::string url = sg::url_encode(text);
  FUZZ_CHECK(url.find_first_not_of("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_.~%") ==
             std::string::npos);
  FUZZ_CHECK(sg::percent_decode(url) == text);

  // Mail headers: one line each; encoded words folded with "\n " only, each at most 75 bytes.
  std::string line = sg::mail::header_text(text);
  FUZZ_CHECK(line.size() == text.size());
  for (unsigned char c : line) FUZZ_CHECK(c >= 0x20 && c != 0x7f);
  std::string header = sg::mail::encode_header(text);
  if (header == line) {
    FUZZ_CHECK(header.find('\n') == std::string::npos);  // plain text stays as it is
  } else {
    std::size_t start = 0;
    for (;;) {
      std::size_t fold = header.find("\n ", start);
      std::string_view word = std::string_view(header).substr(start, fold == std::string::npos ? fold : fold - start);
      FUZZ_CHECK(word.size() <= 75 && word.rfind("=?UTF-8?B?", 0) == 0 && word.size() >= 12 &&
                 word.substr(word.size() - 2) == "?=");
      FUZZ_CHECK(word.find_first_of("\r\n ") == std::string_view::npos);
      if (fold == std::string::npos) break;
      start = fold + 2;
    }
  }
  return 0;
}
