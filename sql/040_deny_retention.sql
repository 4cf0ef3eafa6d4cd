-- The poller loads the session revocations made within SessionGuardRevocationRetention
-- (a time, not the newest N): this index makes that a range scan of those rows alone,
-- however long deny_events has grown, and whatever order ids and times came in.
ALTER TABLE deny_events ADD KEY IF NOT EXISTS ix_deny_events_kind_created (kind, created_at);
