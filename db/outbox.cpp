#include "outbox.hpp"

#include "sg/text.hpp"

namespace sg::db {

namespace {
constexpr std::size_t kMaxMailBody = 65535;
}

void queue_mail(Connection& db, const MailEntry& mail) {
  db.execute("INSERT INTO mail_outbox (kind, recipient, target_user, subject, body, audit_id) VALUES (?, ?, ?, ?, ?, ?)",
             {mail.kind, mail.recipient, mail.target_user, sg::utf8_sanitize(mail.subject, 255),
              sg::utf8_sanitize(mail.body, kMaxMailBody), static_cast<std::int64_t>(mail.audit_id)});
}

bool lease_due_mail(Connection& db, std::uint64_t id, Micros lease) {
  return db.execute("UPDATE mail_outbox SET attempts = attempts + 1, next_try_at = NOW(6) + INTERVAL ? MICROSECOND "
                    "WHERE id = ? AND state = 'pending' AND next_try_at <= NOW(6)",
                    {static_cast<std::int64_t>(lease), static_cast<std::int64_t>(id)}) == 1;
}

void mark_mail_sent(Connection& db, std::uint64_t id) {
  db.execute("UPDATE mail_outbox SET state = 'sent', sent_at = NOW(6), last_error = NULL WHERE id = ?",
             {static_cast<std::int64_t>(id)});
}

void mark_mail_failed(Connection& db, std::uint64_t id, const std::string& error, Micros retry_in, bool give_up) {
  db.execute("UPDATE mail_outbox SET state = ?, last_error = ?, next_try_at = NOW(6) + INTERVAL ? MICROSECOND WHERE id = ?",
             {std::string(give_up ? "failed" : "pending"), sg::utf8_sanitize(error, 1000),
              static_cast<std::int64_t>(retry_in), static_cast<std::int64_t>(id)});
}

}  // namespace sg::db
