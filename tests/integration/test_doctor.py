"""`fcgi_admin doctor` against a real mariadbd: a database set up by scripts/db-setup passes
(so the privileges the code requires and the ones the script grants agree); each problem an
operator can have is reported in a line with its fix and a non-zero exit: an older schema,
a missing privilege, a module account with more than it needs, an option file every user can
read, a missing option file, a database without the schema, a database that is down.
The module says at Apache's start, each in one line of the error log: an older schema, a
missing privilege, an option file the server's user cannot read, a database without the
schema, a state file whose directory cannot be made (and serves anyway)."""
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

DB = None


def setup_module():
    global DB
    DB = h.MariaDB().start()


def doctor(cnf=None):
    return h.sh(h.FCGI_ADMIN, "--config", cnf or DB.cnf, "doctor", check=False)


def expect_problem(p, text, status=1):
    h.expect(p.returncode == status and "PROBLEM" in p.stdout and text in p.stdout and "fix:" in p.stdout,
             f"doctor should report {text!r} and exit {status}:", p.returncode, p.stdout, p.stderr)


def test_a_fresh_set_up_has_no_problems():
    p = doctor()
    h.expect(p.returncode == 0 and "no problems found" in p.stdout and "PROBLEM" not in p.stdout,
             "doctor on a fresh set-up:", p.returncode, p.stdout, p.stderr)


def test_older_schema():
    newest = DB.root_query("SELECT name FROM schema_migrations ORDER BY name DESC LIMIT 1")[0][0]
    DB.root_query("DELETE FROM schema_migrations WHERE name = %s", newest)
    try:
        expect_problem(doctor(), f"lacks migrations {newest}")
    finally:
        DB.setup()
    h.expect(doctor().returncode == 0, "db-setup did not repair the schema version")


def test_missing_and_excess_privileges():
    for host in ("localhost", "127.0.0.1"):
        DB.root_query(f"REVOKE INSERT ON session_guard.session_values FROM 'sg_module'@'{host}'")
        DB.root_query(f"REVOKE INSERT ON session_guard.audit_log FROM 'sg_admin'@'{host}'")
    try:
        p = doctor()
        expect_problem(p, "the module's database account lacks INSERT on session_values")
        expect_problem(p, "fcgi_admin's database account lacks INSERT on audit_log")
    finally:
        DB.setup()
    for host in ("localhost", "127.0.0.1"):
        DB.root_query(f"GRANT ALL ON session_guard.* TO 'sg_module'@'{host}'")
    try:
        expect_problem(doctor(), "the module's account has")
    finally:
        DB.setup()
    h.expect(doctor().returncode == 0, "db-setup did not repair the privileges")


def test_the_module_says_at_start_what_the_database_lacks():
    """The module's poller checks the schema version and its account's privileges once the
    database answers, and says each problem in one line of the error log."""
    newest = DB.root_query("SELECT name FROM schema_migrations ORDER BY name DESC LIMIT 1")[0][0]
    DB.root_query("DELETE FROM schema_migrations WHERE name = %s", newest)
    for host in ("localhost", "127.0.0.1"):
        DB.root_query(f"REVOKE INSERT ON session_guard.session_values FROM 'sg_module'@'{host}'")
    try:
        web = h.Apache().start(db=DB, module=h.MODULE, name="sg-doctor")
        h.eventually(lambda: "deny-list loaded" in web.error_log_text(), what="first poll")
        log = h.eventually(lambda: (lambda t: t if "lacks INSERT on session_values" in t else None)(
            web.error_log_text()), what="the missing privilege in the error log")
        h.expect(f"lacks migrations {newest}" in log and "run session-guard-db-setup" in log,
                 "the older schema is not reported at start")
    finally:
        DB.setup()
    web2 = h.Apache().start(db=DB, module=h.MODULE, name="sg-doctor-ok")
    h.eventually(lambda: "deny-list loaded" in web2.error_log_text(), what="first poll")
    time.sleep(1)
    h.expect("lacks" not in web2.error_log_text(), "a set-up database reported as lacking something")


def installed_as(cnf):
    """What h.Apache needs of a database: its option file (and the demo's htpasswd)."""
    return type("OptionFile", (), {"cnf": cnf, "htpasswd": DB.htpasswd})()


def start_lines(web, text, timeout=10):
    """The error log's lines that contain `text`, once there is one."""
    return h.eventually(lambda: [line for line in web.error_log_text().splitlines() if text in line],
                        timeout=timeout, what=f"a line with {text!r} in {web.error_log}")


def empty_database(tmp):
    """A database the accounts may use that has no Session Guard schema (never set up), and
    option files for both accounts naming it."""
    DB.root_query("CREATE DATABASE IF NOT EXISTS sg_empty")
    for account in ("sg_module", "sg_admin"):
        for host in ("localhost", "127.0.0.1"):
            DB.root_query(f"GRANT SELECT ON sg_empty.* TO '{account}'@'{host}'")
    files = {}
    for name, source in (("db.cnf", DB.cnf), ("admin.cnf", os.path.join(DB.dir, "sg-admin.cnf"))):
        with open(source) as f:
            text = f.read().replace("database=session_guard", "database=sg_empty")
        files[name] = os.path.join(tmp, name)
        with open(files[name], "w") as f:
            f.write(text.replace(os.path.join(DB.dir, "sg-admin.cnf"), os.path.join(tmp, "admin.cnf")))
        shutil.copystat(source, files[name])
        st = os.stat(source)
        os.chown(files[name], st.st_uid, st.st_gid)
    return files


def test_the_module_says_at_start_that_it_cannot_read_its_option_file():
    """Found at configtest (as root), unreadable by the server's user: the poller, which
    runs as that user, says so with the fix."""
    tmp = h.tmpdir()
    cnf = os.path.join(tmp, "db.cnf")
    shutil.copy(DB.cnf, cnf)
    os.chmod(cnf, 0o000)  # root's own processes read it anyway; the server's user cannot
    web = h.Apache().start(tmp=tmp, db=installed_as(cnf), module=h.MODULE, name="sg-unreadable")
    lines = start_lines(web, f"SessionGuardDBOptions {cnf} is not readable by the server's user")
    time.sleep(1)  # the hot standby poller, started beside the active one, must not say it too
    lines = [line for line in web.error_log_text().splitlines() if "is not readable by the server's user" in line]
    h.expect(len(lines) == 1, "said more than once:", lines)
    h.expect(all("session-guard-db-setup makes it 0640, group www-data" in line for line in lines),
             "the line does not say how to fix it:", lines)
    h.expect(web.browser().get("/php/login.php").status == 200, "Apache does not serve without its database")


def test_the_module_says_at_start_that_the_database_has_no_schema():
    tmp = h.tmpdir()
    files = empty_database(tmp)
    try:
        web = h.Apache().start(tmp=tmp, db=installed_as(files["db.cnf"]), module=h.MODULE, name="sg-no-schema")
        lines = start_lines(web, "Table 'sg_empty.")
        h.expect(all("doesn't exist" in line and "[session_guard:error]" in line and
                     "has no Session Guard schema (run session-guard-db-setup)" in line and
                     "before any deny-list was read from it" in line and "unreachable" not in line for line in lines),
                 "the missing schema is not said in one clear error line:", lines)
        h.expect("deny-list loaded" not in web.error_log_text(), "a deny-list loaded from a database without one")
    finally:
        DB.root_query("DROP DATABASE sg_empty")


def test_doctor_on_a_database_without_the_schema():
    tmp = h.tmpdir()
    files = empty_database(tmp)
    try:
        p = doctor(files["db.cnf"])
        expect_problem(p, "fcgi_admin: cannot read the schema version")
        expect_problem(p, "the module: cannot read the schema version")
        h.expect("Table 'sg_empty.schema_migrations' doesn't exist" in p.stdout and
                 "fix: run session-guard-db-setup" in p.stdout, "doctor does not say what is missing:", p.stdout)
    finally:
        DB.root_query("DROP DATABASE sg_empty")


def test_the_module_says_at_start_where_it_cannot_keep_its_state_file():
    """Only a head start for a cold start: one warning line, and the instance serves and
    enforces from the database as usual (test_configtest.py: configtest passes)."""
    state = "/nonexistent/session-guard/deny-list.state"
    web = h.Apache().start(db=DB, module=h.MODULE, name="sg-state-file", extra_conf=f"SessionGuardStateFile {state}")
    lines = start_lines(web, "session guard: state file: cannot create /nonexistent/session-guard")
    h.expect(len(lines) == 1 and "[session_guard:warn]" in lines[0] and "No such file or directory" in lines[0],
             "the state file's problem at start:", lines)
    h.eventually(lambda: "deny-list loaded" in web.error_log_text(), what="first poll")
    h.expect(web.browser().login_php("alice", "demo").status == 302, "no login with the state file unusable")


def test_option_files():
    mode = os.stat(DB.cnf).st_mode & 0o777
    os.chmod(DB.cnf, 0o644)
    try:
        expect_problem(doctor(), "readable by every local user")
    finally:
        os.chmod(DB.cnf, mode)
    expect_problem(doctor(os.path.join(DB.dir, "missing.cnf")), "option file")


def test_database_down():
    DB.stop()
    try:
        expect_problem(doctor(), "cannot connect", status=3)
    finally:
        DB.start()


if __name__ == "__main__":
    h.run(globals())
