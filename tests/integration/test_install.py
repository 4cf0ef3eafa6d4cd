"""make install as a package build runs it (DESTDIR): Debian's layout, the manual pages
readable by man without warnings, and every directive the module registers documented in
mod_session_guard(8) (which is generated from the README's table, so the README too)."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

EXPECTED = [
    "usr/lib/apache2/modules/mod_session_guard.so",
    "etc/apache2/mods-available/session_guard.load",
    "etc/apache2/mods-available/session_guard.conf",
    "etc/apache2/conf-available/session-guard-admin.conf",
    "usr/lib/cgi-bin/session-guard/fcgi_admin",
    "usr/sbin/fcgi_admin",
    "lib/systemd/system/session-guard-admin.service",
    "usr/sbin/session-guard-prune",
    "lib/systemd/system/session-guard-prune.service",
    "lib/systemd/system/session-guard-prune.timer",
    "usr/share/man/man8/session-guard-prune.8",
    "usr/share/session-guard/sql/001_schema.sql",
    "usr/share/man/man8/mod_session_guard.8",
    "usr/share/man/man8/fcgi_admin.8",
]


def installed():
    dest = h.tmpdir("sg-install-")
    h.sh("make", "-C", h.REPO, "--no-print-directory", "install", f"DESTDIR={dest}", timeout=600)
    return dest


def man_text(path):
    p = h.sh("man", "--warnings", "-l", path, env=dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="200"))
    h.expect(p.stderr.strip() == "", "man warns about", path, p.stderr)
    return p.stdout


def test_layout_and_manual_pages():
    dest = installed()
    for rel in EXPECTED:
        h.expect(os.path.lexists(os.path.join(dest, rel)), "make install did not install", rel)
    link = os.path.join(dest, "usr/sbin/fcgi_admin")
    h.expect(os.readlink(link) == "/usr/lib/cgi-bin/session-guard/fcgi_admin", "fcgi_admin on the PATH points at",
             os.readlink(link))
    sql = sorted(os.listdir(os.path.join(dest, "usr/share/session-guard/sql")))
    h.expect(sql == sorted(f for f in os.listdir(os.path.join(h.REPO, "sql")) if f.endswith(".sql")),
             "installed migrations differ from sql/:", sql)
    with open(os.path.join(dest, "etc/apache2/mods-available/session_guard.load")) as f:
        h.expect("/usr/lib/apache2/modules/mod_session_guard.so" in f.read(), "the .load names another module path")

    with open(os.path.join(h.REPO, "mod_session_guard", "module.cpp")) as f:
        registered = set(re.findall(r'AP_INIT_\w+\("(\w+)"', f.read()))
    h.expect(len(registered) >= 15, "found only", registered)
    manual = man_text(os.path.join(dest, "usr/share/man/man8/mod_session_guard.8"))
    missing = sorted(d for d in registered if not re.search(r"^\s*" + d + r"\b", manual, re.M))
    h.expect(not missing, "directives registered but not in mod_session_guard(8):", missing)
    admin = man_text(os.path.join(dest, "usr/share/man/man8/fcgi_admin.8"))
    usage = h.sh(os.path.join(dest, "usr/lib/cgi-bin/session-guard/fcgi_admin"), "help").stdout
    commands = re.findall(r"^  ([a-z][a-z-]+)", usage, re.M)
    h.expect(len(commands) >= 8, "fcgi_admin help lists", commands)
    undocumented = [c for c in commands if not re.search(r"^\s*" + c + r"\b", admin, re.M)]
    h.expect(not undocumented, "fcgi_admin commands missing from fcgi_admin(8):", undocumented)


if __name__ == "__main__":
    h.run(globals())
