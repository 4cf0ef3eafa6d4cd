"""Admin pages end to end: real MariaDB + Apache (prefork, mod_php, mod_session_guard) with
fcgi_admin under mod_fcgid, a fake sendmail that captures mail. Every action goes through
its confirmation page and a real form POST with the CSRF token, then is checked in the
database, on the demo app (the user's next click is denied with the reason), in the audit
log, in Apache's error log and in the captured mail."""
import hashlib
import os
import re
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import admin_util as a  # noqa: E402

PROPAGATION = 5.0
S = None


def setup_module():
    global S
    S = a.Stack()


def reason_of(resp):
    if resp.location and "reason=" in resp.location:
        return urllib.parse.parse_qs(urllib.parse.urlsplit(resp.location).query).get("reason", [None])[0]
    return None


def denied_with(browser, reason, path="/php/"):
    def check():
        r = browser.get(path)
        return r if reason_of(r) == reason else None
    return h.eventually(check, timeout=PROPAGATION, what=f"{path} denied as {reason}")


def short(fp):
    return fp[:8].upper()


def unblock(user):
    if S.db.scalar("SELECT active FROM accounts WHERE username=%s", user) == "0":
        h.fcgi_admin(S.db, "unblock", user, as_user="admin")


def counts():
    return {t: int(S.db.scalar(f"SELECT COUNT(*) FROM {t}")) for t in ("audit_log", "deny_events", "mail_outbox")}


# ------------------------------------------------------------------------------ access

def test_authorisation_is_ours_and_authentication_apaches():
    anon = h.Browser(S.base)
    h.expect(anon.get("/session-guard/sessions").status == 401, "no credentials must get Apache's 401")
    alice = h.Browser(S.base, auth=("alice", "demo"))
    r = alice.get("/session-guard/sessions")
    h.expect(r.status == 403 and "does not have the Session Guard administrator role" in r.body, r)
    h.expect("alice" in r.body and "<nav" not in r.body, "403 page names the account, shows no navigation", r)
    r = a.api(alice, "GET", "sessions")
    h.expect(r.status == 403 and r.json()["error"] == "not_admin", r)
    r = S.admin().get("/session-guard/")
    h.expect(r.status == 302 and r.location.endswith("/session-guard/sessions"), r)
    r = S.admin().get("/session-guard/sessions")
    h.expect(r.status == 200 and "Signed in as <strong>admin</strong>" in r.body, r)
    csp = r.header("Content-Security-Policy") or ""
    h.expect("script-src 'self'" in csp and "unsafe-inline" not in csp and "default-src 'none'" in csp, csp)
    h.expect(r.header("X-Content-Type-Options") == "nosniff" and r.header("Cache-Control") == "no-store", r.headers)
    h.expect(re.search(r"<script>|<style>| style=| on[a-z]+=", r.body) is None, "no inline script or style")
    for asset in ("admin.css", "admin.js"):
        h.expect(S.admin().get("/session-guard/static/" + asset).status == 200, asset)


def test_sessions_page_shows_live_sessions_with_devices():
    alice = S.user("alice", user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
                                      "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1")
    bob = S.user("bob")
    fa, fb = S.session_of("alice")[0], S.session_of("bob")[0]
    r = S.admin().get("/session-guard/sessions")
    h.expect(r.status == 200, r)
    for fp, user in ((fa, "alice"), (fb, "bob")):
        row = re.search(r'<tr data-fingerprint="%s">(.*?)</tr>' % fp, r.body, re.S)
        h.expect(row, f"{user}'s session {short(fp)} missing from the page")
        h.expect(short(fp) in row.group(1) and user in row.group(1), row.group(1))
    row_a = re.search(r'<tr data-fingerprint="%s">(.*?)</tr>' % fa, r.body, re.S).group(1)
    h.expect("Phone" in row_a and "iOS" in row_a and "127.0.0.1" in row_a, row_a)
    h.expect('id="stat-sessions"' in r.body and "last 24 hours" in r.body, "header with counts and chart")
    # The raw cookie value is never shown anywhere; only the fingerprint.
    h.expect(alice.cookies["PHPSESSID"] not in r.body and bob.cookies["PHPSESSID"] not in r.body)
    # Filter by user and search by device.
    r = S.admin().get("/session-guard/sessions?user=bob")
    h.expect(fb in r.body and fa not in r.body, "user filter")
    r = S.admin().get("/session-guard/sessions?q=Phone")
    h.expect(fa in r.body and fb not in r.body, "search by device")


def test_hostile_values_are_escaped():
    ua = '<script>alert(1)</script>"><img src=x onerror=alert(1)>'
    S.user("carol", user_agent=ua)
    r = S.admin().get("/session-guard/sessions?user=carol")
    h.expect("<script>alert(1)</script>" not in r.body and "<img src=x" not in r.body, "raw markup in the page")
    h.expect("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in r.body,
             "the user agent must be shown, escaped")
    r = S.admin().get("/session-guard/sessions?q=" + urllib.parse.quote('"><script>x</script>'))
    h.expect(r.status == 200 and "<script>x</script>" not in r.body and "&quot;&gt;&lt;script&gt;" in r.body, r)
    # A user name that looks like SQL is just a name.
    before = counts()
    r = S.admin().get("/session-guard/sessions?user=" + urllib.parse.quote("x' OR '1'='1"))
    h.expect(r.status == 200 and "No active sessions match." in r.body, "injection-looking user filter matched rows")
    r = a.api(S.admin(), "POST", "kill-user", {"user": "x' OR '1'='1"})
    h.expect(r.status == 404, r)
    h.expect(counts() == before, "nothing may change")


# ------------------------------------------------------------------------------ actions

def test_kill_through_confirmation_ends_the_session_with_reason_and_mail():
    alice = S.user("alice")
    other = S.user("alice")
    fp = S.session_of("alice")[0]
    h.expect(fp == hashlib.sha256(f"PHPSESSID={other.cookies['PHPSESSID']}".encode()).hexdigest(), "newest is `other`")
    admin = S.admin()
    page = a.confirm(admin, "kill", id=fp)
    h.expect(page.status == 200 and f"Kill session {short(fp)}?" in page.body, page)
    h.expect(S.state(fp) == "active", "the confirmation page must not change anything")
    mails_before = len(a.mails(S.maildir))
    r = a.post_form(admin, page)
    h.expect(r.status == 303 and "notice=killed" in r.location, r)
    shown = admin.follow(r)
    h.expect("The session has been killed." in shown.body, shown)
    h.expect(S.state(fp) == "killed", S.state(fp))
    denied = denied_with(other, "killed")
    h.expect(denied.location.startswith("/php/login.php?"), denied)
    h.expect("Hello, alice" in alice.get("/php/").body, "alice's other session must live on")
    audit = S.db.query("SELECT actor, source, action, target_user, actor_ip FROM audit_log WHERE target_session=%s", fp)
    h.expect(audit == [["admin", "web", "kill_session", "alice", "127.0.0.1"]], audit)
    h.eventually(lambda: f"Session {short(fp)} terminated by administrator admin" in S.web.error_log_text(),
                 what="the log line in Apache's error log")
    msgs = a.wait_mail(S.maildir, mails_before + 1)
    m = msgs[-1]
    h.expect(m["To"] == "alice@example.test" and m["Subject"] == "Your session was ended", dict(m))
    h.expect(short(fp) in a.body_of(m) and "admin" in a.body_of(m), a.body_of(m))
    h.expect("alice@example.test" in m["X-Sendmail-Args"], m["X-Sendmail-Args"])
    h.eventually(lambda: S.db.scalar("SELECT state FROM mail_outbox WHERE audit_id=(SELECT id FROM audit_log "
                                     "WHERE target_session=%s)", fp) == "sent", what="outbox row sent")


def test_bulk_kill_of_selected_sessions():
    b1, b2, b3 = S.user("bob"), S.user("bob"), S.user("carol")
    fps = S.session_of("bob")[:2] + S.session_of("carol")[:1]
    admin = S.admin()
    # What the sessions page's bulk form sends: GET confirm?action=kill_many&id=..&id=..
    page = a.confirm(admin, "kill_many", id=fps)
    h.expect(page.status == 200 and "Kill 3 sessions?" in page.body, page)
    r = a.post_form(admin, page)
    h.expect(r.status == 303 and "notice=killed_many" in r.location and "n=3" in r.location, r)
    h.expect([S.state(f) for f in fps] == ["killed"] * 3, [S.state(f) for f in fps])
    for b in (b1, b2, b3):
        denied_with(b, "killed")


def test_kill_all_sessions_of_a_user():
    c1, c2 = S.user("carol"), S.user("carol", app="perl")
    h.expect(len(S.session_of("carol")) >= 2, S.session_of("carol"))
    r = a.do_action(S.admin(), "kill_user", user="carol")
    h.expect(r.status == 303 and "notice=killed_user" in r.location, r)
    h.expect(S.session_of("carol") == [], S.session_of("carol"))
    denied_with(c1, "killed")
    denied_with(c2, "killed", path="/perl/app.cgi")


def test_block_and_unblock_from_the_users_page():
    bob = S.user("bob")
    admin = S.admin()
    users = admin.get("/session-guard/users")
    h.expect(users.status == 200 and 'data-user="bob"' in users.body, users)
    # The reason is required: an empty one changes nothing.
    before = counts()
    r = a.do_action(admin, "block", user="bob", back="users", overrides={"reason": "   "})
    h.expect(r.status == 400 and "reason is required" in r.body, r)
    h.expect(counts() == before and S.db.scalar("SELECT active FROM accounts WHERE username='bob'") == "1")
    mails_before = len(a.mails(S.maildir))
    r = a.do_action(admin, "block", user="bob", back="users", overrides={"reason": "Left the company <b>today</b>"})
    h.expect(r.status == 303 and "/session-guard/users?" in r.location and "notice=blocked" in r.location, r)
    denied_with(bob, "blocked")
    again = h.Browser(S.base)
    again.get("/php/login.php")
    r = again.post_form("/php/login.php", {"username": "bob", "password": "demo"})
    h.expect(reason_of(r) == "blocked" or r.status == 403, "a new login of a blocked user must be refused:", r)
    users = admin.get("/session-guard/users?state=blocked")
    row = re.search(r'<tr data-user="bob">(.*?)</tr>', users.body, re.S).group(1)
    h.expect("blocked" in row and "admin" in row and "Left the company &lt;b&gt;today&lt;/b&gt;" in row, row)
    m = a.wait_mail(S.maildir, mails_before + 1)[-1]
    h.expect(m["To"] == "bob@example.test" and m["Subject"] == "Your account has been blocked", dict(m))
    h.expect("Left the company <b>today</b>" in a.body_of(m), a.body_of(m))
    r = a.do_action(admin, "unblock", user="bob", back="users")
    h.expect(r.status == 303 and "notice=unblocked" in r.location, r)
    S.user("bob")  # can log in again


def test_logout_request_email():
    alice = S.user("alice")
    fp = S.session_of("alice")[0]
    admin = S.admin()
    page = a.confirm(admin, "logout_request", id=fp)
    h.expect(page.status == 200 and "Please sign out" in page.body and "alice@example.test" in page.body, page)
    # Subject and message are required.
    r = a.post_form(admin, page, overrides={"subject": ""})
    h.expect(r.status == 400 and "subject is required" in r.body, r)
    mails_before = len(a.mails(S.maildir))
    r = a.post_form(admin, page, overrides={"subject": "Maintenance at 18:00 – please log out",
                                             "message": "Hi Alice,\nplease save and sign out.\n.\nThanks"})
    h.expect(r.status == 303 and "notice=logout_sent" in r.location, r)
    m = a.wait_mail(S.maildir, mails_before + 1)[-1]
    import email.header
    subject = str(email.header.make_header(email.header.decode_header(m["Subject"])))
    h.expect(m["To"] == "alice@example.test" and subject == "Maintenance at 18:00 – please log out", subject)
    h.expect("please save and sign out." in a.body_of(m), a.body_of(m))
    h.expect(S.state(fp) == "active" and "Hello, alice" in alice.get("/php/").body, "a request does not end the session")
    row = S.db.query("SELECT action, target_user, reason FROM audit_log WHERE target_session=%s", fp)
    h.expect(row == [["logout_request", "alice", "Maintenance at 18:00 – please log out"]], row)


def test_admin_cannot_block_self_and_own_session_kill_asks_again():
    admin = S.admin()
    r = a.confirm(admin, "block", user="admin")
    h.expect(r.status == 409 and "cannot block your own account" in r.body, r)
    r = a.api(admin, "POST", "block", {"user": "admin", "reason": "test"})
    h.expect(r.status == 409 and r.json()["error"] == "self_block", r)
    # The admin also works in the PHP app; that session shows up and is theirs.
    mine = S.user("admin", "admin")
    fp = S.session_of("admin")[0]
    admin.cookies.update(mine.cookies)     # same browser: the page knows it is the current session
    page = a.confirm(admin, "kill", id=fp)
    h.expect("This is your current session" in page.body and 'name="confirm_self"' in page.body, page)
    r = a.post_form(admin, page, drop=("confirm_self",))
    h.expect(r.status == 409 and "Confirm again" in r.body and S.state(fp) == "active", r)
    r = a.post_form(admin, r)                # the ask-again page carries confirm_self=1
    h.expect(r.status == 303 and S.state(fp) == "killed", r)
    denied_with(mine, "killed")


# ------------------------------------------------------------------------------ bad input

def test_get_never_changes_and_bad_requests_are_refused():
    alice = S.user("alice")
    fp = S.session_of("alice")[0]
    admin = S.admin()
    page = a.confirm(admin, "kill", id=fp)
    token = a.csrf_token(page)
    before = counts()
    h.expect(admin.get(f"/session-guard/actions/kill?id={fp}&csrf={token}").status == 405, "GET on an action")
    r = admin.post_form("/session-guard/actions/kill", {"id": fp})
    h.expect(r.status == 403 and "security token" in r.body, "no CSRF token:", r)
    r = admin.post_form("/session-guard/actions/kill", {"id": fp, "csrf": "0" * 64})
    h.expect(r.status == 403, "wrong CSRF token:", r)
    stranger = h.Browser(S.base, auth=a.ADMIN_AUTH)   # the admin's credentials, but not this browser's cookie
    r = stranger.post_form("/session-guard/actions/kill", {"id": fp, "csrf": token})
    h.expect(r.status == 403, "token without its cookie:", r)
    r = admin.post_form("/session-guard/actions/kill", {"id": fp, "csrf": token},
                        headers={"Origin": "http://evil.example"})
    h.expect(r.status == 403 and "another site" in r.body, r)
    r = admin.request("POST", "/session-guard/actions/kill", body=f"id={fp}&csrf={token}".encode(),
                      headers={"Content-Type": "text/plain"})
    h.expect(r.status == 415, r)
    r = admin.post_form("/session-guard/actions/block", {"user": "bob", "csrf": token, "reason": "x" * (1024 * 1024)})
    h.expect(r.status == 413, "1 MB field:", r)
    r = admin.post_form("/session-guard/actions/block", {"user": "bob", "csrf": token, "reason": "x" * (100 * 1024)})
    h.expect(r.status == 413 and "larger than 65536 bytes" in r.body, "100 KB field, refused by fcgi_admin:", r)
    r = admin.post_form("/session-guard/actions/kill", {"id": "nothex!!", "csrf": token})
    h.expect(r.status == 400 and "hexadecimal" in r.body, r)
    r = admin.post_form("/session-guard/actions/kill", {"id": "0123456789abcdef", "csrf": token})
    h.expect(r.status == 404, r)
    r = admin.post_form("/session-guard/actions/nonsense", {"csrf": token})
    h.expect(r.status == 404, r)
    h.expect(admin.get("/session-guard/sessions?sort=password").status == 400, "unknown sort column")
    h.expect(admin.get("/session-guard/sessions?limit=1000000").status == 400, "per page outside 10/25/50/100")
    h.expect(admin.get("/session-guard/sessions?after=1;DROP").status == 400, "malformed cursor")
    h.expect(admin.get("/session-guard/confirm?action=kill&id=zz").status == 400)
    h.expect(admin.get("/session-guard/confirm?action=unblock&user=nobody-here").status == 404)
    h.expect(admin.get("/session-guard/nowhere").status == 404)
    h.expect(admin.request("DELETE", "/session-guard/sessions").status == 405)
    h.expect(counts() == before and S.state(fp) == "active", "nothing may have changed")
    h.expect("Hello, alice" in alice.get("/php/").body)


# ------------------------------------------------------------------------------ paging

def test_sorting_and_keyset_paging_cover_every_row_once():
    # 57 synthetic active sessions of one user, with distinct and tied sort values.
    S.db.query("INSERT INTO accounts(username, email) VALUES ('pager', 'pager@example.test')")
    S.db.query("INSERT INTO sessions (fingerprint, username, cookie_name, login_at, last_access, client_ip, device, "
               "browser, os, server_name, idle_timeout) SELECT SHA2(CONCAT('pager', seq), 256), 'pager', 'PHPSESSID', "
               "NOW(6) - INTERVAL seq MINUTE, NOW(6) - INTERVAL (MOD(seq, 7)) SECOND, CONCAT('10.0.0.', MOD(seq, 5)), "
               "ELT(1 + MOD(seq, 3), 'Desktop', 'Tablet', 'Phone'), 'Firefox 121', 'Linux', 'demo', MOD(seq, 4) * 600 "
               "FROM seq_1_to_57")
    expected = {r[0] for r in S.db.query("SELECT fingerprint FROM sessions WHERE username='pager' AND state='active'")}
    admin = S.admin()
    for sort in ("last_access", "login", "ip", "device", "timeout", "session", "user", "idle", "admin", "browser", "server"):
        for order in ("asc", "desc"):
            seen = []
            url = f"/session-guard/sessions?user=pager&sort={sort}&order={order}&limit=10"
            pages = 0
            while url and pages < 20:
                r = admin.get(url)
                h.expect(r.status == 200, sort, order, r)
                seen += re.findall(r'<tr data-fingerprint="([0-9a-f]{64})">', r.body)
                nxt = re.search(r'<a href="([^"]+)">Next ›</a>', r.body)
                url = nxt.group(1).replace("&amp;", "&") if nxt else None
                pages += 1
            h.expect(len(seen) == 57 and set(seen) == expected, f"{sort} {order}: {len(seen)} rows, "
                     f"{len(set(seen))} distinct")
            h.expect("of 57" in r.body, "total count shown")
    # Backwards from the last page gives the same rows in the same order.
    r = admin.get("/session-guard/sessions?user=pager&sort=ip&order=asc&limit=10&last=1")
    back = []
    url = "/session-guard/sessions?user=pager&sort=ip&order=asc&limit=10&last=1"
    while url:
        r = admin.get(url)
        back = re.findall(r'<tr data-fingerprint="([0-9a-f]{64})">', r.body) + back
        prev = re.search(r'<a href="([^"]+)">‹ Previous</a>', r.body)
        url = prev.group(1).replace("&amp;", "&") if prev else None
    forward = []
    url = "/session-guard/sessions?user=pager&sort=ip&order=asc&limit=10"
    while url:
        r = admin.get(url)
        forward += re.findall(r'<tr data-fingerprint="([0-9a-f]{64})">', r.body)
        nxt = re.search(r'<a href="([^"]+)">Next ›</a>', r.body)
        url = nxt.group(1).replace("&amp;", "&") if nxt else None
    h.expect(back == forward and len(forward) == 57, len(back), len(forward))
    S.db.query("UPDATE sessions SET state='expired' WHERE username='pager'")


# ------------------------------------------------------------------------------ audit & outbox

def test_audit_page_shows_web_api_and_cli_actions_with_filters():
    S.user("carol")
    h.fcgi_admin(S.db, "kill-user", "carol", as_user="ops-cli")
    admin = S.admin()
    r = admin.get("/session-guard/audit")
    h.expect(r.status == 200 and "ops-cli" in r.body and "kill_user" in r.body, r)
    h.expect('<span class="badge">cli</span>' in r.body and '<span class="badge">web</span>' in r.body, "sources")
    h.expect('id="outbox"' in r.body and "alice@example.test" in r.body and ">sent<" in r.body, "outbox section")
    r = admin.get("/session-guard/audit?admin=ops-cli")
    rows = re.findall(r"<tr><td>.*?</tr>", re.search(r'<tbody id="audit-body">(.*?)</tbody>', r.body, re.S).group(1), re.S)
    h.expect(rows and all("ops-cli" in row for row in rows), rows)
    r = admin.get("/session-guard/audit?action=block_user&user=bob")
    body = re.search(r'<tbody id="audit-body">(.*?)</tbody>', r.body, re.S).group(1)
    h.expect("block_user" in body and "kill_session" not in body, body)


def test_mail_survives_an_mta_outage_with_retries():
    open(os.path.join(S.maildir, "fail"), "w").close()
    try:
        S.user("carol")
        before = len(a.mails(S.maildir))
        r = a.do_action(S.admin(), "kill_user", user="carol")
        h.expect(r.status == 303, r)
        row = h.eventually(lambda: (lambda x: x if x and int(x[0][1]) >= 2 else None)(
            S.db.query("SELECT state, attempts, last_error FROM mail_outbox WHERE target_user='carol' "
                       "ORDER BY id DESC LIMIT 1")), timeout=20, what="two failed attempts")
        h.expect(row[0][0] == "pending" and "simulated MTA outage" in row[0][2], row)
        page = S.admin().get("/session-guard/audit")
        h.expect("simulated MTA outage" in page.body, "the outbox state is visible on the audit page")
        h.expect(len(a.mails(S.maildir)) == before, "nothing delivered while the MTA is down")
    finally:
        os.unlink(os.path.join(S.maildir, "fail"))
    a.wait_mail(S.maildir, before + 1)
    h.eventually(lambda: S.db.scalar("SELECT state FROM mail_outbox WHERE target_user='carol' ORDER BY id DESC LIMIT 1")
                 == "sent", what="delivered after the MTA came back")


def test_notices_can_be_turned_off():
    # A separate instance whose [fcgi_admin] says notify_kill=off.
    st = a.Stack(settings={"notify_kill": "off", "kill_subject": "unused"})
    st.user("alice")
    fp = st.session_of("alice")[0]
    r = a.do_action(st.admin(), "kill", id=fp)
    h.expect(r.status == 303 and st.state(fp) == "killed", r)
    h.expect(st.db.scalar("SELECT COUNT(*) FROM mail_outbox") == "0", "no mail when notices are off")


# ------------------------------------------------------------------------------ database down

def test_database_down_gives_503_and_service_resumes():
    admin = S.admin()
    h.expect(admin.get("/session-guard/sessions").status == 200)
    pids_before = set(os.popen("pgrep -f " + S.admin_bin).read().split())
    S.db.stop()
    try:
        r = admin.get("/session-guard/sessions")
        h.expect(r.status == 503 and "database cannot be reached" in r.body and r.header("Retry-After"), r)
        r = a.api(admin, "GET", "sessions")
        h.expect(r.status == 503 and r.json()["error"] == "database_unavailable", r)
        r = a.api(admin, "POST", "kill-user", {"user": "alice"})
        h.expect(r.status == 503, r)
    finally:
        S.db.start()
    h.eventually(lambda: admin.get("/session-guard/sessions").status == 200, timeout=15, what="pages back")
    pids_after = set(os.popen("pgrep -f " + S.admin_bin).read().split())
    h.expect(pids_before and pids_before & pids_after, "the same FastCGI process keeps serving", pids_before, pids_after)
    h.expect(not S.web.crashes(), S.web.crashes())


if __name__ == "__main__":
    h.run(globals())
