"""Admin side of the session policies (issue 4) against real MariaDB + two Apache instances
(prefork, mod_php, mod_session_guard) sharing it, with fcgi_admin under mod_fcgid on the
first: per-user limits through CLI, API and pages taking effect at the next login, time left
on the sessions page, bulk actions (idle, sign out everyone / one virtual host), the
self-service page /session-guard/my-sessions and the signed, single-use "This wasn't me"
link in notification mail."""
import hashlib
import hmac
import os
import re
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import admin_util as a  # noqa: E402

S = None      # Stack: MariaDB + Apache "sg-test" with fcgi_admin
W2 = None     # a second Apache "sg-other" on the same database: timeouts, refuse-new

W2_POLICY = """<Location /php/>
  SessionGuardIdleTimeout 30m
  SessionGuardMaxLifetime 2h
  SessionGuardMaxSessionsAction refuse-new
</Location>
"""


def setup_module():
    global S, W2
    tmp = h.tmpdir("sg-admin-pol-")
    # Mailed links use public_url (the address users reach); the test follows their path.
    S = a.Stack(settings={"public_url": "http://links.example.test"})
    W2 = h.Apache().start(tmp=tmp, db=S.db, module=h.MODULE, name="sg-other", extra_conf=W2_POLICY)
    for web in (S.web, W2):
        h.eventually(lambda: "deny-list loaded" in web.error_log_text(), what="first poll")


def reason_of(resp):
    reason = resp.header("X-Session-Guard-Reason")
    if reason:
        return reason
    if resp.location and "reason=" in resp.location:
        return urllib.parse.parse_qs(urllib.parse.urlsplit(resp.location).query).get("reason", [None])[0]
    return None


def denied_with(browser, reason, path="/php/", timeout=5):
    kept = dict(browser.cookies)

    def check():
        r = browser.get(path)
        return r if reason_of(r) == reason else None
    try:
        return h.eventually(check, timeout=timeout, what=f"{path} denied as {reason}")
    finally:
        browser.cookies.update(kept)


def alive(browser, user, path="/php/"):
    return f"Hello, {user}" in browser.get(path).body


def login(base, user, password="demo", app="php"):
    b = h.Browser(base, user_agent="Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0")
    r = b.login_php(user, password) if app == "php" else b.login_perl(user, password)
    return b, r


def fp_of(browser, cookie="PHPSESSID"):
    return hashlib.sha256(f"{cookie}={browser.cookies[cookie]}".encode()).hexdigest()


def reset(*users):
    for u in users:
        S.db.query("UPDATE sessions SET state='logged_out', ended_at=NOW(6) WHERE username=%s AND state='active'", u)
        S.db.query("UPDATE accounts SET max_sessions=NULL WHERE username=%s", u)


def active(user):
    return int(S.db.scalar("SELECT COUNT(*) FROM sessions WHERE username=%s AND state='active'", user))


def backdate(fp, minutes):
    """Make a session look idle for `minutes`. The pollers flush a session's recent activity
    (up to a second later) and would overwrite it, so set it again until it stays."""
    def attempt():
        S.db.query("UPDATE sessions SET last_access = NOW(6) - INTERVAL %s MINUTE WHERE fingerprint=%s", minutes, fp)
        time.sleep(1.3)
        return S.db.scalar("SELECT last_access < NOW(6) - INTERVAL %s MINUTE FROM sessions WHERE fingerprint=%s",
                           minutes - 1, fp) == "1"
    h.eventually(attempt, timeout=10, what="session back-dated")


def deny_rows(fp):
    return S.db.query("SELECT kind, reason FROM deny_events WHERE fingerprint=%s", fp)


# --- per-user limits ----------------------------------------------------------------------------

def test_limit_set_by_cli_takes_effect_at_next_login_evicting_the_oldest():
    reset("carol")
    r = h.fcgi_admin(S.db, "set-limit", "carol", "1", as_user="admin")
    h.expect("Session limit of user carol set to 1 session by administrator admin" in r.stdout, r.stdout)
    h.expect(S.db.scalar("SELECT max_sessions FROM accounts WHERE username='carol'") == "1")
    first, _ = login(S.base, "carol")
    h.expect(alive(first, "carol"))
    second, r = login(S.base, "carol")
    h.expect(r.status == 302 and r.location.endswith("/php/"), "the new login must succeed:", r)
    denied_with(first, "superseded")
    h.expect(alive(second, "carol") and active("carol") == 1, active("carol"))
    row = S.db.query("SELECT actor, source, action, reason FROM audit_log WHERE action='set_limit' "
                     "AND target_user='carol' ORDER BY id DESC LIMIT 1")
    h.expect(row == [["admin", "cli", "set_limit", "1"]], row)
    for bad in (["set-limit", "carol", "-1"], ["set-limit", "carol", "many"], ["set-limit", "carol"]):
        p = h.fcgi_admin(S.db, *bad, check=False, as_user="admin")
        h.expect(p.returncode == 1, bad, p.stderr)
    p = h.fcgi_admin(S.db, "set-limit", "nobody", "2", check=False, as_user="admin")
    h.expect(p.returncode == 2 and "no user named nobody" in p.stderr, p.stderr)
    h.fcgi_admin(S.db, "set-limit", "carol", "none", as_user="admin")
    h.expect(S.db.scalar("SELECT max_sessions FROM accounts WHERE username='carol'") == "NULL")
    third, _ = login(S.base, "carol")
    h.expect(alive(second, "carol") and alive(third, "carol"), "no limit once removed")


def test_limit_set_by_api_refuses_new_logins_on_a_refuse_new_server():
    reset("bob")
    admin = S.admin()
    r = a.api(admin, "POST", "set-limit", {"user": "bob", "max_sessions": 1})
    h.expect(r.status == 200 and "set to 1 session" in r.json()["message"], r)
    existing, _ = login(W2.base_url, "bob")
    h.expect(alive(existing, "bob"))
    newcomer, r = login(W2.base_url, "bob")
    h.expect(reason_of(r) == "refused", "the second login must be refused:", r)
    h.expect(alive(existing, "bob") and active("bob") == 1)
    users = {u["user"]: u for u in a.api(admin, "GET", "users").json()["users"]}
    h.expect(users["bob"]["max_sessions"] == 1 and users["alice"]["max_sessions"] is None, users["bob"])
    for bad in ({"user": "bob"}, {"user": "bob", "max_sessions": -1}, {"user": "bob", "max_sessions": "2"},
                {"user": "bob", "max_sessions": 5000}):
        r = a.api(admin, "POST", "set-limit", bad)
        h.expect(r.status == 400, bad, r)
    r = a.api(admin, "POST", "set-limit", {"user": "nobody", "max_sessions": 2})
    h.expect(r.status == 404, r)
    r = a.api(admin, "POST", "set-limit", "user=bob&max_sessions=3", content_type="application/x-www-form-urlencoded")
    h.expect(r.status == 415, r)
    # 0 = no limit for this user, whatever the server says.
    r = a.api(admin, "POST", "set-limit", {"user": "bob", "max_sessions": 0})
    h.expect(r.status == 200, r)
    again, r = login(W2.base_url, "bob")
    h.expect(r.status == 302 and r.location.endswith("/php/") and active("bob") == 2, r)
    r = a.api(admin, "POST", "set-limit", {"user": "bob", "max_sessions": None})
    h.expect(r.status == 200 and S.db.scalar("SELECT max_sessions FROM accounts WHERE username='bob'") == "NULL", r)
    h.expect(S.db.scalar("SELECT source FROM audit_log WHERE action='set_limit' AND target_user='bob' "
                         "ORDER BY id DESC LIMIT 1") == "api")


def test_limit_through_the_users_page_with_confirmation_and_csrf():
    reset("alice")
    admin = S.admin()
    page = admin.get("/session-guard/users")
    h.expect(page.status == 200 and "Session limit" in page.body and "server default" in page.body, page)
    confirm = a.confirm(admin, "set_limit", user="alice", back="users")
    h.expect(confirm.status == 200 and "Session limit of alice" in confirm.body, confirm)
    h.expect(S.db.scalar("SELECT max_sessions FROM accounts WHERE username='alice'") == "NULL", "GET changed something")
    r = a.post_form(admin, confirm, overrides={"limit": "2"}, drop=("csrf",))
    h.expect(r.status == 403, "no CSRF token:", r)
    r = a.post_form(admin, confirm, overrides={"limit": "lots"})
    h.expect(r.status == 400, r)
    r = a.post_form(admin, confirm, overrides={"limit": "2"})
    h.expect(r.status == 303 and "notice=limit_set" in r.location, r)
    h.expect(S.db.scalar("SELECT max_sessions FROM accounts WHERE username='alice'") == "2")
    page = admin.follow(r)
    h.expect("The session limit of alice has been changed" in page.body, page)
    row = re.search(r'<tr data-user="alice">.*?</tr>', page.body, re.S)
    h.expect(row and '<td class="limit">2</td>' in row.group(0), row and row.group(0))
    sessions = [login(S.base, "alice")[0] for _ in range(3)]
    denied_with(sessions[0], "superseded")
    h.expect(alive(sessions[1], "alice") and alive(sessions[2], "alice") and active("alice") == 2)
    reset("alice")


# --- time left ----------------------------------------------------------------------------------

def test_sessions_page_shows_time_left_and_sorts_by_it():
    reset("carol", "bob")
    limited, _ = login(W2.base_url, "carol")       # 30 min idle, 2 h lifetime on W2
    unlimited, _ = login(S.base, "bob")            # no timeouts on the first server
    admin = S.admin()
    body = a.api(admin, "GET", "sessions?sort=time_left&order=asc&limit=100").json()
    rows = {x["fingerprint"]: x for x in body["sessions"]}
    c, b = rows[fp_of(limited)], rows[fp_of(unlimited)]
    h.expect(1700 <= c["time_left_seconds"] <= 1800 and c["deadline"], c)
    h.expect(b["time_left_seconds"] is None and b["deadline"] is None, b)
    order = [x["fingerprint"] for x in body["sessions"]]
    h.expect(order.index(fp_of(limited)) < order.index(fp_of(unlimited)), "soonest first")
    desc = [x["fingerprint"] for x in a.api(admin, "GET", "sessions?sort=time_left&order=desc&limit=100").json()["sessions"]]
    h.expect(desc.index(fp_of(limited)) > desc.index(fp_of(unlimited)), "latest first")
    # Keyset paging over the new sort column visits each row once.
    seen, after = [], ""
    while True:
        page = a.api(admin, "GET", "sessions?limit=10&sort=time_left" + (f"&after={after}" if after else "")).json()
        seen += [x["fingerprint"] for x in page["sessions"]]
        if page["next_after"] is None:
            break
        after = page["next_after"]
    h.expect(len(seen) == len(set(seen)) == page["total"], len(seen), page["total"])
    page = admin.get("/session-guard/sessions?sort=time_left&order=asc&limit=100")
    h.expect("Time left" in page.body, page)
    row = re.search(r'<tr data-fingerprint="%s">.*?</tr>' % fp_of(limited), page.body, re.S).group(0)
    h.expect(re.search(r'<td class="time-left" title="until the idle timeout">(29m|30m) \d\ds</td>', row), row)
    row = re.search(r'<tr data-fingerprint="%s">.*?</tr>' % fp_of(unlimited), page.body, re.S).group(0)
    h.expect('<td class="time-left">no limit</td>' in row, row)


# --- bulk actions -------------------------------------------------------------------------------

def test_end_idle_sessions_through_the_page_ends_only_the_idle_ones_everywhere():
    reset("alice", "bob")
    idle, _ = login(S.base, "alice")
    fresh, _ = login(S.base, "bob")
    other, _ = login(W2.base_url, "alice")   # alice active on the other server as well
    backdate(fp_of(idle), 90)
    admin = S.admin()
    page = a.confirm(admin, "end_idle")
    h.expect(page.status == 200 and "End idle sessions?" in page.body, page)
    r = a.post_form(admin, page, overrides={"minutes": "0"})
    h.expect(r.status == 400, r)
    r = a.post_form(admin, page, overrides={"minutes": "60"}, drop=("csrf",))
    h.expect(r.status == 403 and S.state(fp_of(idle)) == "active", r)
    r = a.post_form(admin, page, overrides={"minutes": "60"})
    h.expect(r.status == 303 and "notice=ended_idle" in r.location and "n=1" in r.location, r)
    h.expect(S.state(fp_of(idle)) == "killed" and S.state(fp_of(fresh)) == "active" and
             S.state(fp_of(other)) == "active")
    h.expect(S.db.scalar("SELECT ended_by FROM sessions WHERE fingerprint=%s", fp_of(idle)) == "admin")
    h.expect(deny_rows(fp_of(idle)) == [["session", "killed"]], deny_rows(fp_of(idle)))
    # Enforced by every Apache poller: the idle cookie is dead on both servers.
    denied_with(idle, "killed")
    on_w2 = h.Browser(W2.base_url)
    on_w2.cookies.update(idle.cookies)
    denied_with(on_w2, "killed")
    h.expect(alive(fresh, "bob") and alive(other, "alice"))
    row = S.db.query("SELECT actor, source, reason FROM audit_log WHERE action='end_idle' ORDER BY id DESC LIMIT 1")
    h.expect(row == [["admin", "web", "60 min"]], row)
    # The same through the CLI and the API.
    backdate(fp_of(fresh), 180)
    p = h.fcgi_admin(S.db, "end-idle", "120", check=False, as_user="admin")
    h.expect(p.returncode == 1 and "--yes" in p.stderr and S.state(fp_of(fresh)) == "active", "CLI needs --yes", p.stderr)
    p = h.fcgi_admin(S.db, "end-idle", "120", "--yes", as_user="admin")
    h.expect("1 session idle longer than 120 minutes terminated by administrator admin" in p.stdout, p.stdout)
    denied_with(fresh, "killed")
    r = a.api(admin, "POST", "end-idle", {"minutes": "ten"})
    h.expect(r.status == 400, r)
    r = a.api(admin, "POST", "end-idle", {"minutes": 525600})
    h.expect(r.status == 200 and r.json()["sessions_ended"] == 0, r)


def test_sign_out_everyone_spares_the_admin_and_respects_the_virtual_host():
    reset("alice", "bob", "carol", "admin")
    mine, _ = login(S.base, "admin", "admin")
    alice, _ = login(S.base, "alice")
    bob, _ = login(W2.base_url, "bob")
    carol, _ = login(W2.base_url, "carol")
    admin = S.admin()
    r = a.api(admin, "POST", "sign-out-all", {"server": "sg-other"})
    h.expect(r.status == 200 and r.json()["sessions_ended"] == 2, r)
    h.expect("on sg-other" in r.json()["message"], r.json())
    h.expect([S.state(fp_of(b)) for b in (mine, alice, bob, carol)] == ["active", "active", "killed", "killed"])
    for b in (bob, carol):
        h.expect(deny_rows(fp_of(b)) == [["session", "killed"]], deny_rows(fp_of(b)))
    denied_with(bob, "killed", timeout=5)
    h.expect(alive(alice, "alice") and alive(mine, "admin"))
    # Everyone, through the page: the admin's own session stays.
    page = a.confirm(admin, "sign_out_all")
    h.expect(page.status == 200 and "except your own (admin)" in page.body, page)
    h.expect('<option value="sg-test">sg-test</option>' in page.body, "virtual hosts offered")
    r = a.post_form(admin, page)
    h.expect(r.status == 303 and "notice=signed_out_all" in r.location, r)
    h.expect(S.state(fp_of(alice)) == "killed" and S.state(fp_of(mine)) == "active")
    denied_with(alice, "killed")
    h.expect(alive(mine, "admin"), "the admin's own session must survive")
    row = S.db.query("SELECT actor, source, reason FROM audit_log WHERE action='sign_out_all' ORDER BY id")
    h.expect(row[-2:] == [["admin", "api", "server sg-other"], ["admin", "web", "all servers"]], row)
    # CLI: --as names whose sessions are kept.
    again, _ = login(S.base, "alice")
    p = h.fcgi_admin(S.db, "sign-out-all", "--server", "sg-test", check=False, as_user="alice")
    h.expect(p.returncode == 1 and S.state(fp_of(mine)) == "active", "CLI needs --yes", p.stderr)
    p = h.fcgi_admin(S.db, "sign-out-all", "--server", "sg-test", "--yes", as_user="alice")
    h.expect(S.state(fp_of(again)) == "active" and S.state(fp_of(mine)) == "killed", p.stdout)


# --- self-service -------------------------------------------------------------------------------

def my_sessions(browser):
    """GET the page; the module needs a moment to know the owner of a new session."""
    return h.eventually(lambda: (lambda r: r if r.status == 200 else None)(browser.get("/session-guard/my-sessions")),
                        timeout=5, what="my-sessions page")


def test_my_sessions_lists_only_the_callers_sessions_and_signs_out_others():
    reset("alice", "bob")
    laptop, _ = login(S.base, "alice")
    phone, _ = login(S.base, "alice")
    perl, _ = login(S.base, "alice", app="perl")
    bob, _ = login(S.base, "bob")
    page = my_sessions(laptop)
    body = page.body
    for b, cookie in ((laptop, "PHPSESSID"), (phone, "PHPSESSID"), (perl, "CGISESSID")):
        h.expect(fp_of(b, cookie)[:8].upper() in body, "own session missing", cookie)
    h.expect(fp_of(bob)[:8].upper() not in body and "bob" not in body, "another user's session is listed")
    this = re.search(r'<tr data-session="%s" class="current">.*?</tr>' % fp_of(laptop)[:8].upper(), body, re.S)
    h.expect(this and "This device" in this.group(0), "this device not marked")
    h.expect("Firefox" in body and "127.0.0.1" in body, "device and IP shown")
    h.expect(page.header("Content-Security-Policy") and "<nav" not in body, "no admin navigation")
    # Who the user is comes from the module only: no cookie, Basic auth or forged headers -> 401.
    for auth, headers in ((None, {}), (a.ADMIN_AUTH, {}),
                          (None, {"Session-Guard-User": "bob", "SESSION_GUARD_USER": "bob",
                                  "Session-Guard-Fingerprint": fp_of(bob)})):
        r = h.Browser(S.base, auth=auth).get("/session-guard/my-sessions", headers=headers)
        h.expect(r.status == 401 and "Sign in to the application first" in r.body, auth, headers, r)
    # Forged ids: another user's, unknown, malformed -> 404 and nothing changed.
    before = S.db.scalar("SELECT COUNT(*) FROM audit_log"), S.db.scalar("SELECT COUNT(*) FROM deny_events")
    form = [f for f in a.forms(page) if f["action"].endswith("/my-sessions/sign-out")][0]
    csrf = dict(form["fields"])["csrf"]
    for forged in (fp_of(bob), fp_of(bob)[:8], "00000000" * 8, "zz-not-hex", ""):
        r = laptop.post_form("/session-guard/my-sessions/sign-out", {"csrf": csrf, "id": forged})
        h.expect(r.status == 404, forged, r)
    h.expect(S.state(fp_of(bob)) == "active" and alive(bob, "bob"))
    h.expect((S.db.scalar("SELECT COUNT(*) FROM audit_log"), S.db.scalar("SELECT COUNT(*) FROM deny_events")) == before)
    r = laptop.post_form("/session-guard/my-sessions/sign-out", {"csrf": csrf, "id": fp_of(laptop)})
    h.expect(r.status == 409 and S.state(fp_of(laptop)) == "active", "own current session:", r)
    r = laptop.post_form("/session-guard/my-sessions/sign-out", {"id": fp_of(phone)})
    h.expect(r.status == 403 and S.state(fp_of(phone)) == "active", "no CSRF token:", r)
    r = bob.post_form("/session-guard/my-sessions/sign-out", {"csrf": csrf, "id": fp_of(phone)})
    h.expect(r.status in (403, 404) and S.state(fp_of(phone)) == "active", "bob with alice's token:", r)
    r = laptop.get("/session-guard/my-sessions/sign-out")
    h.expect(r.status == 405, r)
    # Signing out one other session.
    r = laptop.post_form("/session-guard/my-sessions/sign-out", {"csrf": csrf, "id": fp_of(phone)})
    h.expect(r.status == 303 and "notice=one" in r.location, r)
    h.expect(S.state(fp_of(phone)) == "killed" and
             S.db.scalar("SELECT ended_by FROM sessions WHERE fingerprint=%s", fp_of(phone)) == "alice")
    h.expect(deny_rows(fp_of(phone)) == [["session", "killed"]])
    denied_with(phone, "killed")
    row = S.db.query("SELECT actor, source, action, target_user FROM audit_log WHERE target_session=%s", fp_of(phone))
    h.expect(row == [["alice", "self", "self_sign_out", "alice"]], row)
    # All others: the Perl session ends, this one stays.
    page = my_sessions(laptop)
    others = [f for f in a.forms(page) if f["action"].endswith("/sign-out-others")]
    h.expect(others and "Sign out all other sessions (1)" in page.body, page)
    r = laptop.post_form(others[0]["action"], others[0]["fields"])
    h.expect(r.status == 303 and "notice=others" in r.location, r)
    h.expect(S.state(fp_of(perl, "CGISESSID")) == "killed" and S.state(fp_of(laptop)) == "active")
    denied_with(perl, "killed", path="/perl/app.cgi")
    h.expect(alive(laptop, "alice") and alive(bob, "bob"))
    page = laptop.follow(r)
    h.expect("other sessions have been signed out" in page.body, page)


# --- "This wasn't me" links ---------------------------------------------------------------------

def link_key():
    return S.db.scalar("SELECT value FROM admin_settings WHERE name='signout_link_key'")


def make_token(user, expires, nonce="ab" * 16, key=None):
    body = f"v1.{user.encode().hex()}.{int(expires)}.{nonce}"
    mac = hmac.new((key or link_key()).encode(), body.encode(), hashlib.sha256).hexdigest()
    return f"{body}.{mac}"


def test_wasnt_me_link_in_the_kill_mail_works_once():
    reset("alice")
    one, _ = login(S.base, "alice")
    two, _ = login(W2.base_url, "alice")
    before = len(a.mails(S.maildir))
    r = a.api(S.admin(), "POST", "kill", {"id": fp_of(one)})
    h.expect(r.status == 200 and r.json()["mails_queued"] == 1, r)
    mail = a.wait_mail(S.maildir, before + 1)[-1]
    text = a.body_of(mail)
    m = re.search(r"This wasn't me: sign me out everywhere\n(http://links\.example\.test/session-guard/wasnt-me\?t=(\S+))",
                  text)
    h.expect(m and mail["To"] == "alice@example.test", text)
    path = urllib.parse.urlsplit(m.group(1))
    url = path.path + "?" + path.query
    visitor = h.Browser(S.base)          # no Basic auth, no session: the link is the authority
    page = visitor.get(url)
    h.expect(page.status == 200 and "Sign out everywhere?" in page.body and "alice" in page.body, page)
    h.expect(S.state(fp_of(two)) == "active", "following the link (GET) changed something")
    r = a.post_form(visitor, page, drop=("csrf",))
    h.expect(r.status == 403 and S.state(fp_of(two)) == "active", "no CSRF token:", r)
    r = a.post_form(visitor, page)
    h.expect(r.status == 200 and "signed out everywhere" in r.body, r)
    h.expect(S.state(fp_of(two)) == "killed" and active("alice") == 0)
    h.expect(S.db.scalar("SELECT ended_by FROM sessions WHERE fingerprint=%s", fp_of(two)) == "alice")
    denied_with(two, "killed")    # on the other server
    row = S.db.query("SELECT actor, source, target_user FROM audit_log WHERE action='wasnt_me'")
    h.expect(row == [["alice", "link", "alice"]], row)
    # Used twice: rejected, by GET and by POST, and nothing more happens.
    again, _ = login(S.base, "alice")
    r = visitor.get(url)
    h.expect(r.status == 410 and "already been used" in r.body, r)
    r = a.post_form(visitor, page)
    h.expect(r.status == 410 and S.state(fp_of(again)) == "active", r)
    h.expect(S.db.scalar("SELECT COUNT(*) FROM audit_log WHERE action='wasnt_me'") == "1")


def test_expired_and_tampered_links_are_rejected():
    reset("bob")
    bob, _ = login(S.base, "bob")
    visitor = h.Browser(S.base)
    visitor.get("/session-guard/wasnt-me?t=x")     # the key is generated and stored on first use
    h.expect(link_key(), "no link key in admin_settings")
    now = time.time()
    good = make_token("bob", now + 3600, nonce="cd" * 16)
    expired = make_token("bob", now - 5, nonce="ef" * 16)
    wrong_key = make_token("bob", now + 3600, nonce="01" * 16, key="not-the-key-at-all")
    body, mac = good.rsplit(".", 1)
    cases = {
        "expired": (expired, 410, "expired"),
        "another key": (wrong_key, 400, "not valid"),
        "altered signature": (body + "." + ("0" if mac[0] != "0" else "1") + mac[1:], 400, "not valid"),
        "another user": (good.replace("v1." + "bob".encode().hex(), "v1." + "alice".encode().hex()), 400, "not valid"),
        "longer life": (good.replace(f".{int(now + 3600)}.", f".{int(now + 99999)}."), 400, "not valid"),
        "cut short": (good[:-10], 400, "not valid"),
        "garbage": ("<script>alert(1)</script>", 400, "not valid"),
    }
    for name, (token, status, words) in cases.items():
        r = visitor.get("/session-guard/wasnt-me?t=" + urllib.parse.quote(token))
        h.expect(r.status == status and words in r.body and "<script>alert" not in r.body, name, r)
        r = visitor.post_form("/session-guard/wasnt-me", {"t": token, "csrf": "x"})
        h.expect(r.status == status, name, r)
    h.expect(S.state(fp_of(bob)) == "active" and alive(bob, "bob"), "a rejected link ended a session")
    r = visitor.get("/session-guard/wasnt-me")
    h.expect(r.status == 400, r)
    # The hand-made good token works: the format is what the docs say.
    page = visitor.get("/session-guard/wasnt-me?t=" + good)
    h.expect(page.status == 200, page)
    r = a.post_form(visitor, page)
    h.expect(r.status == 200 and S.state(fp_of(bob)) == "killed", r)


if __name__ == "__main__":
    h.run(globals())
