#include "sg/clock.hpp"
#include "sso.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <vector>

#include <cjose/jwk.h>
#include <cjose/jws.h>
#include <curl/curl.h>

#include "app.hpp"
#include "context.hpp"
#include "listing.hpp"
#include "sg/fingerprint.hpp"
#include "sg/sso.hpp"
#include "sg/text.hpp"

namespace sg::admin {

namespace {
constexpr const char* kBackchannelEvent = "http://schemas.openid.net/event/backchannel-logout";
constexpr std::size_t kMaxToken = 16 * 1024;
constexpr std::size_t kMaxJwks = 256 * 1024;

bool string_claim(const nlohmann::json& claims, const char* name, std::string& out) {
  auto it = claims.find(name);
  if (it == claims.end() || !it->is_string()) return false;
  out = it->get<std::string>();
  return !out.empty();
}

bool number_claim(const nlohmann::json& claims, const char* name, std::int64_t& out) {
  auto it = claims.find(name);
  if (it == claims.end() || !it->is_number()) return false;
  out = it->is_number_integer() ? it->get<std::int64_t>() : static_cast<std::int64_t>(it->get<double>());
  return true;
}

// The key type an algorithm needs, as cjose names it.
bool key_fits(const nlohmann::json& jwk, const std::string& alg) {
  std::string kty = jwk.value("kty", "");
  if (jwk.contains("use") && jwk["use"] != "sig") return false;
  if (jwk.contains("alg") && jwk["alg"] != alg) return false;
  if (alg.rfind("RS", 0) == 0 || alg.rfind("PS", 0) == 0) return kty == "RSA";
  if (alg.rfind("ES", 0) == 0) return kty == "EC";
  return false;
}

struct JwkRelease {
  void operator()(cjose_jwk_t* k) const { cjose_jwk_release(k); }
};
struct JwsRelease {
  void operator()(cjose_jws_t* j) const { cjose_jws_release(j); }
};

std::int64_t steady_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::size_t collect(char* data, std::size_t size, std::size_t count, void* user) {
  auto* out = static_cast<std::pair<std::string, std::size_t>*>(user);
  if (out->first.size() + size * count > out->second) return 0;  // too big: curl fails the transfer
  out->first.append(data, size * count);
  return size * count;
}
}  // namespace

bool sso_algorithm_allowed(std::string_view alg) {
  for (const char* ok : {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}) {
    if (alg == ok) return true;
  }
  return false;
}

std::string check_logout_header(const nlohmann::json& header, const SsoSettings& settings) {
  if (!header.is_object()) return "the JOSE header is not a JSON object";
  std::string alg;
  if (!string_claim(header, "alg", alg)) return "the JOSE header has no alg";
  bool listed = false;
  for (const auto& a : settings.oidc_algorithms) listed = listed || a == alg;
  if (!listed || !sso_algorithm_allowed(alg)) return "algorithm " + alg + " is not accepted";
  if (header.contains("crit")) return "the JOSE header has crit parameters";
  if (header.contains("typ")) {
    std::string typ = header["typ"].is_string() ? sg::to_lower(header["typ"].get<std::string>()) : "";
    if (typ != "jwt" && typ != "logout+jwt" && typ != "application/logout+jwt") return "typ is not logout+jwt";
  }
  return "";
}

std::string check_logout_claims(const nlohmann::json& claims, const SsoSettings& settings, std::int64_t now,
                                LogoutToken& out) {
  if (!claims.is_object()) return "the claims are not a JSON object";
  if (!string_claim(claims, "iss", out.iss)) return "no iss";
  if (out.iss != settings.oidc_issuer) return "iss " + out.iss + " is not the configured issuer";
  auto aud = claims.find("aud");
  bool audience = false;
  if (aud != claims.end() && aud->is_string()) audience = *aud == settings.oidc_audience;
  if (aud != claims.end() && aud->is_array()) {
    for (const auto& a : *aud) audience = audience || (a.is_string() && a == settings.oidc_audience);
  }
  if (!audience) return "aud does not name this client";
  if (!number_claim(claims, "iat", out.iat)) return "no iat";
  const std::int64_t max_age = settings.oidc_max_age / kMicrosPerSecond;
  const std::int64_t skew = settings.oidc_max_skew / kMicrosPerSecond;
  if (out.iat > now + skew) return "iat is in the future";
  if (out.iat < now - max_age) return "iat is older than " + std::to_string(max_age) + " s";
  if (claims.contains("exp")) {
    if (!number_claim(claims, "exp", out.exp)) return "exp is not a number";
    if (out.exp <= now - skew) return "the token has expired";
  }
  if (!string_claim(claims, "jti", out.jti)) return "no jti";
  auto events = claims.find("events");
  if (events == claims.end() || !events->is_object() || !events->contains(kBackchannelEvent) ||
      !(*events)[kBackchannelEvent].is_object())
    return "events does not contain the back-channel logout event";
  bool has_sub = string_claim(claims, "sub", out.sub);
  bool has_sid = string_claim(claims, "sid", out.sid);
  if (!has_sub && !has_sid) return "neither sub nor sid";
  if (claims.contains("nonce")) return "a logout token must not contain a nonce";
  return "";
}

std::string verify_logout_token(std::string_view token, const std::string& jwks, const SsoSettings& settings,
                                std::int64_t now, LogoutToken& out, bool& key_unknown) {
  key_unknown = false;
  if (token.empty()) return "no logout_token";
  if (token.size() > kMaxToken) return "logout_token too long";
  std::size_t dot1 = token.find('.');
  std::size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
    return "logout_token is not a compact JWS (three parts)";
  if (dot2 + 1 == token.size()) return "logout_token is not signed";
  auto header_text = base64url_decode(token.substr(0, dot1));
  if (!header_text) return "the JOSE header is not base64url";
  nlohmann::json header = nlohmann::json::parse(*header_text, nullptr, false);
  if (header.is_discarded()) return "the JOSE header is not JSON";
  if (std::string why = check_logout_header(header, settings); !why.empty()) return why;
  const std::string alg = header["alg"];
  const std::string kid = header.value("kid", "");

  nlohmann::json set = nlohmann::json::parse(jwks, nullptr, false);
  if (set.is_discarded() || !set.is_object() || !set.contains("keys") || !set["keys"].is_array())
    return "the provider's JWKS is not a key set";
  cjose_err err{};
  std::unique_ptr<cjose_jws_t, JwsRelease> jws(cjose_jws_import(token.data(), token.size(), &err));
  if (!jws) return std::string("logout_token does not parse: ") + (err.message ? err.message : "");
  bool tried = false, verified = false;
  for (const auto& jwk : set["keys"]) {
    if (!jwk.is_object() || !key_fits(jwk, alg)) continue;
    if (!kid.empty() && jwk.value("kid", "") != kid) continue;
    const std::string text = jwk.dump();
    std::unique_ptr<cjose_jwk_t, JwkRelease> key(cjose_jwk_import(text.data(), text.size(), &err));
    if (!key) continue;
    tried = true;
    if (cjose_jws_verify(jws.get(), key.get(), &err)) {
      verified = true;
      break;
    }
  }
  if (!tried) {
    key_unknown = true;
    return "no key of the provider's JWKS fits (kid " + (kid.empty() ? std::string("none") : kid) + ", " + alg + ")";
  }
  if (!verified) return "the signature does not verify";
  std::uint8_t* plain = nullptr;
  std::size_t plain_len = 0;
  if (!cjose_jws_get_plaintext(jws.get(), &plain, &plain_len, &err)) return "no payload";
  nlohmann::json claims =
      nlohmann::json::parse(std::string(reinterpret_cast<const char*>(plain), plain_len), nullptr, false);
  if (claims.is_discarded()) return "the claims are not JSON";
  return check_logout_claims(claims, settings, now, out);
}

std::string http_get(const std::string& url, std::size_t max_bytes) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) throw std::runtime_error("cannot start libcurl");
  std::pair<std::string, std::size_t> body{"", max_bytes};
  char error[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl.get(), CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT, 5L);
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl.get(), CURLOPT_ERRORBUFFER, error);
  CURLcode code = curl_easy_perform(curl.get());
  if (code != CURLE_OK) throw std::runtime_error(url + ": " + (error[0] ? error : curl_easy_strerror(code)));
  long status = 0;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) throw std::runtime_error(url + ": HTTP status " + std::to_string(status));
  return body.first;
}

std::string JwksCache::keys(bool refresh, std::string& error) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::int64_t now = steady_seconds();
  bool stale = keys_.empty() || now - loaded_at_ >= settings_.oidc_jwks_refresh / kMicrosPerSecond;
  // A token naming an unknown key may be a rotation, or someone making us fetch: at most every 10 s.
  if ((stale || refresh) && now - tried_at_ >= 10) {
    tried_at_ = now;
    try {
      std::string text;
      if (!settings_.oidc_jwks_file.empty()) {
        std::ifstream in(settings_.oidc_jwks_file);
        if (!in) throw std::runtime_error("cannot read " + settings_.oidc_jwks_file);
        std::stringstream s;
        s << in.rdbuf();
        text = s.str();
      } else {
        text = http_get(settings_.oidc_jwks_url, kMaxJwks);
      }
      nlohmann::json set = nlohmann::json::parse(text, nullptr, false);
      if (set.is_discarded() || !set.is_object() || !set.contains("keys")) throw std::runtime_error("not a JWKS document");
      keys_ = text;
      loaded_at_ = now;
    } catch (const std::exception& e) {
      error = std::string("cannot load the provider's keys: ") + e.what();
    }
  }
  return keys_;
}

bool cas_origin_allowed(const std::string& ip, const std::vector<std::string>& servers, std::string& matched) {
  if (ip.empty()) return false;
  for (const auto& server : servers) {
    if (server == ip) {
      matched = server;
      return true;
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (getaddrinfo(server.c_str(), nullptr, &hints, &found) != 0) continue;
    std::unique_ptr<addrinfo, void (*)(addrinfo*)> hold(found, freeaddrinfo);
    for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
      char text[INET6_ADDRSTRLEN] = "";
      const void* where = a->ai_family == AF_INET
                              ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr)
                              : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr);
      if (inet_ntop(a->ai_family, where, text, sizeof text) != nullptr && ip == text) {
        matched = server;
        return true;
      }
    }
  }
  return false;
}

App::App(Settings settings, Backend& backend) : settings_(std::move(settings)), backend_(backend) {}
App::~App() = default;

// --- the receivers -------------------------------------------------------------------------

namespace {
// OpenID Connect Back-Channel Logout 1.0, section 2.8: 400 with an OAuth-style error.
Response oidc_refusal(const std::string& why) {
  Response r;
  r.status = 400;
  r.header("Content-Type", "application/json");
  r.header("Cache-Control", "no-store");
  r.body = nlohmann::json{{"error", "invalid_request"}, {"error_description", why}}.dump();
  return r;
}

std::string form_field(const std::vector<std::pair<std::string, std::string>>& form, const char* name) {
  for (const auto& [k, v] : form) {
    if (k == name) return v;
  }
  return "";
}
}  // namespace

Response App::oidc_logout(Context& ctx) {
  const SsoSettings& sso = settings_.sso;
  if (!sso.oidc_enabled()) throw NotFound("There is no page at this address.");
  auto refuse = [&](const std::string& why) {
    ctx.request.log("sso: OpenID Connect back-channel logout from " + ctx.ip + " refused: " + why);
    return oidc_refusal(why);
  };
  std::string type = sg::to_lower(ctx.request.param("CONTENT_TYPE"));
  if (type.compare(0, 33, "application/x-www-form-urlencoded") != 0)
    return refuse("the body must be application/x-www-form-urlencoded");
  std::string token = form_field(sg::parse_form(ctx.request.body(settings_.max_body)), "logout_token");
  if (!jwks_) jwks_ = std::make_unique<JwksCache>(settings_.sso);
  std::string load_error;
  std::string keys = jwks_->keys(false, load_error);
  if (!load_error.empty()) ctx.request.log("sso: " + load_error);
  const std::int64_t now = sg::wall_clock_micros() / kMicrosPerSecond;
  LogoutToken claims;
  bool key_unknown = false;
  std::string why = keys.empty() ? "the provider's keys are not available" : verify_logout_token(token, keys, sso, now, claims, key_unknown);
  if (key_unknown) {
    // A key the provider rotated in since we fetched: fetch again (rate-limited) and retry once.
    load_error.clear();
    keys = jwks_->keys(true, load_error);
    if (!load_error.empty()) ctx.request.log("sso: " + load_error);
    why = verify_logout_token(token, keys, sso, now, claims, key_unknown);
  }
  if (!why.empty()) return refuse(why);

  SsoLogout logout;
  logout.protocol = SsoLogout::Protocol::oidc;
  logout.sub = claims.sub;
  logout.sid = claims.sid;
  // The jti is remembered as long as the token could still be accepted: until its exp, and
  // at least as long as iat stays within the allowed window.
  logout.token_hash = session_fingerprint("sso-jti", claims.iss + "\n" + claims.jti).hex();
  std::int64_t window_end = claims.iat + sso.oidc_max_age / kMicrosPerSecond + sso.oidc_max_skew / kMicrosPerSecond;
  logout.token_expires = std::max(claims.exp, window_end);
  Actor actor{sg::utf8_sanitize(claims.iss, 190), ctx.ip, "sso"};
  ActionResult result;
  try {
    result = backend_.sso_logout(logout, actor);
  } catch (const OperationError& e) {
    return refuse(e.what());
  } catch (const StoreError& e) {
    // The spec's answer to a logout that failed; the provider may send it again, and the
    // jti was not consumed (it commits with the endings).
    ctx.request.log("sso: database unavailable: " + std::string(e.what()));
    return oidc_refusal("the logout could not be recorded right now (database unavailable); nothing was ended");
  }
  changed(ctx, result);
  Response r;
  r.header("Content-Type", "application/json");
  r.header("Cache-Control", "no-store");
  r.body = "{}";
  return r;
}

Response App::cas_logout(Context& ctx) {
  const SsoSettings& sso = settings_.sso;
  if (!sso.cas_enabled()) throw NotFound("There is no page at this address.");
  std::string server;
  if (!cas_origin_allowed(ctx.ip, sso.cas_servers, server)) {
    ctx.request.log("sso: CAS logout request from " + ctx.ip + " refused: not a configured CAS server (cas_servers)");
    throw Forbidden("This address accepts logout requests from the configured CAS servers only.", "not_cas_server");
  }
  std::string type = sg::to_lower(ctx.request.param("CONTENT_TYPE"));
  if (type.compare(0, 33, "application/x-www-form-urlencoded") != 0)
    throw UnsupportedMediaType("A CAS logout request is sent as application/x-www-form-urlencoded.");
  std::string xml = form_field(sg::parse_form(ctx.request.body(settings_.max_body)), "logoutRequest");
  std::string error;
  auto ticket = parse_cas_logout_request(xml, error);
  if (!ticket) {
    ctx.request.log("sso: CAS logout request from " + ctx.ip + " refused: " + error);
    throw BadRequest("The logoutRequest is not a CAS SAML logout request: " + error, "invalid_request");
  }
  SsoLogout logout;
  logout.protocol = SsoLogout::Protocol::cas;
  logout.ticket = *ticket;
  ActionResult result = backend_.sso_logout(logout, Actor{"CAS " + server, ctx.ip, "sso"});
  changed(ctx, result);
  // An unknown ticket (a session already ended, or an app Session Guard does not guard)
  // is answered like a known one: the CAS server has nothing to do differently.
  Response r;
  r.header("Content-Type", "text/plain; charset=utf-8");
  r.body = "OK\n";
  return r;
}

}  // namespace sg::admin
