// One HTTP request as fcgi_admin sees it. The FastCGI implementation (fcgi_request.hpp)
// and the test double (tests/unit) are interchangeable, so every handler is tested
// without a web server.
#pragma once
#include <cstddef>
#include <string>

#include "http.hpp"

namespace sg::admin {

class Request {
 public:
  virtual ~Request() = default;
  // A CGI/FastCGI parameter (REQUEST_METHOD, REQUEST_URI, HTTP_COOKIE, REMOTE_USER, ...); "" when unset.
  virtual std::string param(const char* name) const = 0;
  // The body, at most `limit` bytes; throws PayloadTooLarge beyond that.
  virtual std::string body(std::size_t limit) = 0;
  // Sends status, headers and body, in that order, once.
  virtual void send(const Response& response) = 0;
  // One line for the web server's error log.
  virtual void log(const std::string& line) = 0;
};

}  // namespace sg::admin
