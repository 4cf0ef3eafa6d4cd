-- CAS single logout for sessions the module did not see signed in with their ticket
-- (issue 13): mod_auth_cas validates ?ticket=ST-... and answers with a redirect before any
-- handler runs, and an app with its own CAS client (phpCAS) signs its session in without
-- telling the web server who the user is. Each names the value its response set for a
-- configured cookie on the request that carried the ticket; a CAS logoutRequest for that
-- ticket ends the session with that value, or revokes the value when no session has it.
-- Only digests: a ticket is a bearer credential while it is valid. Re-runnable.
CREATE TABLE IF NOT EXISTS sso_ticket_values (
  sso_key      CHAR(64) CHARACTER SET ascii NOT NULL,  -- SHA-256 (hex) of "cas-ticket\n<ST-...>"
  fingerprint  CHAR(64) CHARACTER SET ascii NOT NULL,  -- of the cookie value the response set
  cookie_name  VARCHAR(64) NOT NULL,
  created_at   DATETIME(6) NOT NULL,
  PRIMARY KEY (sso_key, fingerprint),
  KEY ix_sso_ticket_values_created (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
