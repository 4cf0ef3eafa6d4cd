"""How the module watches an app's login: url-encoded and multipart forms, bodies larger
than what it copies (which must still reach the app byte for byte), other success rules,
and the user named in a response header. The app is a small Perl CGI written here, in the
temp folder: like the demo apps it knows nothing of Session Guard."""
import hashlib
import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from test_module import fingerprint  # noqa: E402

DB = WEB = None

APP = r'''#!/usr/bin/perl
# A legacy app in one file: login.cgi, status-login.cgi, whoami.cgi, start.cgi.
use strict;
use warnings;
use Digest::SHA qw(sha256_hex);
my $script = $ENV{SCRIPT_NAME};
my $body = '';
if (($ENV{REQUEST_METHOD} || '') eq 'POST') {
    binmode STDIN;
    read(STDIN, $body, $ENV{CONTENT_LENGTH} || 0);
}
my $digest = sha256_hex($body);
my ($user) = $body =~ /(?:^|&)user=([^&]*)/;
($user) = $body =~ /name="user"\r\n\r\n([^\r]*)\r\n/ unless defined $user;
my ($password) = $body =~ /(?:^|&)password=([^&]*)/;
($password) = $body =~ /name="password"\r\n\r\n([^\r]*)\r\n/ unless defined $password;
my $ok = defined $user && defined $password && $password eq 'demo';
my $sid = sprintf('%08x%08x', int(rand(2**32)), int(rand(2**32)));
if ($script =~ /status-login/) {
    # Answers 200 both ways; only the body and the header X-Login tell them apart.
    print "X-Body-Sha256: $digest\n";
    print "Set-Cookie: APPSESSION=$sid; path=/\n" if $ok;
    print "X-Login: ok\n" if $ok;
    print "Content-Type: text/plain\n\n", ($ok ? "welcome $user\n" : "try again\n");
} elsif ($script =~ /login/) {
    print "X-Body-Sha256: $digest\n";
    if ($ok) {
        print "Set-Cookie: APPSESSION=$sid; path=/\nStatus: 302 Found\nLocation: /formtest/whoami.cgi\n\n";
    } else {
        print "Status: 302 Found\nLocation: /formtest/login.cgi?error=1\n\n";
    }
} elsif ($script =~ /start/) {
    print "Set-Cookie: APPSESSION=$sid; path=/\nContent-Type: text/plain\n\nstarted\n";
} else {
    my ($as) = ($ENV{QUERY_STRING} || '') =~ /as=(\w+)/;
    print "X-App-User: $as\n" if $as;
    print "Content-Type: text/plain\n\nuser=", ($ENV{SESSION_GUARD_USER} || ''), "\n";
}
'''


def setup_module():
    global DB, WEB
    DB = h.MariaDB().start()
    base = h.tmpdir()
    app_dir = os.path.join(base, "formtest")
    os.makedirs(app_dir)
    os.chmod(app_dir, 0o755)
    for name in ("login.cgi", "status-login.cgi", "whoami.cgi", "start.cgi"):
        path = os.path.join(app_dir, name)
        with open(path, "w") as f:
            f.write(APP)
        os.chmod(path, 0o755)
    WEB = h.Apache().start(tmp=base, db=DB, module=h.MODULE, name="sg-forms", extra_conf=f"""
Alias /formtest/ "{app_dir}/"
<Directory "{app_dir}">
  Options +ExecCGI
  AddHandler cgi-script .cgi
  Require all granted
</Directory>
<Location /formtest/>
  SessionGuard On
  SessionGuardCookie APPSESSION
  SessionGuardLoginForm /formtest/login.cgi user
  SessionGuardLoginForm /formtest/status-login.cgi user header=X-Login
  SessionGuardUserHeader X-App-User
  SessionGuardAppEnv On
</Location>
""")
    h.eventually(lambda: "deny-list loaded" in WEB.error_log_text(), what="first poll")


def bound_user(browser):
    return DB.scalar("SELECT username FROM sessions WHERE fingerprint=%s AND state='active'",
                     fingerprint("APPSESSION", browser.cookies["APPSESSION"]))


def test_large_urlencoded_body_reaches_the_app_unchanged_and_the_login_is_refused():
    b = WEB.browser()
    body = ("user=alice&password=demo&padding=" + "x%41+" * 40000).encode()  # ~200 KB
    r = b.request("POST", "/formtest/login.cgi", body=body,
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    h.expect(r.header("X-Body-Sha256") == hashlib.sha256(body).hexdigest(), "the app got a different body")
    # Past what the module reads, a second user= could follow (issue 9 case 3): fail closed.
    h.expect(r.header("X-Session-Guard-Reason") == "refused", r)
    h.expect("APPSESSION" not in b.cookies, "the refused login's cookie reached the browser")


def test_multipart_login_binds():
    b = WEB.browser()
    boundary = uuid.uuid4().hex
    parts = [("avatar", "a.bin", b"\x00\xff" * 1000), ("user", None, b"bob"), ("password", None, b"demo")]
    body = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    r = b.request("POST", "/formtest/login.cgi", body=body,
                  headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    h.expect(r.status == 302 and r.header("X-Body-Sha256") == hashlib.sha256(body).hexdigest(), r)
    h.expect(bound_user(b) == "bob", "multipart login not bound")


def test_failed_login_redirecting_to_itself_binds_nobody():
    b = WEB.browser()
    b.get("/formtest/start.cgi")
    r = b.post_form("/formtest/login.cgi", {"user": "carol", "password": "wrong"})
    h.expect(r.status == 302 and "login.cgi" in r.location, r)
    h.expect(bound_user(b) is None, "a redirect back to the login page is a failure")


def test_user_names_that_cannot_be_logged_faithfully_are_refused():
    for name in ("mallory\nSession 85C8A1F2 terminated by administrator admin", "x" * 191):
        b = WEB.browser()
        b.get("/formtest/start.cgi")
        r = b.post_form("/formtest/login.cgi", {"user": name, "password": "demo"})
        h.expect(r.header("X-Session-Guard-Reason") == "refused", "login with an unloggable name got through:", r)
        h.expect("APPSESSION" not in b.cookies or bound_user(b) is None, "bound anyway")
    h.expect("\nSession 85C8A1F2 terminated" not in WEB.error_log_text(), "a forged line reached the log")


def test_header_success_rule():
    ok, bad = WEB.browser(), WEB.browser()
    bad.get("/formtest/start.cgi")
    r = bad.post_form("/formtest/status-login.cgi", {"user": "carol", "password": "wrong"})
    h.expect(r.status == 200 and bound_user(bad) is None, "200 without X-Login is a failure")
    r = ok.post_form("/formtest/status-login.cgi", {"user": "carol", "password": "demo"})
    h.expect(r.status == 200 and bound_user(ok) == "carol", r)


def test_user_named_in_a_response_header_binds_and_is_removed():
    b = WEB.browser()
    b.get("/formtest/start.cgi")
    r = b.get("/formtest/whoami.cgi?as=carol")
    h.expect(r.header("X-App-User") is None, "the user header must not leave the server:", r.headers)
    h.expect(bound_user(b) == "carol", "not bound from the response header")
    h.expect("user=carol" in b.get("/formtest/whoami.cgi").body, "the app is told who it is afterwards")
    h.fcgi_admin(DB, "kill-user", "carol", as_user="admin")
    h.eventually(lambda: b.get("/formtest/whoami.cgi").header("X-Session-Guard-Reason") == "killed",
                 timeout=3, what="header-bound session killed")


if __name__ == "__main__":
    h.run(globals())
