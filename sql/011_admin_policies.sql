-- Admin side of the session policies: time left per session (sortable), self-service and
-- "This wasn't me" links, and who did it.

-- The sooner of the two deadlines, kept by the server, indexed like every other sortable
-- column of the sessions page ('9999-12-31' = no limit), so "sort by time left" is an
-- index range scan with keyset paging.
ALTER TABLE sessions
  ADD COLUMN IF NOT EXISTS deadline DATETIME(6) AS (LEAST(COALESCE(idle_deadline, TIMESTAMP'9999-12-31 00:00:00'),
                                            COALESCE(absolute_deadline, TIMESTAMP'9999-12-31 00:00:00'))) PERSISTENT,
  ADD KEY IF NOT EXISTS ix_sessions_state_deadline (state, deadline);

-- Actions a user takes on their own sessions (my-sessions) or through a signed email link.
ALTER TABLE audit_log
  MODIFY source ENUM('cli','web','api','module','self','link') NOT NULL;

-- "This wasn't me" links are single use: the nonce of each link followed is recorded here,
-- in the same transaction that ends the sessions, so a second use finds it and is refused.
CREATE TABLE IF NOT EXISTS signout_links_used (
  nonce      CHAR(32) CHARACTER SET ascii NOT NULL PRIMARY KEY,
  username   VARCHAR(190) NOT NULL,
  expires_at DATETIME(6)  NOT NULL,
  used_at    DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  used_ip    VARCHAR(45)  NOT NULL DEFAULT '',
  KEY ix_signout_links_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
