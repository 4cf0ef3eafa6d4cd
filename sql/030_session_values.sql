-- Session lineage: every other value a session's cookies have had. Apps re-issue their
-- session cookie on ordinary requests (after a security timeout, a password change) and set
-- "remember me" cookies beside it; each such value belongs to the session it came from, so
-- a kill, a block or a policy that ends the session ends all of them (db/store.cpp,
-- revoke_session). The session row keeps the current value of its session cookie.
CREATE TABLE IF NOT EXISTS session_values (
  fingerprint  CHAR(64) CHARACTER SET ascii NOT NULL PRIMARY KEY,
  session_id   BIGINT UNSIGNED NOT NULL,
  cookie_name  VARCHAR(64) NOT NULL,
  created_at   DATETIME(6) NOT NULL,
  KEY ix_session_values_session (session_id),
  CONSTRAINT fk_session_values_session FOREIGN KEY (session_id) REFERENCES sessions (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
