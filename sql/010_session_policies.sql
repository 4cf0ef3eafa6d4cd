-- Session policies (concurrent-session limits, idle and absolute timeouts).
-- Deadlines are stored so the expiry sweep is two index range scans, not a table scan.
ALTER TABLE sessions
  MODIFY state ENUM('active','killed','blocked','superseded','expired','logged_out','refused') NOT NULL DEFAULT 'active',
  ADD COLUMN IF NOT EXISTS idle_deadline DATETIME(6) NULL,
  ADD COLUMN IF NOT EXISTS absolute_deadline DATETIME(6) NULL,
  ADD KEY IF NOT EXISTS ix_sessions_idle_deadline (state, idle_deadline),
  ADD KEY IF NOT EXISTS ix_sessions_absolute_deadline (state, absolute_deadline);

ALTER TABLE deny_events
  MODIFY reason ENUM('killed','blocked','superseded','expired','unblocked','refused') NOT NULL;
