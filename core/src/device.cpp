#include "sg/device.hpp"

#include <cctype>

namespace sg {

namespace {
bool has(std::string_view ua, std::string_view token) { return ua.find(token) != std::string_view::npos; }

// "Firefox/121.0" -> "121"
std::string major_version_after(std::string_view ua, std::string_view token) {
  std::size_t at = ua.find(token);
  if (at == std::string_view::npos) return {};
  std::string version;
  for (std::size_t i = at + token.size(); i < ua.size() && std::isdigit(static_cast<unsigned char>(ua[i])); ++i) {
    version.push_back(ua[i]);
  }
  return version;
}

std::string with_version(std::string name, const std::string& version) {
  return version.empty() ? name : name + " " + version;
}
}  // namespace

std::string_view to_string(DeviceClass device) {
  switch (device) {
    case DeviceClass::desktop: return "Desktop";
    case DeviceClass::tablet: return "Tablet";
    case DeviceClass::phone: return "Phone";
  }
  return "Desktop";
}

DeviceInfo classify_user_agent(std::string_view ua) {
  DeviceInfo info;
  // Order matters: Android phones say "Mobile", Android tablets do not; iPads since iOS 13
  // claim to be Macs, but only a touch Mac would say "Mobile/".
  if (has(ua, "iPad") || (has(ua, "Macintosh") && has(ua, "Mobile/")) || has(ua, "Tablet") ||
      (has(ua, "Android") && !has(ua, "Mobile")) || has(ua, "Kindle") || has(ua, "Silk/")) {
    info.device = DeviceClass::tablet;
  } else if (has(ua, "iPhone") || has(ua, "iPod") || has(ua, "Mobile") || has(ua, "Windows Phone") ||
             has(ua, "BlackBerry") || has(ua, "Opera Mini")) {
    info.device = DeviceClass::phone;
  }

  if (has(ua, "Windows Phone")) info.os = "Windows Phone";
  else if (has(ua, "Windows")) info.os = "Windows";
  else if (has(ua, "iPhone") || has(ua, "iPad") || has(ua, "iPod")) info.os = "iOS";
  else if (has(ua, "Android")) info.os = "Android";
  else if (has(ua, "CrOS")) info.os = "ChromeOS";
  else if (has(ua, "Mac OS X") || has(ua, "Macintosh")) info.os = info.device == DeviceClass::tablet ? "iPadOS" : "macOS";
  else if (has(ua, "Linux")) info.os = "Linux";

  if (has(ua, "Edg/")) info.browser = with_version("Edge", major_version_after(ua, "Edg/"));
  else if (has(ua, "Edge/")) info.browser = with_version("Edge", major_version_after(ua, "Edge/"));
  else if (has(ua, "Silk/")) info.browser = with_version("Silk", major_version_after(ua, "Silk/"));
  else if (has(ua, "OPR/")) info.browser = with_version("Opera", major_version_after(ua, "OPR/"));
  else if (has(ua, "SamsungBrowser/")) info.browser = with_version("Samsung Internet", major_version_after(ua, "SamsungBrowser/"));
  else if (has(ua, "Firefox/")) info.browser = with_version("Firefox", major_version_after(ua, "Firefox/"));
  else if (has(ua, "FxiOS/")) info.browser = with_version("Firefox", major_version_after(ua, "FxiOS/"));
  else if (has(ua, "CriOS/")) info.browser = with_version("Chrome", major_version_after(ua, "CriOS/"));
  else if (has(ua, "HeadlessChrome/")) info.browser = with_version("Chrome Headless", major_version_after(ua, "HeadlessChrome/"));
  else if (has(ua, "Chrome/")) info.browser = with_version("Chrome", major_version_after(ua, "Chrome/"));
  else if (has(ua, "Safari/") && has(ua, "Version/")) info.browser = with_version("Safari", major_version_after(ua, "Version/"));
  else if (has(ua, "MSIE ") || has(ua, "Trident/")) info.browser = "Internet Explorer";
  else if (has(ua, "curl/")) info.browser = with_version("curl", major_version_after(ua, "curl/"));
  return info;
}

}  // namespace sg
