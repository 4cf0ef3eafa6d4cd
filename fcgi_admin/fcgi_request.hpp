// Request over libfcgi's reentrant API (one FCGX_Request per accept).
#pragma once
#include <fcgiapp.h>

#include "request.hpp"

namespace sg::admin {

class FcgiRequest : public Request {
 public:
  explicit FcgiRequest(FCGX_Request& request) : request_(request) {}
  std::string param(const char* name) const override;
  std::string body(std::size_t limit) override;
  void send(const Response& response) override;
  void log(const std::string& line) override;

 private:
  FCGX_Request& request_;
  bool body_read_ = false;
  std::string body_;
};

}  // namespace sg::admin
