// Every write of mail_outbox: the admin side queues a notice in the transaction of the
// action it tells of; the delivery loop leases due mail and records how sending went.
#pragma once
#include <cstdint>
#include <string>

#include "mariadb.hpp"
#include "sg/types.hpp"

namespace sg::db {

struct MailEntry {
  std::string kind;
  std::string recipient;
  std::string target_user;
  std::string subject;
  std::string body;
  std::uint64_t audit_id = 0;
};

void queue_mail(Connection& db, const MailEntry& mail);
// True when this process won the row: the lease moves next_try_at, so the condition fails
// for every other process until it expires (a crashed sender's mail is retried then).
bool lease_due_mail(Connection& db, std::uint64_t id, Micros lease);
void mark_mail_sent(Connection& db, std::uint64_t id);
void mark_mail_failed(Connection& db, std::uint64_t id, const std::string& error, Micros retry_in, bool give_up);

}  // namespace sg::db
