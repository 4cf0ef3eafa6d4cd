// A connection that is made on first use and dropped on any StoreError, so a database that
// comes back (or a failover to another server) is picked up at the next call without
// restarting anything. Not thread-safe: one per thread or process that uses it.
#pragma once
#include <functional>
#include <memory>
#include <utility>

#include "mariadb.hpp"

namespace sg::db {

class ReconnectingConnection {
 public:
  // `prepare` runs on each new connection before its first use (session settings, say).
  explicit ReconnectingConnection(ConnectOptions options, std::function<void(Connection&)> prepare = {})
      : options_(std::move(options)), prepare_(std::move(prepare)) {}

  // Runs action(Connection&) and returns what it returns. A StoreError leaves the
  // connection dropped and is rethrown, except a DeadlockError: the server rolled that
  // transaction back and the connection is fine, so the caller may run it again on it.
  template <typename Action>
  auto with(Action&& action) {
    try {
      return action(connection());
    } catch (const DeadlockError&) {
      throw;
    } catch (const StoreError&) {
      connection_.reset();
      throw;
    }
  }

  bool connected() const { return connection_ != nullptr; }
  void drop() noexcept { connection_.reset(); }

 private:
  Connection& connection() {
    if (!connection_) {
      auto fresh = std::make_unique<Connection>(options_);
      if (prepare_) prepare_(*fresh);
      connection_ = std::move(fresh);
    }
    return *connection_;
  }

  ConnectOptions options_;
  std::function<void(Connection&)> prepare_;
  std::unique_ptr<Connection> connection_;
};

}  // namespace sg::db
