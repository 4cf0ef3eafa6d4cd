// Sessions as the admin pages, the API and the CLI read them: one page of a sorted, filtered
// list (keyset paging), counts, and one session by its id. SQL in, rows out.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mariadb.hpp"
#include "sg/types.hpp"

namespace sg::db {

struct SessionRow {
  std::uint64_t id = 0;  // row id: the keyset cursor, never shown as a session id
  std::string fingerprint;
  std::string username;
  std::string state;
  Micros login_at = 0;
  Micros last_access = 0;
  std::string client_ip;
  std::string user_agent;
  std::string device;
  std::string browser;
  std::string os;
  std::string server_name;
  int idle_timeout = 0;
  int max_lifetime = 0;
  bool is_admin = false;
  Micros ended_at = 0;
  std::string ended_by;
  Micros idle_deadline = 0;      // 0 = no idle timeout
  Micros absolute_deadline = 0;  // 0 = no maximum lifetime
  std::string short_id() const;
  // The sooner deadline, 0 when neither applies ("no limit").
  Micros deadline() const;
};

// The first 8 hex digits in capitals, as people see a session ("85C8A1F2").
std::string short_session_id(std::string_view fingerprint_hex);

// Sort keys a caller may ask for; anything else is refused before SQL is built.
const std::vector<std::string>& session_sort_keys();
bool valid_session_sort(std::string_view key);

struct SessionQuery {
  std::string user;    // exact user name, empty = all
  std::string search;  // substring of user, IP, device, browser or OS
  std::string sort = "last_access";
  bool descending = true;
  std::size_t limit = 25;
  // Keyset paging: the rows after (or before) the row with this id, in the order asked for.
  std::uint64_t after_id = 0;
  std::uint64_t before_id = 0;
  bool last_page = false;  // the final `limit` rows
  bool active_only = true;
};

enum class PageMode { first, after, before, last };

// count() could not finish within its time budget (a substring search).
constexpr std::uint64_t kCountUnknown = ~std::uint64_t{0};

struct SessionPage {
  std::vector<SessionRow> rows;
  bool has_prev = false;
  bool has_next = false;
};

class SessionQueries {
 public:
  explicit SessionQueries(Connection& connection) : db_(connection) {}

  // The sort key must be one of session_sort_keys() (std::invalid_argument otherwise).
  SessionPage page(const SessionQuery& query);
  // Exact up to `cap` (0 = no cap); a result of cap + 1 means "more than cap", and
  // kCountUnknown that a search could not be counted in its time budget.
  std::uint64_t count(const SessionQuery& query, std::uint64_t cap = 0);
  std::optional<SessionRow> by_fingerprint(const std::string& fingerprint_hex);
  // Up to `limit` active sessions whose fingerprint starts with the (lower-case hex) prefix;
  // with `username`, only that user's, locked for the caller's transaction.
  std::vector<std::string> active_with_prefix(const std::string& hex_prefix, std::size_t limit);
  std::vector<std::string> own_active_with_prefix_for_update(const std::string& username,
                                                             const std::string& hex_prefix);
  std::vector<SessionRow> active_of_user(const std::string& username, std::size_t limit);
  std::vector<std::string> active_servers();  // server names with active sessions

 private:
  SessionPage admin_sorted_page(const SessionQuery& query, bool scan_descending, PageMode mode,
                                const std::optional<std::string>& cursor_value, std::uint64_t cursor_id,
                                std::size_t limit);

  Connection& db_;
};

}  // namespace sg::db
