// HTTP vocabulary of fcgi_admin: the response a handler builds and the errors it may throw.
// Handlers throw; App::handle catches once and renders a page or JSON with the status
// (the shape of openstreetmap-cgimap's http::exception hierarchy).
#pragma once
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace sg::admin {

struct Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  void header(std::string name, std::string value) { headers.emplace_back(std::move(name), std::move(value)); }
  std::string header_value(const std::string& name) const;  // first of that name, case-insensitive
};

const char* status_text(int status);

class HttpError : public std::runtime_error {
 public:
  HttpError(int status, std::string code, const std::string& message)
      : std::runtime_error(message), status_(status), code_(std::move(code)) {}
  int status() const { return status_; }
  const std::string& code() const { return code_; }  // machine-readable, for the JSON API
  std::vector<std::pair<std::string, std::string>> extra_headers;

 private:
  int status_;
  std::string code_;
};

struct BadRequest : HttpError {
  explicit BadRequest(const std::string& message, std::string code = "bad_request")
      : HttpError(400, std::move(code), message) {}
};
struct Forbidden : HttpError {
  explicit Forbidden(const std::string& message, std::string code = "forbidden") : HttpError(403, std::move(code), message) {}
};
struct NotFound : HttpError {
  explicit NotFound(const std::string& message) : HttpError(404, "not_found", message) {}
};
struct MethodNotAllowed : HttpError {
  explicit MethodNotAllowed(const std::string& allow)
      : HttpError(405, "method_not_allowed", "This address accepts " + allow + " only.") {
    extra_headers.emplace_back("Allow", allow);
  }
};
struct Conflict : HttpError {
  explicit Conflict(const std::string& message, std::string code = "conflict") : HttpError(409, std::move(code), message) {}
};
struct Unauthorized : HttpError {
  explicit Unauthorized(const std::string& message, std::string code = "not_signed_in")
      : HttpError(401, std::move(code), message) {}
};
struct PayloadTooLarge : HttpError {
  explicit PayloadTooLarge(const std::string& message) : HttpError(413, "payload_too_large", message) {}
};
struct UnsupportedMediaType : HttpError {
  explicit UnsupportedMediaType(const std::string& message) : HttpError(415, "unsupported_media_type", message) {}
};
struct ServiceUnavailable : HttpError {
  explicit ServiceUnavailable(const std::string& message) : HttpError(503, "database_unavailable", message) {
    extra_headers.emplace_back("Retry-After", "5");
  }
};

}  // namespace sg::admin
