#include "retention.hpp"

#include <algorithm>
#include <string>

namespace sg::db {

PruneCounts& PruneCounts::operator+=(const PruneCounts& more) {
  ended_sessions += more.ended_sessions;
  revocations += more.revocations;
  user_events += more.user_events;
  audit += more.audit;
  finished_mail += more.finished_mail;
  activity_samples += more.activity_samples;
  silent_instances += more.silent_instances;
  ticket_ties += more.ticket_ties;
  return *this;
}

ReportedRetentions RetentionStore::reported_retentions() {
  // Compared in milliseconds as stored: a value too large to be a module's never overflows.
  auto rows = db_.query("SELECT COUNT(*), COALESCE(MIN(revocation_retention_ms), 0), "
                        "COALESCE(MAX(revocation_retention_ms), 0) FROM instance_health");
  ReportedRetentions reported;
  if (rows.empty()) return reported;
  reported.instances = static_cast<std::uint64_t>(to_int(rows[0][0]));
  const std::int64_t limit_ms = ServerConfig::kMaxRevocationRetention / 1000;
  reported.shortest = std::min(to_int(rows[0][1]), limit_ms + 1) * 1000;
  reported.longest = std::min(to_int(rows[0][2]), limit_ms + 1) * 1000;
  return reported;
}

PruneCounts RetentionStore::prune_batch(const RetentionPolicy& policy, std::size_t batch) {
  const auto limit = static_cast<std::int64_t>(batch);
  auto older_than = [&](const char* sql, Micros age) {
    return db_.execute(sql, {static_cast<std::int64_t>(age), limit});
  };
  PruneCounts done;
  // session_values rows go with their session (ON DELETE CASCADE). The ended states named,
  // not "<> 'active'": only a list of equalities is read through ix_sessions_state_ended; the
  // inequality scanned the whole table in every batch, even with nothing left to delete.
  done.ended_sessions = older_than(
      "DELETE FROM sessions WHERE state IN ('killed','blocked','superseded','expired','logged_out','refused',"
      "'sso_logout') AND ended_at < NOW(6) - INTERVAL ? MICROSECOND LIMIT ?",
      policy.ended_sessions);
  if (auto age = revocation_prune_age(policy, reported_retentions())) {
    done.revocations = older_than(
        "DELETE FROM deny_events WHERE kind = 'session' AND created_at < NOW(6) - INTERVAL ? MICROSECOND LIMIT ?", *age);
  }
  done.user_events = older_than(
      "DELETE FROM deny_events WHERE kind = 'user' AND created_at < NOW(6) - INTERVAL ? MICROSECOND LIMIT ?",
      policy.user_events);
  done.audit = older_than("DELETE FROM audit_log WHERE at < NOW(6) - INTERVAL ? MICROSECOND LIMIT ?", policy.audit);
  done.finished_mail = older_than(
      "DELETE FROM mail_outbox WHERE state IN ('sent','failed') AND created_at < NOW(6) - INTERVAL ? MICROSECOND LIMIT ?",
      policy.finished_mail);
  done.activity_samples = older_than("DELETE FROM activity_samples WHERE at < NOW(6) - INTERVAL ? MICROSECOND LIMIT ?",
                                     policy.activity_samples);
  // Kept as long as ended sessions, and while the value's session is active (the value may
  // be the session's or one of its later ones): a CAS logout may come as late as the single
  // sign-on session lives.
  done.ticket_ties = older_than(
      "DELETE FROM sso_ticket_values WHERE created_at < NOW(6) - INTERVAL ? MICROSECOND "
      "AND fingerprint NOT IN (SELECT fingerprint FROM sessions WHERE state = 'active') "
      "AND fingerprint NOT IN (SELECT v.fingerprint FROM session_values v JOIN sessions s ON s.id = v.session_id "
      "WHERE s.state = 'active') LIMIT ?",
      policy.ended_sessions);
  done.silent_instances = older_than(
      "DELETE FROM instance_health WHERE reported_at < NOW(6) - INTERVAL ? MICROSECOND LIMIT ?", policy.silent_instances);
  return done;
}

PruneCounts RetentionStore::prune(const RetentionPolicy& policy, std::size_t batch, std::size_t max_batches) {
  PruneCounts all;
  for (std::size_t i = 0; i < max_batches; ++i) {
    PruneCounts done = prune_batch(policy, batch);
    all += done;
    if (done.total() == 0) break;
  }
  return all;
}

}  // namespace sg::db
