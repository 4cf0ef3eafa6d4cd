#include <algorithm>
#include <vector>
// The server-independent parts of single sign-out: the CAS logoutRequest reader (strict, no
// entities), tickets from a query string, the digests stored for them, base64url, and the
// sso_logout reason with its message.
#include "sg/config.hpp"
#include "sg/denial.hpp"
#include "sg/fingerprint.hpp"
#include "sg/sso.hpp"
// Last: cmocka defines a `fail` macro that must not meet the C++ headers.
#include "unit.hpp"

namespace {

const char kRequest[] =
    "<samlp:LogoutRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" "
    "xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"LR-1\" Version=\"2.0\" "
    "IssueInstant=\"2024-01-01T00:00:00Z\">\n"
    "  <saml:NameID>@NOT_USED@</saml:NameID>\n"
    "  <samlp:SessionIndex>ST-12-abcDEF.x_y-z</samlp:SessionIndex>\n"
    "</samlp:LogoutRequest>\n";

std::string refused(const std::string& xml) {
  std::string error;
  auto ticket = sg::parse_cas_logout_request(xml, error);
  if (ticket) fail_msg("accepted: %s (ticket %s)", xml.c_str(), ticket->c_str());
  assert_true(!error.empty());
  return error;
}

}  // namespace

SG_TEST(cas_request_as_cas_sends_it) {
  std::string error;
  auto ticket = sg::parse_cas_logout_request(kRequest, error);
  assert_true(ticket.has_value());
  assert_str_eq(*ticket, "ST-12-abcDEF.x_y-z");
  // With an XML declaration, other prefixes or none, and a self-closing sibling.
  ticket = sg::parse_cas_logout_request(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?><LogoutRequest><NameID/><SessionIndex> ST-1 </SessionIndex>"
      "</LogoutRequest>",
      error);
  assert_true(ticket.has_value());
  assert_str_eq(*ticket, "ST-1");
}

SG_TEST(cas_request_refuses_entities_doctype_and_instructions) {
  assert_contains(refused("<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><LogoutRequest><SessionIndex>&e;"
                          "</SessionIndex></LogoutRequest>"),
                  "entity");
  assert_contains(refused("<!DOCTYPE x><LogoutRequest><SessionIndex>ST-1</SessionIndex></LogoutRequest>"), "DOCTYPE");
  assert_contains(refused("<LogoutRequest><SessionIndex><![CDATA[ST-1]]></SessionIndex></LogoutRequest>"), "CDATA");
  assert_contains(refused("<LogoutRequest><!-- x --><SessionIndex>ST-1</SessionIndex></LogoutRequest>"), "comments");
  assert_contains(refused("<LogoutRequest><?pi x?><SessionIndex>ST-1</SessionIndex></LogoutRequest>"),
                  "processing instructions");
  refused("<LogoutRequest><SessionIndex>ST-&#49;</SessionIndex></LogoutRequest>");
}

SG_TEST(cas_request_refuses_malformed_shapes) {
  refused("");
  refused("ST-1");
  refused("<LogoutRequest><SessionIndex>ST-1</LogoutRequest>");                       // unclosed
  refused("<LogoutRequest><SessionIndex>ST-1</SessionIndex>");                        // root unclosed
  refused("<LogoutRequest><SessionIndex>ST-1</SessionIndex></LogoutRequest><x/>");   // second root
  refused("<LogoutRequest><SessionIndex>ST-1</SessionIndex></LogoutRequest>trailing");
  refused("text<LogoutRequest><SessionIndex>ST-1</SessionIndex></LogoutRequest>");
  refused("<Other><SessionIndex>ST-1</SessionIndex></Other>");                        // wrong root
  refused("<LogoutRequest><NameID>x</NameID></LogoutRequest>");                       // no SessionIndex
  refused("<LogoutRequest><SessionIndex>ST-1</SessionIndex><SessionIndex>ST-2</SessionIndex></LogoutRequest>");
  refused("<LogoutRequest><SessionIndex><b>ST-1</b></SessionIndex></LogoutRequest>");
  refused("<LogoutRequest><SessionIndex/></LogoutRequest>");
  refused("<LogoutRequest><SessionIndex>TGT-1</SessionIndex></LogoutRequest>");       // not a service ticket
  refused("<LogoutRequest><SessionIndex>ST-1 2</SessionIndex></LogoutRequest>");
  refused("<LogoutRequest a=\"1><SessionIndex>ST-1</SessionIndex></LogoutRequest>");
  refused("<LogoutRequest><SessionIndex>ST-1</SessionIndex></LogoutRequest");
  refused("<LogoutRequest/>");
  refused(std::string("<LogoutRequest>") + std::string(20000, ' ') +
          "<SessionIndex>ST-1</SessionIndex></LogoutRequest>");
  std::string deep = "<LogoutRequest>";
  for (int i = 0; i < 10; ++i) deep += "<a>";
  refused(deep);
}

SG_TEST(tickets_from_queries) {
  assert_str_eq(sg::cas_ticket_from_query("ticket=ST-1-abc"), "ST-1-abc");
  assert_str_eq(sg::cas_ticket_from_query("a=1&ticket=PT-9&b=2"), "PT-9");
  assert_str_eq(sg::cas_ticket_from_query("ticket=TGT-1"), "");
  assert_str_eq(sg::cas_ticket_from_query("ticket=ST-"), "");
  assert_str_eq(sg::cas_ticket_from_query("ticket=ST-1%3Cx"), "");
  assert_str_eq(sg::cas_ticket_from_query("tickets=ST-1"), "");
  assert_str_eq(sg::cas_ticket_from_query(""), "");
  assert_true(!sg::valid_cas_ticket("ST-" + std::string(300, 'a')));
}

SG_TEST(every_ticket_any_app_could_read_is_tied) {
  using V = std::vector<std::string>;
  assert_true(sg::cas_tickets_in_query("ticket=ST-1-abc") == V{"ST-1-abc"});
  // PHP takes the last, CGI.pm and mod_auth_cas the first: both are tied.
  V both = sg::cas_tickets_in_query("ticket=ST-1&ticket=ST-2");
  assert_int_equal(both.size(), 2);
  assert_true(std::find(both.begin(), both.end(), "ST-1") != both.end());
  assert_true(std::find(both.begin(), both.end(), "ST-2") != both.end());
  // CGI.pm also splits on ';'; a PHP-mangled name ("ticket " reads as "ticket_") is no ticket.
  assert_true(sg::cas_tickets_in_query("x=1;ticket=ST-3") == V{"ST-3"});
  assert_true(sg::cas_tickets_in_query("ticket=TGT-1&ticket=&ticket[]=ST-4").empty());
  assert_int_equal(sg::cas_tickets_in_query("ticket=ST-a&ticket=ST-b&ticket=ST-c&ticket=ST-d&ticket=ST-e").size(),
                   sg::kMaxTicketsPerQuery);
}

SG_TEST(digests_keep_sid_and_ticket_apart_and_never_hold_the_value) {
  std::string sid = sg::sso_key_oidc_sid("ST-1");
  std::string ticket = sg::sso_key_cas_ticket("ST-1");
  assert_int_equal(sid.size(), 64);
  assert_true(sid != ticket);
  assert_not_contains(ticket, "ST-1");
  // The integration tests compute it independently: SHA-256 of "sso=cas-ticket\nST-1".
  assert_str_eq(ticket, sg::session_fingerprint("sso", "cas-ticket\nST-1").hex());
}

SG_TEST(base64url) {
  assert_str_eq(*sg::base64url_decode("eyJhbGciOiJSUzI1NiJ9"), "{\"alg\":\"RS256\"}");
  assert_str_eq(*sg::base64url_decode(""), "");
  assert_str_eq(*sg::base64url_decode("-_8"), std::string("\xfb\xff", 2));
  assert_false(sg::base64url_decode("ab+c").has_value());
  assert_false(sg::base64url_decode("abc=").has_value());
  assert_false(sg::base64url_decode("a").has_value());
}

SG_TEST(reason_sso_logout) {
  assert_str_eq(sg::to_string(sg::Reason::sso_logout), "sso_logout");
  assert_true(sg::reason_from_string("sso_logout") == sg::Reason::sso_logout);
  assert_str_eq(sg::default_message(sg::Reason::sso_logout), "You signed out of single sign-on");
  sg::DirConfig config;
  assert_false(sg::parse_message("sso_logout", "Signed out at the portal", config).has_value());
  assert_str_eq(config.messages[sg::Reason::sso_logout], "Signed out at the portal");
}

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(cas_request_as_cas_sends_it),
      cmocka_unit_test(cas_request_refuses_entities_doctype_and_instructions),
      cmocka_unit_test(cas_request_refuses_malformed_shapes),
      cmocka_unit_test(tickets_from_queries),
      cmocka_unit_test(every_ticket_any_app_could_read_is_tied),
      cmocka_unit_test(digests_keep_sid_and_ticket_apart_and_never_hold_the_value),
      cmocka_unit_test(base64url),
      cmocka_unit_test(reason_sso_logout),
  };
  return cmocka_run_group_tests_name("sso", tests, nullptr, nullptr);
}
