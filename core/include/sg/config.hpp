// Directive values and their parsers. Parsers return an error message (or nothing) and know
// nothing of Apache, so every directive is unit-tested; the glue only forwards strings.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sg/types.hpp"

namespace sg {

using ConfigError = std::optional<std::string>;

// A path with optional required query parameters: "/perl/app.cgi?action=login".
struct RequestTarget {
  std::string path;
  std::vector<std::pair<std::string, std::string>> query;
  // Some app reader could take the request for this target (see app_reader.hpp).
  bool matches(std::string_view uri_path, std::string_view query_string) const;
};

struct CookieSpec {
  std::string name;
  std::string path = "/";  // where the app sets it, so the denial can clear it
  // A cookie only signed-in users have ("remember me"): a value the module does not know as
  // bound is removed from the request before the app can sign anyone in with it.
  bool signed_in_only = false;
};

// What a response must show for a login or logout to count; every check of a rule must hold.
struct ResponseCheck {
  enum class Kind { redirect_away, status, header, body_has, body_lacks, sets_cookie, clears_cookie };
  Kind kind = Kind::redirect_away;
  int status = 0;
  std::string text;  // header name, body text or cookie name
};

// Form fields a request body must carry for a rule to apply ("form:action=logout").
using FormFields = std::vector<std::pair<std::string, std::string>>;

struct LoginForm {
  RequestTarget target;
  FormFields form;
  std::string user_field;
  std::vector<ResponseCheck> success;  // never empty: "redirect" when none is given
};

struct LogoutRule {
  RequestTarget target;
  FormFields form;
  // Empty: the response must clear (or replace) the session's cookie, which every app that
  // really signs out does; a request to the logout URL alone proves nothing.
  std::vector<ResponseCheck> success;
};

struct DenyAction {
  enum class Kind { page, redirect, status };
  Kind kind = Kind::page;
  std::string url;
  int status = 403;
};

enum class FailMode { open, closed };

// Per-directory settings; unset members inherit from the enclosing scope.
struct DirConfig {
  std::optional<bool> enabled;
  std::optional<std::vector<CookieSpec>> cookies;
  std::optional<std::vector<LoginForm>> login_forms;
  std::optional<std::string> user_header;
  std::optional<std::vector<LogoutRule>> logout_targets;
  std::optional<DenyAction> deny_action;
  std::optional<std::uint32_t> max_sessions;  // 0 = no limit
  std::optional<bool> refuse_new;             // at the limit: refuse the new login (else end the oldest)
  std::optional<Micros> idle_timeout;         // 0 = none
  std::optional<Micros> max_lifetime;         // 0 = none; counted from login, never extended
  std::optional<bool> app_env;                // SESSION_GUARD_USER/_SESSION for the app (default off)
  std::optional<bool> cas_tickets;            // tie CAS tickets to the values their responses set (default off)
  std::map<Reason, std::string> messages;     // merged per reason

};

DirConfig merge(const DirConfig& parent, const DirConfig& child);

struct ServerConfig {
  std::optional<std::string> db_options_file;
  std::optional<std::string> db_options_group;
  std::optional<Micros> poll_interval;
  std::optional<FailMode> fail_mode;
  std::optional<Micros> max_stale;
  std::optional<std::uint32_t> deny_capacity;
  // How long a revocation is kept: at least as long as the app's own longest session or
  // remember-me cookie, since a revocation forgotten earlier lets that cookie work again.
  std::optional<Micros> revocation_retention;
  std::optional<std::string> state_file;  // "none" disables the copy of the deny-list on disk
  // Logins and logouts the database could not take wait here for the poller ("none": off).
  std::optional<std::string> journal_file;
  std::optional<std::uint64_t> journal_max_bytes;
  // A login while the database is unreachable: journalled and admitted (true) or refused.
  std::optional<bool> admit_when_unreachable;

  std::string db_group() const { return db_options_group.value_or("session_guard"); }
  Micros poll_interval_or_default() const { return poll_interval.value_or(250 * 1000); }
  FailMode fail_mode_or_default() const { return fail_mode.value_or(FailMode::open); }
  Micros max_stale_or_default() const { return max_stale.value_or(60 * kMicrosPerSecond); }
  std::uint32_t deny_capacity_or_default() const { return deny_capacity.value_or(100000); }
  Micros revocation_retention_or_default() const {
    return revocation_retention.value_or(kDefaultRevocationRetention);
  }
  std::uint64_t journal_max_bytes_or_default() const { return journal_max_bytes.value_or(kDefaultJournalBytes); }
  bool admit_when_unreachable_or_default() const { return admit_when_unreachable.value_or(true); }
  static constexpr std::uint64_t kDefaultJournalBytes = 16ULL << 20;
  static constexpr std::uint64_t kMinJournalBytes = 64ULL << 10;
  static constexpr std::uint64_t kMaxJournalBytes = 1ULL << 30;
  static constexpr Micros kDefaultRevocationRetention = 7 * 24 * 3600 * kMicrosPerSecond;
  // The range SessionGuardRevocationRetention accepts: shorter than an hour is shorter than
  // any real app's session; longer than a year is more than shared memory should carry.
  static constexpr Micros kMinRevocationRetention = 3600 * kMicrosPerSecond;
  static constexpr Micros kMaxRevocationRetention = 366LL * 24 * 3600 * kMicrosPerSecond;
};

ServerConfig merge(const ServerConfig& base, const ServerConfig& vhost);

ConfigError parse_on_off(std::string_view arg, std::optional<bool>& out);
// NAME [PATH] [signed-in-only]
ConfigError parse_cookie(const std::vector<std::string>& args, DirConfig& config);
ConfigError parse_request_target(std::string_view arg, RequestTarget& out);
// CHECKS: redirect, status=NNN, header=NAME, body=TEXT, body!=TEXT, sets-cookie=NAME,
// clears-cookie=NAME, and form:NAME=VALUE (a field the POST body must carry).
ConfigError parse_login_form(std::string_view path, std::string_view field, const std::vector<std::string>& checks,
                             DirConfig& config);
ConfigError parse_logout_path(std::string_view path, const std::vector<std::string>& checks, DirConfig& config);
ConfigError parse_deny_action(std::string_view kind, std::string_view arg, std::optional<DenyAction>& out);
ConfigError parse_fail_mode(std::string_view arg, std::optional<FailMode>& out);
ConfigError parse_max_sessions_action(std::string_view arg, std::optional<bool>& refuse_new);
ConfigError parse_message(std::string_view reason, std::string_view text, DirConfig& config);
// "250" is milliseconds for the poll interval; suffixes ms, s, m, h are accepted.
ConfigError parse_duration(std::string_view arg, Micros default_unit, Micros min, Micros max,
                           std::optional<Micros>& out);
// SessionGuardRevocationRetention: a duration within the range above (a bare number is seconds).
ConfigError parse_revocation_retention(std::string_view arg, std::optional<Micros>& out);
// SessionGuardJournal PATH|none [MAXBYTES]: MAXBYTES a number of bytes with an optional K, M or G.
ConfigError parse_journal(const std::vector<std::string>& args, ServerConfig& config);
// SessionGuardLoginWhenUnreachable admit|refuse
ConfigError parse_login_when_unreachable(std::string_view arg, std::optional<bool>& admit);
ConfigError parse_count(std::string_view arg, std::uint32_t min, std::uint32_t max,
                        std::optional<std::uint32_t>& out);

}  // namespace sg
