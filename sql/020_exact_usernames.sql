-- User names compare exactly, as the C++ code compares them: byte for byte, case and
-- trailing spaces included. Under utf8mb4_unicode_ci "Admin" and "admin " were the acting
-- "admin" to MariaDB but another user to the self-block guard, so an admin could block
-- their own account. utf8mb4_bin is not enough: MariaDB's _bin collations are PAD SPACE
-- ('admin' = 'admin '); the NO PAD one compares trailing spaces too.
-- Every column that holds a user name (there are no foreign keys between them) changes
-- together, so joins (sessions to accounts) keep using their indexes. A case-insensitive
-- unique key allowed no two names that differ only in case, so nothing can collide now.
ALTER TABLE accounts
  MODIFY username   VARCHAR(190) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
  MODIFY blocked_by VARCHAR(190) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NULL;

ALTER TABLE sessions
  MODIFY username VARCHAR(190) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
  MODIFY ended_by VARCHAR(190) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NULL;

ALTER TABLE deny_events
  MODIFY username VARCHAR(190) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NULL;

ALTER TABLE audit_log
  MODIFY actor       VARCHAR(190) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
  MODIFY target_user VARCHAR(190) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NULL;

ALTER TABLE mail_outbox
  MODIFY target_user VARCHAR(190) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NULL;

ALTER TABLE signout_links_used
  MODIFY username VARCHAR(190) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL;
