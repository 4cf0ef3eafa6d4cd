-- What each Apache instance's poller last reported about itself (the figures of its
-- server-status section), for the admin's Health panel and GET /api/health. One row per
-- instance, rewritten about every 10 s; an instance that stops reporting keeps its last row,
-- and the admin side flags it stale from reported_at (the database's clock, so the web
-- servers' clocks do not matter).
CREATE TABLE IF NOT EXISTS instance_health (
  instance                 VARCHAR(255)     NOT NULL PRIMARY KEY,  -- host name ":" port
  reported_at              DATETIME(6)      NOT NULL,
  report_interval_ms       INT UNSIGNED     NOT NULL,
  revoked_sessions         INT UNSIGNED     NOT NULL,
  blocked_users            INT UNSIGNED     NOT NULL,
  deny_list_capacity       INT UNSIGNED     NOT NULL,
  deny_list_age_ms         BIGINT           NOT NULL,  -- since the last successful refresh
  poll_lag_ms              BIGINT           NOT NULL,  -- since the poller's last tick
  last_db_error            VARCHAR(255)     NULL,
  last_db_error_at         DATETIME(6)      NULL,
  activity_slots_used      INT UNSIGNED     NOT NULL,
  activity_slots           INT UNSIGNED     NOT NULL,
  activity_dropped         BIGINT UNSIGNED  NOT NULL,
  revocations_dropped      BIGINT UNSIGNED  NOT NULL,
  login_connections_in_use INT UNSIGNED     NOT NULL,
  login_connections        INT UNSIGNED     NOT NULL,
  journal_bytes            BIGINT UNSIGNED  NOT NULL,
  journal_records_pending  INT UNSIGNED     NOT NULL
) ENGINE=InnoDB;
