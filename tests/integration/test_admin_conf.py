"""The Apache snippet in conf/, used as shipped (only the paths replaced):
conf/session-guard-admin.conf (mod_proxy_fcgi to fcgi_admin run by spawn-fcgi as its own
user) under the prefork MPM with mod_php and under the event MPM. Each serves the pages and the API, authorises by accounts.is_admin, ends a session
in the demo app, and answers 503 while the database is down and recovers after."""
import os
import pwd
import signal
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import admin_util as a  # noqa: E402

MODDIR = "/usr/lib/apache2/modules"


def snippet(name, replacements):
    with open(os.path.join(h.REPO, "conf", name)) as f:
        text = f.read()
    for old, new in replacements.items():
        h.expect(old in text, f"{name} no longer contains {old}")
        text = text.replace(old, new)
    return text


# As root, the daemon runs as a user that is neither root nor the web server's (the snippet
# says sg-admin; the tests use nobody rather than create a user).
ADMIN_USER, ADMIN_GROUP = "nobody", "nogroup"


class SpawnFcgi:
    """fcgi_admin as its own daemon: spawn-fcgi binds a Unix socket that only the web server's
    user may open and forks N responders, as ADMIN_USER when run as root."""

    def __init__(self, binary, cnf, tmp, children=2):
        self.socket = os.path.join(tmp, "fcgi_admin.sock")
        self.pidfile = os.path.join(tmp, "fcgi_admin.pids")
        self.log = os.path.join(tmp, "fcgi_admin.log")
        args = ["spawn-fcgi", "-s", self.socket, "-F", str(children), "-P", self.pidfile]
        if os.geteuid() == 0:
            args += ["-M", "0660", "-U", "www-data", "-G", "www-data", "-u", ADMIN_USER, "-g", ADMIN_GROUP]
        env = dict(os.environ, SG_DB_CNF=cnf)
        with open(self.log, "ab") as log:
            p = h.subprocess.run(args + ["--", binary], env=env, stdout=log, stderr=log, timeout=30)
        h.expect(p.returncode == 0, "spawn-fcgi failed; see", self.log)
        h._servers.append(self)
        self.running = True

    def pids(self):
        with open(self.pidfile) as f:
            return [int(x) for x in f.read().split()]

    def stop(self):
        if not self.running:
            return
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        for pid in self.pids():
            while time.monotonic() < deadline:
                if not alive(pid):
                    break
                time.sleep(0.05)
            else:
                os.kill(pid, signal.SIGKILL)
        self.running = False


def alive(pid):
    """Running (a zombie whose parent has not reaped it yet counts as ended)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return not any(line.startswith("State:") and "Z" in line.split()[1] for line in f)
    except FileNotFoundError:
        return False


def reason_of(resp):
    if resp.location and "reason=" in resp.location:
        return urllib.parse.parse_qs(urllib.parse.urlsplit(resp.location).query).get("reason", [None])[0]
    return None


def exercise(stack, app):
    """What both mounts must do."""
    admin = stack.admin()
    r = admin.get("/session-guard")
    h.expect(r.status == 302 and r.location.endswith("/session-guard/"), r)
    h.expect(h.Browser(stack.base).get("/session-guard/sessions").status == 401, "Apache authenticates")
    r = h.Browser(stack.base, auth=("alice", "demo")).get("/session-guard/sessions")
    h.expect(r.status == 403 and "administrator role" in r.body, r)
    user = stack.user("alice", app=app)
    fp = stack.session_of("alice")[0]
    # Self-service: no Basic auth; the module names the user from the app's own cookie.
    r = h.Browser(stack.base).get("/session-guard/my-sessions")
    h.expect(r.status == 401 and not r.header("WWW-Authenticate") and "Sign in to the application" in r.body, r)
    mine = h.eventually(lambda: (lambda r: r if r.status == 200 else None)(user.get("/session-guard/my-sessions")),
                        timeout=5, what="my-sessions page")
    h.expect(fp[:8].upper() in mine.body and "This device" in mine.body, mine)
    h.expect(h.Browser(stack.base).get("/session-guard/wasnt-me?t=x").status == 400, "links need no Basic auth")
    page = admin.get("/session-guard/sessions")
    h.expect(page.status == 200 and fp in page.body and page.header("Content-Security-Policy"), page)
    r = a.do_action(admin, "kill", id=fp)
    h.expect(r.status == 303 and stack.state(fp) == "killed", r)
    path = "/php/" if app == "php" else "/perl/app.cgi"
    h.eventually(lambda: reason_of(user.get(path)) == "killed", timeout=5, what="denied as killed")
    r = a.api(admin, "POST", "block", {"user": "bob", "reason": "conf test"})
    h.expect(r.status == 200, r)
    r = a.api(admin, "POST", "unblock", {"user": "bob"})
    h.expect(r.status == 200, r)
    a.wait_mail(stack.maildir, 2)
    h.expect(any(m["To"] == "alice@example.test" for m in a.mails(stack.maildir)), "kill notice delivered")
    # Database down: a clear 503, then the same processes serve again.
    stack.db.stop()
    try:
        r = admin.get("/session-guard/users")
        h.expect(r.status == 503 and "database cannot be reached" in r.body, r)
    finally:
        stack.db.start()
    h.eventually(lambda: admin.get("/session-guard/users").status == 200, timeout=15, what="pages back")


class ConfStack(a.Stack):
    def __init__(self, mpm, make_conf):
        self.tmp = h.tmpdir("sg-conf-")
        self.db = h.MariaDB().start(tmp=self.tmp)
        self.sendmail, self.maildir = a.fake_sendmail(self.tmp)
        a.add_admin_settings(self.db, sendmail=self.sendmail, mail_interval="0.5", mail_retry="0.5")
        self.admin_bin = h.web_copy(h.FCGI_ADMIN, self.tmp)
        conf = make_conf(self)
        self.web = h.Apache().start(tmp=self.tmp, db=self.db, mpm=mpm, module=h.MODULE, extra_conf=conf)
        self.base = self.web.base_url


def admin_option_file(st):
    """fcgi_admin's own option file as the snippet describes it: its account from
    sg-admin.cnf and the test's [fcgi_admin] settings, readable by ADMIN_GROUP only."""
    with open(st.db.cnf) as f:
        settings = f.read().split("[fcgi_admin]")[1:]
    with open(os.path.join(st.db.dir, "sg-admin.cnf")) as f:
        text = f.read()
    for group in settings:
        text += "\n[fcgi_admin]\n" + "".join(line + "\n" for line in group.strip().splitlines()
                                           if not line.startswith("credentials_file"))
    path = os.path.join(st.tmp, "admin.cnf")
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o640)
    if os.geteuid() == 0:
        h.sh("chgrp", ADMIN_GROUP, path)
    return path


def proxy_fcgi_conf(st):
    st.daemon = SpawnFcgi(st.admin_bin, admin_option_file(st), st.tmp)
    return (f'LoadModule proxy_module "{MODDIR}/mod_proxy.so"\n'
            f'LoadModule proxy_fcgi_module "{MODDIR}/mod_proxy_fcgi.so"\n' +
            snippet("session-guard-admin.conf", {
                "/etc/session-guard/htpasswd": st.db.htpasswd,
                "unix:/run/session-guard/fcgi_admin.sock": f"unix:{st.daemon.socket}"}))


def test_proxy_fcgi_snippet_under_prefork_with_mod_php():
    exercise(ConfStack("prefork", proxy_fcgi_conf), "php")


def test_proxy_fcgi_snippet_with_spawn_fcgi():
    st = ConfStack("event", proxy_fcgi_conf)
    pids = st.daemon.pids()
    if os.geteuid() == 0:
        # issue 9 case 16: the admin program is its own Unix user, and the web server's user
        # (any PHP code in it) can neither read its database password nor run as it.
        for pid in pids:
            with open(f"/proc/{pid}/status") as f:
                uid = [line.split()[1] for line in f if line.startswith("Uid:")][0]
            h.expect(uid == str(pwd.getpwnam(ADMIN_USER).pw_uid), "fcgi_admin runs as", ADMIN_USER, uid)
        p = h.sh("runuser", "-u", "www-data", "--", "cat", os.path.join(st.tmp, "admin.cnf"), check=False)
        h.expect(p.returncode != 0, "www-data can read fcgi_admin's option file")
    exercise(st, "perl")
    h.expect(st.daemon.pids() == pids and all(alive(p) for p in pids),
             "the spawn-fcgi children survive the outage")
    admin = st.admin()
    a.confirm(admin, "kill_user", user="carol")
    r = admin.post_form("/session-guard/actions/block", {"user": "bob", "reason": "x" * (1024 * 1024)})
    h.expect(r.status == 413, "1 MB form field:", r)
    st.daemon.stop()
    h.expect(not any(alive(p) for p in pids), "fcgi_admin ends on SIGTERM")


if __name__ == "__main__":
    h.run(globals())
