// Delivery of the mail outbox through a sendmail-compatible program (sendmail, msmtp,
// ssmtp, postfix's or exim's sendmail). Rows are claimed with a lease so several
// fcgi_admin processes never send one mail twice at the same time; a failed attempt is
// retried with exponential backoff until mail_max_attempts, so an MTA that is down loses nothing.
#pragma once
#include <cstddef>
#include <functional>
#include <string>

#include "admin_queries.hpp"
#include "settings.hpp"

namespace sg::admin {

struct SendResult {
  bool ok = false;
  std::string error;  // exit status and the program's output, or why it could not run
};

// Runs `program -i -f FROM -- TO`, writes `message` to its standard input, waits at most `timeout`.
SendResult run_sendmail(const std::string& program, const std::string& from, const std::string& to,
                        const std::string& message, Micros timeout);

struct DeliveryReport {
  std::size_t sent = 0;
  std::size_t retrying = 0;
  std::size_t failed = 0;
};

// Sends every due mail once. `log` receives one line per attempt.
DeliveryReport deliver_due(db::AdminQueries& queries, const Settings& settings,
                           const std::function<void(const std::string&)>& log, std::size_t limit = 100);

}  // namespace sg::admin
