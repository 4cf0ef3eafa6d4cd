// CSRF tokens for the forms: HMAC-SHA256(key, browser nonce + user). The nonce lives in an
// HttpOnly, SameSite=Strict cookie set on the first page view (one per browser session);
// the key is shared by every fcgi_admin process through the database. A form posted from
// another site has neither the cookie nor the token.
#pragma once
#include <string>
#include <string_view>

namespace sg::admin {

constexpr const char* kCsrfCookie = "sg_admin_csrf";

std::string csrf_token(std::string_view key, std::string_view nonce, std::string_view user);
bool csrf_valid(std::string_view key, std::string_view nonce, std::string_view user, std::string_view token);
// A nonce we would have issued: 32 lowercase hex digits.
bool plausible_nonce(std::string_view nonce);

}  // namespace sg::admin
