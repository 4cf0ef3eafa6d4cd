#include "backend.hpp"

#include "admin_service.hpp"

namespace sg::admin {

void AdminService::run(const std::function<void(Repositories&)>& action) {
  // A deadlock victim (or, on Galera, a transaction refused for a conflicting write through
  // another node) was rolled back whole and changed nothing: it runs again.
  for (int attempt = 1;; ++attempt) {
    try {
      if (!connection_) connection_ = std::make_unique<db::Connection>(options_);
      Repositories repositories(*connection_);
      action(repositories);
      return;
    } catch (const db::DeadlockError&) {
      if (attempt == 3) {
        connection_.reset();
        throw;
      }
    } catch (const StoreError&) {
      connection_.reset();
      throw;
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
