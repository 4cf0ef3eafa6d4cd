"""`apachectl configtest` (apache2 -t) with the module: every directive's bad value fails it
with one line naming the directive and what is allowed, and a good configuration passes. A
missing option file fails it too, and so does each server-wide directive in a <VirtualHost>.
SessionGuardStateFile's bad values are its syntax: the file is only a head start for a cold
start, so a directory that cannot be made is one warning line at start (test_doctor.py), not
an Apache that refuses to start. No server is started."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

MODDIR = "/usr/lib/apache2/modules"

# (directive line, what the one error line must say besides the directive's name)
BAD = [
    ("SessionGuard maybe", "On or Off"),
    ("SessionGuardAppEnv yes", "On or Off"),
    ("SessionGuardCasTickets 1", "On or Off"),
    ('SessionGuardCookie "bad name"', "cookie"),
    ("SessionGuardCookie PHPSESSID / remember", "signed-in-only"),
    ("SessionGuardLoginForm /login.php", "PATH FIELD"),
    ("SessionGuardLoginForm /login.php username status=200", "2xx"),
    ("SessionGuardLoginForm /login.php username wat=1", "redirect"),
    ("SessionGuardLogoutPath", "PATH"),
    ("SessionGuardLogoutPath /logout.php status=abc", "status"),
    ('SessionGuardUserHeader ""', "header"),
    ("SessionGuardDenyAction teleport", "redirect"),
    ("SessionGuardDenyAction status 99", "status"),
    ("SessionGuardMaxSessions -1", "from 0 to 100000"),
    ("SessionGuardMaxSessions lots", "from 0 to 100000"),
    ("SessionGuardMaxSessionsAction shrug", "evict-oldest"),
    ("SessionGuardIdleTimeout 5y", "ms, s, m or h"),
    ("SessionGuardMaxLifetime -3s", "from 0 to 8784h"),
    ('SessionGuardMessage nonsense "x"', "killed"),
    ("SessionGuardDBOptions /nonexistent/sg.cnf", "No such file"),
    ("SessionGuardPollInterval 1ms", "from 10ms to 1m"),
    ("SessionGuardFailMode ajar", "open or closed"),
    ("SessionGuardMaxStale 0", "from 1s to 168h"),
    ("SessionGuardDenyListSize 5", "from 1000 to 10000000"),
    ("SessionGuardRevocationRetention 1s", "from 1h to 8784h"),
    ("SessionGuardJournal /var/lib/sg/journal 1K", "64K to 1G"),
    ("SessionGuardJournal /var/lib/sg/journal lots", "64K to 1G"),
    ("SessionGuardLoginWhenUnreachable maybe", "admit or refuse"),
    ("SessionGuardStateFile /var/lib/sg/deny-list.state /var/lib/sg/other", "takes one argument"),
    ("SessionGuardStateFile", "takes one argument"),
]
# One instance, one deny-list: these may not differ between virtual hosts.
GLOBAL_ONLY = ["SessionGuardDBOptions /etc/hostname", "SessionGuardPollInterval 250ms",
               "SessionGuardDenyListSize 5000", "SessionGuardRevocationRetention 24h",
               "SessionGuardStateFile /var/lib/sg/deny-list.state", "SessionGuardJournal /var/lib/sg/journal"]
SERVER_ONLY = {"SessionGuardDBOptions", "SessionGuardPollInterval", "SessionGuardFailMode", "SessionGuardMaxStale",
               "SessionGuardDenyListSize", "SessionGuardRevocationRetention", "SessionGuardStateFile",
               "SessionGuardJournal", "SessionGuardLoginWhenUnreachable"}


def configtest(tmp, line, name, vhost=False):
    directive = line.split()[0] if line.strip() else ""
    body = line if directive in SERVER_ONLY else f"<Location /app>\n  {line}\n</Location>"
    if vhost:
        body = f"<VirtualHost 127.0.0.1:80>\n  {line}\n</VirtualHost>"
    conf = os.path.join(tmp, f"{name}.conf")
    with open(conf, "w") as f:
        f.write(f"""ServerRoot {tmp}
ServerName 127.0.0.1
Listen 127.0.0.1:{h.free_port()}
PidFile {tmp}/httpd.pid
ErrorLog {tmp}/error.log
LoadModule mpm_prefork_module {MODDIR}/mod_mpm_prefork.so
LoadModule authz_core_module {MODDIR}/mod_authz_core.so
LoadModule session_guard_module {h.MODULE}
{body}
""")
    return h.sh("/usr/sbin/apache2", "-t", "-f", conf, check=False)


def test_every_bad_value_fails_configtest_in_one_line():
    tmp = h.tmpdir()
    good = configtest(tmp, "SessionGuardCookie PHPSESSID / signed-in-only", "good")
    h.expect(good.returncode == 0 and "Syntax OK" in good.stderr, "a good configuration:", good.stderr)
    covered, wrong = set(), []
    for i, (line, says) in enumerate(BAD):
        directive = line.split()[0]
        covered.add(directive)
        p = configtest(tmp, line, f"bad{i}")
        # httpd's "Syntax error on line N of FILE:" comes first; the next line is ours.
        errors = [x for x in p.stderr.splitlines() if x.startswith(directive)]
        if p.returncode == 0 or len(errors) != 1 or says.lower() not in errors[0].lower():
            wrong.append(f"{line!r} -> exit {p.returncode}, wanted one line with {says!r}: {p.stderr.strip()!r}")
    for i, line in enumerate(GLOBAL_ONLY):
        directive = line.split()[0]
        p = configtest(tmp, line, f"vhost{i}", vhost=True)
        errors = [x for x in p.stderr.splitlines() if x.startswith(directive)]
        if p.returncode == 0 or len(errors) != 1 or "cannot occur within <VirtualHost>" not in errors[0]:
            wrong.append(f"{line!r} in a <VirtualHost> -> exit {p.returncode}: {p.stderr.strip()!r}")
    h.expect(not wrong, "\n".join(wrong))
    with open(os.path.join(h.REPO, "mod_session_guard", "module.cpp")) as f:
        registered = set(re.findall(r'AP_INIT_\w+\("(\w+)"', f.read()))
    untested = registered - covered
    h.expect(not untested, "directives with no bad-value case here:", sorted(untested))


def test_a_state_file_anywhere_passes_configtest():
    """Where the state file goes is checked at start (a warning there): an Apache whose
    runtime directory is made later, at boot, still passes configtest and starts."""
    tmp = h.tmpdir()
    for i, path in enumerate(("/nonexistent/sg/deny-list.state", "none", "relative/deny-list.state")):
        p = configtest(tmp, f"SessionGuardStateFile {path}", f"state{i}")
        h.expect(p.returncode == 0 and "Syntax OK" in p.stderr, path, p.stderr)


if __name__ == "__main__":
    h.run(globals())
