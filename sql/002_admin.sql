-- Admin pages (fcgi_admin): indexes that keep the sessions page fast with millions of rows,
-- activity samples for the 24-hour chart, and the key that signs CSRF tokens.

-- Every sortable column of the sessions page has an index that starts with the state, so
-- "active sessions ordered by X" is read in index order and keyset paging ("after row N")
-- is a range scan, whatever the table's size. (InnoDB appends the primary key, the tie-break.)
ALTER TABLE sessions
  ADD KEY IF NOT EXISTS ix_sessions_state (state),
  ADD KEY IF NOT EXISTS ix_sessions_state_user (state, username),
  ADD KEY IF NOT EXISTS ix_sessions_state_login (state, login_at),
  ADD KEY IF NOT EXISTS ix_sessions_state_ip (state, client_ip),
  ADD KEY IF NOT EXISTS ix_sessions_state_device (state, device),
  ADD KEY IF NOT EXISTS ix_sessions_state_browser (state, browser),
  ADD KEY IF NOT EXISTS ix_sessions_state_server (state, server_name),
  ADD KEY IF NOT EXISTS ix_sessions_state_timeout (state, idle_timeout),
  ADD KEY IF NOT EXISTS ix_sessions_state_fingerprint (state, fingerprint),
  -- one user's sessions by last access: the page with a user filter, and the benchmark
  ADD KEY IF NOT EXISTS ix_sessions_user_state_access (username, state, last_access);

ALTER TABLE audit_log
  ADD KEY IF NOT EXISTS ix_audit_action (action, id);

ALTER TABLE mail_outbox
  ADD COLUMN IF NOT EXISTS kind VARCHAR(32) NOT NULL DEFAULT 'notice' AFTER id,
  ADD COLUMN IF NOT EXISTS target_user VARCHAR(190) NULL AFTER recipient;

-- One row per sampling slot, written by whichever fcgi_admin process gets there first
-- (INSERT IGNORE on the slot); the sessions page draws its 24-hour chart from these.
CREATE TABLE IF NOT EXISTS activity_samples (
  at              DATETIME NOT NULL PRIMARY KEY,
  active_sessions INT NOT NULL,
  active_users    INT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Process-independent settings of fcgi_admin, e.g. the key CSRF tokens are signed with,
-- shared by every FastCGI process (mod_fcgid starts several) and kept across restarts.
CREATE TABLE IF NOT EXISTS admin_settings (
  name  VARCHAR(64)  NOT NULL PRIMARY KEY,
  value VARCHAR(255) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
