#include "sg/denial.hpp"

#include <algorithm>

#include "sg/text.hpp"

namespace sg {

std::string_view default_message(Reason reason) {
  switch (reason) {
    case Reason::killed: return "Your session was ended by an administrator. Please sign in again.";
    case Reason::blocked: return "Your account has been blocked by an administrator. Please contact your administrator.";
    case Reason::superseded: return "Another session has been started using your account. You will now be signed out.";
    case Reason::expired: return "Your session has expired. Please sign in again.";
    case Reason::logged_out: return "You have signed out.";
    case Reason::sso_logout: return "You signed out of single sign-on";
    case Reason::refused:
      return "This sign-in was refused: your account already has the maximum number of active sessions ({limit}). "
             "Sign out of another session first.";
    case Reason::unavailable: return "Sign-in checks are unavailable right now. Please try again in a moment.";
    case Reason::none: break;
  }
  return "Your session has ended.";
}

std::string denial_redirect_url(std::string_view url, Reason reason, std::string_view message) {
  std::size_t hash = url.find('#');
  std::string_view fragment = hash == std::string_view::npos ? std::string_view{} : url.substr(hash);
  url = url.substr(0, hash);
  std::string out(url);
  out += out.find('?') == std::string::npos ? '?' : '&';
  out += "reason=";
  out += to_string(reason);
  out += "&message=";
  out += url_encode(message);
  out += fragment;
  return out;
}

std::string denial_page(Reason reason, std::string_view message, std::string_view login_url) {
  std::string page =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
      "<title>Session ended</title>"
      "<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}"
      "h1{font-size:1.4rem}.box{border-left:4px solid #b00020;background:#fdf2f2;padding:1rem}</style>"
      "</head><body><h1>Your session has ended</h1><p class=\"box\" id=\"reason\" data-reason=\"";
  page += html_escape(to_string(reason));
  page += "\">";
  page += html_escape(message);
  page += "</p>";
  if (!login_url.empty()) {
    page += "<p><a href=\"";
    page += html_escape(login_url);
    page += "\">Sign in again</a></p>";
  }
  page += "</body></html>\n";
  return page;
}

std::string denial_json(Reason reason, std::string_view message) {
  std::string body = "{\"error\":\"session_ended\",\"reason\":\"";
  body += json_escape(to_string(reason));
  body += "\",\"message\":\"";
  body += json_escape(message);
  body += "\"}\n";
  return body;
}

int denial_status(const DenyAction& action, Reason reason, bool json, bool authenticated_by_server) {
  if (reason == Reason::unavailable) return 503;
  if (json) return 401;
  // The browser resends Basic credentials by itself, so a redirect to a login page would loop.
  if (authenticated_by_server) return 403;
  switch (action.kind) {
    case DenyAction::Kind::redirect: return 302;
    case DenyAction::Kind::status: return action.status;
    case DenyAction::Kind::page: break;
  }
  return 403;
}

bool credentials_resent_by_browser(std::string_view auth_type) {
  for (std::string_view cookie_session : {"openid-connect", "oauth20", "auth-openidc", "CAS", "Mellon", "shibboleth"}) {
    if (iequals(auth_type, cookie_session)) return false;
  }
  return true;
}

bool wants_json(std::string_view accept, std::string_view requested_with) {
  if (iequals(requested_with, "XMLHttpRequest")) return true;
  std::string lower = to_lower(accept);
  std::size_t json = lower.find("application/json");
  if (json == std::string::npos) return false;
  std::size_t html = lower.find("text/html");
  return html == std::string::npos || json < html;
}

std::string expired_cookie(const CookieSpec& cookie, bool secure) {
  std::string value = cookie.name + "=deleted; Path=" + cookie.path +
                      "; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; HttpOnly; SameSite=Lax";
  if (secure) value += "; Secure";
  return value;
}

std::string configured_message(const DirConfig& config, Reason reason) {
  auto it = config.messages.find(reason);
  return it != config.messages.end() ? it->second : std::string(default_message(reason));
}

std::string denial_message(const DirConfig& config, Reason reason, int limit) {
  std::string message = configured_message(config, reason);
  if (auto at = message.find("{limit}"); at != std::string::npos) {
    if (limit > 0) message.replace(at, 7, std::to_string(limit));
    else message = "This sign-in was refused. Please contact your administrator.";
  }
  return message;
}

bool bindable_user_name(std::string_view name) {
  return !name.empty() && name.size() <= 190 && utf8_valid(name) &&
         std::none_of(name.begin(), name.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

}  // namespace sg
