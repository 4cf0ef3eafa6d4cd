// The database could not be reached or refused a statement: what every layer above the
// store (the poller, the module's login path, the admin program) catches as "unavailable".
#pragma once
#include <stdexcept>

namespace sg {

struct StoreError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace sg
