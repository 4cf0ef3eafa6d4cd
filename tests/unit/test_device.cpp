// Device classification from real user-agent strings (as sent by the browsers named).
#include "unit.hpp"

#include <string>

#include "sg/device.hpp"

namespace {

struct Case {
  const char* what;
  const char* ua;
  sg::DeviceClass device;
  const char* browser;
  const char* os;
};

void check(const Case& c) {
  auto info = sg::classify_user_agent(c.ua);
  if (info.device != c.device || info.browser != c.browser || info.os != c.os) {
    fail_msg("%s\n  UA: %s\n  got:      %s / \"%s\" / \"%s\"\n  expected: %s / \"%s\" / \"%s\"", c.what, c.ua,
             std::string(sg::to_string(info.device)).c_str(), info.browser.c_str(), info.os.c_str(),
             std::string(sg::to_string(c.device)).c_str(), c.browser, c.os);
  }
}

using D = sg::DeviceClass;
}  // namespace

SG_TEST(windows_chrome) {
  check({"Chrome 120 on Windows 10",
         "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
         "Safari/537.36",
         D::desktop, "Chrome 120", "Windows"});
}

SG_TEST(windows_edge) {
  check({"Edge 120 on Windows",
         "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
         "Safari/537.36 Edg/120.0.2210.91",
         D::desktop, "Edge 120", "Windows"});
}

SG_TEST(windows_firefox) {
  check({"Firefox 121 on Windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
         D::desktop, "Firefox 121", "Windows"});
}

SG_TEST(macos_safari) {
  check({"Safari 17 on macOS",
         "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 "
         "Safari/605.1.15",
         D::desktop, "Safari 17", "macOS"});
}

SG_TEST(macos_firefox) {
  check({"Firefox 121 on macOS", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:121.0) Gecko/20100101 Firefox/121.0",
         D::desktop, "Firefox 121", "macOS"});
}

SG_TEST(macos_chrome) {
  check({"Chrome 120 on macOS",
         "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
         "Safari/537.36",
         D::desktop, "Chrome 120", "macOS"});
}

SG_TEST(iphone_safari) {
  check({"Safari on iPhone (iOS 17)",
         "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
         "Version/17.2 Mobile/15E148 Safari/604.1",
         D::phone, "Safari 17", "iOS"});
}

SG_TEST(iphone_chrome) {
  check({"Chrome on iPhone",
         "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
         "CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1",
         D::phone, "Chrome 120", "iOS"});
}

SG_TEST(ipad_old_ua) {
  // iOS 12 and older named the iPad; the OS was still called iOS then.
  check({"Safari on iPad (iOS 12)",
         "Mozilla/5.0 (iPad; CPU OS 12_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/12.1 "
         "Mobile/15E148 Safari/604.1",
         D::tablet, "Safari 12", "iOS"});
}

SG_TEST(ipados_13_claims_to_be_a_mac) {
  check({"Safari on iPadOS 17 (desktop-class UA with Mobile/)",
         "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 "
         "Mobile/15E148 Safari/604.1",
         D::tablet, "Safari 17", "iPadOS"});
}

SG_TEST(android_phone_chrome) {
  check({"Chrome on an Android phone (reduced UA)",
         "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile "
         "Safari/537.36",
         D::phone, "Chrome 120", "Android"});
}

SG_TEST(android_tablet_chrome) {
  check({"Chrome on a Galaxy Tab (no Mobile token)",
         "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
         "Safari/537.36",
         D::tablet, "Chrome 120", "Android"});
}

SG_TEST(android_firefox_phone_and_tablet) {
  check({"Firefox for Android, phone", "Mozilla/5.0 (Android 14; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0",
         D::phone, "Firefox 121", "Android"});
  check({"Firefox for Android, tablet", "Mozilla/5.0 (Android 14; Tablet; rv:121.0) Gecko/121.0 Firefox/121.0",
         D::tablet, "Firefox 121", "Android"});
}

SG_TEST(samsung_internet) {
  check({"Samsung Internet 23 on a Galaxy S23",
         "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 "
         "Chrome/115.0.0.0 Mobile Safari/537.36",
         D::phone, "Samsung Internet 23", "Android"});
}

SG_TEST(linux_firefox) {
  check({"Firefox 121 on Linux", "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
         D::desktop, "Firefox 121", "Linux"});
  check({"Firefox 120 on Ubuntu", "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
         D::desktop, "Firefox 120", "Linux"});
}

SG_TEST(chromeos) {
  check({"Chrome on a Chromebook",
         "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
         "Safari/537.36",
         D::desktop, "Chrome 120", "ChromeOS"});
}

SG_TEST(opera) {
  check({"Opera 106 on Windows",
         "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
         "Safari/537.36 OPR/106.0.0.0",
         D::desktop, "Opera 106", "Windows"});
}

SG_TEST(headless_chrome) {
  check({"Headless Chrome (automation)",
         "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.6099.28 "
         "Safari/537.36",
         D::desktop, "Chrome Headless 120", "Linux"});
}

SG_TEST(internet_explorer_11) {
  check({"IE 11 on Windows 7", "Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko", D::desktop,
         "Internet Explorer", "Windows"});
}

SG_TEST(curl) {
  check({"curl", "curl/8.5.0", D::desktop, "curl 8", ""});
}

SG_TEST(empty_and_unknown) {
  check({"empty user agent", "", D::desktop, "", ""});
  check({"unknown bot", "SomeMonitor/1.0 (+https://example.com)", D::desktop, "", ""});
}

SG_TEST(device_class_names) {
  assert_str_eq(sg::to_string(sg::DeviceClass::desktop), "Desktop");
  assert_str_eq(sg::to_string(sg::DeviceClass::tablet), "Tablet");
  assert_str_eq(sg::to_string(sg::DeviceClass::phone), "Phone");
}

// --- Misnamed browsers (low severity: the session list shows the wrong browser) ---------------

SG_TEST(kindle_fire_silk) {
  // Amazon's Silk says "like Chrome/": every UA parser names it Silk, and so should we.
  check({"Silk on a Kindle Fire HD 10",
         "Mozilla/5.0 (Linux; Android 9; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) Silk/119.3.1 like "
         "Chrome/119.0.6045.193 Safari/537.36",
         D::tablet, "Silk 119", "Android"});
}

SG_TEST(legacy_edge) {
  // EdgeHTML (Edge 12-18) says "Edge/", not "Edg/"; it is not Chrome.
  check({"Legacy Edge 18 on Windows 10",
         "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.102 "
         "Safari/537.36 Edge/18.19045",
         D::desktop, "Edge 18", "Windows"});
}

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(windows_chrome),
      cmocka_unit_test(windows_edge),
      cmocka_unit_test(windows_firefox),
      cmocka_unit_test(macos_safari),
      cmocka_unit_test(macos_firefox),
      cmocka_unit_test(macos_chrome),
      cmocka_unit_test(iphone_safari),
      cmocka_unit_test(iphone_chrome),
      cmocka_unit_test(ipad_old_ua),
      cmocka_unit_test(ipados_13_claims_to_be_a_mac),
      cmocka_unit_test(android_phone_chrome),
      cmocka_unit_test(android_tablet_chrome),
      cmocka_unit_test(android_firefox_phone_and_tablet),
      cmocka_unit_test(samsung_internet),
      cmocka_unit_test(linux_firefox),
      cmocka_unit_test(chromeos),
      cmocka_unit_test(opera),
      cmocka_unit_test(headless_chrome),
      cmocka_unit_test(internet_explorer_11),
      cmocka_unit_test(curl),
      cmocka_unit_test(empty_and_unknown),
      cmocka_unit_test(device_class_names),
      cmocka_unit_test(kindle_fire_silk),
      cmocka_unit_test(legacy_edge),
  };
  return cmocka_run_group_tests_name("device", tests, nullptr, nullptr);
}
