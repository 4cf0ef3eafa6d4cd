// Single sign-out receivers: OpenID Connect Back-Channel Logout 1.0 and CAS single logout.
// The identity provider calls them server to server, so Apache lets anyone reach them; what
// authorises a request is the logout token's signature (OIDC) or the address it comes from
// (CAS, whose logoutRequest is not signed). Neither needs a CSRF token: there is no browser
// and no ambient credential (no cookie, no REMOTE_USER) that a forged cross-site POST could
// borrow: a request without a valid signature or from an unlisted address ends nothing.
#pragma once
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "settings.hpp"

namespace sg::admin {

// An algorithm the OIDC receiver may be configured to accept: asymmetric signatures only.
// "none" verifies nothing, and HS* with a provider's public key would let anyone who has
// the key (everyone: it is public) sign tokens.
bool sso_algorithm_allowed(std::string_view alg);

struct LogoutToken {
  std::string iss, sub, sid, jti;
  std::int64_t iat = 0;
  std::int64_t exp = 0;  // 0 = none in the token
};

// The JOSE header: an allowed algorithm, no `crit` we would have to understand, a `typ`
// that is absent, JWT or logout+jwt. "" or why not.
std::string check_logout_header(const nlohmann::json& header, const SsoSettings& settings);
// The claims of OpenID Connect Back-Channel Logout 1.0, section 2.6: iss, aud, iat within
// the allowed window, exp (when present) not passed, jti, the back-channel logout event,
// sub or sid, and no nonce. `now` in seconds since the epoch. "" or why not.
std::string check_logout_claims(const nlohmann::json& claims, const SsoSettings& settings, std::int64_t now,
                                LogoutToken& out);

// Verifies a compact JWS against a JWKS document and checks header and claims. "" or why
// not; `key_unknown` is set when no key of the JWKS could even be tried (a rotated key:
// fetch the JWKS again).
std::string verify_logout_token(std::string_view token, const std::string& jwks, const SsoSettings& settings,
                                std::int64_t now, LogoutToken& out, bool& key_unknown);

// The provider's keys: read from the file, or fetched from the URL and kept for
// oidc_jwks_refresh; fetched again early (at most every 10 s) when a token names a key we
// do not have. A failed fetch keeps the keys we had.
class JwksCache {
 public:
  explicit JwksCache(const SsoSettings& settings) : settings_(settings) {}
  // The JWKS document ("" when none could be loaded yet; `error` says why).
  std::string keys(bool refresh, std::string& error);

 private:
  const SsoSettings& settings_;
  std::mutex mutex_;
  std::string keys_;
  std::int64_t loaded_at_ = 0;  // steady seconds
  std::int64_t tried_at_ = -1000;
};

// GETs an http(s) URL with libcurl: at most `max_bytes`, 5 s, no redirects to other schemes.
// Throws std::runtime_error with the reason.
std::string http_get(const std::string& url, std::size_t max_bytes);

// True when `ip` (REMOTE_ADDR) is one of the configured CAS servers: an address as written,
// or an address a configured host name resolves to now (forward DNS, which the CAS server's
// operator controls; a reverse lookup of the caller would be the caller's to choose).
bool cas_origin_allowed(const std::string& ip, const std::vector<std::string>& servers, std::string& matched);

}  // namespace sg::admin
