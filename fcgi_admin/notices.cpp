#include "notices.hpp"

#include <algorithm>

#include "sg/mail.hpp"

namespace sg::admin {

std::string plural(std::size_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

Notice fill(const MailTemplate& mail, const std::map<std::string, std::string>& values) {
  return {mail::expand(mail.subject, values), mail::expand(mail.body, values)};
}

std::string with_signout_link(std::string body, const std::string& link, Micros link_lifetime) {
  if (link.empty()) return body;
  const std::string placeholder = "{link}";
  if (auto at = body.find(placeholder); at != std::string::npos) return body.replace(at, placeholder.size(), link);
  std::string hours = std::to_string(std::max<Micros>(1, link_lifetime / (3600 * kMicrosPerSecond)));
  if (!body.empty() && body.back() != '\n') body += "\n";
  body += "\nThis wasn't me: sign me out everywhere\n" + link + "\n(The link works once, within " + hours +
          (hours == "1" ? " hour" : " hours") + ".)\n";
  return body;
}

void log_sessions(ActionResult& result, const std::vector<db::EndedSession>& ended, const std::string& what) {
  constexpr std::size_t kLoggedSessions = 200;
  for (std::size_t i = 0; i < ended.size() && i < kLoggedSessions; ++i)
    result.log_lines.push_back("Session " + ended[i].short_id + what);
  if (ended.size() > kLoggedSessions)
    result.log_lines.push_back("... and " + std::to_string(ended.size() - kLoggedSessions) + " more sessions" + what);
}

}  // namespace sg::admin
