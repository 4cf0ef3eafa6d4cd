// What a denied request gets back: the words, the built-in page, the JSON body, the redirect.
#pragma once
#include <string>
#include <string_view>

#include "sg/config.hpp"
#include "sg/types.hpp"

namespace sg {

std::string_view default_message(Reason reason);
// The text configured for `reason` (SessionGuardMessage), or the default.
std::string configured_message(const DirConfig& config, Reason reason);

// What the user reads: the configured text for `reason` (or the default), with {limit}
// replaced by the session limit a refused login hit; a refusal that was not about a limit
// (limit 0) gets words that do not mention one.
std::string denial_message(const DirConfig& config, Reason reason, int limit);

// Whether a user name can be stored and logged faithfully, and so a session bound to it
// ended later: at most 190 bytes (the column), valid UTF-8, no control characters.
bool bindable_user_name(std::string_view name);

// `url` with reason=...&message=... appended, so the app's own login page can show why.
std::string denial_redirect_url(std::string_view url, Reason reason, std::string_view message);
std::string denial_page(Reason reason, std::string_view message, std::string_view login_url);
std::string denial_json(Reason reason, std::string_view message);

// Status code for a denial: 401 for API clients, 503 when the list is unusable,
// otherwise what the configured action says.
int denial_status(const DenyAction& action, Reason reason, bool wants_json, bool authenticated_by_server);
// Whether the browser sends this AuthType's credentials again by itself (Basic, Digest,
// Negotiate, client certificates, anything unknown), so a redirect to a login page would
// loop: a denial is then the 403 page. Single sign-on modules that keep their own session
// cookie (mod_auth_openidc, mod_auth_cas, mod_auth_mellon, Shibboleth) start a new sign-in
// once the denial has cleared that cookie: their users follow the location's redirect.
bool credentials_resent_by_browser(std::string_view auth_type);

// Whether the client wants JSON rather than a page (XHR or an Accept header preferring JSON).
bool wants_json(std::string_view accept, std::string_view requested_with);

// Set-Cookie value that makes the browser drop the app's cookie.
std::string expired_cookie(const CookieSpec& cookie, bool secure);

}  // namespace sg
