"""Session policies of issue 4 in the module, with two Apache instances sharing one MariaDB
(and, where a session must move between servers, one PHP session store): concurrent-session
limits (evict-oldest, refuse-new, racing logins, per-user override), idle timeout measured
across servers, absolute timeout not extended by activity, configurable messages."""
import os
import pwd
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from test_module import fingerprint, reason_of  # noqa: E402

DB = None


def setup_module():
    global DB
    DB = h.MariaDB().start()


def pair(policy, shared_sessions=False):
    """Two instances with `policy` added to /php/; optionally one PHP session store."""
    base = h.tmpdir()
    extra = f"<Location /php/>\n{policy}\n</Location>\n"
    if shared_sessions:
        store = os.path.join(base, "shared-php-sessions")
        os.makedirs(store)
        if os.geteuid() == 0:
            www = pwd.getpwnam("www-data")
            os.chown(store, www.pw_uid, www.pw_gid)
        os.chmod(store, 0o700)
        extra += (f'<Directory "{os.path.join(base, "demo", "php")}">\n'
                  f'  php_admin_value session.save_path "{store}"\n</Directory>\n')
    webs = [h.Apache().start(tmp=base, db=DB, module=h.MODULE, name=f"sg-policy-{i}", extra_conf=extra)
            for i in (1, 2)]
    for web in webs:
        h.eventually(lambda: "deny-list loaded" in web.error_log_text(), what="first poll")
    return webs


def login(web, user):
    b = web.browser()
    r = b.login_php(user, "demo")
    return b, r


def logged_in(b, user, path="/php/"):
    return f"Hello, {user}" in b.get(path).body


def message_of(resp):
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(resp.location or "").query)
    return q.get("message", [""])[0]


def denied(b, reason, timeout=4.0, path="/php/"):
    kept = dict(b.cookies)

    def check():
        r = b.get(path)
        return r if reason_of(r) == reason else None
    try:
        return h.eventually(check, timeout=timeout, what=f"denied as {reason}")
    finally:
        b.cookies.update(kept)


def active(user):
    return int(DB.scalar("SELECT COUNT(*) FROM sessions WHERE username=%s AND state='active'", user))


def test_evict_oldest_across_servers():
    w1, w2 = pair("SessionGuardMaxSessions 1\nSessionGuardMaxSessionsAction evict-oldest")
    first, _ = login(w1, "alice")
    h.expect(logged_in(first, "alice"))
    second, r = login(w2, "alice")
    h.expect(r.status == 302 and r.location.endswith("/php/"), "the new login must succeed:", r)
    r = denied(first, "superseded")
    h.expect("Another session has been started using your account. You will now be signed out." in message_of(r),
             message_of(r))
    h.expect(logged_in(second, "alice"), "the new session must live")
    h.expect(active("alice") == 1, f"{active('alice')} active sessions with a limit of 1")
    state = DB.scalar("SELECT state FROM sessions WHERE fingerprint=%s",
                      fingerprint("PHPSESSID", first.cookies["PHPSESSID"]))
    h.expect(state == "superseded", state)


def test_refuse_new_keeps_the_existing_session():
    w1, w2 = pair("SessionGuardMaxSessions 1\nSessionGuardMaxSessionsAction refuse-new")
    existing, _ = login(w1, "bob")
    h.expect(logged_in(existing, "bob"))
    newcomer, r = login(w2, "bob")
    h.expect(reason_of(r) == "refused", "second login must be refused:", r)
    h.expect("maximum number of active sessions (1)" in message_of(r), message_of(r))
    h.expect("PHPSESSID" not in newcomer.cookies, "the refused session's cookie reached the browser")
    h.expect(logged_in(existing, "bob"), "the existing session must live on")
    h.expect(DB.scalar("SELECT COUNT(*) FROM sessions WHERE username='bob' AND state='refused'") == "1")
    # Once the first signs out, a new login fits under the limit again.
    existing.get("/php/logout.php")
    h.eventually(lambda: active("bob") == 0, what="logout recorded")
    again, r = login(w2, "bob")
    h.expect(r.status == 302 and r.location.endswith("/php/"), r)


def test_racing_logins_never_exceed_the_limit():
    w1, w2 = pair("SessionGuardMaxSessions 1\nSessionGuardMaxSessionsAction refuse-new")
    for attempt in range(5):
        DB.query("UPDATE sessions SET state='logged_out' WHERE username='carol' AND state='active'")
        browsers = [w1.browser(), w2.browser()]
        for b in browsers:
            b.get("/php/login.php")
        results = [None, None]
        barrier = threading.Barrier(2)

        def go(i):
            barrier.wait()
            results[i] = browsers[i].post_form("/php/login.php", {"username": "carol", "password": "demo"})
        threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        succeeded = [r for r in results if r.status == 302 and r.location.endswith("/php/")]
        refused = [r for r in results if reason_of(r) == "refused"]
        h.expect(len(succeeded) == 1 and len(refused) == 1, f"attempt {attempt}: {results}")
        h.expect(active("carol") == 1, f"attempt {attempt}: {active('carol')} active sessions")


def test_per_user_limit_overrides_the_directive():
    w1, _ = pair("SessionGuardMaxSessions 1\nSessionGuardMaxSessionsAction refuse-new")
    DB.query("UPDATE accounts SET max_sessions=2 WHERE username='alice'")
    try:
        DB.query("UPDATE sessions SET state='logged_out' WHERE username='alice' AND state='active'")
        a1, _ = login(w1, "alice")
        a2, r2 = login(w1, "alice")
        h.expect(r2.location.endswith("/php/"), "the second login fits alice's own limit of 2:", r2)
        a3, r3 = login(w1, "alice")
        h.expect(reason_of(r3) == "refused" and "(2)" in message_of(r3), r3)
        h.expect(logged_in(a1, "alice") and logged_in(a2, "alice"))
    finally:
        DB.query("UPDATE accounts SET max_sessions=NULL WHERE username='alice'")


def test_idle_timeout_is_measured_across_servers():
    w1, w2 = pair("SessionGuardIdleTimeout 3s", shared_sessions=True)
    b, _ = login(w1, "bob")
    h.expect(logged_in(b, "bob"))
    # Active only on the second server, for longer than the idle timeout.
    on_w2 = w2.browser()
    on_w2.cookies.update(b.cookies)
    for _ in range(10):
        h.expect(logged_in(on_w2, "bob"), "activity on the other server must keep the session alive")
        time.sleep(0.5)
    h.expect(logged_in(b, "bob"), "still alive on the first server: it was used 0.5 s ago elsewhere")
    # Any request would count as activity, so wait without touching it: 3 s idle, plus a
    # flush (250 ms) and a sweep (1 s) with room to spare.
    fp = fingerprint("PHPSESSID", b.cookies["PHPSESSID"])
    h.expect(DB.scalar("SELECT state FROM sessions WHERE fingerprint=%s", fp) == "active")
    time.sleep(2.0)
    h.expect(DB.scalar("SELECT state FROM sessions WHERE fingerprint=%s", fp) == "active",
             "ended before the idle timeout")
    h.eventually(lambda: DB.scalar("SELECT state FROM sessions WHERE fingerprint=%s", fp) == "expired",
                 timeout=6, what="expired in the database")
    denied(b, "expired")
    denied(on_w2, "expired")
    h.expect(DB.scalar("SELECT COUNT(*) FROM deny_events WHERE fingerprint=%s", fp) == "1",
             "two servers sweeping must end the session once")


def test_absolute_timeout_is_not_extended_by_activity():
    w1, _ = pair("SessionGuardMaxLifetime 4s")
    b, _ = login(w1, "carol")
    t0 = time.monotonic()
    while time.monotonic() - t0 < 3.0:
        h.expect(logged_in(b, "carol"), "within the lifetime the session lives")
        time.sleep(0.3)
    r = denied(b, "expired", timeout=6)
    lived = time.monotonic() - t0
    h.expect(lived >= 3.5, f"ended after {lived:.1f}s, before its 4 s lifetime")
    h.expect("expired" in message_of(r), message_of(r))


def test_messages_are_configurable():
    w1, w2 = pair('SessionGuardMaxSessions 1\n'
                  'SessionGuardMessage superseded "You signed in somewhere else."\n'
                  'SessionGuardMessage killed "An admin ended this session."')
    first, _ = login(w1, "alice")
    login(w2, "alice")
    r = denied(first, "superseded")
    h.expect(message_of(r) == "You signed in somewhere else.", message_of(r))
    second, _ = login(w1, "bob")
    h.fcgi_admin(DB, "kill", fingerprint("PHPSESSID", second.cookies["PHPSESSID"])[:12], as_user="admin")
    r = denied(second, "killed")
    h.expect(message_of(r) == "An admin ended this session.", message_of(r))
    page = w1.browser().get(r.location)
    h.expect("An admin ended this session." in page.body, "the login page shows the configured text")


if __name__ == "__main__":
    h.run(globals())
