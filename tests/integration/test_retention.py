"""Issue 10, item 8: history is pruned by age, with documented defaults and settings, and
never a revocation an instance may still enforce. session-guard-prune against a real
mariadbd set up by scripts/db-setup (so its account's grants are the ones shipped), on rows
backdated as root; and the module reports its SessionGuardRevocationRetention, which is
what keeps revocations."""
import configparser
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

PRUNE = os.path.join(h.REPO, "build", "session-guard-prune")
DB = None
WEEK_MS = 7 * 24 * 3600 * 1000


def setup_module():
    global DB
    DB = h.MariaDB().start()


def prune(*args, check=True):
    return h.sh(PRUNE, "--db-options", os.path.join(DB.dir, "prune.cnf"), *args, check=check)


def clear():
    for table in ("session_values", "sessions", "deny_events", "audit_log", "mail_outbox", "activity_samples",
                  "instance_health", "sso_ticket_values"):
        DB.root_query(f"DELETE FROM {table}")


def days_ago(days):
    return f"NOW(6) - INTERVAL {int(days * 24 * 3600)} SECOND"


def add_session(name, state, ended_days_ago):
    fp = (name.encode().hex() * 64)[:64]
    ended = "NULL" if ended_days_ago is None else days_ago(ended_days_ago)
    DB.root_query(f"INSERT INTO sessions (fingerprint, username, cookie_name, state, login_at, last_access, ended_at) "
                  f"VALUES (%s, 'alice', 'PHPSESSID', %s, {days_ago(400)}, {days_ago(399)}, {ended})", fp, state)
    return fp


def add_revocation(name, age_days, kind="session"):
    DB.root_query(f"INSERT INTO deny_events (kind, fingerprint, username, reason, created_at) "
                  f"VALUES (%s, %s, 'alice', %s, {days_ago(age_days)})",
                  kind, (name.encode().hex() * 64)[:64] if kind == "session" else None,
                  "killed" if kind == "session" else "blocked")


def add_instance(name, retention_ms, reported_days_ago=0):
    DB.root_query("INSERT INTO instance_health (instance, reported_at, report_interval_ms, revoked_sessions, "
                  "blocked_users, deny_list_capacity, deny_list_age_ms, poll_lag_ms, activity_slots_used, "
                  "activity_slots, activity_dropped, revocations_dropped, login_connections_in_use, "
                  "login_connections, journal_bytes, journal_records_pending, revocation_retention_ms) "
                  f"VALUES (%s, {days_ago(reported_days_ago)}, 10000, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, %s)",
                  name, retention_ms)


def names(sql):
    return sorted(r[0] for r in DB.root_query(sql))


def revocation_ages():
    """Hours since each session revocation, oldest first."""
    return sorted((int(r[0]) for r in DB.root_query(
        "SELECT TIMESTAMPDIFF(MINUTE, created_at, NOW(6)) DIV 60 FROM deny_events WHERE kind = 'session'")), reverse=True)


def add_tie(name, fingerprint, age_days):
    DB.root_query(f"INSERT INTO sso_ticket_values (sso_key, fingerprint, cookie_name, created_at) "
                  f"VALUES (%s, %s, 'MOD_AUTH_CAS', {days_ago(age_days)})", (name.encode().hex() * 64)[:64], fingerprint)


def test_cas_ticket_ties_go_with_ended_sessions_never_while_their_session_is_active():
    clear()
    active = add_session("active", "active", None)
    ended = add_session("ended", "logged_out", 1)
    later = ("later".encode().hex() * 64)[:64]   # a value the active session's response set later
    DB.root_query("INSERT INTO session_values (fingerprint, session_id, cookie_name, created_at) "
                  "SELECT %s, id, 'PHPSESSID', NOW(6) FROM sessions WHERE fingerprint = %s", later, active)
    add_tie("t-active", active, 200)
    add_tie("t-later", later, 200)
    add_tie("t-ended", ended, 200)
    add_tie("t-unbound-old", ("unbound-old".encode().hex() * 64)[:64], 200)
    add_tie("t-unbound-new", ("unbound-new".encode().hex() * 64)[:64], 10)
    out = prune().stdout
    h.expect("2 CAS ticket ties" in out, out)
    left = names("SELECT fingerprint FROM sso_ticket_values")
    h.expect(left == sorted([active, later, ("unbound-new".encode().hex() * 64)[:64]]), left)


def test_every_ended_state_the_schema_has_is_pruned():
    # The pruner names the ended states (so the delete reads the state index): a state added
    # to the schema later must be added there too, or its sessions would be kept for ever.
    clear()
    column = DB.root_query("SELECT COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
                           "AND TABLE_NAME = 'sessions' AND COLUMN_NAME = 'state'")[0][0]
    states = [v for v in re.findall(r"'([a-z_]+)'", column) if v != "active"]
    h.expect(len(states) >= 7, column)
    for state in states:
        add_session("old-" + state, state, 100)
    prune()
    left = names("SELECT state FROM sessions")
    h.expect(left == [], "ended sessions kept:", left)


def test_old_history_goes_current_history_and_pending_work_stay():
    clear()
    add_session("ended-100", "killed", 100)
    add_session("refused-100", "refused", 100)
    add_session("sso-100", "sso_logout", 100)
    add_session("ended-10", "logged_out", 10)
    add_session("active-old", "active", None)  # logged in 400 days ago and never ended: kept
    DB.root_query(f"INSERT INTO audit_log (at, actor, source, action, message) VALUES "
                  f"({days_ago(400)}, 'admin', 'cli', 'kill', 'old'), ({days_ago(300)}, 'admin', 'cli', 'kill', 'recent')")
    DB.root_query(f"INSERT INTO mail_outbox (created_at, recipient, subject, body, state) VALUES "
                  f"({days_ago(40)}, 'a@x', 's', 'sent-old', 'sent'), ({days_ago(40)}, 'a@x', 's', 'failed-old', 'failed'), "
                  f"({days_ago(400)}, 'a@x', 's', 'pending-old', 'pending'), ({days_ago(5)}, 'a@x', 's', 'sent-new', 'sent')")
    DB.root_query(f"INSERT INTO activity_samples (at, active_sessions, active_users) VALUES "
                  f"({days_ago(40)}, 1, 1), ({days_ago(1)}, 2, 2)")
    add_revocation("user-100", 100, kind="user")
    add_revocation("user-10", 10, kind="user")
    add_instance("live:80", WEEK_MS)
    add_instance("gone:80", WEEK_MS, reported_days_ago=40)
    out = prune().stdout
    h.expect("deleted 3 ended sessions" in out and "1 audit lines" in out and "2 finished mails" in out
             and "1 activity samples" in out and "1 user events" in out and "1 silent instances" in out,
             "prune reported:", out)
    h.expect(names("SELECT state FROM sessions") == ["active", "logged_out"], names("SELECT state FROM sessions"))
    h.expect(names("SELECT message FROM audit_log") == ["recent"], names("SELECT message FROM audit_log"))
    h.expect(names("SELECT body FROM mail_outbox") == ["pending-old", "sent-new"], names("SELECT body FROM mail_outbox"))
    h.expect(names("SELECT active_sessions FROM activity_samples") == ["2"])
    h.expect(names("SELECT instance FROM instance_health") == ["live:80"])
    h.expect(DB.root_query("SELECT COUNT(*) FROM deny_events WHERE kind = 'user'")[0][0] == "1")
    # Nothing left to delete: a second run deletes nothing.
    h.expect("deleted 0 ended sessions, 0 revocations, 0 user events, 0 audit lines" in prune().stdout)


def test_settings_change_the_ages():
    clear()
    add_session("ended-10", "killed", 10)
    DB.root_query(f"INSERT INTO audit_log (at, actor, source, action, message) VALUES ({days_ago(300)}, 'a', 'cli', 'k', 'm')")
    prune("--ended-sessions", "240h", "--audit", "30d")
    h.expect(DB.root_query("SELECT COUNT(*) FROM sessions")[0][0] == "0", "--ended-sessions 240h kept a 10-day-old session")
    h.expect(DB.root_query("SELECT COUNT(*) FROM audit_log")[0][0] == "0", "--audit 30d kept a 300-day-old line")


def test_revocations_are_kept_while_an_instance_may_enforce_them():
    clear()
    # 400 days, 30 days, 9 days, a week and 2 hours, a week and half an hour.
    for age in (400, 30, 9, 7 + 2 / 24, 7 + 0.5 / 24):
        add_revocation(f"r{age}", age)
    every = [9600, 720, 216, 170, 168]
    # No instance reports: what is enforced is unknown, nothing is deleted.
    out = prune().stdout
    h.expect(revocation_ages() == every, "deleted without any instance reporting:", revocation_ages())
    h.expect("no revocation deleted" in out, out)
    # An instance that reports no retention (a module older than sql/100) stops it too.
    add_instance("old-module:80", 0)
    add_instance("week:80", WEEK_MS)
    prune()
    h.expect(revocation_ages() == every, "deleted while an instance reports no retention:", revocation_ages())
    DB.root_query("DELETE FROM instance_health WHERE instance = 'old-module:80'")
    # The longest retention reported (here 20 days) plus an hour decides, not the shortest.
    add_instance("long:80", 20 * 24 * 3600 * 1000)
    prune()
    h.expect(revocation_ages() == every[2:], "with 20 days reported, kept:", revocation_ages())
    # An instance silent for long is forgotten: the week (--revocations' default) decides.
    DB.root_query(f"UPDATE instance_health SET reported_at = {days_ago(31)} WHERE instance = 'long:80'")
    prune()
    h.expect(revocation_ages() == every[4:], "with a week reported, kept:", revocation_ages())


def test_reports_cannot_make_revocations_go_early():
    """instance_health is writable by the module's account, whose password PHP code can read:
    a forged report may keep revocations longer, never shorter."""
    clear()
    for age in (9, 2):
        add_revocation(f"r{age}", age)
    # A report of an hour cannot go below --revocations (here 10 days).
    add_instance("forged:80", 3600 * 1000)
    prune("--revocations", "10d")
    h.expect(revocation_ages() == [216, 48], "a 1-hour report deleted revocations:", revocation_ages())
    # A value that is no module's (it would overflow in microseconds to a few hundred): none deleted.
    DB.root_query("UPDATE instance_health SET revocation_retention_ms = 18446744073709552")
    out = prune("--revocations", "1d").stdout
    h.expect(revocation_ages() == [216, 48], "an out-of-range report deleted revocations:", revocation_ages())
    h.expect("no revocation deleted" in out, out)
    # A report in the future is read like any other: with a sane value, the floor still holds.
    DB.root_query("UPDATE instance_health SET revocation_retention_ms = 3600000, reported_at = NOW() + INTERVAL 10 YEAR")
    prune("--revocations", "3d")
    h.expect(revocation_ages() == [48], "with 3 days, kept:", revocation_ages())


def test_bad_options_change_nothing_and_a_database_down_is_an_error():
    clear()
    add_session("ended-100", "killed", 100)
    for args in (["--audit", "0"], ["--audit", "10x"], ["--audit", "5000d"], ["--audit", "d"], ["--batch", "0"],
                 ["--nope", "1"], ["--audit"], ["--revocations", "-1d"]):
        p = prune(*args, check=False)
        h.expect(p.returncode == 2 and "session-guard-prune:" in p.stderr, args, "should exit 2 with a message:", p)
    h.expect(DB.root_query("SELECT COUNT(*) FROM sessions")[0][0] == "1", "a refused run deleted rows")
    p = h.sh(PRUNE, "--db-options", "/nonexistent/prune.cnf", check=False)
    h.expect(p.returncode == 1 and "database" in p.stderr, "a missing option file:", p)


def test_the_prune_account_can_only_read_and_delete_history():
    cnf = os.path.join(DB.dir, "prune.cnf")
    h.expect(oct(os.stat(cnf).st_mode & 0o777) == "0o600", "prune.cnf must be its owner's only")
    for sql in ("INSERT INTO audit_log (actor, source, action, message) VALUES ('x', 'cli', 'x', 'forged')",
                "UPDATE sessions SET state = 'active'", "UPDATE accounts SET active = 1", "DELETE FROM accounts",
                "SELECT * FROM admin_settings"):
        h.expect(as_account(cnf, "session_guard_prune", sql).returncode != 0, "the prune account may run", sql)
    h.expect(as_account(cnf, "session_guard_prune", "DELETE FROM audit_log WHERE 0").returncode == 0,
             "the prune account cannot delete the audit")
    # ...and the admin program's account still cannot delete the audit.
    admin = os.path.join(DB.dir, "sg-admin.cnf")
    h.expect(as_account(admin, "session_guard_admin", "DELETE FROM audit_log WHERE 0").returncode != 0,
             "fcgi_admin's account may delete the audit")


def as_account(cnf, group, sql):
    """Run sql with the account an option file names in `group` (the mariadb shell reads
    only its own groups, so the file's values are passed on its command line)."""
    parser = configparser.ConfigParser(strict=False, comment_prefixes=(";", "#"))
    with open(cnf) as f:
        parser.read_string(f.read())
    o = parser[group]
    where = [f"--socket={o['socket']}"] if "socket" in o else [f"--host={o['host'].split(',')[0].split(':')[0]}"]
    return h.sh("mariadb", "--no-defaults", *where, f"--user={o['user']}", f"--password={o['password']}",
                o["database"], "--batch", "-e", sql, check=False)


def test_the_module_reports_its_revocation_retention():
    web = h.Apache().start(db=DB, module=h.MODULE, name="sg-retention",
                           extra_conf="SessionGuardRevocationRetention 240h\n")
    h.eventually(lambda: DB.root_query("SELECT revocation_retention_ms FROM instance_health")
                 == [[str(240 * 3600 * 1000)]], timeout=30, what="the instance's retention in instance_health")
    web.stop()


if __name__ == "__main__":
    h.run(globals())
