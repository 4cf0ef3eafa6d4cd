"""mod_session_guard against real mariadbd + Apache (prefork with mod_php, and event)
with the unchanged demo apps: every sentence of issue 2's "Enforcement", logout
detection, unguarded paths, graceful restart, database outages, query counting and
revocations committed out of id order."""
import hashlib
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

DB = WEB = WEB2 = None
# A kill must reach every server within a second; the margin covers a loaded CI machine.
PROPAGATION = 3.0


def setup_module():
    global DB, WEB, WEB2
    DB = h.MariaDB().start()
    WEB = h.Apache().start(db=DB, module=h.MODULE)
    WEB2 = h.Apache().start(db=DB, module=h.MODULE, name="sg-second")
    for web in (WEB, WEB2):
        h.eventually(lambda: "deny-list loaded" in web.error_log_text(), what="first poll")


# ----------------------------------------------------------------- helpers

def fingerprint(name, value):
    """Computed here independently of the module: SHA-256 of "name=value"."""
    return hashlib.sha256(f"{name}={value}".encode()).hexdigest()


def session_id(browser, cookie):
    return fingerprint(cookie, browser.cookies[cookie])[:8]


def cli(*args, as_user="admin", check=True):
    return h.fcgi_admin(DB, *args, as_user=as_user, check=check)


def reason_of(resp):
    """The reason a response denies the request for, or None when it does not."""
    reason = resp.header("X-Session-Guard-Reason")
    if reason:
        return reason
    if resp.location and "reason=" in resp.location:
        return urllib.parse.parse_qs(urllib.parse.urlsplit(resp.location).query).get("reason", [None])[0]
    return None


def denied_with(browser, path, reason, **kw):
    """Wait until `path` is denied with `reason`; return that response. The denial tells
    the browser to drop its cookie; this one keeps presenting it, as an attacker would."""
    kept = dict(browser.cookies)

    def check():
        r = browser.get(path, **kw)
        return r if reason_of(r) == reason else None
    try:
        return h.eventually(check, timeout=PROPAGATION, what=f"{path} denied as {reason}")
    finally:
        browser.cookies.update(kept)


def php_user(web, user, password="demo"):
    b = web.browser()
    r = b.login_php(user, password)
    h.expect(r.status == 302 and r.location.endswith("/php/"), "php login failed:", r)
    h.expect(f"Hello, {user}" in b.get("/php/").body, "not logged in after login")
    return b


def perl_user(web, user, password="demo"):
    b = web.browser()
    r = b.login_perl(user, password)
    h.expect(r.status == 302 and "action=login" not in (r.location or ""), "perl login failed:", r)
    h.expect(f"Hello, {user}" in b.get("/perl/app.cgi").body, "not logged in after perl login")
    return b


def basic_user(web, user, password="demo"):
    """A browser that keeps cookies in the Basic-auth area: its second request binds the session."""
    b = web.browser(auth=(user, password))
    r = b.get("/basic/whoami.cgi")
    h.expect(r.status == 200 and user in r.body, "basic auth failed:", r)
    h.expect("sg_session" in b.cookies, "no tracking cookie handed out:", r.headers)
    b.get("/basic/whoami.cgi")
    h.eventually(lambda: DB.scalar("SELECT COUNT(*) FROM sessions WHERE fingerprint=%s AND state='active'",
                                   fingerprint("sg_session", b.cookies["sg_session"])) == "1",
                 what="basic session recorded")
    return b


def unblocks_after(test):
    """A test that blocks someone leaves nobody blocked, even when it fails half-way."""
    def wrapper():
        try:
            test()
        finally:
            for user in ("alice", "bob", "carol"):
                ensure_unblocked(user)
    wrapper.__name__ = test.__name__
    return wrapper


def active_sessions(user):
    return int(DB.scalar("SELECT COUNT(*) FROM sessions WHERE username=%s AND state='active'", user))


def ensure_unblocked(user):
    if DB.scalar("SELECT active FROM accounts WHERE username=%s", user) == "0":
        cli("unblock", user)


# ----------------------------------------------------------------- enforcement, PHP

def test_php_kill_denies_that_session_only():
    a1, a2 = php_user(WEB, "alice"), php_user(WEB, "alice")
    killed_cookie = a1.cookies["PHPSESSID"]
    out = cli("kill", session_id(a1, "PHPSESSID")).stdout
    h.expect(f"Session {session_id(a1, 'PHPSESSID').upper()} terminated by administrator admin" in out, out)
    r = denied_with(a1, "/php/", "killed")
    h.expect(r.status == 302 and r.location.startswith("/php/login.php?"), r)
    h.expect("ended+by+an+administrator" in r.location or "ended%20by%20an%20administrator" in r.location, r)
    h.expect(any(c.startswith("PHPSESSID=") and "Max-Age=0" in c for c in r.header_all("Set-Cookie")),
             "the denial must clear the app's cookie:", r.headers)
    h.expect("Hello, alice" in a2.get("/php/").body, "the other session of alice must live on")
    # The killed value never becomes valid again, whoever presents it, on any server, and
    # however it is spelled.
    encoded = WEB2.browser()
    encoded.cookies["PHPSESSID"] = "".join(f"%{ord(c):02X}" for c in killed_cookie)
    denied_with(encoded, "/php/page2.php", "killed")
    replay = WEB.browser()
    replay.cookies["PHPSESSID"] = killed_cookie
    h.expect(reason_of(replay.get("/php/page2.php")) == "killed", "replayed killed cookie got through")
    # Following the redirect (without the cookie the denial told the browser to drop)
    # lands on the login page, which shows why.
    a1.cookies.pop("PHPSESSID")
    page = a1.follow(r)
    h.expect(page.status == 200 and "ended by an administrator" in page.body, page)
    audit = DB.query("SELECT actor, action, target_user, message FROM audit_log WHERE target_session=%s",
                     fingerprint("PHPSESSID", killed_cookie))
    h.expect(audit and audit[0][:3] == ["admin", "kill_session", "alice"], audit)
    line = f"Session {fingerprint('PHPSESSID', killed_cookie)[:8].upper()} terminated by administrator admin"
    for web in (WEB, WEB2):
        h.eventually(lambda: any(line in l and "session_guard:info" in l for l in web.error_log_text().splitlines()),
                     what=f"audit line at INFO in {web}")


def test_php_json_clients_get_401_with_reason():
    a = php_user(WEB, "carol")
    killed = a.cookies["PHPSESSID"]
    cli("kill", session_id(a, "PHPSESSID"))
    for headers in ({"Accept": "application/json"}, {"X-Requested-With": "XMLHttpRequest"}):
        a.cookies["PHPSESSID"] = killed  # the previous denial made the client drop it
        r = denied_with(a, "/php/page2.php", "killed", headers=headers)
        h.expect(r.status == 401, r)
        body = r.json()
        h.expect(body["reason"] == "killed" and "administrator" in body["message"], body)


def test_php_kill_user_ends_all_of_them():
    a1, a2, b = php_user(WEB, "alice"), php_user(WEB, "alice"), php_user(WEB, "bob")
    before = active_sessions("alice")
    out = cli("kill-user", "alice").stdout
    h.expect(f"{before} sessions of user alice terminated" in out, out)
    denied_with(a1, "/php/", "killed")
    denied_with(a2, "/php/", "killed")
    h.expect("Hello, bob" in b.get("/php/").body, "bob must be untouched")
    h.expect(active_sessions("alice") == 0, "alice still has active sessions")


@unblocks_after
def test_php_block_refuses_login_and_unblock_allows_it():
    ensure_unblocked("bob")
    b = php_user(WEB, "bob")
    out = cli("block", "bob", "--reason", "left the company").stdout
    h.expect("User bob blocked by administrator admin" in out, out)
    denied_with(b, "/php/", "blocked")
    blocked_rows = int(DB.scalar("SELECT COUNT(*) FROM sessions WHERE username='bob' AND state='blocked'"))
    # A new login with the right password: the app accepts it, the module replaces the answer.
    fresh = WEB.browser()
    r = fresh.login_php("bob", "demo")
    h.expect(reason_of(r) == "blocked", "blocked user logged in:", r)
    h.expect("PHPSESSID" not in fresh.cookies, "the new session cookie reached the browser", fresh.cookies)
    h.expect(int(DB.scalar("SELECT COUNT(*) FROM sessions WHERE username='bob' AND state='blocked'")) == blocked_rows + 1,
             "the refused login's session was not revoked")
    h.expect(int(DB.scalar("SELECT COUNT(*) FROM deny_events WHERE username='bob' AND reason='blocked' "
                           "AND kind='session'")) >= blocked_rows + 1, "no revocation for the refused session")
    cli("unblock", "bob")
    h.eventually(lambda: php_user_ok(WEB, "bob"), timeout=PROPAGATION, what="bob can log in again")


def php_user_ok(web, user):
    b = web.browser()
    r = b.login_php(user, "demo")
    return r.status == 302 and r.location.endswith("/php/") and f"Hello, {user}" in b.get("/php/").body


def test_failed_login_binds_nobody_and_counts_for_nothing():
    a = php_user(WEB, "alice")
    rows = DB.scalar("SELECT COUNT(*) FROM sessions WHERE username='alice'")
    attacker = WEB.browser()
    r = attacker.login_php("alice", "wrong")
    h.expect(r.status == 200 and "Invalid" in r.body, r)
    h.expect(DB.scalar("SELECT COUNT(*) FROM sessions WHERE username='alice'") == rows, "a failed login was recorded")
    h.expect(DB.scalar("SELECT COUNT(*) FROM sessions WHERE fingerprint=%s",
                       fingerprint("PHPSESSID", attacker.cookies["PHPSESSID"])) == "0", "attacker bound")
    h.expect("Hello, alice" in a.get("/php/").body, "alice's session was affected")


def test_php_logout_is_recorded():
    a = php_user(WEB, "carol")
    fp = fingerprint("PHPSESSID", a.cookies["PHPSESSID"])
    r = a.get("/php/logout.php")
    h.expect(r.status == 302, r)
    h.eventually(lambda: DB.scalar("SELECT state FROM sessions WHERE fingerprint=%s", fp) == "logged_out",
                 what="logged_out state")
    h.expect(DB.scalar("SELECT ended_by FROM sessions WHERE fingerprint=%s", fp) == "carol")


def test_unguarded_locations_are_untouched():
    ensure_unblocked("carol")
    a = php_user(WEB, "carol")
    cli("kill", session_id(a, "PHPSESSID"))
    denied_with(a, "/php/", "killed")
    a.cookies["PHPSESSID"] = a.cookies.get("PHPSESSID") or "x"
    r = a.get("/php/static/hello.txt")
    h.expect(r.status == 200 and "static hello" in r.body and reason_of(r) is None, r)
    h.expect(a.get("/").status == 200, "the landing page is not guarded")


# ----------------------------------------------------------------- Perl CGI

@unblocks_after
def test_perl_kill_kill_user_block_unblock():
    ensure_unblocked("carol")
    p1, p2 = perl_user(WEB, "carol"), perl_user(WEB, "carol")
    cli("kill", session_id(p1, "CGISESSID"))
    r = denied_with(p1, "/perl/app.cgi", "killed")
    h.expect(r.location.startswith("/perl/app.cgi?action=login&reason=killed"), r)
    h.expect("Hello, carol" in p2.get("/perl/app.cgi").body, "other perl session must live")
    p3 = perl_user(WEB, "carol")
    cli("kill-user", "carol")
    denied_with(p2, "/perl/app.cgi", "killed")
    denied_with(p3, "/perl/app.cgi", "killed")
    p4 = perl_user(WEB, "carol")
    cli("block", "carol", "--reason", "audit")
    denied_with(p4, "/perl/app.cgi", "blocked")
    r = WEB.browser().login_perl("carol", "demo")
    h.expect(reason_of(r) == "blocked", "blocked perl login got through:", r)
    cli("unblock", "carol")
    h.eventually(lambda: "Hello, carol" in login_perl_page(WEB, "carol"), timeout=PROPAGATION,
                 what="carol logs in again")


def login_perl_page(web, user):
    b = web.browser()
    b.login_perl(user, "demo")
    return b.get("/perl/app.cgi").body


def test_perl_logout_is_recorded():
    ensure_unblocked("carol")
    p = perl_user(WEB, "carol")
    fp = fingerprint("CGISESSID", p.cookies["CGISESSID"])
    p.get("/perl/app.cgi?action=logout")
    h.eventually(lambda: DB.scalar("SELECT state FROM sessions WHERE fingerprint=%s", fp) == "logged_out",
                 what="perl logout recorded")


# ----------------------------------------------------------------- Basic auth

@unblocks_after
def test_basic_auth_session_kill_and_block():
    ensure_unblocked("alice")
    b = basic_user(WEB, "alice")
    cli("kill", session_id(b, "sg_session"))
    r = denied_with(b, "/basic/whoami.cgi", "killed")
    h.expect(r.status == 403, "Basic auth denials are 403, a redirect would loop:", r)
    cli("block", "alice", "--reason", "test")
    for client in (WEB.browser(auth=("alice", "demo")), b):
        r = denied_with(client, "/basic/whoami.cgi", "blocked")
        h.expect(r.status == 403, r)
    h.expect(WEB.browser(auth=("bob", "demo")).get("/basic/whoami.cgi").status == 200, "bob is not blocked")
    h.expect(WEB.browser(auth=("alice", "wrong")).get("/basic/whoami.cgi").status == 401, "bad password is 401")
    cli("unblock", "alice")
    h.eventually(lambda: WEB.browser(auth=("alice", "demo")).get("/basic/whoami.cgi").status == 200,
                 timeout=PROPAGATION, what="alice allowed again")


def test_basic_clients_without_cookies_create_no_rows():
    rows = DB.scalar("SELECT COUNT(*) FROM sessions")
    for _ in range(20):
        r = h.Browser(WEB.base_url, auth=("bob", "demo")).get("/basic/whoami.cgi")
        h.expect(r.status == 200, r)
    h.expect(DB.scalar("SELECT COUNT(*) FROM sessions") == rows, "cookie-less clients created session rows")


def test_basic_clients_cannot_make_sessions_from_made_up_tracking_values():
    """Issue 9 case 16: only an sg_session value the module issued becomes a session."""
    rows = DB.scalar("SELECT COUNT(*) FROM sessions")
    for i in range(10):
        b = h.Browser(WEB.base_url, auth=("bob", "demo"))
        b.cookies["sg_session"] = f"{i:064x}"
        r = b.get("/basic/whoami.cgi")
        h.expect(r.status == 200, r)
    h.expect(DB.scalar("SELECT COUNT(*) FROM sessions") == rows, "made-up sg_session values created rows")
    b = h.Browser(WEB.base_url, auth=("bob", "demo"))
    b.get("/basic/whoami.cgi")  # the module hands out its own value
    h.expect("sg_session" in b.cookies, "no tracking cookie issued")
    b.get("/basic/whoami.cgi")
    h.eventually(lambda: DB.scalar("SELECT COUNT(*) FROM sessions") == str(int(rows) + 1), timeout=5,
                 what="the issued value became one session")


# ----------------------------------------------------------------- many servers

@unblocks_after
def test_second_instance_enforces_the_same():
    ensure_unblocked("alice")
    here, there = php_user(WEB, "alice"), php_user(WEB2, "alice")
    there_perl = perl_user(WEB2, "alice")
    started = time.monotonic()
    cli("kill", session_id(there, "PHPSESSID"))
    denied_with(there, "/php/", "killed")
    h.expect("Hello, alice" in here.get("/php/").body)
    cli("block", "alice", "--reason", "both servers")
    denied_with(here, "/php/", "blocked")
    denied_with(there_perl, "/perl/app.cgi", "blocked")
    h.expect(reason_of(WEB2.browser().login_php("alice", "demo")) == "blocked", "second server let alice in")
    h.expect(WEB2.browser(auth=("alice", "demo")).get("/basic/whoami.cgi").status == 403)
    cli("unblock", "alice")
    h.eventually(lambda: php_user_ok(WEB2, "alice"), timeout=PROPAGATION, what="unblocked on the second server")
    print(f"    kill + block reached both servers in {time.monotonic() - started:.2f}s")


def test_kill_reaches_every_server_within_a_second():
    ensure_unblocked("bob")
    b1, b2 = php_user(WEB, "bob"), php_user(WEB2, "bob")
    cli("kill-user", "bob")
    t0 = time.monotonic()
    for b in (b1, b2):
        h.eventually(lambda: reason_of(b.get("/php/")) == "killed", timeout=PROPAGATION, interval=0.02)
    elapsed = time.monotonic() - t0
    print(f"    kill-user reached both servers in {elapsed:.2f}s")
    h.expect(elapsed < 1.5, f"took {elapsed:.2f}s to reach both servers")


def test_revocations_committed_out_of_id_order_are_not_missed():
    """Writer A takes the lower id but commits after writer B; the poller has already
    moved past B's id when A's row becomes visible."""
    first, second = php_user(WEB, "carol"), php_user(WEB, "carol")
    fp_first = fingerprint("PHPSESSID", first.cookies["PHPSESSID"])
    fp_second = fingerprint("PHPSESSID", second.cookies["PHPSESSID"])
    writer_a = subprocess.Popen(["mariadb", f"--defaults-file={DB.cnf}", "--batch", "--unbuffered"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        writer_a.stdin.write("START TRANSACTION;\n"
                             f"INSERT INTO deny_events (kind, fingerprint, username, reason) "
                             f"VALUES ('session', '{fp_first}', 'carol', 'killed');\n"
                             "SELECT CONCAT('id=', LAST_INSERT_ID());\n")
        writer_a.stdin.flush()
        line = writer_a.stdout.readline()
        while line and not line.startswith("id="):
            line = writer_a.stdout.readline()
        id_a = int(line.strip().split("=")[1])
        DB.query("INSERT INTO deny_events (kind, fingerprint, username, reason) VALUES ('session', %s, 'carol', 'killed')",
                 fp_second)
        id_b = int(DB.scalar("SELECT MAX(id) FROM deny_events"))
        h.expect(id_b > id_a, f"B's id {id_b} should be above A's {id_a}")
        denied_with(second, "/php/", "killed")
        time.sleep(1.0)  # several polls pass the higher id while A is still open
        h.expect("Hello, carol" in first.get("/php/").body, "A's revocation is not committed yet")
        writer_a.stdin.write("COMMIT;\n")
        writer_a.stdin.flush()
        denied_with(first, "/php/", "killed")
    finally:
        writer_a.stdin.close()
        writer_a.wait(timeout=30)


# ----------------------------------------------------------------- restarts and outages

def test_graceful_restart_keeps_enforcing():
    ensure_unblocked("bob")
    b = php_user(WEB, "bob")
    cli("kill", session_id(b, "PHPSESSID"))
    denied_with(b, "/php/", "killed")
    WEB.graceful()
    # Straight after the restart, before any poll could have run.
    h.expect(reason_of(b.get("/php/")) == "killed", "killed session allowed after graceful restart")
    live = php_user(WEB, "bob")
    h.expect("Hello, bob" in live.get("/php/").body)


def test_cold_restart_with_database_down_enforces_the_last_known_list():
    ensure_unblocked("carol")
    web = h.Apache().start(db=DB, module=h.MODULE, name="sg-cold-restart")
    h.eventually(lambda: "deny-list loaded" in web.error_log_text(), what="first poll")
    killed, live = php_user(web, "carol"), php_user(web, "carol")
    cli("kill", session_id(killed, "PHPSESSID"))
    denied_with(killed, "/php/", "killed")
    web.stop()
    DB.stop()
    try:
        script_start = len(web.error_log_text())
        h.script("apache-ctl", "start", web.dir, timeout=60)
        web.running = True
        h.expect("from " in web.error_log_text()[script_start:] and "until the database answers" in
                 web.error_log_text()[script_start:], "state file not restored")
        h.expect(reason_of(killed.get("/php/")) == "killed", "cold start forgot the kill")
        h.expect("Hello, carol" in live.get("/php/").body, "live session must survive the cold restart")
    finally:
        DB.start()


def test_database_outage_keeps_enforcing_and_activity_catches_up():
    ensure_unblocked("alice")
    killed, live = php_user(WEB, "alice"), php_user(WEB, "alice")
    cli("kill", session_id(killed, "PHPSESSID"))
    denied_with(killed, "/php/", "killed")
    live_fp = fingerprint("PHPSESSID", live.cookies["PHPSESSID"])
    DB.stop()
    try:
        h.eventually(lambda: "database unreachable" in WEB.error_log_text(), what="outage logged")
        h.expect(reason_of(killed.get("/php/")) == "killed", "known revocation not enforced during outage")
        time.sleep(1.1)  # the database stores microseconds; make the outage request clearly later
        during = time.time()
        h.expect("Hello, alice" in live.get("/php/page2.php").body, "fail-open must allow live sessions")
        # Admitted on the last known list and kept in the journal (test_module_journal.py
        # has the rest; SessionGuardLoginWhenUnreachable refuse keeps the 503).
        carol = WEB.browser()
        r = carol.login_php("carol", "demo")
        h.expect(r.status == 302 and reason_of(r) is None, "a login during the outage must be admitted:", r)
    finally:
        DB.start()
    h.eventually(lambda: "deny-list loaded" in WEB.error_log_text().split("database unreachable")[-1],
                 what="recovery logged")
    carol_fp = fingerprint("PHPSESSID", carol.cookies["PHPSESSID"])
    h.eventually(lambda: DB.scalar("SELECT state FROM sessions WHERE fingerprint=%s", carol_fp) == "active",
                 what="the login made during the outage is recorded")
    last = lambda: float(DB.scalar("SELECT UNIX_TIMESTAMP(last_access) FROM sessions WHERE fingerprint=%s", live_fp))
    h.eventually(lambda: last() >= during - 0.5, what="activity during the outage reaches the database")
    h.expect(not WEB.crashes(), WEB.crashes())
    h.expect("Hello, alice" in live.get("/php/").body)


def test_database_down_at_start_does_not_stop_apache():
    DB.stop()
    try:
        web = h.Apache().start(db=DB, module=h.MODULE, name="sg-cold")
        r = web.browser().get("/php/login.php")
        h.expect(r.status == 200, "guarded login page must be served with the database down:", r)
        h.eventually(lambda: "database unreachable" in web.error_log_text(), what="cold-start outage logged")
    finally:
        DB.start()
    h.eventually(lambda: "deny-list loaded" in web.error_log_text(), what="late first load")
    h.expect(php_user_ok(web, "carol"), "login after the database came back")


def test_fail_closed_after_max_stale():
    ensure_unblocked("carol")
    web = h.Apache().start(db=DB, module=h.MODULE, name="sg-closed",
                           extra_conf="SessionGuardFailMode closed\nSessionGuardMaxStale 10s\n")
    h.eventually(lambda: "deny-list loaded" in web.error_log_text(), what="first poll")
    c = php_user(web, "carol")
    # MaxStale is far longer than MariaDB takes to stop, even on a loaded machine, so the
    # first request below is still within it.
    DB.stop()
    try:
        h.expect("Hello, carol" in c.get("/php/").body, "within MaxStale the session lives on")
        r = h.eventually(lambda: (lambda resp: resp if resp.status == 503 else None)(c.get("/php/")),
                         timeout=30, what="503 once the list is stale")
        h.expect(reason_of(r) == "unavailable", r)
    finally:
        DB.start()
    h.eventually(lambda: "Hello, carol" in c.get("/php/").body, timeout=10, what="allowed once fresh again")


# ----------------------------------------------------------------- no SQL on the request path

def test_database_queries_do_not_grow_with_requests():
    sessions = [php_user(WEB, "bob" if i % 2 else "carol") for i in range(4)]
    time.sleep(1.0)  # let the logins' own activity flush

    def window(requests):
        q0, t0 = DB.queries_count(), time.monotonic()
        for i in range(requests):
            r = sessions[i % len(sessions)].get("/php/page2.php")
            h.expect(r.status == 200, r)
        elapsed = time.monotonic() - t0
        return DB.queries_count() - q0, elapsed

    busy, elapsed = window(1000)
    q0 = DB.queries_count()
    time.sleep(elapsed)
    idle = DB.queries_count() - q0
    print(f"    1000 requests in {elapsed:.1f}s: {busy} queries; the same time idle: {idle} queries")
    # The pollers of both instances query on a clock; requests may add at most the activity
    # flushes (one statement per poll), never one per request.
    extra = busy - idle
    h.expect(extra < 100, f"{extra} extra queries for 1000 requests")
    small, small_elapsed = window(100)
    h.expect(busy / 1000 < 0.2, f"{busy / 1000:.3f} queries per request")


def test_connections_do_not_grow_with_workers():
    """40 logins at once against 20 workers: the instance's connections stay at its poller
    plus the 4 login connections, whatever MaxRequestWorkers is."""
    import threading
    web = h.Apache().start(db=DB, module=h.MODULE, name="sg-connections")
    h.eventually(lambda: "deny-list loaded" in web.error_log_text(), what="first poll")
    baseline = int(DB.query("SHOW STATUS LIKE 'Threads_connected'")[0][1]) - 1  # minus this query's
    DB.root_query("FLUSH STATUS")
    results = []

    def login(i):
        b = web.browser()
        results.append(b.login_php(["alice", "bob", "carol"][i % 3], "demo").status)
    threads = [threading.Thread(target=login, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    peak = int(DB.query("SHOW GLOBAL STATUS LIKE 'Max_used_connections'")[0][1])
    print(f"    {len(results)} concurrent logins: peak {peak} connections, {baseline} before")
    h.expect(results.count(302) == 40, f"not every login succeeded: {results}")
    h.expect(peak - baseline <= 4 + 1, f"peak {peak} connections, {baseline} before: grew with the workers")


# ----------------------------------------------------------------- the app may know

def test_environment_names_user_and_session():
    ensure_unblocked("carol")
    cgi_dir = os.path.join(WEB.dir, "..", "envtest")
    os.makedirs(cgi_dir, exist_ok=True)
    script = os.path.join(cgi_dir, "env.cgi")
    with open(script, "w") as f:
        f.write("#!/usr/bin/perl\nprint \"Content-Type: text/plain\\n\\n\";\n"
                "print \"user=$ENV{SESSION_GUARD_USER} session=$ENV{SESSION_GUARD_SESSION}\\n\";\n")
    os.chmod(script, 0o755)
    os.chmod(cgi_dir, 0o755)
    web = h.Apache().start(db=DB, module=h.MODULE, name="sg-env", extra_conf=f"""
Alias /envtest/ "{os.path.abspath(cgi_dir)}/"
<Directory "{os.path.abspath(cgi_dir)}">
  Options +ExecCGI
  AddHandler cgi-script .cgi
  Require all granted
</Directory>
Alias /envquiet/ "{os.path.abspath(cgi_dir)}/"
<Location /envtest/>
  SessionGuard On
  SessionGuardCookie PHPSESSID
  SessionGuardAppEnv On
</Location>
<Location /envquiet/>
  SessionGuard On
  SessionGuardCookie PHPSESSID
</Location>
""")
    c = php_user(web, "carol")
    r = c.get("/envtest/env.cgi")
    h.expect(f"user=carol session={session_id(c, 'PHPSESSID').upper()}" in r.body, r)
    anonymous = web.browser()
    anonymous.get("/php/login.php")
    r = anonymous.get("/envtest/env.cgi")
    h.expect(r.status == 200 and "user= session=" in r.body, "unbound session must not be named:", r)
    # SessionGuardAppEnv is Off by default: the app is told nothing, and the session is still guarded there.
    r = c.get("/envquiet/env.cgi")
    h.expect(r.status == 200 and "user= session=" in r.body, "the default (SessionGuardAppEnv Off) still names the user:", r)
    cli("kill", session_id(c, "PHPSESSID"))
    h.eventually(lambda: c.get("/envquiet/env.cgi").status != 200, what="the killed session denied under AppEnv Off")


def test_htaccess_cannot_switch_the_guard_off():
    app_dir = os.path.join(WEB.dir, "..", "htaccess-app")
    os.makedirs(app_dir, exist_ok=True)
    with open(os.path.join(app_dir, "page.txt"), "w") as f:
        f.write("guarded page\n")
    with open(os.path.join(app_dir, ".htaccess"), "w") as f:
        f.write("SessionGuard Off\n")
    for path in (app_dir, os.path.join(app_dir, "page.txt"), os.path.join(app_dir, ".htaccess")):
        os.chmod(path, 0o755 if os.path.isdir(path) else 0o644)
    web = h.Apache().start(db=DB, module=h.MODULE, name="sg-htaccess", extra_conf=f"""
Alias /hta/ "{os.path.abspath(app_dir)}/"
<Directory "{os.path.abspath(app_dir)}">
  AllowOverride AuthConfig
  Require all granted
  SessionGuard On
  SessionGuardCookie PHPSESSID
</Directory>
""")
    r = web.browser().get("/hta/page.txt")
    h.expect(r.status == 500 and "guarded page" not in r.body, "an .htaccess switched the guard off:", r)
    h.expect("SessionGuard not allowed here" in web.error_log_text(), "no reason in the error log")


# ----------------------------------------------------------------- event MPM

@unblocks_after
def test_event_mpm_enforces_perl_and_basic():
    ensure_unblocked("bob")
    web = h.Apache().start(db=DB, mpm="event", module=h.MODULE, name="sg-event")
    h.eventually(lambda: "deny-list loaded" in web.error_log_text(), what="first poll (event)")
    p1, p2 = perl_user(web, "bob"), perl_user(web, "bob")
    cli("kill", session_id(p1, "CGISESSID"))
    denied_with(p1, "/perl/app.cgi", "killed")
    h.expect("Hello, bob" in p2.get("/perl/app.cgi").body)
    b = basic_user(web, "bob")
    cli("block", "bob", "--reason", "event mpm")
    denied_with(p2, "/perl/app.cgi", "blocked")
    denied_with(b, "/basic/whoami.cgi", "blocked")
    h.expect(reason_of(web.browser().login_perl("bob", "demo")) == "blocked")
    cli("unblock", "bob")
    h.eventually(lambda: "Hello, bob" in login_perl_page(web, "bob"), timeout=PROPAGATION, what="bob back (event)")
    pollers = web.error_log_text().count("poller started")
    h.expect(pollers == 1, f"{pollers} pollers started in one event instance")
    h.expect(not web.crashes(), web.crashes())


def test_one_poller_per_instance():
    for web in (WEB, WEB2):
        text = web.error_log_text()
        starts = text.count("poller started")
        restarts = text.count("Graceful restart requested")
        h.expect(starts == 1 + restarts, f"{starts} pollers for {restarts} restarts in {web}")


def poller_pids(web):
    return [int(m) for m in re.findall(r"poller started in process (\d+)", web.error_log_text())]


def proc_status(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(line.split()[1] for line in f if line.startswith(field + ":"))
    except OSError:
        return None  # gone


def test_poller_is_its_own_process_and_a_dead_one_is_replaced():
    web = h.Apache().start(db=DB, module=h.MODULE, name="sg-respawn")
    h.eventually(lambda: "deny-list loaded" in web.error_log_text(), what="first poll")
    [first] = poller_pids(web)
    # Not the root parent, running as the server's user, and the workers stay single-threaded.
    h.expect(first != web.pid(), "the poller runs in the root parent")
    h.expect(int(proc_status(first, "PPid")) == web.pid(), "the poller is not the parent's child")
    h.expect(proc_status(first, "Uid") != "0" or os.geteuid() != 0, "the poller kept root's privileges")
    workers = [int(p) for p in os.listdir("/proc")
               if p.isdigit() and int(p) != first and proc_status(p, "PPid") == str(web.pid())]
    h.expect(workers and all(proc_status(p, "Threads") in ("1", None) for p in workers),
             "prefork workers have extra threads")
    os.kill(first, signal.SIGKILL)
    h.eventually(lambda: len(poller_pids(web)) == 2, timeout=10, what="a new poller")
    # The standby took over at once; the parent reports the dead one when it reaps it.
    h.eventually(lambda: "ended with status" in web.error_log_text(), timeout=10, what="the lost poller reported")
    # The new poller enforces: a kill made now reaches this instance.
    b = php_user(web, "carol")
    cli("kill", session_id(b, "PHPSESSID"))
    denied_with(b, "/php/", "killed")
    web.stop()
    h.expect(not any(os.path.exists(f"/proc/{p}") for p in poller_pids(web)), "a poller outlived its Apache")
    h.expect(not web.crashes(), web.crashes())


if __name__ == "__main__":
    h.run(globals())
