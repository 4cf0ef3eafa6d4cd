#include "backend.hpp"

#include "admin_service.hpp"

namespace sg::admin {

void AdminService::run(const std::function<void(Repositories&)>& action) {
  // A deadlock victim (or, on Galera, a transaction refused for a conflicting write through
  // another node) was rolled back whole and changed nothing: it runs again.
  for (int attempt = 1;; ++attempt) {
    try {
      connection_.with([&](db::Connection& connection) {
        Repositories repositories(connection);
        action(repositories);
      });
      return;
    } catch (const db::DeadlockError&) {
      if (attempt == 3) throw;
    }
  }
}

int status_of(const OperationError& error) {
  switch (error.kind) {
    case OperationError::Kind::bad_input: return 400;
    case OperationError::Kind::not_found: return 404;
    case OperationError::Kind::conflict: return 409;
    case OperationError::Kind::gone: return 410;
  }
  return 400;
}

const char* code_of(const OperationError& error) {
  switch (error.kind) {
    case OperationError::Kind::bad_input: return "bad_request";
    case OperationError::Kind::not_found: return "not_found";
    case OperationError::Kind::conflict: return "conflict";
    case OperationError::Kind::gone: return "gone";
  }
  return "bad_request";
}

}  // namespace sg::admin
