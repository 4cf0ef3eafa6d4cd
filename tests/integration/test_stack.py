#!/usr/bin/env python3
"""The stack without Session Guard: scripts, MariaDB, Apache (prefork + mod_php and
event + cgid), the demo apps. If these fail, the module's tests cannot mean anything."""
import os
import re
import subprocess
import urllib.parse

import harness as h

DB = WEB = None


def setup_module():
    global DB, WEB
    DB = h.MariaDB().start()
    WEB = h.Apache().start(db=DB, mpm="prefork", module=None)


def test_landing_page_links_the_apps():
    r = h.Browser(WEB.base_url).get("/")
    h.expect(r.status == 200, r)
    for link in ("/php/", "/perl/app.cgi", "/basic/"):
        h.expect(f'href="{link}"' in r.body, "missing link", link)


def test_users_file_is_not_served():
    b = h.Browser(WEB.base_url)
    for path in ("/users.txt", "/php/../users.txt", "/php/%2e%2e/users.txt"):
        r = b.get(path)
        h.expect(r.status in (400, 403, 404), path, r)
        h.expect("2a97516c" not in r.body, path, "leaks the password hashes")


def test_php_login_regenerates_id_and_says_hello():
    b = h.Browser(WEB.base_url)
    r = b.get("/php/")
    h.expect(r.status == 302 and r.location == "/php/login.php", r)
    before = b.cookies.get("PHPSESSID")
    h.expect(before, "no session cookie before login")
    r = b.login_php("alice", "demo")
    h.expect(r.status == 302 and r.location == "/php/", r)
    after = b.cookies.get("PHPSESSID")
    h.expect(after and after != before, "session id not regenerated at login", before, after)
    r = b.follow(r)
    h.expect(r.status == 200 and "Hello, alice" in r.body, r)
    r = b.get("/php/page2.php")
    h.expect(r.status == 200 and "Hello, alice" in r.body, r)
    # The pre-login id was destroyed, not just abandoned.
    old = h.Browser(WEB.base_url)
    old.cookies["PHPSESSID"] = before
    h.expect(old.get("/php/").status == 302, "old session id still logged in")


def test_php_wrong_password_is_200_with_form():
    b = h.Browser(WEB.base_url)
    r = b.login_php("alice", "wrong")
    h.expect(r.status == 200, r)
    h.expect("Invalid username or password" in r.body and 'name="username"' in r.body, r)
    r = b.login_php("nobody", "demo")
    h.expect(r.status == 200 and "Invalid" in r.body, r)
    h.expect(b.get("/php/").status == 302, "a failed login logged in")


def test_php_logout():
    b = h.Browser(WEB.base_url)
    h.expect(b.login_php("bob", "demo").status == 302)
    sid = b.cookies["PHPSESSID"]
    r = b.get("/php/logout.php")
    h.expect(r.status == 302 and r.location == "/php/login.php", r)
    h.expect("PHPSESSID" not in b.cookies, "cookie not cleared", b.cookies)
    other = h.Browser(WEB.base_url)
    other.cookies["PHPSESSID"] = sid
    h.expect(other.get("/php/").status == 302, "session survived logout")


def test_php_static_file():
    r = h.Browser(WEB.base_url).get("/php/static/hello.txt")
    h.expect(r.status == 200 and r.body.strip() == "static hello", r)


MESSAGE = '<script>alert("x")</script> & \'quotes\' é ✓'
ESCAPED_PARTS = ("&lt;script&gt;alert(", "&lt;/script&gt; &amp; ", "é ✓")


def check_message_shown(path):
    r = h.Browser(WEB.base_url).get(path + urllib.parse.quote(MESSAGE))
    h.expect(r.status == 200, r)
    h.expect("<script>" not in r.body, "message not escaped", r)
    for part in ESCAPED_PARTS:
        h.expect(part in r.body, "missing", repr(part), r)
    h.expect('class="notice"' in r.body, "no notice box", r)


def test_php_message_is_shown_escaped():
    check_message_shown("/php/login.php?message=")


def test_perl_message_is_shown_escaped():
    check_message_shown("/perl/app.cgi?action=login&message=")


def test_message_with_invalid_utf8_does_not_break_the_page():
    for path in ("/php/login.php?message=a%FF%FEb", "/perl/app.cgi?action=login&message=a%FF%FEb"):
        r = h.Browser(WEB.base_url).get(path)
        h.expect(r.status == 200 and 'name="username"' in r.body, path, r)


def test_perl_login_and_logout():
    b = h.Browser(WEB.base_url)
    r = b.get("/perl/app.cgi")
    h.expect(r.status == 302 and r.location == "/perl/app.cgi?action=login", r)
    r = b.login_perl("bob", "demo")
    h.expect(r.status == 302 and r.location == "/perl/app.cgi", r)
    first = b.cookies.get("CGISESSID")
    h.expect(first, "no CGISESSID after login", r.headers)
    h.expect(any("path=/" in v for v in r.header_all("Set-Cookie")), "cookie path is not /", r.headers)
    r = b.follow(r)
    h.expect(r.status == 200 and "Hello, bob" in r.body, r)
    # Logging in again replaces the session: new id, old one deleted.
    h.expect(b.login_perl("bob", "demo").status == 302)
    second = b.cookies["CGISESSID"]
    h.expect(second != first, "session id not regenerated")
    old = h.Browser(WEB.base_url)
    old.cookies["CGISESSID"] = first
    h.expect(old.get("/perl/app.cgi").status == 302, "old session still valid")
    r = b.get("/perl/app.cgi?action=logout")
    h.expect(r.status == 302 and r.location == "/perl/app.cgi?action=login", r)
    h.expect("CGISESSID" not in b.cookies, "cookie not expired", r.headers)
    again = h.Browser(WEB.base_url)
    again.cookies["CGISESSID"] = second
    h.expect(again.get("/perl/app.cgi").status == 302, "session survived logout")


def test_perl_wrong_password_is_200_with_form():
    b = h.Browser(WEB.base_url)
    r = b.login_perl("carol", "nope")
    h.expect(r.status == 200 and "Invalid username or password" in r.body, r)
    h.expect("CGISESSID" not in b.cookies, "failed login handed out a session")


def check_basic_area(web):
    b = h.Browser(web.base_url)
    r = b.get("/basic/")
    h.expect(r.status == 401 and "Basic" in (r.header("WWW-Authenticate") or ""), r)
    h.expect(b.get("/basic/", auth=("alice", "wrong")).status == 401)
    r = b.get("/basic/", auth=("alice", "demo"))
    h.expect(r.status == 200 and "Basic area" in r.body, r)
    r = b.get("/basic/whoami.cgi", auth=("alice", "demo"))
    h.expect(r.status == 200 and r.body.strip() == "alice", r)
    r = b.get("/basic/whoami.cgi", auth=("admin", "admin"))
    h.expect(r.status == 200 and r.body.strip() == "admin", r)


def test_basic_area():
    check_basic_area(WEB)


def test_naive_page_checks_the_account_on_every_request():
    b = h.Browser(WEB.base_url)
    h.expect(b.login_php("carol", "demo").status == 302)
    r = b.get("/php/naive.php")
    h.expect(r.status == 200 and "Hello, carol" in r.body, r)
    DB.query("UPDATE accounts SET active=0 WHERE username=%s", "carol")
    try:
        r = b.get("/php/naive.php")
        h.expect(r.status == 302 and r.location == "/php/login.php", r)
        h.expect(b.get("/php/").status == 302, "session not ended")
    finally:
        DB.query("UPDATE accounts SET active=1 WHERE username=%s", "carol")


def test_graceful_restart_keeps_serving():
    b = h.Browser(WEB.base_url)
    h.expect(b.login_php("alice", "demo").status == 302)
    pid = WEB.pid()
    WEB.graceful()
    h.expect(WEB.pid() == pid, "graceful replaced the parent")
    r = b.get("/php/")
    h.expect(r.status == 200 and "Hello, alice" in r.body, r)


def test_event_mpm_serves_perl_and_basic():
    web = h.Apache().start(db=DB, mpm="event", module=None)
    conf = open(os.path.join(web.dir, "httpd.conf")).read()
    h.expect("mod_mpm_event.so" in conf and "libphp" not in conf, "wrong modules for event")
    b = h.Browser(web.base_url)
    r = b.login_perl("alice", "demo")
    h.expect(r.status == 302, r)
    r = b.follow(r)
    h.expect(r.status == 200 and "Hello, alice" in r.body, r)
    check_basic_area(web)
    h.expect(b.get("/php/").status == 404, "/php/ should not exist under event")
    h.expect(not web.crashes(), web.crashes())


def test_demo_has_no_session_guard_code():
    pattern = re.compile(r"session[_ -]?guard", re.IGNORECASE)
    hits = []
    for root, _, files in os.walk(h.DEMO):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                text = f.read().decode("utf-8", errors="replace")
            hits += [f"{path}: {line.strip()}" for line in text.splitlines() if pattern.search(line)]
            if pattern.search(name):
                hits.append(path)
    h.expect(not hits, "demo/ mentions Session Guard:\n" + "\n".join(hits))


def test_db_setup_is_idempotent():
    password = open(os.path.join(DB.dir, "sg-module.password")).read()
    migrations = DB.query("SELECT name, applied_at FROM schema_migrations ORDER BY name")
    h.expect(migrations and migrations[0][0] == "001_schema.sql", migrations)
    DB.setup()
    DB.setup()
    h.expect(open(os.path.join(DB.dir, "sg-module.password")).read() == password, "password changed")
    h.expect(DB.query("SELECT name, applied_at FROM schema_migrations ORDER BY name") == migrations,
             "migrations re-applied")
    rows = DB.query("SELECT username, is_admin FROM accounts ORDER BY username")
    h.expect(rows == [["admin", "1"], ["alice", "0"], ["bob", "0"], ["carol", "0"]], rows)
    # Every migration in sql/ is recorded.
    files = sorted(f for f in os.listdir(os.path.join(h.REPO, "sql")) if f.endswith(".sql"))
    h.expect([m[0] for m in migrations] == files, migrations, files)
    # The web server keeps working with the rewritten option file.
    b = h.Browser(WEB.base_url)
    h.expect(b.login_php("bob", "demo").status == 302)
    h.expect(b.get("/php/naive.php").status == 200)


def test_option_file_and_htpasswd_are_private_but_readable_by_the_web_server():
    for path in (DB.cnf, DB.htpasswd):
        mode = os.stat(path).st_mode & 0o777
        h.expect(mode & 0o007 == 0, path, "is world-readable", oct(mode))
        if os.geteuid() == 0:
            p = subprocess.run(["runuser", "-u", "www-data", "--", "cat", path], capture_output=True)
            h.expect(p.returncode == 0, "www-data cannot read", path)


def test_query_helper_quotes_anything():
    nasty = "O'Brien \\ \" ; DROP TABLE accounts; -- é"
    rows = DB.query("SELECT %s, %s, %s, %s", nasty, 42, None, "")
    h.expect(rows == [[nasty.replace("\\", "\\\\"), "42", "NULL", ""]], rows)
    n1 = DB.queries_count()
    n2 = DB.queries_count()
    h.expect(n2 > n1, "Queries counter does not move", n1, n2)


def test_mariadb_restart_keeps_data():
    db = h.MariaDB().start()
    db.query("INSERT INTO audit_log(actor, source, action, message) VALUES (%s, 'cli', 'test', %s)",
             "tester", "kept across restart")
    db.stop()
    p = h.script("mariadb-ctl", "status", db.dir, check=False)
    h.expect(p.returncode == 3 and "stopped" in p.stdout, p.stdout)
    db.start()
    h.expect(db.scalar("SELECT message FROM audit_log WHERE actor=%s", "tester") == "kept across restart")


def test_httpd_conf_session_guard_block():
    d = h.tmpdir()
    fake = os.path.join(d, "mod_fake.so")
    open(fake, "w").close()
    common = ["--dir", os.path.join(d, "s"), "--port", "1", "--db-cnf", "/x/sg.cnf",
              "--htpasswd", "/x/htpasswd"]
    off = h.script("httpd-conf", *common, "--module", "none").stdout
    h.expect("SessionGuard" not in off and "session_guard" not in off, "module off still configures it")
    on = h.script("httpd-conf", *common, "--module", fake).stdout
    for line in (f'LoadModule session_guard_module "{fake}"',
                 'SessionGuardDBOptions "/x/sg.cnf" session_guard',
                 "SessionGuardPollInterval 250", "SessionGuardFailMode open", "SessionGuardMaxStale 30",
                 "SessionGuardCookie PHPSESSID", "SessionGuardLoginForm /php/login.php username",
                 "SessionGuardLogoutPath /php/logout.php", "SessionGuardDenyAction redirect /php/login.php",
                 "SessionGuardCookie CGISESSID",
                 'SessionGuardLoginForm "/perl/app.cgi?action=login" username',
                 'SessionGuardLogoutPath "/perl/app.cgi?action=logout"',
                 'SessionGuardDenyAction redirect "/perl/app.cgi?action=login"',
                 "LogLevel warn session_guard:info"):
        h.expect(line in on, "missing:", line)
    # Each app is guarded in its own <Directory>, static files exempted, and no <Location>
    # is added (a server's first one costs every request: bench/instructions.py).
    for app, guard in (("php", "  SessionGuard On\n  SessionGuardCookie PHPSESSID\n"),
                       ("perl", "  SessionGuard On\n  SessionGuardCookie CGISESSID\n"),
                       ("basic", "  SessionGuard On\n</Directory>")):
        h.expect(re.search(rf'<Directory "[^"]*/demo/{app}">\n(?:  .*\n)*?{re.escape(guard)}', on),
                 f"the {app} app is not guarded in its own <Directory>", on)
    h.expect(re.search(r'<Directory "[^"]*/demo/php/static">\n  SessionGuard Off\n</Directory>', on),
             "static files are not exempted", on)
    h.expect("<Location" not in on, "the module's config adds a <Location>", on)
    # Apart from the module's lines, on and off are the same config (the benchmark relies on it).
    stripped = re.sub(r"# --- Session Guard -+\n.*?\n\n", "", on, flags=re.S)
    stripped = re.sub(r'<Directory "[^"]*/php/static">\n  SessionGuard Off\n</Directory>\n', "", stripped)
    stripped = re.sub(r"^  SessionGuard.*\n", "", stripped, flags=re.M)
    h.expect(stripped.strip("\n") == off.strip("\n"), "module on/off configs differ outside the module's lines")


def test_no_crashes_in_error_log():
    h.expect(not WEB.crashes(), WEB.crashes())


if __name__ == "__main__":
    h.run(globals())
