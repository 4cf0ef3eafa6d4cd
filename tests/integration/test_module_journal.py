"""Issue 10, "nothing lost": logins and logouts during a database outage go to the
instance's journal and are recorded when the database is back (found 2: a logout during an
outage was lost; found 8: every login during an outage was refused with 503). Real mariadbd,
real Apache (prefork, mod_php) and the unchanged PHP demo app."""
import hashlib
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from test_module import denied_with, fingerprint, reason_of  # noqa: E402

DB = None


def setup_module():
    global DB
    DB = h.MariaDB().start()


# ----------------------------------------------------------------- helpers

def cli(*args):
    return h.fcgi_admin(DB, *args, as_user="admin")


def start_web(name, extra_conf="", php_guard_conf=""):
    web = h.Apache().start(db=DB, module=h.MODULE, name=name, extra_conf=extra_conf, php_guard_conf=php_guard_conf)
    h.eventually(lambda: "deny-list loaded" in web.error_log_text(), what="first poll")
    return web


def default_journal(web):
    """SessionGuardJournal's default: session_guard/journal in the runtime dir (httpd-conf sets
    DefaultRuntimeDir to run/ in the instance's folder)."""
    return os.path.join(web.dir, "run", "session_guard", "journal")


def size(path):
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0


def login(web, user):
    """A PHP login; returns (browser, response of the POST)."""
    b = web.browser()
    return b, b.login_php(user, "demo")


def admitted(web, user):
    b, r = login(web, user)
    h.expect(r.status == 302 and r.location.endswith("/php/") and reason_of(r) is None,
             f"login of {user} during the outage must be admitted:", r)
    page = b.get("/php/")
    h.expect(page.status == 200 and f"Hello, {user}" in page.body, "the app's page after the login:", page)
    return b


def fp(b):
    return fingerprint("PHPSESSID", b.cookies["PHPSESSID"])


def state_of(b):
    return DB.scalar("SELECT state FROM sessions WHERE fingerprint=%s", fp(b))


def outage(web):
    DB.stop()
    h.eventually(lambda: "database unreachable" in web.error_log_text(), what="outage noticed")


def recovered(web, path):
    DB.start()
    h.eventually(lambda: size(path) == 0, timeout=20, what="journal replayed and emptied")


def ensure_unblocked(user):
    if DB.running and DB.scalar("SELECT active FROM accounts WHERE username=%s", user) == "0":
        cli("unblock", user)


def ensure_db():
    if not DB.running:
        DB.start()


# ----------------------------------------------------------------- tests

def test_outage_logins_admitted_logout_kept_limits_applied_at_replay():
    web = start_web("sg-journal", php_guard_conf="SessionGuardMaxSessions 1")
    path = default_journal(web)
    try:
        ensure_unblocked("carol")
        before_block = admitted(web, "carol")
        cli("block", "carol", "--reason", "left")
        # Known to this instance's deny-list (a refused login shows only the database's view).
        denied_with(before_block, "/php/", "blocked")
        bob = admitted(web, "bob")
        bob_fp = fp(bob)
        outage(web)
        first = admitted(web, "alice")
        h.expect(size(path) > 0, "the admitted login is not in the journal", path)
        h.expect("kept in the journal" in web.error_log_text(), "the journalled login is not logged")
        time.sleep(0.05)
        second = admitted(web, "alice")
        # The limit is the farm's, applied at replay: until then both work here.
        h.expect("Hello, alice" in first.get("/php/page2.php").body, "first outage session must work meanwhile")
        _, refused = login(web, "carol")
        h.expect(reason_of(refused) == "blocked", "a user blocked in the last known list must be refused:", refused)
        out = bob.get("/php/logout.php")
        h.expect(out.status == 302, out)
        h.eventually(lambda: "logout of session" in web.error_log_text(), what="logout journalled")
        web.graceful()
        h.expect("Hello, alice" in second.get("/php/").body, "journalled session must survive a graceful restart")
        recovered(web, path)
        rows = DB.query("SELECT fingerprint, state FROM sessions WHERE username='alice' AND fingerprint IN (%s, %s) "
                        "ORDER BY login_at", fp(first), fp(second))
        h.expect([r[1] for r in rows] == ["superseded", "active"],
                 "both logins recorded in order, the older ended by the limit of 1:", rows)
        h.expect(DB.scalar("SELECT state FROM sessions WHERE fingerprint=%s", bob_fp) == "logged_out",
                 "the logout made during the outage was lost")
        denied_with(first, "/php/", "superseded")
        h.expect("Hello, alice" in second.get("/php/").body, "the newer session must live on")
        cli("kill", fp(second)[:8])
        denied_with(second, "/php/", "killed")
        h.expect(not web.crashes(), web.crashes())
    finally:
        ensure_db()
        ensure_unblocked("carol")


def test_logins_journalled_before_apache_stops_are_recorded_after_a_cold_start():
    web = start_web("sg-journal-stop")
    path = default_journal(web)
    try:
        outage(web)
        b = admitted(web, "bob")
        web.stop()
        h.script("apache-ctl", "start", web.dir, timeout=60)
        web.running = True
        h.expect(size(path) > 0, "the journal must outlive the server")
        h.expect("wait in the journal" in web.error_log_text(), "a cold start must say the journal waits")
        recovered(web, path)
        h.eventually(lambda: state_of(b) == "active", what="the login journalled before the stop is recorded")
        h.expect(DB.scalar("SELECT username FROM sessions WHERE fingerprint=%s", fp(b)) == "bob")
        h.expect("Hello, bob" in b.get("/php/").body)
        cli("kill", fp(b)[:8])
        denied_with(b, "/php/", "killed")
    finally:
        ensure_db()


def test_a_block_made_before_the_replay_ends_the_session_at_replay():
    web = start_web("sg-journal-block")
    path = default_journal(web)
    try:
        ensure_unblocked("carol")
        outage(web)
        c = admitted(web, "carol")
        # Apache stopped with the login still in the journal, so the block below certainly
        # comes before the replay (the farm's policy at replay, not at login, decides).
        web.stop()
        DB.start()
        cli("block", "carol", "--reason", "left during the outage")
        h.script("apache-ctl", "start", web.dir, timeout=60)
        web.running = True
        h.eventually(lambda: size(path) == 0, timeout=20, what="journal replayed")
        h.expect(state_of(c) == "blocked", "the replayed login of a blocked user must be ended:", state_of(c))
        h.expect("the user is blocked" in web.error_log_text(), "the replay must say why it ended the session")
        denied_with(c, "/php/", "blocked")
    finally:
        ensure_db()
        ensure_unblocked("carol")


def test_activity_during_the_outage_reaches_the_journalled_session():
    """The replay comes before the poller's activity flush: otherwise the outage's activity
    is flushed before the row exists, dropped, and an idle timeout ends a busy session."""
    web = start_web("sg-journal-idle", php_guard_conf="SessionGuardIdleTimeout 30s")
    path = default_journal(web)
    try:
        outage(web)
        b = admitted(web, "bob")
        login_time = time.time()
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            h.expect("Hello, bob" in b.get("/php/").body, "the session must work through the outage")
            time.sleep(0.5)
        last_request = time.time()
        recovered(web, path)  # no request from here on: only the outage's activity counts
        last = lambda: float(DB.scalar("SELECT UNIX_TIMESTAMP(last_access) FROM sessions WHERE fingerprint=%s",
                                       fp(b)) or 0)
        h.eventually(lambda: last() >= last_request - 1.5, timeout=6,
                     what=f"activity of the outage on the replayed row (login {login_time:.1f}, "
                          f"last request {last_request:.1f})")
        h.expect(state_of(b) == "active", state_of(b))
    finally:
        ensure_db()


def test_refuse_mode_keeps_the_503():
    web = start_web("sg-journal-refuse", extra_conf="SessionGuardLoginWhenUnreachable refuse\n")
    path = default_journal(web)
    try:
        outage(web)
        b, r = login(web, "alice")
        h.expect(r.status == 503 and reason_of(r) == "unavailable", "refuse mode must answer 503:", r)
        h.expect(size(path) == 0, "refuse mode must not journal the login")
        h.expect("Hello" not in b.get("/php/").body, "a refused login's session must not work here")
        DB.start()
        time.sleep(1)
        h.expect(DB.scalar("SELECT COUNT(*) FROM sessions WHERE fingerprint=%s", fp(b)) == "0",
                 "a refused login must not be recorded later")
    finally:
        ensure_db()


def test_a_full_journal_refuses_the_login_with_a_clear_error():
    web = start_web("sg-journal-full", extra_conf="SessionGuardJournal run/session_guard/small 64K\n")
    path = os.path.join(web.dir, "run", "session_guard", "small")
    try:
        outage(web)
        # An outage long enough to fill it: valid records (garbage would be dropped as torn by
        # the next replay attempt), one user's logins, until no other fits.
        now = int(time.time() * 1e6)
        with open(path, "ab") as f:
            for i in range(100000):
                one = record(1, now - 60_000_000 + i, hashlib.sha256(f"full-{now}-{i}".encode()).hexdigest(), "bob")
                if f.tell() + len(one) > 64 * 1024:  # less room left than a login takes
                    break
                f.write(one)
        b, r = login(web, "alice")
        h.expect(r.status == 503 and reason_of(r) == "unavailable", "a login that cannot be kept must be refused:", r)
        h.expect("journal full" in web.error_log_text(), "no clear error in the log")
        recovered(web, path)
        h.expect(DB.scalar("SELECT COUNT(*) FROM sessions WHERE fingerprint=%s", fp(b)) == "0")
        h.expect(php_ok(web, "alice"), "logins must work again once the database answers")
    finally:
        ensure_db()


def php_ok(web, user):
    b, r = login(web, user)
    return r.status == 302 and f"Hello, {user}" in b.get("/php/").body


def test_a_torn_record_is_skipped_and_the_rest_replayed():
    web = start_web("sg-journal-torn")
    path = default_journal(web)
    try:
        outage(web)
        before = admitted(web, "alice")
        # A crash in the middle of an append: the magic, a length and half a record.
        with open(path, "ab") as f:
            f.write(b"SGJ1" + (200).to_bytes(4, "little") + b"\x01" + b"x" * 60)
        after = admitted(web, "bob")
        recovered(web, path)
        h.eventually(lambda: state_of(before) == "active" and state_of(after) == "active",
                     what="both whole records replayed")
        h.expect(DB.scalar("SELECT username FROM sessions WHERE fingerprint=%s", fp(after)) == "bob")
        h.expect("damaged bytes" in web.error_log_text(), "the torn record must be reported")
        h.expect(not web.crashes(), web.crashes())
    finally:
        ensure_db()


def record(kind, at, fp_hex, user=None):
    """A journal record written independently of the module (core/journal's format)."""
    payload = bytes([kind]) + at.to_bytes(8, "little") + bytes.fromhex(fp_hex)
    if user is not None:
        for text in (user.encode(), b"PHPSESSID", b"192.0.2.7", b"journal-test/1.0", b"localhost"):
            payload += len(text).to_bytes(2, "little") + text
        payload += (0).to_bytes(4, "little") * 3 + b"\0"
    head = b"SGJ1" + len(payload).to_bytes(4, "little") + payload
    return head + hashlib.sha256(head).digest()[:8]


def test_a_long_journal_is_replayed_in_order_over_several_polls():
    web = start_web("sg-journal-long")
    path = default_journal(web)
    try:
        outage(web)
        now = int(time.time() * 1e6)
        fps = [hashlib.sha256(f"long-{now}-{i}".encode()).hexdigest() for i in range(250)]
        with open(path, "ab") as f:
            for i, x in enumerate(fps):
                f.write(record(1, now - 60_000_000 + i * 1000, x, "alice"))
            f.write(record(2, now, fps[7]))
        recovered(web, path)
        rows = DB.query("SELECT fingerprint, state FROM sessions WHERE client_ip='192.0.2.7' AND username='alice' "
                        "AND fingerprint IN (" + ",".join(["%s"] * len(fps)) + ") ORDER BY login_at", *fps)
        h.expect([r[0] for r in rows] == fps, f"{len(rows)} of 250 logins recorded, or not in journal order")
        h.expect([r[0] for r in rows if r[1] == "logged_out"] == [fps[7]], "the logout after them must apply")
        h.expect("journal replayed: 251 logins and logouts recorded" in web.error_log_text(),
                 "one replay over several polls must be reported once")
    finally:
        ensure_db()


if __name__ == "__main__":
    h.run(globals())
