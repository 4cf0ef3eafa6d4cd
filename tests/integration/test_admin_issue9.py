"""Issue 9 cases 8, 9, 10 and parts of 16 through real Apache + mod_php + mod_session_guard +
mod_fcgid + MariaDB: text that is not UTF-8 reaching MariaDB, user names compared exactly,
my-sessions' "this device" guard, mail links never built from the Host header, and the
least-privilege database accounts."""
import os
import re
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import admin_util as a  # noqa: E402

S = None


def setup_module():
    global S
    # No public_url: "This wasn't me" links must then be left out, whatever Host says.
    S = a.Stack()


def counts():
    return [S.db.scalar(f"SELECT COUNT(*) FROM {t}") for t in ("accounts", "audit_log", "deny_events", "mail_outbox")]


def end_sessions(user):
    S.db.query("UPDATE sessions SET state='logged_out', ended_at=NOW(6) WHERE username=%s AND state='active'", user)


def fingerprint_of(browser, cookie="PHPSESSID"):
    import hashlib
    return hashlib.sha256(f"{cookie}={browser.cookies[cookie]}".encode()).hexdigest()


def test_case8_user_agent_not_utf8_still_signs_in():
    # issue 9 case 8: a User-Agent in Latin-1, or one whose multi-byte character is cut at
    # byte 512 (the column's size), made MariaDB reject the login row: 503 instead of a login.
    end_sessions("carol")
    latin1 = "Mozilla/5.0 caf\u00e9"                   # http.client sends it as Latin-1: caf\xe9
    cut = "a" * 511 + "\u00c3\u00a9" + " tail"          # the bytes c3 a9 (é in UTF-8) at 512-513
    for ua, stored_hex in ((latin1, "Mozilla/5.0 caf".encode().hex() + "efbfbd"),
                           (cut, ("a" * 511).encode().hex())):
        b = S.user("carol", user_agent=ua)   # retried for 5 s: a 503 never becomes a login
        r = b.get("/php/")
        h.expect(r.status == 200 and "carol" in r.body, "signed in and served", r)
        fp = fingerprint_of(b)
        got = S.db.scalar("SELECT LOWER(HEX(user_agent)) FROM sessions WHERE fingerprint=%s AND state='active'", fp)
        h.expect(got == stored_hex, "stored user agent", got, stored_hex)
    # The admin's list shows it (escaped, valid UTF-8) and the session can be killed as usual.
    admin = S.admin()
    body = a.api(admin, "GET", "sessions?user=carol").json()
    h.expect(any(s["user_agent"] == "Mozilla/5.0 caf\ufffd" for s in body["sessions"]), body)
    end_sessions("carol")


def test_case9_block_Admin_is_another_user_not_the_acting_admin():
    # issue 9 case 9: MariaDB compared names case- and trailing-space-insensitively, the
    # self-block guard exactly, so {"user":"Admin"} blocked the acting admin.
    admin = S.admin()
    before = counts()
    for name in ("Admin", "ADMIN", "admin ", "Admin "):
        r = a.api(admin, "POST", "block", {"user": name, "reason": "case 9"})
        h.expect(r.status == 404 and r.json()["error"] == "not_found", name, r)
        h.expect("no user named" in r.json()["message"], r.json())
    h.expect(counts() == before, "nothing written", counts(), before)
    h.expect(S.db.query("SELECT active, is_admin FROM accounts WHERE username='admin'") == [["1", "1"]])
    h.expect(a.api(admin, "GET", "sessions").status == 200, "the admin is still an admin")
    # The database itself compares exactly now (sql/020_exact_usernames.sql).
    h.expect(S.db.scalar("SELECT COUNT(*) FROM accounts WHERE username IN ('Admin', 'admin ', 'ALICE')") == "0")
    # The pages and the CLI go through the same operation.
    page = a.confirm(admin, "block", user="Admin")
    h.expect(page.status in (200, 404), page)
    if page.status == 200:
        r = a.post_form(admin, page, overrides={"reason": "case 9"})
        h.expect(r.status == 404, r)
    p = h.fcgi_admin(S.db, "block", "Admin", "--reason", "case 9", check=False, as_user="admin")
    h.expect(p.returncode == 2 and "no user named Admin" in p.stderr, p.returncode, p.stderr)
    h.expect(counts() == before and S.db.scalar("SELECT active FROM accounts WHERE username='admin'") == "1")
    # The exact name is still refused as the admin's own account.
    r = a.api(admin, "POST", "block", {"user": "admin", "reason": "x"})
    h.expect(r.status == 409 and r.json()["error"] == "self_block", r)


def my_sessions(browser):
    return h.eventually(lambda: (lambda r: r if r.status == 200 else None)(browser.get("/session-guard/my-sessions")),
                        timeout=5, what="my-sessions page")


def test_case10_my_sessions_short_id_of_this_device_is_409():
    # issue 9 case 10: the guard compared the full fingerprint, the action any prefix, so the
    # 8-digit id of one's own session ended it without the 409.
    end_sessions("alice")
    laptop = S.user("alice")
    phone = S.user("alice")
    page = my_sessions(laptop)
    csrf = a.csrf_token(page)
    mine = fingerprint_of(laptop)
    h.expect(mine[:8].upper() in page.body, "this device listed")
    before = counts()
    for id_ in (mine[:8].upper(), mine[:8], mine[:12], mine[:63], mine):
        r = laptop.post_form("/session-guard/my-sessions/sign-out", {"csrf": csrf, "id": id_})
        h.expect(r.status == 409 and "session you are using now" in r.body, id_, r)
    h.expect(S.state(mine) == "active" and counts() == before, "nothing ended")
    h.expect(laptop.get("/php/").status == 200, "this device still signed in")
    # The other session's short id still signs that one out.
    other = fingerprint_of(phone)
    r = laptop.post_form("/session-guard/my-sessions/sign-out", {"csrf": csrf, "id": other[:8].upper()})
    h.expect(r.status == 303 and S.state(other) == "killed" and S.state(mine) == "active", r)


def test_case16_links_never_from_the_host_header():
    # issue 9 case 16: without public_url the "This wasn't me" link took its base from the
    # Host header, which the client chooses.
    end_sessions("bob")
    bob = S.user("bob")
    fp = fingerprint_of(bob)
    sent = len(a.mails(S.maildir))
    admin = S.admin()
    r = admin.request("POST", "/session-guard/api/kill", body=b'{"id":"%s"}' % fp[:8].encode(),
                      headers={"Content-Type": "application/json", "Host": "evil.example.test"})
    h.expect(r.status == 200 and r.json()["mails_queued"] == 1, r)
    msg = a.wait_mail(S.maildir, sent + 1)[-1]
    body = a.body_of(msg)
    h.expect("evil.example.test" not in body and "wasnt-me" not in body, "no link from Host:", body)
    h.expect("ended your session" in body, "the notice itself is sent", body)
    h.eventually(lambda: "public_url is not set" in S.web.error_log_text(), timeout=5, what="the error is logged")


def option_values(path, group):
    values, current = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("["):
                current = line.strip("[]")
            elif current == group and "=" in line:
                k, v = line.split("=", 1)
                values[k.strip()] = v.strip()
    return values


def as_account(cnf, group, sql):
    o = option_values(cnf, group)
    return subprocess.run(["mariadb", "--no-defaults", f"--socket={o['socket']}", f"-u{o['user']}",
                           f"-p{o['password']}", o["database"], "-e", sql], capture_output=True, text=True)


def test_case16_module_account_cannot_make_itself_admin_or_write_the_audit():
    # issue 9 case 16: the option file the web server reads had an account with ALL
    # privileges, so any PHP code in the server could make itself an admin.
    cnf = S.db.cnf
    module = option_values(cnf, "session_guard")
    h.expect(module["user"] == "sg_module", module)
    text = open(cnf).read()
    admin_cnf = option_values(cnf, "fcgi_admin")["credentials_file"]
    admin = option_values(admin_cnf, "session_guard_admin")
    h.expect(admin["user"] == "sg_admin" and admin["password"] not in text, "the admin's password is not in sg.cnf")
    for path in (cnf, admin_cnf):
        mode = stat.S_IMODE(os.stat(path).st_mode)
        h.expect(mode & 0o007 == 0, "not world-readable:", path, oct(mode))
    before = counts()
    for sql, error in (("UPDATE accounts SET is_admin=1 WHERE username='alice'", "1143"),
                       ("UPDATE accounts SET active=1 WHERE username='alice'", "1143"),
                       ("UPDATE accounts SET username='x' WHERE username='bob'", "1143"),
                       ("INSERT INTO accounts (username, is_admin) VALUES ('mallory', 1)", "1143"),
                       ("INSERT INTO audit_log (actor, source, action, message) VALUES ('x', 'cli', 'x', 'x')", "1142"),
                       ("DELETE FROM audit_log", "1142"),
                       ("ALTER TABLE audit_log ADD COLUMN x INT", "1142"),
                       ("INSERT INTO mail_outbox (recipient, subject, body) VALUES ('a@b.c', 's', 'b')", "1142"),
                       ("GRANT SELECT ON session_guard.* TO 'sg_module'@'localhost'", "1044")):
        p = as_account(cnf, "session_guard", sql)
        h.expect(p.returncode != 0 and f"ERROR {error}" in p.stderr, "module account:", sql, p.stderr)
    # What the module does need still works (a login, above and in every other test).
    p = as_account(cnf, "session_guard", "SELECT COUNT(*) FROM deny_events; SELECT COUNT(*) FROM audit_log")
    h.expect(p.returncode == 0, p.stderr)
    # The admin program's account cannot make admins or rewrite the audit either.
    for sql in ("UPDATE accounts SET is_admin=1 WHERE username='alice'",
                "UPDATE audit_log SET message='x'", "DELETE FROM audit_log"):
        p = as_account(admin_cnf, "session_guard_admin", sql)
        h.expect(p.returncode != 0 and "denied" in p.stderr, "admin account:", sql, p.stderr)
    h.expect(counts() == before and S.db.scalar("SELECT is_admin FROM accounts WHERE username='alice'") == "0")


if __name__ == "__main__":
    h.run(globals())
