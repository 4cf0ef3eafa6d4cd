// fcgi_admin's settings: the [fcgi_admin] group of the same MariaDB option file that holds
// the database credentials ([session_guard]), so one file configures everything. The
// MariaDB clients ignore groups they do not read, so the group is safe there.
#pragma once
#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "notices.hpp"
#include "sg/types.hpp"

namespace sg::admin {

// Single sign-out receivers (fcgi_admin/sso.cpp). Each is off (404) until configured.
struct SsoSettings {
  // OpenID Connect back-channel logout at <prefix>/sso/oidc-logout: on when oidc_issuer is set.
  std::string oidc_issuer;    // the `iss` every logout token must carry, exactly
  std::string oidc_audience;  // our client_id: `aud` must be or contain it
  std::string oidc_jwks_file;  // the provider's keys (a JWKS document), or
  std::string oidc_jwks_url;   // fetched from here (http/https), cached for oidc_jwks_refresh
  Micros oidc_jwks_refresh = 3600 * kMicrosPerSecond;
  std::vector<std::string> oidc_algorithms{"RS256"};  // RS*, PS*, ES* only: never none, never HS*
  Micros oidc_max_age = 300 * kMicrosPerSecond;  // `iat` at most this old (and `exp`, when present, in the future)
  Micros oidc_max_skew = 60 * kMicrosPerSecond;  // `iat` at most this far in the future
  // CAS single logout at <prefix>/sso/cas-logout: on when cas_servers is set. The addresses
  // (or host names, resolved forwards when a request comes) the CAS servers post from.
  std::vector<std::string> cas_servers;
  bool oidc_enabled() const { return !oidc_issuer.empty(); }
  bool cas_enabled() const { return !cas_servers.empty(); }
};

struct Settings {
  std::string db_options_file = "/etc/session-guard/db.cnf";
  std::string db_group = "session_guard";
  std::string prefix = "/session-guard";  // where Apache mounts the pages
  std::string sendmail = "/usr/sbin/sendmail";
  std::string mail_from = "session-guard@localhost";
  Micros mail_interval = 10 * kMicrosPerSecond;  // how often pending mail is retried
  Micros mail_retry_base = 30 * kMicrosPerSecond;
  Micros mail_retry_max = 3600 * kMicrosPerSecond;
  int mail_max_attempts = 10;
  Micros mail_timeout = 30 * kMicrosPerSecond;  // a sendmail run that takes longer is killed
  Micros sample_interval = 10 * kMicrosPerSecond;
  int refresh_seconds = 15;  // sessions page auto-refresh; 0 = off
  std::size_t max_body = 64 * 1024;
  // Where users reach the pages, for links in mail ("https://intranet.example.com"); "" = the
  // address of the admin's request (the CLI then sends no link).
  std::string public_url;
  // The option file with fcgi_admin's own database account ([session_guard_admin]), named in
  // the module's file, which the web server may read, so the admin's password is not in it.
  std::string credentials_file;
  MailPolicy policy;
  SsoSettings sso;
};

// Groups of an option file: {group: {key: value}}. `!include` lines are ignored; values may
// be quoted and use \n, \t and \\ escapes (as MariaDB's option files do).
std::map<std::string, std::map<std::string, std::string>> parse_option_file(std::string_view text);

// The option file's text with each readable `!include FILE` in its place (unreadable ones
// skipped, as MariaDB's clients skip them); `!includedir` is not followed.
std::string expand_includes(std::string_view text, int depth = 0);

// The group that holds the admin program's own database account (sg_admin), separate from
// the module's [session_guard] so each reads only its own credentials.
inline constexpr const char* kAdminGroup = "session_guard_admin";

// Applies the [fcgi_admin] group; returns "" or the first error ("key: problem").
std::string apply_settings(const std::map<std::string, std::string>& group, Settings& settings);

// The option file named by $SG_DB_CNF (or `path` when given), with environment overrides
// SG_ADMIN_PREFIX and SG_SENDMAIL. When it names a credentials_file, that file's account and
// [fcgi_admin] settings apply too. Throws std::runtime_error with a clear message.
Settings load_settings(const std::string& path);

}  // namespace sg::admin
