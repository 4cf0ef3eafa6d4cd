"""mod_session_guard in Debian's default PHP set-up: Apache with the event MPM, PHP-FPM behind
mod_proxy_fcgi (`SetHandler "proxy:unix:…|fcgi://localhost"` in `<FilesMatch>`, as
/etc/apache2/conf-available/php8.2-fpm.conf), the unchanged demo PHP app, and the guard in the
app's `<Directory>` exactly as under mod_php (scripts/httpd-conf's APP_GUARDS["php"]). The
harness starts a PHP-FPM master of the test's own (its pool on a Unix socket in the temp
folder). Binding, kill-user, block, logout, and issue 9's reader cases 1, 2, 3 and 6 on FPM."""
import os
import pwd
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import test_module  # noqa: E402
from test_module import fingerprint, reason_of, denied_with  # noqa: E402

DB = WEB = None
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def setup_module():
    global DB, WEB
    DB = h.MariaDB().start()
    # ProxyErrorOverride: Apache's ErrorDocument also answers FPM's own 404 for a missing
    # *.php ("Primary script unknown"), so a missing URL inside the app reaches index.php too.
    WEB = h.Apache().start(db=DB, module=h.MODULE, mpm="event", php="fpm", name="sg-fpm", extra_conf="""
ErrorDocument 404 /php/index.php
ProxyErrorOverride On
""")
    h.eventually(lambda: "deny-list loaded" in WEB.error_log_text(), what="first poll")


def cli(*args, check=True):
    return h.fcgi_admin(DB, *args, as_user="admin", check=check)


def php_user(user):
    return test_module.php_user(WEB, user)


def raw_get(path, cookie):
    return WEB.browser().request("GET", path, headers={"Cookie": cookie})


def session_row(browser):
    return DB.query("SELECT username, state FROM sessions WHERE fingerprint=%s",
                    fingerprint("PHPSESSID", browser.cookies["PHPSESSID"]))


def active_rows(user):
    return int(DB.scalar("SELECT COUNT(*) FROM sessions WHERE username=%s AND state='active'", user))


def ensure_unblocked(user):
    if DB.scalar("SELECT active FROM accounts WHERE username=%s", user) == "0":
        cli("unblock", user)


def killed(user, browser, page="/php/"):
    """kill-user, then wait until the plain cookie is denied; return the killed value."""
    value = browser.cookies["PHPSESSID"]
    cli("kill-user", user)
    h.eventually(lambda: reason_of(raw_get(page, f"PHPSESSID={value}")) == "killed", timeout=5,
                 what=f"{user}'s killed session denied")
    return value


def fpm_ran(fragment):
    """Lines of the pool's access log (what the FPM workers ran: method, REQUEST_URI, script,
    PATH_INFO, status) that contain fragment; a worker writes its line as it finishes."""
    def lines():
        with open(WEB.fpm.access_log, encoding="utf-8", errors="replace") as f:
            return [line for line in f if fragment in line]
    try:
        return h.eventually(lines, timeout=3, what=f"{fragment!r} in the FPM access log")
    except AssertionError:
        return []


# ----------------------------------------------------------------- the stack itself

def test_the_stack_is_event_mpm_with_php_fpm():
    h.expect("mpm_event:notice" in WEB.error_log_text(), "not the event MPM")
    conf = open(os.path.join(WEB.dir, "httpd.conf")).read()
    h.expect("php_module" not in conf and f'SetHandler "proxy:unix:{WEB.fpm.socket}|fcgi://localhost"' in conf,
             "PHP is not handed to the FPM socket")
    marker = "fpm-marker-" + os.urandom(4).hex()
    r = WEB.browser().get(f"/php/login.php?{marker}=1")
    h.expect(r.status == 200 and "<h1>Log in</h1>" in r.body, r)
    h.expect(fpm_ran(marker), "the PHP page was not run by the test's FPM pool")
    if os.geteuid() == 0:
        st = os.stat(WEB.fpm.socket)
        h.expect(st.st_mode & 0o777 == 0o660 and st.st_uid == pwd.getpwnam("www-data").pw_uid,
                 "the pool's socket is not www-data's 0660:", oct(st.st_mode), st.st_uid)


# ----------------------------------------------------------------- enforcement

def test_login_binds_the_session():
    b = php_user("alice")
    h.eventually(lambda: session_row(b) == [["alice", "active"]], timeout=5, what="alice's session row")


def test_kill_user_ends_the_session():
    a, c = php_user("alice"), php_user("carol")
    out = cli("kill-user", "alice").stdout
    h.expect("sessions of user alice terminated" in out, out)
    r = denied_with(a, "/php/page2.php", "killed")
    h.expect(r.status == 302 and r.location.startswith("/php/login.php?") and "reason=killed" in r.location, r)
    h.expect(any(v.startswith("PHPSESSID=") and "Max-Age=0" in v for v in r.header_all("Set-Cookie")),
             "the denial must clear the app's cookie:", r.headers)
    h.expect(session_row(a) == [["alice", "killed"]], "row not killed:", session_row(a))
    h.expect("Hello, carol" in c.get("/php/").body, "carol's session must live on")
    # The login page the redirect leads to says why, through FPM.
    a.cookies.pop("PHPSESSID", None)
    page = a.follow(r)
    h.expect(page.status == 200 and "ended by an administrator" in page.body, page)


def test_block_refuses_a_new_login():
    ensure_unblocked("bob")
    b = php_user("bob")
    try:
        cli("block", "bob", "--reason", "fpm test")
        denied_with(b, "/php/", "blocked")
        fresh = WEB.browser()
        r = fresh.login_php("bob", "demo")
        h.expect(reason_of(r) == "blocked", "a blocked user signed in through FPM:", r)
        h.expect("PHPSESSID" not in fresh.cookies, "the new session cookie reached the browser", fresh.cookies)
        h.expect("Hello, bob" not in fresh.get("/php/").body, "blocked bob is served")
    finally:
        ensure_unblocked("bob")
    h.eventually(lambda: reason_of(WEB.browser().login_php("bob", "demo")) is None, timeout=5,
                 what="bob can sign in again once unblocked")


def test_logout_is_recorded():
    b = php_user("carol")
    fp = fingerprint("PHPSESSID", b.cookies["PHPSESSID"])
    r = b.get("/php/logout.php")
    h.expect(r.status == 302 and "/php/login.php" in (r.location or ""), r)
    h.eventually(lambda: DB.scalar("SELECT state FROM sessions WHERE fingerprint=%s", fp) == "logged_out",
                 timeout=5, what="the logout recorded")


# ----------------------------------------------------------------- issue 9's reader cases on FPM

def test_case1_decoy_cookie_before_the_killed_one():
    b = php_user("carol")
    value = b.cookies["PHPSESSID"]
    # PHP under FPM reads the second pair: with a live session it is served behind the decoy.
    h.expect("Hello, carol" in raw_get("/php/", f"PHPSESSID =x; PHPSESSID={value}").body,
             "PHP-FPM does not read the cookie behind the decoy (the test would prove nothing)")
    killed("carol", b)
    for header in (f"PHPSESSID =x; PHPSESSID={value}", f"PHPSESSID\t=x; PHPSESSID={value}",
                   f"PHPSESSID.=x; PHPSESSID={value}", f"PHPSESSID=x, PHPSESSID={value}"):
        r = raw_get("/php/", header)
        h.expect("Hello, carol" not in r.body, "killed session served behind a decoy:", repr(header), r)
        h.expect(reason_of(r) == "killed", "not denied as killed:", repr(header), r)


def test_case2_duplicate_login_field_signs_nobody_in():
    alice = php_user("alice")
    before, bob_before = active_rows("alice"), active_rows("bob")
    b = WEB.browser()
    b.get("/php/login.php")
    r = b.request("POST", "/php/login.php", body=b"username=alice&username=bob&password=demo", headers=FORM)
    h.expect(reason_of(r) == "refused", "an ambiguous login was not refused:", r)
    h.expect("Hello," not in b.get("/php/").body, "the ambiguous login left a signed-in session")
    h.expect("Hello, alice" in alice.get("/php/").body, "alice's own session was ended")
    h.expect(active_rows("alice") == before, "the ambiguous login was recorded as alice")
    h.expect(active_rows("bob") == bob_before, "the ambiguous login was recorded as bob")


def test_case3_path_info_runs_the_login_under_fpm_and_is_bound():
    """What Apache + PHP-FPM do with POST /php/login.php/x: mod_proxy_fcgi passes the script
    with PATH_INFO=/x, FPM runs login.php, and the app signs the user in. The module must
    read it as the login (the session is bound)."""
    b = WEB.browser()
    b.get("/php/login.php")
    r = b.request("POST", "/php/login.php/x", body=b"username=alice&password=demo", headers=FORM)
    h.expect(r.status == 302 and r.location == "/php/", "login.php/x did not run the login:", r)
    ran = fpm_ran("POST /php/login.php/x")
    h.expect(ran and "script=" in ran[-1] and ran[-1].split("script=")[1].split()[0].endswith("/php/login.php")
             and "path_info=/x" in ran[-1], "FPM did not run login.php with PATH_INFO /x:", ran)
    h.expect("Hello, alice" in b.get("/php/").body, "not signed in through login.php/x")
    h.eventually(lambda: session_row(b) == [["alice", "active"]], timeout=5,
                 what="the PATH_INFO login bound to alice")


def test_case3_blocked_user_cannot_sign_in_through_readings_the_module_used_to_miss():
    ensure_unblocked("carol")
    cli("block", "carol", "--reason", "issue 9 case 3 on FPM")
    try:
        attempts = [
            ("/php/login.php", b"%20username=carol&password=demo"),
            ("/php/login.php/x", b"username=carol&password=demo"),
            ("/php/login.php/x/", b"%20username=carol&password=demo"),
        ]
        for target, body in attempts:
            b = WEB.browser()
            b.get("/php/login.php")
            r = b.request("POST", target, body=body, headers=FORM)
            h.expect(reason_of(r) in ("blocked", "refused"), "not refused:", target, body, r)
            page = b.get("/php/")
            h.expect("Hello, carol" not in page.body, "blocked carol signed in through", target, body, page)
            h.expect(active_rows("carol") == 0, "a session of blocked carol is active after", target, body)
    finally:
        ensure_unblocked("carol")


def test_case6_error_documents_are_judged():
    b = php_user("alice")
    value = b.cookies["PHPSESSID"]
    paths = ("/no-such-page", "/php/no-such-page.php", "/php/no-such-folder/")
    for path in paths:   # the ErrorDocument is the app's page: a live session gets it
        h.expect("Hello, alice" in raw_get(path, f"PHPSESSID={value}").body,
                 "ErrorDocument does not serve the app at", path, "(the test would prove nothing)")
    killed("alice", b)
    for path in paths:
        r = raw_get(path, f"PHPSESSID={value}")
        h.expect("Hello, alice" not in r.body, "a killed session was served through ErrorDocument at", path, r)
        h.expect(reason_of(r) == "killed", "not denied as killed at", path, r)


if __name__ == "__main__":
    h.run(globals())
