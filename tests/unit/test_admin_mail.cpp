// The notices' wording (templates, "This wasn't me" links, log lines), the outbox's pure parts and its delivery through a sendmail-compatible program (a real
// /bin/sh script), plus fcgi_admin's settings from the [fcgi_admin] option-file group.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "mailer.hpp"
#include "notices.hpp"
#include "settings.hpp"
#include "sg/mail.hpp"
#include "unit.hpp"

namespace {

std::string temp_dir() {
  char templ[] = "/tmp/sg-unit-mail-XXXXXX";
  char* d = mkdtemp(templ);
  if (d == nullptr) throw std::runtime_error("mkdtemp failed");
  return d;
}

std::string write_script(const std::string& dir, const std::string& name, const std::string& body) {
  std::string path = dir + "/" + name;
  std::ofstream(path) << "#!/bin/sh\n" << body;
  chmod(path.c_str(), 0755);
  return path;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

SG_TEST(templates_expand_known_placeholders_only) {
  std::map<std::string, std::string> values = {{"user", "alice"}, {"session", "85C8A1F2"}};
  assert_str_eq(sg::mail::expand("Hi {user}, session {session} ended ({unknown}) {user}", values),
                "Hi alice, session 85C8A1F2 ended ({unknown}) alice");
  assert_str_eq(sg::mail::expand("{", values), "{");
  assert_str_eq(sg::mail::expand("{user", values), "{user");
  assert_str_eq(sg::mail::expand("", values), "");
  // A value that looks like a placeholder is not expanded again.
  assert_str_eq(sg::mail::expand("{user}", {{"user", "{session}"}, {"session", "x"}}), "{session}");
}

SG_TEST(headers_cannot_be_injected) {
  assert_str_eq(sg::mail::header_text("Hello\r\nBcc: victim@example.test"), "Hello  Bcc: victim@example.test");
  std::string message = sg::mail::format_message("sg@example.test", "alice@example.test",
                                                  "Subject\nBcc: evil@example.test", "body", 0, "1@sg");
  assert_not_contains(message, "\nBcc:");
  assert_contains(message, "Subject: Subject Bcc: evil@example.test\n");
}

SG_TEST(non_ascii_subjects_are_encoded_words) {
  assert_str_eq(sg::mail::encode_header("Plain subject"), "Plain subject");
  std::string encoded = sg::mail::encode_header("Wartung – bitte abmelden");
  assert_contains(encoded, "=?UTF-8?B?");
  assert_not_contains(encoded, "–");
  std::string longer = sg::mail::encode_header(std::string(40, 'a') + "äöü" + std::string(40, 'b'));
  for (std::size_t start = 0, end; start < longer.size(); start = end + 2) {  // every word within 75 characters
    end = longer.find("\n ", start);
    if (end == std::string::npos) end = longer.size();
    assert_true(end - start <= 75);
  }
}

SG_TEST(addresses) {
  assert_true(sg::mail::valid_address("alice@example.test"));
  assert_true(sg::mail::valid_address("a.b+c@sub.example.test"));
  for (const char* bad : {"", "alice", "@example.test", "alice@", "-oQ/tmp/x@example.test", "a b@example.test",
                          "<alice@example.test>", "alice@example.test\n", "a,b@example.test"}) {
    if (sg::mail::valid_address(bad)) fail_msg("accepted %s", bad);
  }
  assert_false(sg::mail::valid_address(std::string(250, 'a') + "@x.test"));
}

SG_TEST(message_format) {
  std::string m = sg::mail::format_message("sg@example.test", "bob@example.test", "Blocked", "line 1\r\nline 2\n.\nend",
                                           1700000000LL * 1000000, "42.1@session-guard");
  assert_contains(m, "From: sg@example.test\nTo: bob@example.test\nSubject: Blocked\n");
  assert_contains(m, "Date: Tue, 14 Nov 2023 22:13:20 +0000\n");
  assert_contains(m, "Message-ID: <42.1@session-guard>\n");
  assert_contains(m, "Content-Type: text/plain; charset=UTF-8\n");
  assert_contains(m, "\n\nline 1\nline 2\n..\nend\n");
  assert_not_contains(m, "\r");
}

SG_TEST(retry_backoff_doubles_and_caps) {
  const sg::Micros s = sg::kMicrosPerSecond;
  assert_int_equal(sg::mail::retry_delay(0, 30 * s, 3600 * s), 30 * s);
  assert_int_equal(sg::mail::retry_delay(1, 30 * s, 3600 * s), 30 * s);
  assert_int_equal(sg::mail::retry_delay(2, 30 * s, 3600 * s), 60 * s);
  assert_int_equal(sg::mail::retry_delay(5, 30 * s, 3600 * s), 480 * s);
  assert_int_equal(sg::mail::retry_delay(8, 30 * s, 3600 * s), 3600 * s);
  assert_int_equal(sg::mail::retry_delay(1000, 30 * s, 3600 * s), 3600 * s);
}

SG_TEST(sendmail_gets_the_recipient_as_an_argument_and_the_message_on_stdin) {
  std::string dir = temp_dir();
  std::string prog = write_script(dir, "sendmail", "printf '%s|' \"$@\" > \"" + dir + "/args\"\ncat > \"" + dir + "/message\"\n");
  std::string message(200 * 1024, 'x');  // larger than a pipe buffer
  message += "\nend\n";
  auto r = sg::admin::run_sendmail(prog, "sg@example.test", "alice@example.test", message, 10 * sg::kMicrosPerSecond);
  assert_true(r.ok);
  assert_str_eq(slurp(dir + "/args"), "-i|-f|sg@example.test|--|alice@example.test|");
  assert_true(slurp(dir + "/message") == message);
  // An address that could pass for an option is never handed over.
  r = sg::admin::run_sendmail(prog, "sg@example.test", "-X/tmp/log@example.test", "m", 10 * sg::kMicrosPerSecond);
  assert_false(r.ok);
  assert_contains(r.error, "invalid recipient");
  std::system(("rm -rf " + dir).c_str());
}

SG_TEST(sendmail_failures_are_reported) {
  std::string dir = temp_dir();
  std::string down = write_script(dir, "down", "cat >/dev/null\necho 'connection refused by relay' >&2\nexit 75\n");
  auto r = sg::admin::run_sendmail(down, "sg@example.test", "alice@example.test", "m", 10 * sg::kMicrosPerSecond);
  assert_false(r.ok);
  assert_contains(r.error, "exit status 75");
  assert_contains(r.error, "connection refused by relay");
  r = sg::admin::run_sendmail(dir + "/missing", "sg@example.test", "alice@example.test", "m", 10 * sg::kMicrosPerSecond);
  assert_false(r.ok);
  assert_contains(r.error, "cannot run");
  std::string slow = write_script(dir, "slow", "exec sleep 30\n");
  r = sg::admin::run_sendmail(slow, "sg@example.test", "alice@example.test", "m", sg::kMicrosPerSecond / 2);
  assert_false(r.ok);
  assert_contains(r.error, "did not finish");
  std::string quits = write_script(dir, "quits", "exit 0\n");  // exits without reading a big message
  r = sg::admin::run_sendmail(quits, "sg@example.test", "alice@example.test", std::string(1 << 20, 'x'),
                              10 * sg::kMicrosPerSecond);
  assert_false(r.ok);
  std::system(("rm -rf " + dir).c_str());
}

SG_TEST(settings_from_the_option_file) {
  auto groups = sg::admin::parse_option_file(
      "# comment\n[session_guard]\nuser=sg\npassword = \"se=cret\"\n\n[fcgi_admin]\nsendmail=/usr/sbin/sendmail\n"
      "notify-kill = off\nkill_subject='Your session ended'\nkill_body=Hello {user},\\nbye.\\n\nrefresh=0\r\n!includedir /x\n");
  assert_str_eq(groups["session_guard"]["password"], "se=cret");
  auto& g = groups["fcgi_admin"];
  assert_str_eq(g["notify_kill"], "off");
  sg::admin::Settings s;
  assert_str_eq(sg::admin::apply_settings(g, s), "");
  assert_false(s.policy.notify_kill);
  assert_true(s.policy.notify_block);
  assert_str_eq(s.policy.kill.subject, "Your session ended");
  assert_str_eq(s.policy.kill.body, "Hello {user},\nbye.\n");
  assert_int_equal(s.refresh_seconds, 0);
  sg::admin::Settings t;
  assert_contains(sg::admin::apply_settings({{"sendmial", "/x"}}, t), "unknown setting");
  assert_contains(sg::admin::apply_settings({{"sendmail", "relative/path"}}, t), "invalid value");
  assert_contains(sg::admin::apply_settings({{"notify_block", "maybe"}}, t), "invalid value");
  assert_contains(sg::admin::apply_settings({{"prefix", "/admin/"}}, t), "invalid value");
  assert_contains(sg::admin::apply_settings({{"mail_interval", "0"}}, t), "invalid value");
  assert_str_eq(sg::admin::apply_settings({{"mail_interval", "2.5"}, {"prefix", "/sg"}}, t), "");
  assert_int_equal(t.mail_interval, 2500000);
  assert_str_eq(t.prefix, "/sg");
}

SG_TEST(notices_carry_the_signout_link_where_the_template_says_or_after_the_text) {
  sg::admin::MailPolicy policy;
  auto notice = sg::admin::fill(policy.kill_user, {{"user", "alice"}, {"admin", "root"}, {"count", "3"}});
  assert_str_eq(notice.subject, "Your sessions were ended");
  assert_contains(notice.body, "Hello alice,");
  assert_contains(notice.body, "an administrator (root) ended all your sessions (3)");
  const sg::Micros day = 24 * 3600 * sg::kMicrosPerSecond;
  std::string appended = sg::admin::with_signout_link("Hello", "https://x.test/wasnt-me?t=T", day);
  assert_str_eq(appended, "Hello\n\nThis wasn't me: sign me out everywhere\nhttps://x.test/wasnt-me?t=T\n"
                          "(The link works once, within 24 hours.)\n");
  assert_str_eq(sg::admin::with_signout_link("Go to {link} now.\n", "L", day), "Go to L now.\n");
  assert_contains(sg::admin::with_signout_link("x\n", "L", 3600 * sg::kMicrosPerSecond), "within 1 hour.)");
  // Without a configured public_url there is no link, and the text is left as it is.
  assert_str_eq(sg::admin::with_signout_link("Hello {link}\n", "", day), "Hello {link}\n");
}

SG_TEST(bulk_actions_log_the_first_200_sessions_then_a_summary) {
  std::vector<sg::db::EndedSession> ended;
  for (int i = 0; i < 250; ++i) ended.push_back({"ID" + std::to_string(i), "alice"});
  sg::admin::ActionResult result;
  sg::admin::log_sessions(result, ended, " terminated by administrator admin");
  assert_int_equal(result.log_lines.size(), 201);
  assert_str_eq(result.log_lines.front(), "Session ID0 terminated by administrator admin");
  assert_str_eq(result.log_lines.back(), "... and 50 more sessions terminated by administrator admin");
  assert_str_eq(sg::admin::plural(1, "session", "sessions"), "1 session");
  assert_str_eq(sg::admin::plural(0, "session", "sessions"), "0 sessions");
}

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(templates_expand_known_placeholders_only),
      cmocka_unit_test(headers_cannot_be_injected),
      cmocka_unit_test(non_ascii_subjects_are_encoded_words),
      cmocka_unit_test(addresses),
      cmocka_unit_test(message_format),
      cmocka_unit_test(retry_backoff_doubles_and_caps),
      cmocka_unit_test(sendmail_gets_the_recipient_as_an_argument_and_the_message_on_stdin),
      cmocka_unit_test(sendmail_failures_are_reported),
      cmocka_unit_test(settings_from_the_option_file),
      cmocka_unit_test(notices_carry_the_signout_link_where_the_template_says_or_after_the_text),
      cmocka_unit_test(bulk_actions_log_the_first_200_sessions_then_a_summary),
  };
  return cmocka_run_group_tests_name("admin_mail", tests, nullptr, nullptr);
}
