// The admin's command table without FastCGI or MariaDB: each command's parameter checks and
// messages, the Backend's refusals as statuses, the actor's own sessions, and the three faces
// (form, JSON API, command line) giving the same outcome, in the same words, for one input.
#include <sstream>

#include "admin_fakes.hpp"
#include "app.hpp"
#include "cli.hpp"
#include "commands.hpp"
#include "csrf.hpp"
#include "sg/text.hpp"
// Last: cmocka defines a `fail` macro that must not meet the C++ headers.
#include "unit.hpp"

namespace {

using sg::admin::Inputs;
using sg::admin::Outcome;
using sg::admin::Response;
using Words = std::vector<std::string>;

const sg::admin::Actor kAdmin{"admin", "198.51.100.7", "api"};
const std::string kNonce = "0123456789abcdef0123456789abcdef";

fake::Backend with_sessions() {
  fake::Backend b;
  b.rows.push_back(fake::session(1, "alice", fake::hex_id(0xa1)));
  b.rows.push_back(fake::session(2, "bob", fake::hex_id(0xb2)));
  b.rows.push_back(fake::session(3, "admin", fake::hex_id(0xad)));
  return b;
}

Outcome run(fake::Backend& b, const char* name, Inputs inputs, bool confirm_self = false) {
  const sg::admin::Command* command = sg::admin::find_command(name);
  if (command == nullptr) fail_msg("no command %s", name);
  return sg::admin::run_command(b, *command, inputs, kAdmin, confirm_self);
}

void assert_refused(const Outcome& o, int status, const std::string& code, const std::string& message) {
  if (o.ok()) fail_msg("done, expected %d %s (%s)", status, code.c_str(), message.c_str());
  assert_int_equal(o.status, status);
  assert_str_eq(o.code, code);
  assert_contains(o.message, message);
}

// The three faces, each as a client reaches it.
Response web(fake::Backend& b, const std::string& method, const std::string& uri, const std::string& type,
             const std::string& body) {
  sg::admin::App app(sg::admin::Settings{}, b);
  fake::Request request;
  request.params = {{"REQUEST_METHOD", method},
                    {"REQUEST_URI", uri},
                    {"REMOTE_USER", "admin"},
                    {"REMOTE_ADDR", "198.51.100.7"},
                    {"HTTP_HOST", "admin.example.test"},
                    {"HTTP_COOKIE", std::string(sg::admin::kCsrfCookie) + "=" + kNonce},
                    {"CONTENT_TYPE", type}};
  request.body_text = body;
  app.handle(request);
  return request.sent;
}
Response form(fake::Backend& b, const std::string& action, const std::string& fields) {
  return web(b, "POST", "/session-guard/actions/" + action, "application/x-www-form-urlencoded",
             fields + "&csrf=" + sg::admin::csrf_token("unit-test-key", kNonce, "admin"));
}
Response api(fake::Backend& b, const std::string& action, const std::string& json) {
  return web(b, "POST", "/session-guard/api/" + action, "application/json", json);
}
struct CliResult {
  int status;
  std::string out;
  std::string err;
};
CliResult cli(fake::Backend& b, const Words& words, const std::string& actor = "admin") {
  std::ostringstream out, err;
  int status = sg::admin::run_cli_command(b, words, actor, out, err);
  return {status, out.str(), err.str()};
}

}  // namespace

SG_TEST(the_table_holds_every_write_action_once) {
  const Words names = {"kill", "kill-many", "kill-user", "block", "unblock", "set-limit", "end-idle", "sign-out-all",
                       "logout-request"};
  assert_int_equal(sg::admin::commands().size(), names.size());
  for (const auto& name : names) {
    const auto* command = sg::admin::find_command(name);
    if (command == nullptr) fail_msg("%s is not in the table", name.c_str());
    assert_true(command->run != nullptr);
    // Its notice renders, with the user and count filled in.
    std::string notice = sg::admin::notice_for(command->notice, "bob", "3", true);
    assert_true(!notice.empty());
    assert_not_contains(notice, "{");
  }
  assert_true(sg::admin::find_command("explode") == nullptr);
  assert_str_eq(sg::admin::notice_for("blocked", "bob", "2", true), "bob has been blocked; 2 sessions ended. An email notice has been queued.");
  assert_str_eq(sg::admin::notice_for("madeup", "bob", "2", false), "");
}

SG_TEST(session_ids_are_checked_before_the_backend_is_asked) {
  fake::Backend b = with_sessions();
  assert_refused(run(b, "kill", {{"id", Words{"not-hex"}}}), 400, "invalid_field", "8 to 64 hexadecimal digits");
  assert_refused(run(b, "kill", {{"id", Words{"a1"}}}), 400, "invalid_field", "8 to 64 hexadecimal digits");
  assert_refused(run(b, "kill", {{"id", std::string(65, 'a')}}), 400, "invalid_field", "8 to 64 hexadecimal digits");
  Outcome o = run(b, "kill", {});
  assert_refused(o, 400, "missing_field", "8 to 64 hexadecimal digits");
  assert_true(o.malformed);
  assert_refused(run(b, "kill", {{"id", 12345LL}}), 400, "invalid_field", "'id' must be a string.");
  // Well formed but unknown: the Backend's not_found, as 404.
  assert_refused(run(b, "kill", {{"id", Words{"ffffffffffffffff"}}}), 404, "not_found", "no active session has id");
  // A list: at least one, at most 1000, each an id; a bare string is not a list.
  assert_refused(run(b, "kill-many", {{"ids", Words{}}}), 400, "invalid_field", "at least one session");
  assert_refused(run(b, "kill-many", {{"ids", Words(1001, fake::hex_id(0xa1))}}), 400, "invalid_field", "at most 1000");
  assert_refused(run(b, "kill-many", {{"ids", Words{fake::hex_id(0xa1), "zz"}}}), 400, "invalid_field", "hexadecimal");
  assert_refused(run(b, "kill-many", {{"ids", fake::hex_id(0xa1)}}), 400, "invalid_field", "'ids' must be an array");
  assert_true(b.calls.empty());
  o = run(b, "kill", {{"id", Words{fake::hex_id(0xa1).substr(0, 12)}}});
  assert_true(o.ok());
  assert_str_eq(o.message, "Session 00000000 terminated by administrator admin");
  assert_str_eq(o.done.user, "alice");
  assert_str_eq(b.calls.at(0), "kill:" + fake::hex_id(0xa1) + ":api");
}

SG_TEST(unknown_users_are_the_backends_404) {
  fake::Backend b = with_sessions();
  assert_refused(run(b, "kill-user", {{"user", Words{"nobody"}}}), 404, "not_found", "no user named nobody");
  assert_refused(run(b, "block", {{"user", Words{"nobody"}}, {"reason", Words{"x"}}}), 404, "not_found", "no user named nobody");
  assert_refused(run(b, "unblock", {{"user", Words{"nobody"}}}), 404, "not_found", "no user named nobody");
  assert_refused(run(b, "set-limit", {{"user", Words{"nobody"}}, {"max_sessions", 2LL}}), 404, "not_found", "no user named nobody");
  // Names are exact: no folding onto an existing account.
  assert_refused(run(b, "kill-user", {{"user", Words{"Alice"}}}), 404, "not_found", "no user named Alice");
  // Empty, too long or with control characters: refused before any lookup.
  assert_refused(run(b, "kill-user", {{"user", Words{""}}}), 400, "invalid_field", "The user name is required.");
  assert_refused(run(b, "kill-user", {{"user", Words{std::string(191, 'x')}}}), 400, "invalid_field", "longer than 190 bytes");
  assert_refused(run(b, "kill-user", {{"user", Words{"a\nb"}}}), 400, "bad_request", "control characters");
  assert_true(b.calls.empty());
}

SG_TEST(texts_have_a_clear_limit) {
  fake::Backend b = with_sessions();
  const std::string fp = fake::hex_id(0xb2);
  assert_refused(run(b, "block", {{"user", Words{"bob"}}, {"reason", Words{std::string(1001, 'r')}}}), 400,
                 "invalid_field", "The reason is longer than 1000 bytes.");
  assert_refused(run(b, "block", {{"user", Words{"bob"}}, {"reason", Words{"  "}}}), 400, "invalid_field",
                 "The reason is required.");
  assert_refused(run(b, "block", {{"user", Words{"bob"}}}), 400, "missing_field", "The reason is required.");
  assert_refused(run(b, "logout-request", {{"id", fp}, {"subject", std::string(256, 's')}, {"message", std::string("m")}}),
                 400, "invalid_field", "The subject is longer than 255 bytes.");
  assert_refused(run(b, "logout-request", {{"id", fp}, {"subject", std::string("s")}, {"message", std::string(20001, 'm')}}),
                 400, "invalid_field", "The message is longer than 20000 bytes.");
  assert_refused(run(b, "sign-out-all", {{"server", Words{std::string(256, 'h')}}}), 400, "invalid_field",
                 "The server name is longer than 255 bytes.");
  assert_true(b.calls.empty());
  assert_true(run(b, "block", {{"user", Words{"bob"}}, {"reason", Words{std::string(1000, 'r')}}}).ok());
  assert_true(run(b, "sign-out-all", {}).ok());  // the server is optional
  assert_str_eq(b.calls.back(), "sign_out_all::admin:api");
}

SG_TEST(numbers_are_whole_and_in_range) {
  fake::Backend b = with_sessions();
  const char* limit_rule = "from 0 (no limit) to 1000";
  for (const Inputs& bad : std::vector<Inputs>{{{"max_sessions", 1001LL}}, {{"max_sessions", -1LL}},
                                               {{"max_sessions", Words{"1001"}}}, {{"max_sessions", std::string("2")}},
                                               {{"max_sessions", sg::admin::WrongType{}}}}) {
    Inputs with_user = bad;
    with_user["user"] = Words{"bob"};
    assert_refused(run(b, "set-limit", with_user), 400, "invalid_field", limit_rule);
  }
  // Text that is not a number at all is malformed (a usage error on the command line); a
  // number out of range is refused.
  Outcome o = run(b, "set-limit", {{"user", Words{"bob"}}, {"max_sessions", Words{"-1"}}});
  assert_true(o.malformed);
  assert_false(run(b, "set-limit", {{"user", Words{"bob"}}, {"max_sessions", Words{"1001"}}}).malformed);
  assert_refused(run(b, "set-limit", {{"user", Words{"bob"}}}), 400, "missing_field", limit_rule);
  assert_true(b.calls.empty());
  assert_true(run(b, "set-limit", {{"user", Words{"bob"}}, {"max_sessions", Words{"none"}}}).ok());
  assert_str_eq(b.calls.back(), "limit:bob:none:api");
  assert_true(run(b, "set-limit", {{"user", Words{"bob"}}, {"max_sessions", Words{""}}}).ok());
  assert_str_eq(b.calls.back(), "limit:bob:none:api");
  assert_true(run(b, "set-limit", {{"user", Words{"bob"}}, {"max_sessions", sg::admin::JsonNull{}}}).ok());
  assert_str_eq(b.calls.back(), "limit:bob:none:api");
  assert_true(run(b, "set-limit", {{"user", Words{"bob"}}, {"max_sessions", 1000LL}}).ok());
  assert_str_eq(b.calls.back(), "limit:bob:1000:api");
  std::size_t calls = b.calls.size();
  for (const char* bad : {"0", "525601", "-5", "abc", ""})
    assert_refused(run(b, "end-idle", {{"minutes", Words{bad}}}), 400, "invalid_field", "from 1 to 525600");
  assert_refused(run(b, "end-idle", {{"minutes", std::string("5")}}), 400, "invalid_field", "from 1 to 525600");
  assert_int_equal(b.calls.size(), calls);
  assert_true(run(b, "end-idle", {{"minutes", Words{"525600"}}}).ok());
  assert_str_eq(b.calls.back(), "end_idle:525600:api");
}

SG_TEST(own_sessions_need_confirm_self_and_no_one_blocks_themselves) {
  fake::Backend b = with_sessions();
  const std::string mine = fake::hex_id(0xad);
  assert_refused(run(b, "kill", {{"id", mine}}), 409, "own_session", "Session 00000000 is one of your own (admin)");
  assert_refused(run(b, "kill-many", {{"ids", Words{fake::hex_id(0xa1), mine}}}), 409, "own_session",
                 "The selection includes session 00000000");
  assert_refused(run(b, "kill-user", {{"user", std::string("admin")}}), 409, "own_session", "These are your own sessions");
  assert_refused(run(b, "block", {{"user", std::string("admin")}, {"reason", std::string("x")}}), 409, "self_block",
                 "You cannot block your own account.");
  // confirm_self does not make blocking oneself possible.
  assert_refused(run(b, "block", {{"user", std::string("admin")}, {"reason", std::string("x")}}, true), 409,
                 "self_block", "You cannot block your own account.");
  assert_true(b.calls.empty());
  assert_true(run(b, "kill", {{"id", mine}}, true).ok());
  assert_str_eq(b.calls.back(), "kill:" + mine + ":api");
}

// The same input through the form, the API and the command line: one outcome, one message.
SG_TEST(the_three_faces_agree) {
  struct Case {
    const char* action;
    std::string form_fields;
    std::string json;
    Words words;
    int status;
    int exit_status;
    std::string message;
  };
  const std::string fp = fake::hex_id(0xb2);
  const std::vector<Case> cases = {
      {"block", "user=&reason=x", "{\"user\":\"\",\"reason\":\"x\"}", {"block", "", "--reason", "x"}, 400, 2,
       "The user name is required."},
      {"block", "user=nobody&reason=x", "{\"user\":\"nobody\",\"reason\":\"x\"}", {"block", "nobody", "--reason", "x"},
       404, 2, "no user named nobody"},
      {"block", "user=bob&reason=%20", "{\"user\":\"bob\",\"reason\":\" \"}", {"block", "bob", "--reason", " "}, 400, 2,
       "The reason is required."},
      {"block", "user=bob", "{\"user\":\"bob\"}", {"block", "bob"}, 400, 1, "The reason is required."},
      {"kill", "id=xyz", "{\"id\":\"xyz\"}", {"kill", "xyz"}, 400, 2, "A session id is 8 to 64 hexadecimal digits"},
      {"kill", "id=ffffffffffffffff", "{\"id\":\"ffffffffffffffff\"}", {"kill", "ffffffffffffffff"}, 404, 2,
       "no active session has id ffffffffffffffff"},
      {"set-limit", "user=bob&limit=1001", "{\"user\":\"bob\",\"max_sessions\":1001}", {"set-limit", "bob", "1001"}, 400, 2,
       "The session limit must be a whole number from 0 (no limit) to 1000"},
      {"end-idle", "minutes=0", "{\"minutes\":0}", {"end-idle", "0", "--yes"}, 400, 2,
       "The idle time must be a whole number of minutes from 1 to 525600."},
      {"logout-request", "id=" + fp + "&subject=&message=m", "{\"id\":\"" + fp + "\",\"subject\":\"\",\"message\":\"m\"}",
       {"logout-request", fp, "--subject", "", "--message", "m"}, 400, 2, "The subject is required."},
  };
  for (const auto& c : cases) {
    fake::Backend b = with_sessions();
    Response page = form(b, c.action, c.form_fields);
    if (page.status != c.status) fail_msg("form %s %s: %d", c.action, c.form_fields.c_str(), page.status);
    assert_contains(page.body, sg::html_escape(c.message));
    Response json = api(b, c.action, c.json);
    if (json.status != c.status) fail_msg("api %s %s: %d", c.action, c.json.c_str(), json.status);
    assert_contains(json.body, "\"message\":\"" + c.message);
    CliResult line = cli(b, c.words);
    if (line.status != c.exit_status) fail_msg("cli %s: exit %d (%s)", c.action, line.status, line.err.c_str());
    assert_contains(line.err, "fcgi_admin: " + c.message);
    assert_true(b.calls.empty());
  }
  // And when it works: the form redirects with its notice, the API and the CLI give the audit line.
  fake::Backend b = with_sessions();
  Response page = form(b, "kill", "id=" + fp);
  assert_int_equal(page.status, 303);
  assert_str_eq(page.header_value("Location"), "/session-guard/sessions?notice=killed&n=1&u=bob");
  b = with_sessions();
  Response json = api(b, "kill", "{\"id\":\"" + fp + "\"}");
  assert_int_equal(json.status, 200);
  assert_contains(json.body, "\"message\":\"Session 00000000 terminated by administrator admin\"");
  b = with_sessions();
  CliResult line = cli(b, {"kill", fp});
  assert_int_equal(line.status, 0);
  assert_str_eq(line.out, "Session 00000000 terminated by administrator admin\n");
  assert_str_eq(b.calls.at(0), "kill:" + fp + ":cli");
}

SG_TEST(the_command_line_reads_words_flags_and_confirmation) {
  fake::Backend b = with_sessions();
  // Wrong number of words, a number that is no number, no --yes: usage errors, nothing done.
  assert_int_equal(cli(b, {"kill"}).status, 1);
  assert_int_equal(cli(b, {"kill", fake::hex_id(0xa1), "extra"}).status, 1);
  assert_int_equal(cli(b, {"set-limit", "bob"}).status, 1);
  assert_int_equal(cli(b, {"set-limit", "bob", "many"}).status, 1);
  assert_int_equal(cli(b, {"set-limit", "bob", "-1"}).status, 1);
  CliResult r = cli(b, {"end-idle", "30"});
  assert_int_equal(r.status, 1);
  assert_contains(r.err, "--yes");
  r = cli(b, {"sign-out-all", "--server", "app.example.test"});
  assert_int_equal(r.status, 1);
  assert_true(b.calls.empty());
  // Flags anywhere; a list takes the remaining words; the CLI ends the actor's own session
  // without asking twice (the command line is explicit).
  assert_int_equal(cli(b, {"--reason", "left", "block", "bob"}).status, 0);
  assert_str_eq(b.calls.back(), "block:bob:left");
  assert_int_equal(cli(b, {"kill-many", fake::hex_id(0xa1), fake::hex_id(0xad)}).status, 0);
  assert_str_eq(b.calls.back(), "kill_many:00000000,00000000,");
  assert_int_equal(cli(b, {"set-limit", "bob", "none"}).status, 0);
  assert_str_eq(b.calls.back(), "limit:bob:none:cli");
  assert_int_equal(cli(b, {"end-idle", "30", "--yes"}).status, 0);
  assert_str_eq(b.calls.back(), "end_idle:30:cli");
  assert_int_equal(cli(b, {"sign-out-all", "--yes"}, "ops").status, 0);
  assert_str_eq(b.calls.back(), "sign_out_all::ops:cli");
  // The database down is exit 3's business (run_cli): here it surfaces as a StoreError.
  b.down = true;
  bool thrown = false;
  try {
    cli(b, {"kill", fake::hex_id(0xb2)});
  } catch (const sg::StoreError&) {
    thrown = true;
  }
  assert_true(thrown);
}

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(the_table_holds_every_write_action_once),
      cmocka_unit_test(session_ids_are_checked_before_the_backend_is_asked),
      cmocka_unit_test(unknown_users_are_the_backends_404),
      cmocka_unit_test(texts_have_a_clear_limit),
      cmocka_unit_test(numbers_are_whole_and_in_range),
      cmocka_unit_test(own_sessions_need_confirm_self_and_no_one_blocks_themselves),
      cmocka_unit_test(the_three_faces_agree),
      cmocka_unit_test(the_command_line_reads_words_flags_and_confirmation),
  };
  return cmocka_run_group_tests_name("admin_commands", tests, nullptr, nullptr);
}
