// What the admin actions tell people: the mail each action sends (templates with their
// English defaults, set in the [fcgi_admin] settings) and the wording shared by the audit
// lines. No SQL here: the admin service (admin_service.hpp) fills and queues them.
#pragma once
#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "action_types.hpp"
#include "admin_writes.hpp"
#include "sg/types.hpp"

namespace sg::admin {

struct MailTemplate {
  std::string subject;
  std::string body;
};

// Which actions tell the user by email, and in which words. Placeholders: {user} {admin}
// {session} {server} {reason} {count} {time}.
struct MailPolicy {
  bool notify_kill = true;
  bool notify_block = true;
  MailTemplate kill{"Your session was ended",
                    "Hello {user},\n\nan administrator ({admin}) ended your session {session} on {server} at {time}.\n"
                    "You will need to sign in again.\n\nIf you did not expect this, please contact your helpdesk.\n"};
  MailTemplate kill_user{"Your sessions were ended",
                         "Hello {user},\n\nan administrator ({admin}) ended all your sessions ({count}) at {time}.\n"
                         "You will need to sign in again.\n\nIf you did not expect this, please contact your helpdesk.\n"};
  MailTemplate block{"Your account has been blocked",
                     "Hello {user},\n\nyour account was blocked by an administrator ({admin}) at {time}.\n"
                     "Reason: {reason}\n\nAll your sessions have ended and you cannot sign in until the account "
                     "is unblocked. Please contact your helpdesk.\n"};
  // "This wasn't me: sign me out everywhere" in kill and block notices. link_base + token is
  // the link (from public_url; "": no link, and an error in the log); link_key signs it ("": a key
  // generated once and kept in admin_settings).
  std::string link_base;
  std::string link_key;
  Micros link_lifetime = 24 * 3600 * kMicrosPerSecond;
  MailTemplate logout_request{"Please sign out",
                              "Hello {user},\n\nplease save your work and sign out of {server} (session {session}).\n"
                              "An administrator ({admin}) needs to end your session.\n"};
};

// "3 sessions", "1 session".
std::string plural(std::size_t n, const char* one, const char* many);

// A template filled in: {user} {admin} ... replaced, nothing else touched.
struct Notice {
  std::string subject;
  std::string body;
};
Notice fill(const MailTemplate& mail, const std::map<std::string, std::string>& values);

// The body with its "This wasn't me" link at {link}, or after the text with how long it
// works; `link` "" (no public_url configured) leaves the body as it is.
std::string with_signout_link(std::string body, const std::string& link, Micros link_lifetime);

// One log line per ended session ("Session 85C8A1F2" + what), but a bulk action over
// thousands writes a summary after the first 200 (the audit row and the database have
// every one).
void log_sessions(ActionResult& result, const std::vector<db::EndedSession>& ended, const std::string& what);

}  // namespace sg::admin
