#include "fcgi_request.hpp"

#include <cstdlib>

namespace sg::admin {

std::string FcgiRequest::param(const char* name) const {
  const char* value = FCGX_GetParam(name, request_.envp);
  return value != nullptr ? value : "";
}

std::string FcgiRequest::body(std::size_t limit) {
  if (body_read_) return body_;
  body_read_ = true;
  std::string length_text = param("CONTENT_LENGTH");
  char* end = nullptr;
  unsigned long long length = length_text.empty() ? 0 : std::strtoull(length_text.c_str(), &end, 10);
  if (length > limit) throw PayloadTooLarge("The request body is larger than " + std::to_string(limit) + " bytes.");
  body_.resize(length);
  std::size_t got = 0;
  while (got < length) {
    int n = FCGX_GetStr(body_.data() + got, static_cast<int>(length - got), request_.in);
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  body_.resize(got);
  return body_;
}

void FcgiRequest::send(const Response& response) {
  std::string head = "Status: " + std::to_string(response.status) + " " + status_text(response.status) + "\r\n";
  for (const auto& [name, value] : response.headers) head += name + ": " + value + "\r\n";
  head += "Content-Length: " + std::to_string(response.body.size()) + "\r\n\r\n";
  FCGX_PutStr(head.data(), static_cast<int>(head.size()), request_.out);
  if (param("REQUEST_METHOD") != "HEAD") {
    FCGX_PutStr(response.body.data(), static_cast<int>(response.body.size()), request_.out);
  }
}

void FcgiRequest::log(const std::string& line) {
  std::string text = "session_guard admin: " + line + "\n";
  FCGX_PutStr(text.data(), static_cast<int>(text.size()), request_.err);
}

}  // namespace sg::admin
