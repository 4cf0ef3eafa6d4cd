"""No way back in: each way issue 9 found in, tried again on the real stack (prefork, mod_php,
the unchanged PHP and Perl demo apps, and a small legacy CGI written here). Each test names
its case number; each failed on the module before core/app_reader."""
import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import test_module  # noqa: E402
from test_module import fingerprint  # noqa: E402

DB = WEB = None

APP = r'''#!/usr/bin/perl
# A legacy app that answers 200 to failed and successful logins alike, with the same cookie
# both ways, and signs out with a POSTed form field.
use strict;
use warnings;
my $script = $ENV{SCRIPT_NAME};
my $body = '';
if (($ENV{REQUEST_METHOD} || '') eq 'POST') {
    binmode STDIN;
    read(STDIN, $body, $ENV{CONTENT_LENGTH} || 0);
}
my %f = map { my ($k, $v) = split /=/, $_, 2; ($k, defined $v ? $v : '') } split /&/, $body;
my ($sid) = ($ENV{HTTP_COOKIE} || '') =~ /APPSESSION=(\w+)/;
my $new = sprintf('%08x%08x', int(rand(2**32)), int(rand(2**32)));
my ($remember) = ($ENV{HTTP_COOKIE} || '') =~ /REMEMBER=(\w+)/;
if ($script =~ /login200/) {
    $sid ||= $new;
    print "Set-Cookie: APPSESSION=$sid; path=/\n";
    my $ok = ($f{password} || '') eq 'demo';
    printf "Set-Cookie: REMEMBER=r%08x; path=/\n", int(rand(2**32)) if $ok && $f{remember};
    print "Content-Type: text/plain\n\n", ($ok ? "welcome $f{user}\n" : "try again\n");
} elsif ($script =~ /start/) {
    my ($as) = ($ENV{QUERY_STRING} || '') =~ /as=(\w+)/;
    print "Set-Cookie: APPSESSION=$new; path=/\nX-App-User: $as\nContent-Type: text/plain\n\nstarted\n";
} elsif ($script =~ /rekey/) {
    # A security timeout: same user, new session id.
    print "Set-Cookie: APPSESSION=$new; path=/\n" if $sid;
    print "Content-Type: text/plain\n\nrekeyed\n";
} elsif ($script =~ /auto/) {
    # "Remember me": no session, but the long-lived cookie signs the browser in again.
    if (!$sid && $remember) {
        print "Set-Cookie: APPSESSION=$new; path=/\nContent-Type: text/plain\n\nsigned in by remember-me\n";
    } else {
        print "Content-Type: text/plain\n\n", ($sid ? "session" : "anonymous"), "\n";
    }
} elsif ($script =~ /action/) {
    print "Set-Cookie: APPSESSION=; Max-Age=0; path=/\n" if ($f{action} || '') eq 'logout';
    print "Content-Type: text/plain\n\ndone $f{action}\n";
} else {
    print "Content-Type: text/plain\n\nhello\n";
}
'''


def setup_module():
    global DB, WEB
    DB = h.MariaDB().start()
    base = h.tmpdir()
    app_dir = os.path.join(base, "rt")
    os.makedirs(app_dir)
    os.chmod(app_dir, 0o755)
    for name in ("login200.cgi", "start.cgi", "action.cgi", "echo.cgi", "rekey.cgi", "auto.cgi"):
        path = os.path.join(app_dir, name)
        with open(path, "w") as f:
            f.write(APP)
        os.chmod(path, 0o755)
    WEB = h.Apache().start(tmp=base, db=DB, module=h.MODULE, name="sg-readers", extra_conf=f"""
ErrorDocument 404 /php/index.php
Alias /rt/ "{app_dir}/"
Alias /multi/ "{app_dir}/"
<Directory "{app_dir}">
  Options +ExecCGI
  AddHandler cgi-script .cgi
  Require all granted
</Directory>
<Location /rt/>
  SessionGuard On
  SessionGuardCookie APPSESSION
  SessionGuardCookie REMEMBER / signed-in-only
  SessionGuardLoginForm /rt/login200.cgi user status=200 "body!=try again"
  SessionGuardUserHeader X-App-User
  SessionGuardLogoutPath /rt/action.cgi form:action=logout
</Location>
<Location /multi/>
  SessionGuard On
  SessionGuardCookie CGISESSID
  SessionGuardCookie PHPSESSID
</Location>
""")
    h.eventually(lambda: "deny-list loaded" in WEB.error_log_text(), what="first poll")


def cli(*args, check=True):
    return h.fcgi_admin(DB, *args, as_user="admin", check=check)


def php_user(user):
    return test_module.php_user(WEB, user)


def perl_user(user):
    return test_module.perl_user(WEB, user)


def raw_get(path, cookie):
    b = WEB.browser()
    return b.request("GET", path, headers={"Cookie": cookie})


def killed(user, browser, cookie, page):
    """Kill the user's sessions and wait until the plain cookie is denied; return its value."""
    value = browser.cookies[cookie]
    cli("kill-user", user)
    h.eventually(lambda: f"Hello, {user}" not in raw_get(page, f"{cookie}={value}").body, timeout=5,
                 what=f"{user}'s killed session denied")
    return value


def active_rows(user):
    return int(DB.scalar("SELECT COUNT(*) FROM sessions WHERE username=%s AND state='active'", user))


def test_case1_decoy_cookie_before_the_killed_one():
    b = php_user("carol")
    value = killed("carol", b, "PHPSESSID", "/php/")
    for header in (f"PHPSESSID =x; PHPSESSID={value}", f"PHPSESSID\t=x; PHPSESSID={value}",
                   f"PHPSESSID.=x; PHPSESSID={value}", f"PHPSESSID=x, PHPSESSID={value}"):
        r = raw_get("/php/", header)
        h.expect("Hello, carol" not in r.body, "killed session served behind a decoy:", repr(header), r)
    p = perl_user("carol")
    value = killed("carol", p, "CGISESSID", "/perl/app.cgi")
    r = raw_get("/perl/app.cgi", f"CGISESSID =x; CGISESSID={value}")
    h.expect("Hello, carol" not in r.body, "killed Perl session served behind a decoy:", r)


def test_case16_session_id_in_the_query_string_is_judged():
    p = perl_user("carol")
    value = killed("carol", p, "CGISESSID", "/perl/app.cgi")
    r = WEB.browser().get(f"/perl/app.cgi?CGISESSID={value}")
    h.expect(r.header("X-Session-Guard-Reason") or r.location and "reason=" in r.location,
             "a killed id in the query string was not judged:", r)


def test_case2_duplicate_login_field_signs_nobody_in():
    alice = php_user("alice")
    before = active_rows("alice")
    b = WEB.browser()
    b.get("/php/login.php")
    r = b.request("POST", "/php/login.php", body=b"username=alice&username=bob&password=demo",
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    h.expect(r.header("X-Session-Guard-Reason") == "refused" or "reason=refused" in (r.location or ""),
             "an ambiguous login was not refused:", r)
    h.expect("Hello," not in b.get("/php/").body, "the ambiguous login left a signed-in session")
    h.expect("Hello, alice" in alice.get("/php/").body, "alice's own session was ended")
    h.expect(active_rows("alice") == before, "the ambiguous login was recorded as alice")
    p = WEB.browser()
    p.get("/perl/app.cgi?action=login")
    r = p.request("POST", "/perl/app.cgi?action=login", body=b"x=1;username=bob&username=alice&password=demo",
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    h.expect("Hello," not in p.get("/perl/app.cgi").body, "the ambiguous Perl login left a signed-in session", r)


def test_case3_logins_the_module_used_to_miss_cannot_sign_in_a_blocked_user():
    cli("block", "carol", "--reason", "issue 9 case 3")
    try:
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        boundary = uuid.uuid4().hex
        multipart = (f"--{boundary}\r\nContent-Disposition: form-data; name=username\r\n\r\ncarol\r\n"
                     f"--{boundary}\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\ndemo\r\n"
                     f"--{boundary}--\r\n").encode()
        attempts = [
            ("/php/login.php", "/php/", b"%20username=carol&password=demo", form),
            ("/php/login.php", "/php/", b"username%00x=carol&password=demo", form),
            ("/php/login.php", "/php/", b"pad=" + b"x" * 70000 + b"&username=carol&password=demo", form),
            ("/php/login.php", "/php/", multipart, {"Content-Type": f"multipart/form-data; boundary={boundary}"}),
            ("/php/login.php/x", "/php/", b"username=carol&password=demo", form),
            ("/perl/app.cgi?action=login;x=1", "/perl/app.cgi", b"username=carol&password=demo", form),
            ("/perl/app.cgi/x?action=login", "/perl/app.cgi", b"username=carol&password=demo", form),
        ]
        for target, page, body, headers in attempts:
            b = WEB.browser()
            b.get(page)
            b.request("POST", target, body=body, headers=headers)
            r = b.get(page)
            h.expect("Hello, carol" not in r.body, "blocked carol signed in through", target, body[:40], r)
    finally:
        cli("unblock", "carol")


def test_case4_a_decoy_logout_ends_nothing_and_kills_still_work():
    b = perl_user("bob")
    fp = fingerprint("CGISESSID", b.cookies["CGISESSID"])
    b.get("/perl/app.cgi?action=home&action=logout")
    h.expect("Hello, bob" in b.get("/perl/app.cgi").body, "CGI.pm read action=home: bob should still be in")
    state = DB.scalar("SELECT state FROM sessions WHERE fingerprint=%s", fp)
    h.expect(state == "active", "a logout the app did not do was recorded:", state)
    cli("kill-user", "bob")
    h.eventually(lambda: "Hello, bob" not in b.get("/perl/app.cgi").body, timeout=5, what="bob killed")


def test_case4_a_real_logout_is_recorded():
    b = php_user("alice")
    fp = fingerprint("PHPSESSID", b.cookies["PHPSESSID"])
    b.get("/php/logout.php")
    h.eventually(lambda: DB.scalar("SELECT state FROM sessions WHERE fingerprint=%s", fp) == "logged_out",
                 timeout=5, what="the confirmed logout recorded")


def test_case6_error_documents_and_internal_redirects_are_judged():
    b = php_user("alice")
    value = killed("alice", b, "PHPSESSID", "/php/")
    for path in ("/no-such-page", "/php/no-such-page.php"):
        r = raw_get(path, f"PHPSESSID={value}")
        h.expect("Hello, alice" not in r.body, "a killed session was served through ErrorDocument at", path, r)


def test_case12_login_answering_200_both_ways():
    b = WEB.browser()
    r = b.post_form("/rt/login200.cgi", {"user": "dave", "password": "wrong"})
    h.expect(r.status == 200 and "try again" in r.body, r)
    h.expect(active_rows("dave") == 0, "a failed login (200, same cookie) was bound to the typed name")
    r = b.post_form("/rt/login200.cgi", {"user": "dave", "password": "demo"})
    h.expect("welcome dave" in r.body, r)
    h.eventually(lambda: active_rows("dave") == 1, timeout=5, what="the successful login bound")
    # A signed-in user's failed login as someone else does not relabel his session.
    r = b.post_form("/rt/login200.cgi", {"user": "alice", "password": "wrong"})
    fp = fingerprint("APPSESSION", b.cookies["APPSESSION"])
    h.expect(DB.scalar("SELECT username FROM sessions WHERE fingerprint=%s", fp) == "dave", "session relabelled")


def test_case14_every_configured_cookie_is_judged():
    b = php_user("carol")
    value = killed("carol", b, "PHPSESSID", "/php/")
    r = raw_get("/multi/echo.cgi", f"CGISESSID=unknownvalue; PHPSESSID={value}")
    h.expect(r.header("X-Session-Guard-Reason") is not None or r.status in (302, 401, 403),
             "a killed PHPSESSID was let through behind an unknown CGISESSID:", r)


def test_case15_logout_by_posted_form_field():
    b = WEB.browser()
    b.get("/rt/start.cgi?as=erin")
    fp = fingerprint("APPSESSION", b.cookies["APPSESSION"])
    h.eventually(lambda: DB.scalar("SELECT state FROM sessions WHERE fingerprint=%s", fp) == "active",
                 timeout=5, what="erin bound")
    b.post_form("/rt/action.cgi", {"action": "save"})
    h.expect(DB.scalar("SELECT state FROM sessions WHERE fingerprint=%s", fp) == "active", "a save ended the session")
    b.post_form("/rt/action.cgi", {"action": "logout"})
    h.eventually(lambda: DB.scalar("SELECT state FROM sessions WHERE fingerprint=%s", fp) == "logged_out",
                 timeout=5, what="the POSTed logout recorded")


def rt_login(user, remember=False):
    b = WEB.browser()
    fields = {"user": user, "password": "demo"}
    if remember:
        fields["remember"] = "1"
    r = b.post_form("/rt/login200.cgi", fields)
    h.expect(f"welcome {user}" in r.body, r)
    h.eventually(lambda: active_rows(user) >= 1, timeout=5, what=f"{user} bound")
    return b


def denied(cookie_header, path="/rt/echo.cgi"):
    r = raw_get(path, cookie_header)
    return r.header("X-Session-Guard-Reason") is not None


def test_case11_a_rekeyed_session_cookie_is_the_same_session():
    b = rt_login("frank")
    old = b.cookies["APPSESSION"]
    b.get("/rt/rekey.cgi")
    new = b.cookies["APPSESSION"]
    h.expect(new != old, "the app did not re-key")
    h.eventually(lambda: DB.scalar("SELECT username FROM sessions WHERE fingerprint=%s",
                           fingerprint("APPSESSION", new)) == "frank",
                 timeout=5, what="the new value followed")
    cli("kill-user", "frank")
    h.eventually(lambda: denied(f"APPSESSION={new}") and denied(f"APPSESSION={old}"), timeout=5,
                 what="kill-user ends the re-keyed value and the old one")


def test_case11_killing_one_session_ends_every_value_it_had():
    b = rt_login("gina")
    old = b.cookies["APPSESSION"]
    b.get("/rt/rekey.cgi")
    new = b.cookies["APPSESSION"]
    h.eventually(lambda: DB.scalar("SELECT username FROM sessions WHERE fingerprint=%s",
                                   fingerprint("APPSESSION", new)) == "gina", timeout=5, what="followed")
    cli("kill", fingerprint("APPSESSION", new)[:8])
    h.eventually(lambda: denied(f"APPSESSION={new}") and denied(f"APPSESSION={old}"), timeout=5,
                 what="a kill ends every value of the session")


def test_case11_remember_me_cookie_follows_the_session_and_unknown_ones_never_reach_the_app():
    b = rt_login("hank", remember=True)
    remember = b.cookies["REMEMBER"]
    # Only the remember-me cookie left: the app signs the browser in again with a new session.
    b.cookies.pop("APPSESSION")
    r = b.get("/rt/auto.cgi")
    h.expect("signed in by remember-me" in r.body, r)
    renewed = b.cookies["APPSESSION"]
    h.eventually(lambda: DB.scalar("SELECT COUNT(*) FROM session_values v JOIN sessions s ON s.id=v.session_id "
                                   "WHERE s.username='hank'") not in (None, "0", "1"), timeout=5, what="remember-me and renewal tied")
    # A value the module never saw bound is removed before the app sees it.
    forged = WEB.browser()
    r = forged.request("GET", "/rt/auto.cgi", headers={"Cookie": "REMEMBER=rdeadbeef"})
    h.expect("anonymous" in r.body, "an unknown remember-me value reached the app:", r)
    cli("kill-user", "hank")
    h.eventually(lambda: denied(f"APPSESSION={renewed}") and denied(f"REMEMBER={remember}"), timeout=5,
                 what="kill-user ends the renewed session and the remember-me value")


def test_case13_a_refused_login_is_enforced_on_its_server_at_once():
    cli("block", "carol", "--reason", "issue 9 case 13")
    try:
        b = WEB.browser()
        b.cookies["APPSESSION"] = "fixed0a1b2c3"  # an app that keeps its id across the login
        r = b.post_form("/rt/login200.cgi", {"user": "carol", "password": "demo"})
        h.expect(r.header("X-Session-Guard-Reason") == "blocked", r)
        r = raw_get("/rt/echo.cgi", "APPSESSION=fixed0a1b2c3")
        h.expect(r.header("X-Session-Guard-Reason") is not None, "the refused session was served before the next poll:", r)
    finally:
        cli("unblock", "carol")


def test_review_a_logout_under_a_name_only_one_reader_normalises_ends_nothing():
    b = php_user("carol")
    value = b.cookies["PHPSESSID"]
    fp = fingerprint("PHPSESSID", value)
    for header in (f"PHPSESSID%00={value}", f"PHPSESS%49D={value}"):
        raw_get("/php/logout.php", header)
    h.expect(DB.scalar("SELECT state FROM sessions WHERE fingerprint=%s", fp) == "active",
             "a logout PHP never saw marked carol's session logged out")
    cli("kill-user", "carol")
    h.eventually(lambda: "Hello, carol" not in b.get("/php/").body, timeout=5, what="carol killed")


def test_review_a_killed_id_posted_in_the_body_is_judged():
    p = perl_user("carol")
    value = killed("carol", p, "CGISESSID", "/perl/app.cgi")
    r = WEB.browser().request("POST", "/perl/app.cgi", body=f"CGISESSID={value}".encode(),
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
    h.expect(r.header("X-Session-Guard-Reason") or "reason=" in (r.location or ""),
             "a killed id in a POST body was not judged:", r)
    # A body that is read ahead still reaches the app whole.
    b = WEB.browser()
    body = b"username=alice&password=demo&padding=" + b"y" * 100000
    b.get("/php/login.php")
    r = b.request("POST", "/php/login.php", body=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    h.expect(r.header("X-Session-Guard-Reason") == "refused", "a login past what the module reads must be refused", r)


def test_review_percent_u_login_field_cannot_sign_in_a_blocked_user():
    cli("block", "bob", "--reason", "review")
    try:
        b = WEB.browser()
        b.get("/perl/app.cgi?action=login")
        b.request("POST", "/perl/app.cgi?action=login", body=b"username=%u0062ob&password=demo",
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
        h.expect("Hello, bob" not in b.get("/perl/app.cgi").body, "blocked bob signed in with %u0062ob")
        c = WEB.browser()
        c.get("/perl/app.cgi?action=login")
        c.request("POST", "/perl/app.cgi?action=%u006cogin", body=b"username=bob&password=demo",
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
        h.expect("Hello, bob" not in c.get("/perl/app.cgi").body, "blocked bob signed in through action=%u006cogin")
    finally:
        cli("unblock", "bob")


def test_review_a_request_with_hundreds_of_session_values_never_reaches_the_app():
    """Each value of an unreadable login is revoked; hundreds per request would flood the
    deny-list and push out a refused login's own revocation (second review, finding 2)."""
    header = "; ".join(f"APPSESSION=f0x{i:05d}" for i in range(40))
    b = WEB.browser()
    r = b.request("POST", "/rt/login200.cgi", body=b"user=z1&user=z2&password=demo",
                  headers={"Cookie": header, "Content-Type": "application/x-www-form-urlencoded"})
    h.expect(r.header("X-Session-Guard-Reason") == "refused" and "welcome" not in r.body, r)
    h.expect(DB.scalar("SELECT COUNT(*) FROM deny_events WHERE fingerprint=%s",
                       fingerprint("APPSESSION", "f0x00007")) == "0", "the flood's values reached the deny-list")


if __name__ == "__main__":
    h.run(globals())
