"""make install as a package build runs it (DESTDIR): Debian's layout, session-guard-db-setup
on the PATH and beside its migrations in /usr/share/session-guard/, the manual pages readable
by man without warnings, and every directive the module registers documented in
mod_session_guard(8) (which is generated from the README's table, so the README too).
PREFIX=/usr/local moves the programs, shared files, manual pages and units, and the
installed files name the paths they were installed to."""
import os
import re
import subprocess
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
    "usr/sbin/session-guard-db-setup",
    "usr/share/session-guard/session-guard-db-setup",
    "usr/share/man/man8/session-guard-db-setup.8",
]


def installed(*args):
    dest = h.tmpdir("sg-install-")
    h.sh("make", "-C", h.REPO, "--no-print-directory", "install", f"DESTDIR={dest}", *args, timeout=600)
    return dest


def files_under(dest):
    return sorted(os.path.relpath(os.path.join(root, n), dest)
                  for root, dirs, files in os.walk(dest) for n in files + [d for d in dirs if os.path.islink(
                      os.path.join(root, d))])


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
    setup = os.path.join(dest, "usr/sbin/session-guard-db-setup")
    h.expect(os.access(setup, os.X_OK), setup, "is not executable")
    link = os.path.join(dest, "usr/share/session-guard/session-guard-db-setup")
    h.expect(os.readlink(link) == "../../sbin/session-guard-db-setup", "the db-setup beside the migrations points at",
             os.readlink(link))
    # Through the link too: the script finds itself and names its default migrations.
    usage = h.sh(link, "--help").stdout
    h.expect("default /usr/share/session-guard/sql" in usage, "session-guard-db-setup --help:", usage)
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
    setup_page = man_text(os.path.join(dest, "usr/share/man/man8/session-guard-db-setup.8"))
    options = set(re.findall(r"^  (--[a-z-]+)", h.sh(setup, "--help").stdout, re.M))
    h.expect(len(options) >= 8, "session-guard-db-setup --help lists", options)
    h.expect(not [o for o in options if o not in setup_page], "options missing from session-guard-db-setup(8):",
             sorted(o for o in options if o not in setup_page))


def test_prefix_moves_programs_shared_files_pages_and_units():
    dest = installed("PREFIX=/usr/local")
    files = files_under(dest)
    for rel in ("usr/local/sbin/fcgi_admin", "usr/local/sbin/session-guard-db-setup",
                "usr/local/sbin/session-guard-prune", "usr/local/share/session-guard/session-guard-db-setup",
                "usr/local/share/session-guard/sql/001_schema.sql", "usr/local/share/man/man8/mod_session_guard.8",
                "usr/local/share/man/man8/session-guard-db-setup.8",
                "usr/local/lib/systemd/system/session-guard-admin.service",
                "usr/local/lib/systemd/system/session-guard-prune.timer"):
        h.expect(rel in files, "PREFIX=/usr/local did not install", rel, "; installed:", files)
    # Apache's paths come from apxs, and fcgi_admin stays in Debian's cgi-bin: nothing else
    # goes outside the prefix.
    outside = [f for f in files if not f.startswith("usr/local/") and not f.startswith("etc/apache2/")
               and f not in ("usr/lib/apache2/modules/mod_session_guard.so",
                             "usr/lib/cgi-bin/session-guard/fcgi_admin")]
    h.expect(not outside, "PREFIX=/usr/local still installed outside it:", outside)
    with open(os.path.join(dest, "usr/local/sbin/session-guard-db-setup")) as f:
        script = f.read()
    h.expect("SQL_DIR=/usr/local/share/session-guard/sql" in script and "/usr/share/session-guard" not in script,
             "the installed session-guard-db-setup does not look for its migrations under the prefix")
    with open(os.path.join(dest, "usr/local/lib/systemd/system/session-guard-prune.service")) as f:
        h.expect("ExecStart=/usr/local/sbin/session-guard-prune" in f.read(), "the pruner's unit runs another program")


def test_make_run_builds_only_what_it_runs_on_every_core():
    # Issue 12 item 6: in a fresh clone, `make -n run` lists what a first `make run` compiles:
    # the module and fcgi_admin with the core and db libraries they link, nothing else (no
    # unit tests, fuzz targets, benchmarks or the pruner); the sub-make runs with -j(nproc).
    tmp = h.tmpdir()
    clone = os.path.join(tmp, "clone")
    h.sh("git", "clone", "-q", h.REPO, clone)
    out = h.sh("make", "-C", clone, "-n", "run").stdout
    sources = re.findall(r"^g\+\+ .* -c (\S+)", out, flags=re.M)
    tops = sorted({src.split("/")[0] for src in sources})
    h.expect(tops == ["core", "db", "fcgi_admin", "mod_session_guard"], "make run compiles more than it runs:", tops)
    h.expect(any(src.startswith("mod_session_guard/") for src in sources) and
             any(src.startswith("fcgi_admin/") for src in sources), sources)
    flags = subprocess.run(["make", "-C", clone, "-s", "-f", "Makefile", "-f", "-", "show-flags"], text=True,
                           capture_output=True, input="show-flags:\n\t@echo $(MAKEFLAGS)\n").stdout
    h.expect(f"-j{os.cpu_count()}" in flags.split(), "make run does not use every core:", flags)


if __name__ == "__main__":
    h.run(globals())
