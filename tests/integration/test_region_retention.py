"""The deny-list's limits against real mariadbd + Apache: revocations kept for a time, not
as the newest N, with no user able to push out another's (issue 9 case 5, through the
poller's real SQL); the state file as a cold start reads it (case 7) and as root opens it
(case 16)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from test_module import fingerprint, php_user, reason_of  # noqa: E402

DB = WEB = None
PROPAGATION = 3.0
CAPACITY = 1000


def setup_module():
    global DB, WEB
    DB = h.MariaDB().start()
    WEB = h.Apache().start(db=DB, module=h.MODULE, name="sg-retention",
                           extra_conf=f"SessionGuardDenyListSize {CAPACITY}\nSessionGuardRevocationRetention 168h\n")
    h.eventually(lambda: "deny-list loaded" in WEB.error_log_text(), what="first poll")


def cookie_reason(web, value):
    """What a request presenting PHPSESSID=value gets: a reason, or None when it is served."""
    b = web.browser()
    b.cookies["PHPSESSID"] = value
    return reason_of(b.get("/php/page2.php"))


def insert_revocations(user, values, reason="superseded", age_sql="0 SECOND"):
    """deny_events rows as record_login writes them, many per statement."""
    for start in range(0, len(values), 200):
        rows = ", ".join(
            h.format_sql("('session', %s, %s, %s, NOW(6) - INTERVAL " + age_sql + ")",
                         [fingerprint("PHPSESSID", v), user, reason])
            for v in values[start:start + 200])
        DB.query("INSERT INTO deny_events (kind, fingerprint, username, reason, created_at) VALUES " + rows)


def full_resync(web):
    """A graceful restart starts a new poller, whose first tick is a full load; the shared
    list itself survives it."""
    mark = len(web.error_log_text())
    web.graceful()
    h.eventually(lambda: "deny-list loaded" in web.error_log_text()[mark:], what="full load after graceful")


def state_file(web):
    return os.path.join(web.dir, "run", "session_guard", "deny-list.state")


def cold_start_with_state_file(web, text=None, link_to=None):
    """Stops Apache, puts `text` (or a link) where the state file is, starts it again and
    returns what the start wrote to the error log."""
    web.stop()
    path = state_file(web)
    if os.path.lexists(path):
        os.unlink(path)
    if link_to:
        os.symlink(link_to, path)
    else:
        with open(path, "w") as f:
            f.write(text)
    mark = len(web.error_log_text())
    h.script("apache-ctl", "start", web.dir, timeout=60)
    web.running = True
    return web.error_log_text()[mark:]


# ----------------------------------------------------------------- issue 9 case 5

def test_one_users_logins_cannot_push_out_another_users_kill():
    # issue 9 case 5: alice's session is killed; then bob's 1,050 logins each supersede the
    # previous one (written here as record_login writes them, without 1,050 form posts).
    # With the newest 1000 kept, alice's killed cookie worked again.
    alice = php_user(WEB, "alice")
    killed = alice.cookies["PHPSESSID"]
    h.fcgi_admin(DB, "kill", fingerprint("PHPSESSID", killed)[:8], as_user="admin")
    h.eventually(lambda: cookie_reason(WEB, killed) == "killed", timeout=PROPAGATION, what="kill enforced")
    bob_values = [f"bob-login-{i}" for i in range(1050)]
    insert_revocations("bob", bob_values)
    h.eventually(lambda: cookie_reason(WEB, bob_values[-1]) == "superseded", timeout=PROPAGATION,
                 what="bob's newest revocation enforced")
    h.expect(cookie_reason(WEB, killed) == "killed", "bob's logins pushed alice's kill out (incremental)")
    # A full load, through the database's own choice of what fits.
    full_resync(WEB)
    h.expect(cookie_reason(WEB, killed) == "killed", "bob's logins pushed alice's kill out (full load)")
    h.expect(cookie_reason(WEB, bob_values[-1]) == "superseded", "bob's newest revocation lost")
    h.expect(cookie_reason(WEB, bob_values[-999]) == "superseded", "bob's 999th newest revocation lost")
    h.expect(cookie_reason(WEB, bob_values[-1000]) is None, "more than the capacity kept?")
    h.expect(DB.scalar("SELECT state FROM sessions WHERE fingerprint=%s", fingerprint("PHPSESSID", killed)) == "killed")
    h.expect(not WEB.crashes(), WEB.crashes())


def test_revocations_are_kept_for_the_retention_not_beyond():
    # Inside 168 hours: enforced however many newer ones there are; older: forgotten (the
    # app's own session must have ended by then, which is what the directive promises).
    insert_revocations("carol", ["carol-6-days"], reason="killed", age_sql="6 DAY")
    insert_revocations("carol", ["carol-8-days"], reason="killed", age_sql="8 DAY")
    full_resync(WEB)
    h.expect(cookie_reason(WEB, "carol-6-days") == "killed", "a revocation within retention was forgotten")
    h.expect(cookie_reason(WEB, "carol-8-days") is None, "a revocation past retention is still loaded")


# ----------------------------------------------------------------- the state file, issue 9 cases 7 and 16

def test_state_file_is_written_whole_by_the_server_user():
    path = state_file(WEB)
    h.eventually(lambda: os.path.exists(path), what="state file written")
    st = os.stat(os.path.dirname(path))
    h.expect(oct(st.st_mode & 0o777) == "0o700", "state directory mode", oct(st.st_mode))
    # No temporary copy left beside it; the journal (test_module_journal.py) shares the folder.
    h.expect(sorted(os.listdir(os.path.dirname(path))) == ["deny-list.state", "journal"],
             os.listdir(os.path.dirname(path)))
    with open(path) as f:
        text = f.read()
    h.expect(text.startswith("session-guard-deny-list 1 ") and text.endswith("\n") and "\nend " in text, text[:200])


def test_bad_state_files_never_stop_a_cold_start():
    web = h.Apache().start(db=DB, module=h.MODULE, name="sg-state")
    h.eventually(lambda: "deny-list loaded" in web.error_log_text(), what="first poll")
    h.eventually(lambda: os.path.exists(state_file(web)), what="state file written")
    good = open(state_file(web)).read()
    first, rest = good.split("\n", 1)
    for stamp, why in (("9999999999999999999", "refresh time out of range"),  # issue 9 case 7
                       ("99999999999999999999999", "refresh time out of range"),
                       (str(int(first.split()[-1]) + 3600 * 10**6), "refresh time in the future"),
                       ("-1", "refresh time out of range")):
        log = cold_start_with_state_file(web, f"session-guard-deny-list 1 {stamp}\n{rest}")
        h.expect(f"ignoring the state file {state_file(web)}: {why}" in log, stamp, log)
        h.expect("Configuration Failed" not in log, log)
        h.expect(web.browser().get("/php/login.php").status == 200, "not serving after a bad state file")
    # Root does not follow a link planted where the file goes.
    secret = os.path.join(web.dir, "not-for-root")
    with open(secret, "w") as f:
        f.write(good)
    log = cold_start_with_state_file(web, link_to=secret)
    h.expect("symbolic link" in log and "until the database answers" not in log, log)
    h.expect(web.browser().get("/php/login.php").status == 200)
    h.eventually(lambda: not os.path.islink(state_file(web)), what="the link replaced by the next save")
    h.expect(open(secret).read() == good, "the poller wrote through the link")
    h.expect(not web.crashes(), web.crashes())


if __name__ == "__main__":
    h.run(globals())
