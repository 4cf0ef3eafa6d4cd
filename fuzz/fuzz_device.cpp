// The device classifier (core/include/sg/device.hpp): User-Agent headers, any bytes.
// Its output is shown on admin pages: only known names, and versions made of digits.
#include <string>

#include "fuzz.hpp"
#include "sg/device.hpp"

namespace {
bool known_os(const std::string& os) {
  for (const char* name : {"", "Windows Phone", "Windows", "iOS", "Android", "ChromeOS", "iPadOS", "macOS", "Linux"}) {
    if (os == name) return true;
  }
  return false;
}

bool known_browser(const std::string& browser) {
  if (browser.empty() || browser == "Internet Explorer") return true;
  for (std::string_view name : {"Edge", "Silk", "Opera", "Samsung Internet", "Firefox", "Chrome Headless", "Chrome",
                                "Safari", "curl"}) {
    if (browser == name) return true;
    if (browser.size() > name.size() + 1 && browser.compare(0, name.size(), name) == 0 && browser[name.size()] == ' ' &&
        browser.find_first_not_of("0123456789", name.size() + 1) == std::string::npos)
      return true;
  }
  return false;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view ua = fuzz::as_text(data, size);
  sg::DeviceInfo info = sg::classify_user_agent(ua);
  FUZZ_CHECK(!sg::to_string(info.device).empty());
  FUZZ_CHECK(known_os(info.os));
  FUZZ_CHECK(known_browser(info.browser));
  FUZZ_CHECK(info.browser.size() <= ua.size() + 20);
  return 0;
}
