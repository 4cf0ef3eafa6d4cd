-- Single sign-out (OpenID Connect back-channel logout, CAS single logout).
-- A session ended because the identity provider said the user signed out has its own
-- reason, shown and audited like any other ending.
ALTER TABLE sessions
  MODIFY state ENUM('active','killed','blocked','superseded','expired','logged_out','refused','sso_logout')
    NOT NULL DEFAULT 'active',
  -- SHA-256 (hex) of "oidc-sid\n<sid>" or "cas-ticket\n<ST-...>" seen when the session was
  -- bound: a CAS service ticket is a bearer credential while it is valid, so only its digest
  -- is kept, and a logout matches by digest.
  ADD COLUMN IF NOT EXISTS sso_key CHAR(64) CHARACTER SET ascii NULL,
  -- The OpenID Connect `sub` claim mod_auth_openidc passed on (OIDC_CLAIM_sub); not secret.
  ADD COLUMN IF NOT EXISTS sso_sub VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NULL,
  ADD KEY IF NOT EXISTS ix_sessions_sso_key (sso_key, state),
  ADD KEY IF NOT EXISTS ix_sessions_sso_sub (sso_sub, state);

ALTER TABLE deny_events
  MODIFY reason ENUM('killed','blocked','superseded','expired','unblocked','refused','sso_logout') NOT NULL;

ALTER TABLE audit_log
  MODIFY source ENUM('cli','web','api','module','self','link','sso') NOT NULL;

-- Logout tokens already used (jti replay): the primary key makes "first use wins" hold
-- across fcgi_admin processes and servers. Kept until the token could no longer verify.
CREATE TABLE IF NOT EXISTS sso_logout_tokens (
  token_hash CHAR(64) CHARACTER SET ascii NOT NULL PRIMARY KEY,  -- SHA-256 of iss "\n" jti
  expires_at DATETIME(6) NOT NULL,
  KEY ix_sso_logout_tokens_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
