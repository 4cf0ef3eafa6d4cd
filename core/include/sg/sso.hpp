// Single sign-out, the parts that need no server: what ties a session to the identity
// provider's session (a digest of the OIDC `sid` or the CAS service ticket), the CAS
// logoutRequest parser, and base64url for JWT segments.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sg {

// hex SHA-256 of a domain tag and the value: a ticket is a bearer credential while it is
// valid, so only its digest is stored and matched; the tags keep a sid and a ticket with
// the same text apart.
std::string sso_key_oidc_sid(std::string_view sid);
std::string sso_key_cas_ticket(std::string_view ticket);

// A CAS service or proxy ticket as CAS servers issue them: "ST-" or "PT-" then 1 to 252
// characters of [A-Za-z0-9._-]. Anything else is not a ticket, so it is never tied or looked up.
bool valid_cas_ticket(std::string_view ticket);
// The `ticket` parameter of a query string when it is a valid ticket, else "".
std::string cas_ticket_from_query(std::string_view query);
// Every valid ticket any app family could read as the `ticket` parameter (the first, the
// last, split on ';' too: see sg/app_reader.hpp), at most kMaxTicketsPerQuery of them: a
// CAS client validates one of them, and the module cannot know which.
constexpr std::size_t kMaxTicketsPerQuery = 4;
std::vector<std::string> cas_tickets_in_query(std::string_view query);

// The service ticket named by a CAS SAML logoutRequest, or nullopt with `error` saying why.
// A strict reader of the one fixed shape CAS sends:
//   <samlp:LogoutRequest ...><saml:NameID>..</saml:NameID><samlp:SessionIndex>ST-..</samlp:SessionIndex></samlp:LogoutRequest>
// No DOCTYPE, no entities, no CDATA, no processing instructions but the XML declaration:
// nothing it reads can make it fetch or expand anything. Exactly one SessionIndex, inside
// a LogoutRequest root (any namespace prefix), and every tag closed in order.
std::optional<std::string> parse_cas_logout_request(std::string_view xml, std::string& error);

// RFC 4648 base64url without padding (as in a JWS); nullopt on any other character.
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace sg
