"""The Debian packages as an administrator uses them (README, "Install on Debian"): built by
`make deb` (debhelper, dh_apache2; lintian must accept them), installed with apt-get, and
then the README's commands as written there, on the installed files only: the database set
up by the installed session-guard-db-setup, a2enmod/a2enconf, configtest, the admin daemon
as its unit runs it, the system's Apache started with its own Debian configuration (on a
loopback port for the test), the demo PHP app guarded as the README shows, a sign-in, the
admin JSON API through the installed admin snippet, a kill with the installed fcgi_admin CLI
and the next request denied. Then apt-get purge, and nothing of the packages is left.

Building needs only the tools; installing needs root. Where either cannot run the test says
why (SKIP); in CI (CI set, as .ci/run does) that is a failure instead."""
import glob
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from test_db_upgrade import BareMariaDB  # noqa: E402
from test_module import reason_of  # noqa: E402

PACKAGES = ["libapache2-mod-session-guard", "session-guard-admin"]
INSTALLED_MODULE = "/usr/lib/apache2/modules/mod_session_guard.so"
INSTALLED_ADMIN = "/usr/sbin/fcgi_admin"
APACHE_LOG = "/var/log/apache2/error.log"
PORTS_CONF = "/etc/apache2/ports.conf"
ADMIN_UNIT = "/lib/systemd/system/session-guard-admin.service"
# Everything the packages, and using them as the README says, put on the machine. The
# system user sg-admin stays (README: Debian's practice for users a package creates).
LEFT_BEHIND = [
    INSTALLED_MODULE, "/etc/apache2/mods-available/session_guard.load", "/etc/apache2/mods-available/session_guard.conf",
    "/etc/apache2/mods-enabled/session_guard.load", "/etc/apache2/mods-enabled/session_guard.conf",
    "/etc/apache2/conf-available/session-guard-admin.conf", "/etc/apache2/conf-enabled/session-guard-admin.conf",
    "/usr/lib/cgi-bin/session-guard", INSTALLED_ADMIN, "/usr/sbin/session-guard-db-setup", "/usr/share/session-guard",
    "/usr/sbin/session-guard-prune", "/usr/share/man/man8/fcgi_admin.8.gz", "/usr/share/man/man8/mod_session_guard.8.gz",
    "/usr/share/man/man8/session-guard-db-setup.8.gz", "/usr/share/man/man8/session-guard-prune.8.gz",
    ADMIN_UNIT, "/lib/systemd/system/session-guard-prune.service", "/lib/systemd/system/session-guard-prune.timer",
    "/etc/systemd/system/multi-user.target.wants/session-guard-admin.service",
    "/etc/systemd/system/timers.target.wants/session-guard-prune.timer",
    "/etc/session-guard", "/var/lib/session-guard", "/run/session-guard", "/run/apache2/session_guard",
    "/usr/share/doc/libapache2-mod-session-guard", "/usr/share/doc/session-guard-admin",
] + glob.glob("/var/log/session-guard*")

DEBS = []  # built by the first test, installed by the second


def cannot_run_here(name, why):
    """Say why the test cannot run on this machine; in CI that is a failure."""
    h.expect(not os.environ.get("CI"), f"{name} must run in CI, but {why}")
    print(f"SKIP {name}: {why}")


def readme_section():
    with open(os.path.join(h.REPO, "README.md"), encoding="utf-8") as f:
        text = f.read()
    return re.search(r"^## Install on Debian\n(.*?)^## ", text, re.S | re.M).group(1)


def readme_commands(section):
    """The shell block's commands, one per entry: continuations joined, split at && and
    newlines, comments dropped."""
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1).replace("\\\n", " ")
    commands = []
    for line in block.splitlines():
        line = line.split("#", 1)[0]
        commands += [" ".join(c.split()) for c in line.split("&&") if c.strip()]
    return commands


def test_packages_build_and_lintian_accepts_them():
    name = "test_packages_build_and_lintian_accepts_them"
    for tool in ("dpkg-buildpackage", "dh", "dh_apache2", "lintian", "git"):
        if shutil.which(tool) is None:
            return cannot_run_here(name, f"{tool} is not installed (scripts/install-deps installs it)")
    out = os.path.join(h.tmpdir(), "deb")
    # make-deb fails on any lintian error (and when lintian is missing).
    h.sh(os.path.join(h.SCRIPTS, "make-deb"), out, timeout=1500)
    debs = sorted(d for d in glob.glob(os.path.join(out, "*.deb")) if "dbgsym" not in d)
    h.expect([os.path.basename(d).split("_")[0] for d in debs] == sorted(PACKAGES), "make deb built", debs)
    contents = h.sh("dpkg-deb", "-c", [d for d in debs if "session-guard-admin" in d][0]).stdout
    h.expect("./usr/share/session-guard/session-guard-db-setup -> ../../sbin/session-guard-db-setup" in contents,
             "session-guard-db-setup is not beside its migrations:", contents)
    DEBS[:] = debs


class Services:
    """The README's systemctl commands where systemd runs; elsewhere (a container without an
    init system) what they would do: the admin unit's ExecStart run as the unit says, and
    apache2ctl for Apache."""

    def __init__(self):
        self.systemd = os.path.isdir("/run/systemd/system")
        self.admin = None  # the unit's process, when this test started it

    def apache_running(self):
        if self.systemd:
            return h.sh("systemctl", "is-active", "--quiet", "apache2", check=False).returncode == 0
        try:
            with open("/run/apache2/apache2.pid") as f:
                os.kill(int(f.read().strip()), 0)
            return True
        except (OSError, ValueError):
            return False

    def run(self, command):
        """One of the README's systemctl commands."""
        words = command.split()
        if self.systemd:
            return h.sh(*words, timeout=120)
        if words == ["systemctl", "enable", "--now", "session-guard-admin"]:
            h.sh("systemctl", "enable", "session-guard-admin")  # systemctl enables offline too
            return self.start_admin_unit()
        if words == ["systemctl", "restart", "apache2"]:
            return h.sh("apache2ctl", "restart", timeout=120)
        if words == ["systemctl", "reload", "apache2"]:
            return h.sh("apache2ctl", "graceful", timeout=120)
        raise AssertionError(f"no stand-in for {command!r} without systemd")

    def start_admin_unit(self):
        settings = {}
        with open(ADMIN_UNIT) as f:
            for line in f:
                key, _, value = line.strip().partition("=")
                if key in ("Environment", "RuntimeDirectory", "ExecStart"):
                    settings.setdefault(key, []).append(value)
        env = dict(os.environ)
        for assignment in settings.get("Environment", []):
            k, _, v = assignment.partition("=")
            env[k] = v
        for folder in settings.get("RuntimeDirectory", []):
            os.makedirs(os.path.join("/run", folder), mode=0o755, exist_ok=True)
        self.admin = subprocess.Popen(shlex.split(settings["ExecStart"][0]), env=env, start_new_session=True,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop_admin(self):
        if self.systemd:
            h.sh("systemctl", "disable", "--now", "session-guard-admin", check=False, timeout=120)
        elif self.admin is not None:
            self.admin.send_signal(signal.SIGTERM)
            try:
                self.admin.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.admin.kill()
                self.admin.wait(timeout=10)
            self.admin = None

    def stop_apache(self):
        if self.systemd:
            h.sh("systemctl", "stop", "apache2", check=False, timeout=120)
        elif self.apache_running():
            h.sh("apache2ctl", "stop", check=False, timeout=60)
            h.eventually(lambda: not self.apache_running(), timeout=30, what="the system's apache2 to stop")

    def start_apache(self):
        h.sh(*(["systemctl", "start", "apache2"] if self.systemd else ["apache2ctl", "start"]), timeout=120)


def startable_apache(services, log_start):
    """Start the system's Apache once before anything of Session Guard is installed. A module
    this machine has enabled but not configured can stop it from starting at all (Debian's
    libapache2-mod-auth-cas enables auth_cas, which refuses to start without CASLoginURL,
    though configtest passes): such modules are disabled for the test, and the caller enables
    them again. Returns their names."""
    set_aside = []
    for _ in range(4):
        started = h.sh(*(["systemctl", "start", "apache2"] if services.systemd else ["apache2ctl", "start"]),
                       check=False, timeout=120)
        if started.returncode == 0 and h.eventually(lambda: services.apache_running(), timeout=10,
                                                    what="the system's apache2"):
            services.stop_apache()
            return set_aside
        failed = re.findall(r"\[(\w+):(?:emerg|alert|crit|error)\]", system_log(log_start))
        culprit = next((m for m in reversed(failed) if os.path.exists(f"/etc/apache2/mods-enabled/{m}.load")), None)
        h.expect(culprit and culprit not in set_aside, "the system's Apache does not start before Session Guard is "
                 "installed:", started.stdout, started.stderr, system_log(log_start)[-2000:])
        print(f"    (this machine's {culprit} module stops Apache from starting: disabled during the test)")
        h.sh("a2dismod", "-q", culprit)
        set_aside.append(culprit)
    raise AssertionError(f"the system's Apache does not start even without {set_aside}")


def enabled_apache_parts():
    return {p: set(os.listdir(f"/etc/apache2/{p}-enabled")) for p in ("mods", "conf")}


def test_packages_install_serve_kill_and_purge():
    name = "test_packages_install_serve_kill_and_purge"
    if os.geteuid() != 0:
        return cannot_run_here(name, "installing packages needs root")
    for tool in ("apt-get", "a2enmod", "apache2ctl", "htpasswd", "spawn-fcgi"):
        if shutil.which(tool) is None:
            return cannot_run_here(name, f"{tool} is not installed (scripts/install-deps installs it)")
    h.expect(DEBS, "no packages to install: the build failed (see above)")
    installed = [p for p in PACKAGES if h.sh("dpkg", "-s", p, check=False).returncode == 0]
    h.expect(not installed, "the packages are already installed on this machine (purge them first):", installed)

    section = readme_section()
    commands = readme_commands(section)
    expected = ["apt-get install ./libapache2-mod-session-guard_*.deb ./session-guard-admin_*.deb",
                "session-guard-db-setup --add-admin admin", "htpasswd -c /etc/session-guard/htpasswd admin",
                "a2enmod session_guard proxy_fcgi", "a2enconf session-guard-admin",
                "systemctl enable --now session-guard-admin", "systemctl restart apache2"]
    h.expect(commands == expected, "the README's commands changed; this test runs", expected, "the README has",
             commands)
    guard = re.search(r"```apache\n(.*?)```", section, re.S).group(1)
    h.expect("a2enconf app-guard && systemctl reload apache2" in guard, "the README's guard step changed:", guard)
    h.expect("fcgi_admin --as admin kill-user alice" in section, "the README's kill command changed")

    services = Services()
    apache_was_running = services.apache_running()
    enabled_before = enabled_apache_parts()
    with open(PORTS_CONF) as f:
        ports_conf = f.read()
    # Outside /tmp: under systemd, apache2.service has a private /tmp.
    site = tempfile.mkdtemp(prefix="sg-deb-", dir="/var/www")
    dbdir = tempfile.mkdtemp(prefix="sg-deb-", dir="/var/lib")
    for d in (site, dbdir):
        os.chmod(d, 0o755)
    guard_conf = "/etc/apache2/conf-available/app-guard.conf"
    h.expect(not os.path.exists(guard_conf), guard_conf, "exists already")
    log_start = os.path.getsize(APACHE_LOG) if os.path.exists(APACHE_LOG) else 0
    db = None
    set_aside = []
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive",
               PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    try:
        # The system's Apache, as Debian configures it, on a loopback port for the test.
        port = h.free_port()
        with open(PORTS_CONF, "w") as f:
            f.write(re.sub(r"^Listen 80$", f"Listen 127.0.0.1:{port}", ports_conf, flags=re.M))
        set_aside = startable_apache(services, log_start)
        debdir = os.path.dirname(DEBS[0])
        # 1. As written, but unattended (-y).
        h.sh("bash", "-c", f"cd {shlex.quote(debdir)} && apt-get install -y -q {commands[0][len('apt-get install '):]}",
             timeout=600, env=env)
        h.expect(not os.path.exists("/etc/apache2/mods-enabled/session_guard.load"),
                 "installing enabled the module before the database was set up")
        # 2. Against a server of the test's own, not the machine's (--socket).
        db = BareMariaDB().start(tmp=dbdir)
        out = h.sh("session-guard-db-setup", "--socket", db.socket, "--add-admin", "admin", timeout=300, env=env).stdout
        h.expect("ready" in out, out)
        for path, group in (("/etc/session-guard/db.cnf", "www-data"), ("/etc/session-guard/admin.cnf", "sg-admin")):
            st = os.stat(path)
            h.expect(st.st_mode & 0o777 == 0o640, path, oct(st.st_mode))
            h.expect(h.sh("stat", "-c", "%G", path).stdout.strip() == group, path, "is not group", group)
        h.expect(h.sh("runuser", "-u", "www-data", "--", "cat", "/etc/session-guard/admin.cnf",
                      check=False).returncode != 0, "www-data can read the admin's option file")
        # 3. The password on the command line (-b) instead of typed at the prompt.
        h.sh("htpasswd", "-c", "-b", "/etc/session-guard/htpasswd", "admin", "admin-pw", env=env)
        # 4. The modules and the admin daemon, Apache restarted.
        h.sh("a2enmod", "session_guard", "proxy_fcgi", env=env)
        h.sh("a2enconf", "session-guard-admin", env=env)
        test = h.sh("apache2ctl", "configtest", check=False, env=env)
        h.expect(test.returncode == 0 and "Syntax OK" in test.stderr, "configtest:", test.stderr)
        services.run("systemctl enable --now session-guard-admin")
        services.run("systemctl restart apache2")
        base = f"http://127.0.0.1:{port}"
        h.eventually(lambda: services.apache_running() and os.path.exists("/run/session-guard/fcgi_admin.sock"),
                     timeout=30, what="Apache and the admin daemon")
        h.eventually(lambda: "deny-list loaded" in system_log(log_start), timeout=30, what="the module's first poll")

        # 5. The demo PHP app guarded as the README shows (served from a folder of its own).
        shutil.copytree(h.DEMO, site, dirs_exist_ok=True)
        subprocess.run(["chmod", "-R", "a+rX", site], check=True)
        app = os.path.join(site, "php")
        with open(guard_conf, "w") as f:
            f.write(f"Alias /php {app}\n" + guard.replace("/var/www/html/app", app).replace("/app/", "/php/"))
        h.sh("a2enconf", "app-guard", env=env)
        services.run("systemctl reload apache2")
        alice, bob = h.Browser(base), h.Browser(base)

        def signed_in(browser, user):
            browser.cookies.clear()
            r = browser.login_php(user, "demo")
            return r.status == 302 and f"Hello, {user}" in browser.get("/php/").body

        # A graceful restart is under way: the first requests may meet the old generation.
        h.eventually(lambda: signed_in(alice, "alice"), timeout=30, what="alice signed in")
        h.expect(signed_in(bob, "bob"), "bob cannot sign in")
        # The admin pages through the installed snippet and the unit's daemon.
        h.expect(h.Browser(base).get("/session-guard/api/sessions").status == 401, "the admin API without a password")
        r = h.Browser(base, auth=("admin", "admin-pw")).get("/session-guard/api/sessions")
        h.expect(r.status == 200, "the admin API:", r)
        users = {s.get("user") for s in json.loads(r.body)["sessions"]}
        h.expect({"alice", "bob"} <= users, "the admin API lists", users)

        # 6. The kill, with the installed CLI (on the PATH, reading /etc/session-guard/db.cnf).
        h.expect(shutil.which("fcgi_admin", path=env["PATH"]) == INSTALLED_ADMIN, "fcgi_admin on the PATH is not",
                 INSTALLED_ADMIN)
        h.sh("fcgi_admin", "--as", "admin", "kill-user", "alice", env=env)
        h.eventually(lambda: reason_of(alice.get("/php/")) == "killed", timeout=15, what="alice denied")
        h.expect("Hello, bob" in bob.get("/php/").body, "bob lost his session")

        # The pruner as its timer runs it: root's option file, the live instance's retention.
        h.expect(os.stat("/etc/session-guard/prune.cnf").st_mode & 0o777 == 0o600, "prune.cnf is not root's only")
        pruned = h.sh("session-guard-prune", env=env).stdout
        h.expect("deleted 0 ended sessions" in pruned, pruned)
        for page in ("mod_session_guard", "fcgi_admin", "session-guard-db-setup", "session-guard-prune"):
            h.sh("man", "-w", page)
        h.expect(os.path.isdir("/var/lib/session-guard"), "the module made no journal folder (purge checks it goes)")
    except Exception:
        print(f"    --- {APACHE_LOG} since the test began")
        print("\n".join("    " + line for line in system_log(log_start).splitlines()[-40:]))
        raise
    finally:
        services.stop_apache()
        services.stop_admin()
        if os.path.exists(guard_conf):
            h.sh("a2disconf", "-q", "app-guard", check=False)
            os.remove(guard_conf)
        with open(PORTS_CONF, "w") as f:
            f.write(ports_conf)
        h.sh("apt-get", "purge", "-y", "-q", *PACKAGES, check=False, timeout=300, env=env)
        # What the README's commands enabled besides the packages' own (proxy_fcgi, proxy).
        for part, names in enabled_apache_parts().items():
            for extra in sorted(names - enabled_before[part]):
                if extra.endswith(".load") or part == "conf":
                    tool = "a2dismod" if part == "mods" else "a2disconf"
                    h.sh(tool, "-q", "-f", extra.rsplit(".", 1)[0], check=False)
        for module in set_aside:
            h.sh("a2enmod", "-q", module, check=False)
        if db is not None:
            db.stop()
        shutil.rmtree(site, ignore_errors=True)
        shutil.rmtree(dbdir, ignore_errors=True)
        if apache_was_running:
            services.start_apache()
    left = [p for p in LEFT_BEHIND if os.path.lexists(p)]
    h.expect(not left, "apt-get purge left behind:", left)
    h.expect(all(h.sh("dpkg", "-s", p, check=False).returncode != 0 for p in PACKAGES), "still installed")
    h.expect(enabled_apache_parts() == enabled_before, "Apache's enabled modules and snippets differ afterwards")
    test = h.sh("apache2ctl", "configtest", check=False)
    h.expect(test.returncode == 0, "the system's configuration after purge:", test.stderr)


def system_log(start):
    try:
        with open(APACHE_LOG, encoding="utf-8", errors="replace") as f:
            f.seek(start)
            return f.read()
    except FileNotFoundError:
        return ""


if __name__ == "__main__":
    h.run(globals())
