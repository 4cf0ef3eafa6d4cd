#pragma once
#include <string>
#include <string_view>

namespace sg {

enum class DeviceClass { desktop, tablet, phone };

struct DeviceInfo {
  DeviceClass device = DeviceClass::desktop;
  std::string browser;  // "Firefox 121", "Chrome 120", "Safari 17", ...
  std::string os;       // "Windows", "macOS", "iOS", "Android", "Linux", ...
};

DeviceInfo classify_user_agent(std::string_view user_agent);
std::string_view to_string(DeviceClass device);

}  // namespace sg
