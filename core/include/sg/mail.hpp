// Mail text: template expansion, header hygiene and the RFC 5322 message handed to sendmail.
// Pure functions, so the outbox is unit-tested without a mail system.
#pragma once
#include <map>
#include <string>
#include <string_view>

#include "sg/types.hpp"

namespace sg::mail {

// Replaces {name} with values.at(name); unknown names are kept as written.
std::string expand(std::string_view text, const std::map<std::string, std::string>& values);

// One header line's worth of text: CR, LF and other control characters become spaces,
// so a value can never start a new header (header injection).
std::string header_text(std::string_view text);

// RFC 2047 encoded-word (UTF-8, base64) when the text is not plain printable ASCII.
std::string encode_header(std::string_view text);

// A deliberately plain check: local@domain, no spaces, no control characters, no <>,
// at most 254 bytes. Addresses come from the accounts table, never from a request.
bool valid_address(std::string_view address);

// The message sendmail reads on standard input (LF line ends, as sendmail expects).
std::string format_message(std::string_view from, std::string_view to, std::string_view subject,
                           std::string_view body, Micros date, std::string_view message_id);

// Delay before attempt number `attempts + 1`: base * 2^(attempts-1), capped.
Micros retry_delay(int attempts, Micros base, Micros cap);

// "2026-11-23 16:04:05 UTC"
std::string format_utc(Micros micros);

}  // namespace sg::mail
