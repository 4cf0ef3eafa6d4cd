"""Issue 10's faults on one instance, against real mariadbd + Apache (prefork): Apache
children killed in the middle of logins, graceful restarts and poller SIGKILLs with admin
kills in between, a session row locked for longer than the I/O timeout, and a revocation
committed 40 s after a later one. Each test failed on the code before the fix."""
import http.client
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import test_module as tm  # noqa: E402
from test_module import fingerprint, php_user, reason_of, session_id  # noqa: E402

DB = None


def setup_module():
    global DB
    DB = h.MariaDB().start()
    tm.DB = DB  # test_module's helpers (cli, denied_with) use its DB


def start_web(name, extra_conf=""):
    web = h.Apache().start(db=DB, module=h.MODULE, name=name, extra_conf=extra_conf)
    h.eventually(lambda: "deny-list loaded" in web.error_log_text(), what=f"first poll of {name}")
    return web


# ----------------------------------------------------------------- helpers

class HeldTransaction:
    """A mariadb client inside an open transaction: statements run one by one, and
    `sync()` waits until the server has answered everything sent so far."""

    def __init__(self):
        self.proc = subprocess.Popen(["mariadb", f"--defaults-file={DB.cnf}", "--batch", "--unbuffered", "-N"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        self.marks = 0
        self.send("START TRANSACTION")

    def send(self, sql):
        self.proc.stdin.write(sql.rstrip(";") + ";\n")
        self.proc.stdin.flush()

    def sync(self):
        """Output lines up to a marker: everything sent so far has been executed."""
        self.marks += 1
        self.send(f"SELECT 'mark-{self.marks}'")
        lines = []
        for line in self.proc.stdout:
            if line.strip() == f"mark-{self.marks}":
                return lines
            lines.append(line.strip())
        raise AssertionError(f"mariadb client ended: {lines}")

    def end(self, sql="ROLLBACK"):
        try:
            self.send(sql)
            self.sync()
        finally:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)


SERVER_STATUS = """
LoadModule status_module /usr/lib/apache2/modules/mod_status.so
<Location /server-status>
  SetHandler server-status
  Require ip 127.0.0.1
</Location>
"""


def login_slots_in_use(web):
    """The module's count, or -1 when the request met a worker this test just SIGKILLed."""
    try:
        r = web.browser(timeout=10).get("/server-status?auto")
    except (ConnectionError, http.client.HTTPException):
        return -1
    h.expect(r.status == 200, "server-status?auto:", r)
    return int(re.search(r"^SessionGuardLoginConnectionsInUse: (\d+)$", r.body, re.M).group(1))


def poller_pids(web):
    """Every poller process this instance has had: active ones and standbys."""
    text = web.error_log_text()
    return set(int(p) for p in re.findall(r"poller started in process (\d+)", text)) | \
        set(int(p) for p in re.findall(r"poller process (\d+) waiting for the poller lock", text))


def standby_ready(web):
    """A poller process other than the active one is alive, waiting for the poller lock."""
    active = active_poller(web)
    return any(pid != active and (tm.proc_status(pid, "State") or "Z").upper()[0] not in "ZX"
               and tm.proc_status(pid, "PPid") == str(web.pid()) for pid in poller_pids(web))


def active_poller(web):
    return int(re.findall(r"poller started in process (\d+)", web.error_log_text())[-1])


def workers(web):
    """The parent's children that are not pollers: the prefork workers."""
    pollers = poller_pids(web)
    return [int(p) for p in os.listdir("/proc")
            if p.isdigit() and int(p) not in pollers and tm.proc_status(p, "PPid") == str(web.pid())]


def audit_ids_logged(web):
    return set(re.findall(r"Session ([0-9A-F]{8}) terminated by administrator", web.error_log_text()))


# ----------------------------------------------------------------- found 1: login slots

def test_login_slots_survive_children_killed_in_the_middle_of_logins():
    """40 logins stuck on a locked account row, their children SIGKILLed; afterwards four
    logins at once all succeed at once (before: 0 of 4 slots left, every login 503 after 3 s)."""
    # Without the journal: a login whose connection this test ends would otherwise be kept
    # there and admitted, and while its replay waits for the locked row the next logins go
    # to the journal too (in order), so none would wait for a slot.
    web = start_web("sg-slots", "SessionGuardLoginWhenUnreachable refuse\n" + SERVER_STATUS)
    php_user(web, "carol")  # the account row exists
    lock = HeldTransaction()
    lock.send("SELECT username FROM accounts WHERE username = 'carol' FOR UPDATE")
    lock.sync()
    killed = 0
    try:
        while killed < 40:
            stuck = [threading.Thread(target=lambda: _login_ignoring_errors(web, "carol")) for _ in range(2)]
            for t in stuck:
                t.start()
            # Both logins wait for the account row, each holding a login slot (the module's
            # own count: the database may keep a killed client's lock wait past its end).
            h.eventually(lambda: login_slots_in_use(web) >= 2, timeout=20,
                         what="two logins waiting for the locked account, each in a slot")
            for pid in workers(web):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            killed += 2
            for t in stuck:
                t.join(timeout=30)
            h.eventually(lambda: login_slots_in_use(web) == 0, timeout=10, what="the killed logins' slots freed")
    finally:
        lock.end()
    results = []

    def login(user):
        t0 = time.monotonic()
        r = web.browser().login_php(user, "demo")
        results.append((r.status, time.monotonic() - t0, r))
    threads = [threading.Thread(target=login, args=(u,)) for u in ("alice", "bob", "alice", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    print(f"    after {killed} killed logins: {[(s, round(d, 2)) for s, d, _ in results]}")
    h.expect(len(results) == 4 and all(s == 302 for s, _, _ in results), "logins refused:", results)
    h.expect("all login connections are busy" not in web.error_log_text(), "login slots leaked")


def _login_ignoring_errors(web, user):
    try:
        web.browser(timeout=30).login_php(user, "demo")
    except Exception:
        pass  # its child was killed: the connection drops


# ----------------------------------------------------------------- found 3: audit lines

def test_audit_lines_survive_graceful_restarts():
    """A kill just before and one just after each of 5 graceful restarts: all 10 audit lines
    reach the error log (before: the new poller began at the newest line, 2 of 5)."""
    web = start_web("sg-audit-restart")
    wanted = set()
    for _ in range(5):
        before, after = php_user(web, "alice"), php_user(web, "alice")
        tm.cli("kill", session_id(before, "PHPSESSID"))
        web.graceful()
        tm.cli("kill", session_id(after, "PHPSESSID"))
        wanted |= {session_id(before, "PHPSESSID").upper(), session_id(after, "PHPSESSID").upper()}
    h.eventually(lambda: wanted <= audit_ids_logged(web), timeout=10,
                 what=f"audit lines: missing {wanted - audit_ids_logged(web)}")
    lines = re.findall(r"Session ([0-9A-F]{8}) terminated by administrator", web.error_log_text())
    print(f"    {len(wanted)} of {len(wanted)} kill lines logged ({len(lines)} lines in all)")


def test_audit_lines_survive_poller_sigkills():
    """A kill, then at once a SIGKILL of the active poller, 5 times: 5 of 5 lines logged
    (before: the replacement began at the newest line, 0 of 5)."""
    web = start_web("sg-audit-kill")
    wanted = set()
    for _ in range(5):
        b = php_user(web, "bob")
        h.eventually(lambda: standby_ready(web), timeout=10, what="a standby poller")
        starts = len(re.findall(r"poller started in process", web.error_log_text()))
        victim = active_poller(web)
        tm.cli("kill", session_id(b, "PHPSESSID"))
        os.kill(victim, signal.SIGKILL)
        wanted.add(session_id(b, "PHPSESSID").upper())
        h.eventually(lambda: len(re.findall(r"poller started in process", web.error_log_text())) > starts,
                     timeout=10, what="another poller active")
    h.eventually(lambda: wanted <= audit_ids_logged(web), timeout=10,
                 what=f"audit lines: missing {wanted - audit_ids_logged(web)}")


def test_audit_lines_written_while_apache_was_stopped_are_logged_after_a_cold_start():
    """The position also goes to the state file: a kill made while Apache is stopped is
    logged after the cold start (a cold start without a state file begins at the newest)."""
    web = start_web("sg-audit-cold")
    before, during = php_user(web, "carol"), php_user(web, "carol")
    tm.cli("kill", session_id(before, "PHPSESSID"))
    tm.denied_with(before, "/php/", "killed")  # published, so the state file was written after its line
    h.eventually(lambda: session_id(before, "PHPSESSID").upper() in audit_ids_logged(web), what="the first line")
    h.script("apache-ctl", "stop", web.dir, timeout=60)
    tm.cli("kill", session_id(during, "PHPSESSID"))
    h.script("apache-ctl", "start", web.dir, timeout=60)
    h.eventually(lambda: session_id(during, "PHPSESSID").upper() in audit_ids_logged(web), timeout=10,
                 what="the line of the kill made while Apache was stopped")


# ----------------------------------------------------------------- found 4: replacement

def test_a_killed_poller_is_replaced_within_a_poll_interval():
    """The standby takes over when the kernel frees the poller lock, before the parent even
    reaps the dead poller (which is when a replacement started before: 0.8-0.9 s)."""
    web = start_web("sg-takeover")
    delays, before_reap = [], 0
    for _ in range(3):
        b = php_user(web, "carol")
        victim = active_poller(web)
        h.eventually(lambda: standby_ready(web), timeout=10, what="a standby poller")
        t0 = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        tm.cli("kill", session_id(b, "PHPSESSID"))
        h.eventually(lambda: reason_of(b.get("/php/")) == "killed", timeout=10, interval=0.02,
                     what="the kill enforced after the poller's death")
        delays.append(time.monotonic() - t0)
        h.eventually(lambda: f"(process {victim}) ended with status" in web.error_log_text(), timeout=10,
                     what="the dead poller reaped")
        text = web.error_log_text()
        took_over = [m.start() for m in re.finditer(r"poller started in process", text)][-1]
        reaped = text.index(f"(process {victim}) ended with status")
        before_reap += took_over < reaped
    print(f"    SIGKILL -> kill enforced: {', '.join(f'{d:.2f}' for d in delays)} s; "
          f"{before_reap} of 3 takeovers before the reap")
    # Before, a new poller was forked only when the dead one was reaped: never ahead of it.
    # (A reap that happens to come within the takeover's milliseconds is allowed once.)
    h.expect(before_reap >= 2, f"only {before_reap} of 3 takeovers came before the reap")
    # Generous against a noisy machine; waiting for the reap alone took 0.8-0.9 s.
    h.expect(statistics.median(delays) < 0.7, f"kills took {delays} after the poller's death")


# ----------------------------------------------------------------- found 5: locked rows

def test_a_locked_session_row_blocks_neither_refresh_nor_activity():
    """A session row locked for 10 s (longer than the 5 s I/O timeout): a kill meanwhile is
    enforced promptly, nothing says the database is unreachable, and the locked session's
    activity is recorded once the lock goes."""
    web = start_web("sg-row-lock")
    locked, victim = php_user(web, "alice"), php_user(web, "bob")
    fp_locked = fingerprint("PHPSESSID", locked.cookies["PHPSESSID"])
    time.sleep(1.5)  # the login's own activity flushed
    lock = HeldTransaction()
    lock.send(f"SELECT TIMESTAMPDIFF(MICROSECOND, FROM_UNIXTIME(0), last_access) FROM sessions "
              f"WHERE fingerprint = '{fp_locked}' FOR UPDATE")
    [before] = lock.sync()
    try:
        time.sleep(1.0)
        h.expect("Hello, alice" in locked.get("/php/").body)  # activity while its row is locked
        time.sleep(1.5)  # at least one flush meets the lock
        t0 = time.monotonic()
        tm.cli("kill", session_id(victim, "PHPSESSID"))
        tm.denied_with(victim, "/php/", "killed")
        took = time.monotonic() - t0
        print(f"    kill enforced in {took:.2f}s while a session row was locked")
        h.expect(took < 1.5, f"the kill took {took:.2f}s")
        time.sleep(max(0.0, 10 - 1.0 - 1.5 - took))
        h.expect("database unreachable" not in web.error_log_text(), "a locked row looked like an outage")
    finally:
        lock.end()
    h.eventually(lambda: int(DB.scalar("SELECT TIMESTAMPDIFF(MICROSECOND, FROM_UNIXTIME(0), last_access) "
                                       "FROM sessions WHERE fingerprint = %s", fp_locked)) > int(before),
                 timeout=10, what="the locked session's activity recorded after the lock")
    h.expect("database unreachable" not in web.error_log_text(), "a locked row looked like an outage")


# ----------------------------------------------------------------- found 6: late commits

def test_a_revocation_committed_40_seconds_late_is_enforced_at_the_next_poll():
    """Writer A takes the lower id, writer B commits a higher one, A commits 40 s later. The
    instance starts just before, so its next full reload is 60 s away (before: enforced
    only at that reload, as the 30 s gap timeout had given up on A's id)."""
    web = start_web("sg-late-commit")
    first, second = php_user(web, "carol"), php_user(web, "carol")
    fp_first = fingerprint("PHPSESSID", first.cookies["PHPSESSID"])
    fp_second = fingerprint("PHPSESSID", second.cookies["PHPSESSID"])
    writer_a = HeldTransaction()
    try:
        writer_a.send(f"INSERT INTO deny_events (kind, fingerprint, username, reason) "
                      f"VALUES ('session', '{fp_first}', 'carol', 'killed')")
        writer_a.send("SELECT LAST_INSERT_ID()")
        id_a = int(writer_a.sync()[-1])
        DB.query("INSERT INTO deny_events (kind, fingerprint, username, reason) VALUES ('session', %s, 'carol', 'killed')",
                 fp_second)
        h.expect(int(DB.scalar("SELECT MAX(id) FROM deny_events")) > id_a, "B's id is not above A's")
        tm.denied_with(second, "/php/", "killed")
        time.sleep(40)
        h.expect("Hello, carol" in first.get("/php/").body, "A's revocation is not committed yet")
        writer_a.end("COMMIT")
        t0 = time.monotonic()
        h.eventually(lambda: reason_of(first.get("/php/")) == "killed", timeout=30, interval=0.02,
                     what="the late revocation enforced")
        took = time.monotonic() - t0
        print(f"    committed 40 s late, enforced {took:.2f}s after its commit")
        h.expect(took < 1.5, f"enforced {took:.2f}s after its commit")
    finally:
        if writer_a.proc.poll() is None:
            writer_a.end()


if __name__ == "__main__":
    h.run(globals())
