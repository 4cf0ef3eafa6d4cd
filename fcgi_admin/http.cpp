#include "http.hpp"

#include "sg/text.hpp"

namespace sg::admin {

std::string Response::header_value(const std::string& name) const {
  for (const auto& [k, v] : headers)
    if (sg::iequals(k, name)) return v;
  return "";
}

const char* status_text(int status) {
  switch (status) {
    case 200: return "OK";
    case 302: return "Found";
    case 303: return "See Other";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
  }
}

}  // namespace sg::admin
