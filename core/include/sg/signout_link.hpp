// "This wasn't me: sign me out everywhere" links in notification mail: a token that names
// the user, an expiry and a random nonce, signed with HMAC-SHA256. Pure: the caller supplies
// the key, the clock and the nonce; single use is the database's part (the nonce is
// recorded when the link is followed).
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "sg/crypto.hpp"
#include "sg/types.hpp"

namespace sg {

struct SignoutClaim {
  std::string user;
  Micros expires_at = 0;  // whole seconds
  std::string nonce;      // 32 lowercase hex digits
};

// "v1.<user as hex>.<expiry, unix seconds>.<nonce>.<HMAC-SHA256 hex>": URL-safe as it is.
std::string make_signout_token(std::string_view key, const SignoutClaim& claim);

enum class TokenCheck { ok, malformed, bad_signature, expired };

// The module's own session cookie for users the server authenticates (sg_session): a random
// nonce and its MAC, so a client cannot make a session (and a database row) per request by
// sending made-up values. The key is the farm's (see mod_session_guard/poller.cpp).
std::string new_tracking_value(std::string_view key);
bool tracking_value_issued(std::string_view key, std::string_view value);

// Verifies shape and signature (in constant time) before it looks at the expiry.
TokenCheck check_signout_token(std::string_view key, std::string_view token, Micros now, SignoutClaim& claim);

}  // namespace sg
