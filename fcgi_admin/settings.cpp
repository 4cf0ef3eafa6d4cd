#include "settings.hpp"
#include "sso.hpp"

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "sg/text.hpp"

namespace sg::admin {

std::map<std::string, std::map<std::string, std::string>> parse_option_file(std::string_view text) {
  std::map<std::string, std::map<std::string, std::string>> groups;
  std::string group;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = sg::trim(text.substr(pos, end - pos));
    pos = end + 1;
    if (!line.empty() && line.back() == '\r') line = sg::trim(line.substr(0, line.size() - 1));
    if (line.empty() || line[0] == '#' || line[0] == ';' || line[0] == '!') continue;
    if (line.front() == '[') {
      std::size_t close = line.find(']');
      group = to_lower(sg::trim(line.substr(1, close == std::string_view::npos ? line.size() - 1 : close - 1)));
      continue;
    }
    std::size_t eq = line.find('=');
    std::string key = to_lower(sg::trim(line.substr(0, eq)));
    std::string_view raw = eq == std::string_view::npos ? std::string_view{} : sg::trim(line.substr(eq + 1));
    if (raw.size() >= 2 && (raw.front() == '"' || raw.front() == '\'') && raw.back() == raw.front()) {
      raw = raw.substr(1, raw.size() - 2);
    }
    std::string value;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '\\' && i + 1 < raw.size()) {
        char next = raw[++i];
        value.push_back(next == 'n' ? '\n' : next == 't' ? '\t' : next);
      } else {
        value.push_back(raw[i]);
      }
    }
    for (char& c : key) if (c == '-') c = '_';
    groups[group][key] = value;
  }
  return groups;
}

namespace {
bool parse_bool(const std::string& value, bool& out) {
  std::string v = to_lower(value);
  if (v == "on" || v == "1" || v == "yes" || v == "true") return out = true, true;
  if (v == "off" || v == "0" || v == "no" || v == "false") return out = false, true;
  return false;
}
bool parse_seconds(const std::string& value, Micros& out, Micros min) {
  char* end = nullptr;
  double seconds = std::strtod(value.c_str(), &end);
  if (value.empty() || end == nullptr || *end != '\0' || seconds * kMicrosPerSecond < min || seconds > 86400 * 7)
    return false;
  out = static_cast<Micros>(seconds * kMicrosPerSecond);
  return true;
}
}  // namespace

// "a, b c" -> {a, b, c}
std::vector<std::string> split_list(const std::string& value) {
  std::vector<std::string> out;
  std::string item;
  for (char c : value + " ") {
    if (c == ',' || c == ' ' || c == '\t') {
      if (!item.empty()) out.push_back(item);
      item.clear();
    } else {
      item += c;
    }
  }
  return out;
}

namespace {
// How one [fcgi_admin] key is read into the settings; false: the value is not valid.
using SettingReader = std::function<bool(const std::string& value, Settings& s)>;

bool set_if(bool ok, std::string& target, const std::string& value) {
  if (ok) target = value;
  return ok;
}
bool absolute_path(const std::string& value) { return !value.empty() && value.front() == '/'; }
bool http_url(const std::string& value) { return value.rfind("https://", 0) == 0 || value.rfind("http://", 0) == 0; }
// Safe to put in a page's attributes and links as it is.
bool link_safe(const std::string& value) { return value.find_first_of("\"'<> ?#") == std::string::npos; }
bool set_number(const std::string& value, int& target, int min, int max) {
  target = std::atoi(value.c_str());
  return target >= min && target <= max;
}
bool set_list(const std::string& value, std::vector<std::string>& target) {
  target = split_list(value);
  return !target.empty();
}

const std::map<std::string, SettingReader>& setting_readers() {
  using V = const std::string&;
  static const std::map<std::string, SettingReader> readers = {
      {"prefix", [](V v, Settings& s) { return set_if(absolute_path(v) && v.back() != '/' && link_safe(v), s.prefix, v); }},
      {"sendmail", [](V v, Settings& s) { return set_if(absolute_path(v), s.sendmail, v); }},
      {"public_url", [](V v, Settings& s) {
         return set_if(v.empty() || (http_url(v) && v.back() != '/' && link_safe(v)), s.public_url, v);
       }},
      {"credentials_file", [](V v, Settings& s) { return set_if(absolute_path(v), s.credentials_file, v); }},
      {"link_secret", [](V v, Settings& s) { return set_if(v.size() >= 16, s.policy.link_key, v); }},
      {"link_lifetime", [](V v, Settings& s) { return parse_seconds(v, s.policy.link_lifetime, 60 * kMicrosPerSecond); }},
      {"mail_from", [](V v, Settings& s) { return set_if(true, s.mail_from, v); }},
      {"mail_interval", [](V v, Settings& s) { return parse_seconds(v, s.mail_interval, 100000); }},
      {"mail_retry", [](V v, Settings& s) { return parse_seconds(v, s.mail_retry_base, 100000); }},
      {"mail_retry_max", [](V v, Settings& s) { return parse_seconds(v, s.mail_retry_max, 100000); }},
      {"mail_timeout", [](V v, Settings& s) { return parse_seconds(v, s.mail_timeout, 100000); }},
      {"mail_max_attempts", [](V v, Settings& s) { return set_number(v, s.mail_max_attempts, 1, 1000); }},
      {"sample_interval", [](V v, Settings& s) { return parse_seconds(v, s.sample_interval, 1000000); }},
      {"refresh", [](V v, Settings& s) { return set_number(v, s.refresh_seconds, 0, 3600); }},
      {"notify_kill", [](V v, Settings& s) { return parse_bool(v, s.policy.notify_kill); }},
      {"notify_block", [](V v, Settings& s) { return parse_bool(v, s.policy.notify_block); }},
      {"kill_subject", [](V v, Settings& s) { return set_if(true, s.policy.kill.subject, v); }},
      {"kill_body", [](V v, Settings& s) { return set_if(true, s.policy.kill.body, v); }},
      {"kill_user_subject", [](V v, Settings& s) { return set_if(true, s.policy.kill_user.subject, v); }},
      {"kill_user_body", [](V v, Settings& s) { return set_if(true, s.policy.kill_user.body, v); }},
      {"block_subject", [](V v, Settings& s) { return set_if(true, s.policy.block.subject, v); }},
      {"block_body", [](V v, Settings& s) { return set_if(true, s.policy.block.body, v); }},
      {"logout_subject", [](V v, Settings& s) { return set_if(true, s.policy.logout_request.subject, v); }},
      {"logout_body", [](V v, Settings& s) { return set_if(true, s.policy.logout_request.body, v); }},
      {"oidc_issuer", [](V v, Settings& s) { return set_if(http_url(v), s.sso.oidc_issuer, v); }},
      {"oidc_audience", [](V v, Settings& s) { return set_if(!v.empty(), s.sso.oidc_audience, v); }},
      {"oidc_jwks_file", [](V v, Settings& s) { return set_if(absolute_path(v), s.sso.oidc_jwks_file, v); }},
      {"oidc_jwks_url", [](V v, Settings& s) { return set_if(http_url(v), s.sso.oidc_jwks_url, v); }},
      {"oidc_jwks_refresh", [](V v, Settings& s) { return parse_seconds(v, s.sso.oidc_jwks_refresh, 10 * kMicrosPerSecond); }},
      {"oidc_max_age", [](V v, Settings& s) { return parse_seconds(v, s.sso.oidc_max_age, kMicrosPerSecond); }},
      {"oidc_max_skew", [](V v, Settings& s) { return parse_seconds(v, s.sso.oidc_max_skew, 0); }},
      {"oidc_algorithms", [](V v, Settings& s) {
         return set_list(v, s.sso.oidc_algorithms) &&
                std::all_of(s.sso.oidc_algorithms.begin(), s.sso.oidc_algorithms.end(), sso_algorithm_allowed);
       }},
      {"cas_servers", [](V v, Settings& s) { return set_list(v, s.sso.cas_servers); }},
  };
  return readers;
}
}  // namespace

std::string apply_settings(const std::map<std::string, std::string>& group, Settings& s) {
  for (const auto& [key, value] : group) {
    auto reader = setting_readers().find(key);
    if (reader == setting_readers().end()) return key + ": unknown setting";
    if (!reader->second(value, s)) return key + ": invalid value '" + value + "'";
  }
  if (s.sso.oidc_enabled() && s.sso.oidc_audience.empty()) return "oidc_issuer: needs oidc_audience (our client_id)";
  if (s.sso.oidc_enabled() && s.sso.oidc_jwks_file.empty() == s.sso.oidc_jwks_url.empty())
    return "oidc_issuer: needs exactly one of oidc_jwks_file and oidc_jwks_url";
  return "";
}

std::string expand_includes(std::string_view text, int depth) {
  std::string out;
  std::string group;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = sg::trim(text.substr(pos, end - pos));
    pos = end + 1;
    if (!line.empty() && line.front() == '[') group = std::string(line);
    if (line.rfind("!include", 0) == 0 && line.rfind("!includedir", 0) != 0) {
      std::string path(sg::trim(line.substr(8)));
      std::ifstream in(path);
      // As MariaDB's clients do: a file this user may not read is skipped. That is the
      // point of the layout: the admin's credentials sit in a file only its user reads.
      if (in && depth < 10) {
        std::stringstream included;
        included << in.rdbuf();
        out += "\n" + expand_includes(included.str(), depth + 1) + "\n";
        // An included file's groups end with it; the including file goes on in its own.
        out += group.empty() ? "[]\n" : group + "\n";
      }
      continue;
    }
    out.append(line.data(), line.size());
    out += "\n";
  }
  return out;
}

namespace {
std::map<std::string, std::map<std::string, std::string>> read_option_file(const std::string& path, const char* hint) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read the option file " + path + hint);
  std::stringstream text;
  text << in.rdbuf();
  return parse_option_file(expand_includes(text.str(), 0));
}

// The admin program's own account when the file has one; else the file's [session_guard]
// serves it (a single-file install).
void take_account(const std::string& path, const std::map<std::string, std::map<std::string, std::string>>& groups,
                  Settings& settings) {
  settings.db_options_file = path;
  settings.db_group = groups.count(kAdminGroup) ? kAdminGroup : "session_guard";
}

void take_settings(const std::string& path, const std::map<std::string, std::map<std::string, std::string>>& groups,
                   Settings& settings) {
  if (auto it = groups.find("fcgi_admin"); it != groups.end()) {
    std::string error = apply_settings(it->second, settings);
    if (!error.empty()) throw std::runtime_error(path + " [fcgi_admin] " + error);
  }
}
}  // namespace

Settings load_settings(const std::string& path) {
  Settings settings;
  std::string file = settings.db_options_file;
  if (!path.empty()) file = path;
  else if (const char* env = std::getenv("SG_DB_CNF")) file = env;
  auto groups = read_option_file(file, " (set SG_DB_CNF or --config)");
  take_account(file, groups, settings);
  take_settings(file, groups, settings);
  if (!settings.credentials_file.empty() && settings.credentials_file != file) {
    // No fallback to the file's own account: an admin program that cannot read its
    // credentials must say so, not carry on as the module.
    const std::string credentials = settings.credentials_file;
    auto own = read_option_file(credentials, (" (credentials_file in " + file + "; fcgi_admin must run as a user "
                                              "that may read it)").c_str());
    take_account(credentials, own, settings);
    take_settings(credentials, own, settings);
  }
  std::map<std::string, std::string> overrides;
  if (const char* env = std::getenv("SG_ADMIN_PREFIX")) overrides["prefix"] = env;
  if (const char* env = std::getenv("SG_SENDMAIL")) overrides["sendmail"] = env;
  std::string error = apply_settings(overrides, settings);
  if (!error.empty()) throw std::runtime_error("environment: " + error);
  if (!settings.public_url.empty()) settings.policy.link_base = settings.public_url + settings.prefix + "/wasnt-me?t=";
  return settings;
}

}  // namespace sg::admin
