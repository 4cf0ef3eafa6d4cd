"""`fcgi_admin doctor` against a real mariadbd: a database set up by scripts/db-setup passes
(so the privileges the code requires and the ones the script grants agree); each problem an
operator can have is reported in a line with its fix and a non-zero exit: an older schema,
a missing privilege, a module account with more than it needs, an option file every user can
read, a missing option file, a database that is down."""
import os
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
