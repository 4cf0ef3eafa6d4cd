#pragma once
#include <string_view>

#include "sg/types.hpp"

namespace sg {

Fingerprint session_fingerprint(std::string_view cookie_name, std::string_view cookie_value);
// The deny-list keys users by a digest so every entry has the same fixed size.
Fingerprint user_key(std::string_view username);

}  // namespace sg
