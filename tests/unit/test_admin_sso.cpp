// The OpenID Connect logout token checks (header, claims, signature against a JWKS, with
// keys made here by cjose) and the receivers' routing through the App with a fake backend:
// off unless configured, the CAS origin check, replayed tokens.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>

#include <cjose/header.h>
#include <cjose/jwk.h>
#include <cjose/jws.h>

#include "admin_fakes.hpp"
#include "app.hpp"
#include "listing.hpp"
#include "sso.hpp"
// Last: cmocka defines a `fail` macro that must not meet the C++ headers.
#include "unit.hpp"

namespace {

using nlohmann::json;
using sg::admin::SsoSettings;

constexpr const char* kEvent = "http://schemas.openid.net/event/backchannel-logout";
const std::int64_t kNow = 1700000000;

SsoSettings settings() {
  SsoSettings s;
  s.oidc_issuer = "https://idp.example";
  s.oidc_audience = "client-1";
  return s;
}

json claims() {
  return json{{"iss", "https://idp.example"}, {"aud", "client-1"}, {"iat", kNow}, {"exp", kNow + 120},
              {"jti", "j-1"}, {"sub", "alice"}, {"events", {{kEvent, json::object()}}}};
}

std::string why(const json& c) {
  sg::admin::LogoutToken out;
  return sg::admin::check_logout_claims(c, settings(), kNow, out);
}

struct Key {
  std::unique_ptr<cjose_jwk_t, bool (*)(cjose_jwk_t*)> jwk{nullptr, cjose_jwk_release};
  std::string kid;
  explicit Key(std::string id) : kid(std::move(id)) {
    static const std::uint8_t e[] = {0x01, 0x00, 0x01};
    jwk.reset(cjose_jwk_create_RSA_random(2048, e, sizeof e, nullptr));
    assert_non_null(jwk.get());
  }
  json public_jwk() const {
    char* text = cjose_jwk_to_json(jwk.get(), false, nullptr);
    json j = json::parse(text);
    std::free(text);
    j["kid"] = kid;
    return j;
  }
  std::string sign(const json& payload, const char* alg = "RS256") const {
    cjose_header_t* header = cjose_header_new(nullptr);
    cjose_header_set(header, CJOSE_HDR_ALG, alg, nullptr);
    cjose_header_set(header, CJOSE_HDR_KID, kid.c_str(), nullptr);
    std::string text = payload.dump();
    cjose_jws_t* jws = cjose_jws_sign(jwk.get(), header, reinterpret_cast<const std::uint8_t*>(text.data()),
                                      text.size(), nullptr);
    const char* compact = nullptr;
    cjose_jws_export(jws, &compact, nullptr);
    std::string out = compact;
    cjose_jws_release(jws);
    cjose_header_release(header);
    return out;
  }
};

const Key& key() {
  static Key k("k1");
  return k;
}
const Key& other_key() {
  static Key k("k1");  // the same kid, another key: a forger who knows the kid
  return k;
}
std::string jwks() { return json{{"keys", json::array({key().public_jwk()})}}.dump(); }

std::string verify(const std::string& token, bool* unknown = nullptr) {
  sg::admin::LogoutToken out;
  bool key_unknown = false;
  std::string r = sg::admin::verify_logout_token(token, jwks(), settings(), kNow, out, key_unknown);
  if (unknown) *unknown = key_unknown;
  return r;
}

}  // namespace

SG_TEST(claims_accepted_as_the_spec_writes_them) {
  assert_str_eq(why(claims()), "");
  json c = claims();
  c.erase("exp");  // exp is optional
  c["aud"] = json::array({"other", "client-1"});
  c.erase("sub");
  c["sid"] = "s-1";
  assert_str_eq(why(c), "");
}

SG_TEST(claims_refused_one_by_one) {
  auto with = [](const char* name, json value) {
    json c = claims();
    if (value.is_null()) c.erase(name);
    else c[name] = value;
    return why(c);
  };
  assert_contains(with("iss", "https://evil.example"), "issuer");
  assert_contains(with("iss", nullptr), "no iss");
  assert_contains(with("aud", "client-2"), "aud");
  assert_contains(with("aud", json::array({"client-2"})), "aud");
  assert_contains(with("aud", nullptr), "aud");
  assert_contains(with("iat", nullptr), "no iat");
  assert_contains(with("iat", "1700000000"), "no iat");
  assert_contains(with("iat", kNow + 61), "future");
  assert_str_eq(with("iat", kNow + 60), "");
  assert_contains(with("iat", kNow - 301), "older");
  assert_contains(with("exp", kNow - 61), "expired");
  assert_contains(with("exp", "soon"), "exp");
  assert_contains(with("jti", nullptr), "no jti");
  assert_contains(with("jti", ""), "no jti");
  assert_contains(with("events", nullptr), "events");
  assert_contains(with("events", json::array({kEvent})), "events");
  assert_contains(with("events", json{{"http://example.com/x", json::object()}}), "events");
  assert_contains(with("events", json{{kEvent, "yes"}}), "events");
  assert_contains(with("nonce", "n"), "nonce");
  json c = claims();
  c.erase("sub");
  assert_contains(why(c), "neither sub nor sid");
  assert_contains(why(json::array()), "not a JSON object");
}

SG_TEST(header_allow_list) {
  SsoSettings s = settings();
  assert_str_eq(sg::admin::check_logout_header(json{{"alg", "RS256"}}, s), "");
  assert_str_eq(sg::admin::check_logout_header(json{{"alg", "RS256"}, {"typ", "logout+jwt"}}, s), "");
  assert_contains(sg::admin::check_logout_header(json{{"alg", "none"}}, s), "not accepted");
  assert_contains(sg::admin::check_logout_header(json{{"alg", "HS256"}}, s), "not accepted");
  assert_contains(sg::admin::check_logout_header(json{{"alg", "RS512"}}, s), "not accepted");  // not configured
  assert_contains(sg::admin::check_logout_header(json{{"alg", "RS256"}, {"crit", {"b64"}}}, s), "crit");
  assert_contains(sg::admin::check_logout_header(json{{"alg", "RS256"}, {"typ", "at+jwt"}}, s), "typ");
  assert_contains(sg::admin::check_logout_header(json::object(), s), "no alg");
  // The settings cannot be talked into none or HS*.
  assert_false(sg::admin::sso_algorithm_allowed("none"));
  assert_false(sg::admin::sso_algorithm_allowed("HS256"));
  assert_true(sg::admin::sso_algorithm_allowed("ES256"));
  s.oidc_algorithms = {"HS256"};
  assert_contains(sg::admin::check_logout_header(json{{"alg", "HS256"}}, s), "not accepted");
}

SG_TEST(signature_verified_against_the_jwks) {
  assert_str_eq(verify(key().sign(claims())), "");
  // A valid token whose claims are then changed.
  std::string token = key().sign(claims());
  json bob = claims();
  bob["sub"] = "bob";
  std::string forged = key().sign(bob);
  std::string mixed = token.substr(0, token.find('.')) + forged.substr(forged.find('.'), forged.rfind('.') - forged.find('.')) +
                      token.substr(token.rfind('.'));
  assert_str_eq(verify(mixed), "the signature does not verify");
  assert_str_eq(verify(other_key().sign(claims())), "the signature does not verify");
  bool unknown = false;
  Key stranger("k9");
  assert_contains(verify(stranger.sign(claims()), &unknown), "no key");
  assert_true(unknown);
  // alg none: unsigned, or with a made-up signature.
  std::string none = token.substr(0, token.find('.'));
  std::string body = token.substr(token.find('.'), token.rfind('.') - token.find('.'));
  assert_str_eq(verify("eyJhbGciOiJub25lIn0" + body + "."), "logout_token is not signed");
  assert_contains(verify("eyJhbGciOiJub25lIn0" + body + ".c2ln"), "algorithm none");
  assert_contains(verify("a.b"), "three parts");
  assert_contains(verify("%%%" + body + ".c2ln"), "base64url");
  assert_contains(verify(std::string(20000, 'a')), "too long");
  // Good signature, bad claims: the claims still decide.
  json with_nonce = claims();
  with_nonce["nonce"] = "n";
  assert_contains(verify(key().sign(with_nonce)), "nonce");
}

// --- through the App -----------------------------------------------------------------------

namespace {
sg::admin::Response call(fake::Backend& backend, const sg::admin::Settings& settings, const std::string& path,
                         const std::string& body, const std::string& ip = "192.0.2.10",
                         fake::Request* out = nullptr) {
  sg::admin::App app(settings, backend);
  fake::Request request;
  request.params["REQUEST_METHOD"] = "POST";
  request.params["REQUEST_URI"] = "/session-guard" + path;
  request.params["REMOTE_ADDR"] = ip;
  request.params["CONTENT_TYPE"] = "application/x-www-form-urlencoded";
  request.body_text = body;
  app.handle(request);
  if (out) *out = request;
  return request.sent;
}

std::string jwks_file() {
  static std::string path = [] {
    std::string p = "/tmp/sg-unit-jwks-" + std::to_string(getpid()) + ".json";
    std::ofstream(p) << jwks();
    return p;
  }();
  return path;
}
}  // namespace

SG_TEST(receivers_answer_404_until_configured) {
  fake::Backend backend;
  sg::admin::Settings plain;
  assert_int_equal(call(backend, plain, "/sso/oidc-logout", "logout_token=x").status, 404);
  assert_int_equal(call(backend, plain, "/sso/cas-logout", "logoutRequest=x").status, 404);
  assert_true(backend.calls.empty());
}

SG_TEST(oidc_receiver_ends_sessions_once_per_jti) {
  fake::Backend backend;
  sg::admin::Settings s;
  s.sso = settings();
  s.sso.oidc_jwks_file = jwks_file();
  s.sso.oidc_max_age = 3600LL * 24 * 365 * 100 * sg::kMicrosPerSecond;  // kNow is in the past
  json c = claims();
  c["iat"] = sg::wall_clock_micros() / sg::kMicrosPerSecond;
  c["exp"] = c["iat"].get<std::int64_t>() + 60;
  std::string body = "logout_token=" + key().sign(c);
  sg::admin::Response r = call(backend, s, "/sso/oidc-logout", body);
  assert_int_equal(r.status, 200);
  assert_str_eq(r.header_value("Cache-Control"), "no-store");
  assert_int_equal(backend.calls.size(), 1);
  assert_str_eq(backend.calls[0], "sso:oidc:alice:::https://idp.example:sso");
  fake::Request seen;
  r = call(backend, s, "/sso/oidc-logout", body, "192.0.2.10", &seen);
  assert_int_equal(r.status, 400);
  assert_contains(r.body, "\"error\":\"invalid_request\"");
  assert_contains(r.body, "already used");
  assert_int_equal(backend.calls.size(), 1);
  assert_true(!seen.logged.empty());
  assert_contains(seen.logged.back(), "refused: this logout token (jti) was already used");
  // A database that is down: the spec's 400, nothing ended, the jti not consumed.
  backend.down = true;
  c["jti"] = "j-2";
  r = call(backend, s, "/sso/oidc-logout", "logout_token=" + key().sign(c));
  assert_int_equal(r.status, 400);
  assert_contains(r.body, "database unavailable");
}

SG_TEST(cas_receiver_checks_the_origin_and_the_xml) {
  fake::Backend backend;
  sg::admin::Settings s;
  s.sso.cas_servers = {"192.0.2.10", "localhost"};
  const std::string xml = "logoutRequest=%3CLogoutRequest%3E%3CSessionIndex%3EST-1%3C%2FSessionIndex%3E%3C%2FLogoutRequest%3E";
  assert_int_equal(call(backend, s, "/sso/cas-logout", xml, "203.0.113.5").status, 403);
  assert_true(backend.calls.empty());
  assert_int_equal(call(backend, s, "/sso/cas-logout", "logoutRequest=%3Cx%3E").status, 400);
  assert_true(backend.calls.empty());
  assert_int_equal(call(backend, s, "/sso/cas-logout", xml).status, 200);
  assert_str_eq(backend.calls.at(0), "sso:cas:::ST-1:CAS 192.0.2.10:sso");
  // A host name is resolved forwards: localhost is 127.0.0.1.
  assert_int_equal(call(backend, s, "/sso/cas-logout", xml, "127.0.0.1").status, 200);
  assert_str_eq(backend.calls.at(1), "sso:cas:::ST-1:CAS localhost:sso");
}

SG_TEST(settings_refuse_weak_algorithms_and_half_configurations) {
  sg::admin::Settings s;
  assert_contains(sg::admin::apply_settings({{"oidc_algorithms", "RS256, HS256"}}, s), "oidc_algorithms");
  assert_contains(sg::admin::apply_settings({{"oidc_algorithms", "none"}}, s), "oidc_algorithms");
  sg::admin::Settings t;
  assert_contains(sg::admin::apply_settings({{"oidc_issuer", "https://idp"}}, t), "oidc_audience");
  sg::admin::Settings u;
  assert_contains(sg::admin::apply_settings({{"oidc_issuer", "https://idp"}, {"oidc_audience", "c"}}, u), "jwks");
  sg::admin::Settings v;
  assert_str_eq(sg::admin::apply_settings({{"oidc_issuer", "https://idp"}, {"oidc_audience", "c"},
                                           {"oidc_jwks_url", "https://idp/jwks"}, {"oidc_algorithms", "RS256 ES256"},
                                           {"cas_servers", "cas.example, 192.0.2.1"}},
                                          v),
                "");
  assert_int_equal(v.sso.oidc_algorithms.size(), 2);
  assert_int_equal(v.sso.cas_servers.size(), 2);
}

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(claims_accepted_as_the_spec_writes_them),
      cmocka_unit_test(claims_refused_one_by_one),
      cmocka_unit_test(header_allow_list),
      cmocka_unit_test(signature_verified_against_the_jwks),
      cmocka_unit_test(receivers_answer_404_until_configured),
      cmocka_unit_test(oidc_receiver_ends_sessions_once_per_jti),
      cmocka_unit_test(cas_receiver_checks_the_origin_and_the_xml),
      cmocka_unit_test(settings_refuse_weak_algorithms_and_half_configurations),
  };
  int failed = cmocka_run_group_tests_name("admin_sso", tests, nullptr, nullptr);
  std::remove(jwks_file().c_str());
  return failed;
}
