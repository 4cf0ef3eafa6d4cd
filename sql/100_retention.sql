-- Retention (issue 10, item 8): what the pruner deletes by age, read by index ranges, and
-- each instance's SessionGuardRevocationRetention, so no revocation an instance may still
-- enforce is deleted. Re-runnable.
ALTER TABLE instance_health
  ADD COLUMN IF NOT EXISTS revocation_retention_ms BIGINT NOT NULL DEFAULT 0;

ALTER TABLE sessions
  ADD KEY IF NOT EXISTS ix_sessions_state_ended (state, ended_at);

ALTER TABLE mail_outbox
  ADD KEY IF NOT EXISTS ix_outbox_state_created (state, created_at);

ALTER TABLE deny_events
  ADD KEY IF NOT EXISTS ix_deny_events_kind_created (kind, created_at);
