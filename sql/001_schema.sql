-- Session Guard schema. Every table is InnoDB so an action and its audit row
-- (and later its mail) commit together or not at all.

CREATE TABLE IF NOT EXISTS accounts (
  username         VARCHAR(190) NOT NULL PRIMARY KEY,
  email            VARCHAR(255) NULL,
  is_admin         TINYINT(1)   NOT NULL DEFAULT 0,
  active           TINYINT(1)   NOT NULL DEFAULT 1,
  blocked_at       DATETIME(6)  NULL,
  blocked_by       VARCHAR(190) NULL,
  block_reason     VARCHAR(1000) NULL,
  not_valid_before DATETIME(6)  NULL,
  max_sessions     INT          NULL,
  last_login_at    DATETIME(6)  NULL,
  created_at       DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- fingerprint = hex SHA-256 of "cookie-name=cookie-value"; the raw value is never stored.
CREATE TABLE IF NOT EXISTS sessions (
  id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  fingerprint  CHAR(64) CHARACTER SET ascii NOT NULL,
  username     VARCHAR(190) NOT NULL,
  cookie_name  VARCHAR(64)  NOT NULL,
  state        ENUM('active','killed','blocked','superseded','expired','logged_out') NOT NULL DEFAULT 'active',
  login_at     DATETIME(6)  NOT NULL,
  last_access  DATETIME(6)  NOT NULL,
  client_ip    VARCHAR(45)  NOT NULL DEFAULT '',
  user_agent   VARCHAR(512) NOT NULL DEFAULT '',
  device       ENUM('Desktop','Tablet','Phone') NOT NULL DEFAULT 'Desktop',
  browser      VARCHAR(64)  NOT NULL DEFAULT '',
  os           VARCHAR(64)  NOT NULL DEFAULT '',
  server_name  VARCHAR(255) NOT NULL DEFAULT '',
  idle_timeout INT          NOT NULL DEFAULT 0,
  max_lifetime INT          NOT NULL DEFAULT 0,
  ended_at     DATETIME(6)  NULL,
  ended_by     VARCHAR(190) NULL,
  UNIQUE KEY uq_sessions_fingerprint (fingerprint),
  KEY ix_sessions_user_state (username, state, login_at),
  KEY ix_sessions_state_access (state, last_access)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- The feed every Apache poller follows. kind='session' revokes one fingerprint;
-- kind='user' carries a user's new blocked state. Rows are only ever inserted.
CREATE TABLE IF NOT EXISTS deny_events (
  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  kind        ENUM('session','user') NOT NULL,
  fingerprint CHAR(64) CHARACTER SET ascii NULL,
  username    VARCHAR(190) NULL,
  reason      ENUM('killed','blocked','superseded','expired','unblocked') NOT NULL,
  created_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  KEY ix_deny_events_kind (kind, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS audit_log (
  id             BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  at             DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  actor          VARCHAR(190) NOT NULL,
  actor_ip       VARCHAR(45)  NOT NULL DEFAULT '',
  source         ENUM('cli','web','api','module') NOT NULL,
  action         VARCHAR(32)  NOT NULL,
  target_user    VARCHAR(190) NULL,
  target_session CHAR(64) CHARACTER SET ascii NULL,
  reason         VARCHAR(1000) NULL,
  message        VARCHAR(1000) NOT NULL,
  KEY ix_audit_at (at),
  KEY ix_audit_actor (actor, at),
  KEY ix_audit_user (target_user, at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS mail_outbox (
  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  created_at  DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  recipient   VARCHAR(255) NOT NULL,
  subject     VARCHAR(255) NOT NULL,
  body        TEXT         NOT NULL,
  state       ENUM('pending','sent','failed') NOT NULL DEFAULT 'pending',
  attempts    INT          NOT NULL DEFAULT 0,
  next_try_at DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  last_error  VARCHAR(1000) NULL,
  sent_at     DATETIME(6)  NULL,
  audit_id    BIGINT UNSIGNED NULL,
  KEY ix_outbox_state (state, next_try_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
