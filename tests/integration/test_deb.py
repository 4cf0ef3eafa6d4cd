"""The Debian packages as an administrator uses them (README, "Install on Debian"): built by
`make deb` (debhelper, dh_apache2, lintian), installed with apt-get, the database set up
with the installed session-guard-db-setup, a2enmod/a2enconf and apache2ctl configtest on the
system's Apache configuration, a kill proved end to end with the installed module and the
installed fcgi_admin (not the build tree), then apt-get purge leaves nothing behind.
Installing packages needs root: elsewhere the test says why it cannot run, and in CI that
counts as a failure."""
import glob
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from test_db_upgrade import BareMariaDB  # noqa: E402
from test_module import php_user, reason_of  # noqa: E402

PACKAGES = ["libapache2-mod-session-guard", "session-guard-admin"]
INSTALLED_MODULE = "/usr/lib/apache2/modules/mod_session_guard.so"
INSTALLED_ADMIN = "/usr/sbin/fcgi_admin"
LEFT_BEHIND = [
    INSTALLED_MODULE, "/etc/apache2/mods-available/session_guard.load", "/etc/apache2/mods-available/session_guard.conf",
    "/etc/apache2/mods-enabled/session_guard.load", "/etc/apache2/mods-enabled/session_guard.conf",
    "/etc/apache2/conf-available/session-guard-admin.conf", "/etc/apache2/conf-enabled/session-guard-admin.conf",
    "/usr/lib/cgi-bin/session-guard", INSTALLED_ADMIN, "/usr/sbin/session-guard-db-setup", "/usr/share/session-guard",
    "/lib/systemd/system/session-guard-admin.service", "/etc/session-guard", "/usr/share/man/man8/fcgi_admin.8.gz",
    "/usr/sbin/session-guard-prune", "/lib/systemd/system/session-guard-prune.timer",
]


def cannot_run():
    if os.geteuid() != 0:
        return "installing packages needs root"
    for tool in ("dpkg-buildpackage", "dh_apache2", "apt-get", "a2enmod"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (scripts/install-deps installs it)"
    if any(h.sh("dpkg", "-s", p, check=False).returncode == 0 for p in PACKAGES):
        return "the packages are already installed on this machine; purge them first"
    return None


def purge():
    h.sh("apt-get", "purge", "-y", "-q", *PACKAGES, check=False, timeout=300,
         env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))


def test_packages_install_kill_and_purge():
    why = cannot_run()
    if why:
        h.expect(not os.environ.get("CI"), "the package test cannot run in CI:", why)
        print(f"SKIP test_packages_install_kill_and_purge: {why}")
        return
    tmp = h.tmpdir()
    out = os.path.join(tmp, "deb")
    h.sh(os.path.join(h.SCRIPTS, "make-deb"), out, timeout=1500)
    debs = sorted(d for d in glob.glob(os.path.join(out, "*.deb")) if "dbgsym" not in d)
    h.expect(len(debs) == 2, "make deb built", debs)
    proxy_fcgi_was_enabled = os.path.exists("/etc/apache2/mods-enabled/proxy_fcgi.load")
    try:
        h.sh("apt-get", "install", "-y", "-q", "--no-install-recommends", *debs, timeout=600,
             env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        h.expect(not os.path.exists("/etc/apache2/mods-enabled/session_guard.load"),
                 "installing enabled the module before the database was set up")
        db = BareMariaDB().start(tmp=tmp)
        db.write_htpasswd()
        out_text = h.sh("/usr/sbin/session-guard-db-setup", "--socket", db.socket, "--add-admin", "admin",
                        timeout=300).stdout
        h.expect("ready" in out_text, out_text)
        for path, group in (("/etc/session-guard/db.cnf", "www-data"), ("/etc/session-guard/admin.cnf", "sg-admin")):
            st = os.stat(path)
            h.expect(st.st_mode & 0o777 == 0o640, path, oct(st.st_mode))
            h.expect(h.sh("stat", "-c", "%G", path).stdout.strip() == group, path, "is not group", group)
        h.expect(h.sh("runuser", "-u", "www-data", "--", "cat", "/etc/session-guard/admin.cnf",
                      check=False).returncode != 0, "www-data can read the admin's option file")

        h.sh("a2enmod", "session_guard")
        h.sh("a2enmod", "proxy_fcgi")
        h.sh("a2enconf", "session-guard-admin")
        test = h.sh("apache2ctl", "configtest", check=False)
        h.expect(test.returncode == 0 and "Syntax OK" in test.stderr, "configtest:", test.stderr)

        # The installed module in an Apache of the test's own (the system's listens on port 80
        # of every address), reading the option file session-guard-db-setup wrote.
        web = h.Apache().start(tmp=tmp, db=type("Installed", (), {"cnf": "/etc/session-guard/db.cnf",
                                                                "htpasswd": db.htpasswd})(),
                               module=INSTALLED_MODULE, name="sg-deb")
        h.eventually(lambda: "deny-list loaded" in web.error_log_text(), what="first poll")
        alice, bob = php_user(web, "alice"), php_user(web, "bob")
        h.sh(INSTALLED_ADMIN, "--as", "admin", "kill-user", "alice")  # /etc/session-guard/db.cnf by default
        h.eventually(lambda: reason_of(alice.get("/php/")) == "killed", timeout=10, what="alice denied")
        h.expect("Hello, bob" in bob.get("/php/").body, "bob lost his session")
        # The pruner as its timer runs it: root's option file, the live instance's retention.
        h.expect(os.stat("/etc/session-guard/prune.cnf").st_mode & 0o777 == 0o600, "prune.cnf is not root's only")
        pruned = h.sh("/usr/sbin/session-guard-prune").stdout
        h.expect("deleted 0 ended sessions" in pruned, pruned)
        web.stop()
        h.sh("man", "-w", "mod_session_guard")
    finally:
        purge()
        if not proxy_fcgi_was_enabled:
            h.sh("a2dismod", "-q", "proxy_fcgi", check=False)
    left = [p for p in LEFT_BEHIND if os.path.lexists(p)]
    h.expect(not left, "apt-get purge left behind:", left)
    h.expect(all(h.sh("dpkg", "-s", p, check=False).returncode != 0 for p in PACKAGES), "still installed")
    test = h.sh("apache2ctl", "configtest", check=False)
    h.expect(test.returncode == 0, "the system's configuration after purge:", test.stderr)


if __name__ == "__main__":
    h.run(globals())
