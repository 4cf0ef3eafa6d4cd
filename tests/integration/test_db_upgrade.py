"""session-guard-db-setup against a real mariadbd: a database made with an older migration
set, with live sessions of a running Apache, is upgraded in place; the sessions are kept and
still enforced (a kill after the upgrade denies its session, the other goes on). Running it
again changes nothing; --check says what is missing."""
import getpass
import os
import secrets
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from test_module import fingerprint, reason_of  # noqa: E402

SETUP = os.path.join(h.SCRIPTS, "session-guard-db-setup")
SQL = os.path.join(h.REPO, "sql")


class BareMariaDB(h.MariaDB):
    """A server with no Session Guard database: the test creates it with the tool under test."""

    def setup(self):
        pass

    def db_setup(self, *args, check=True):
        admin_user = "www-data" if os.geteuid() == 0 else getpass.getuser()
        return h.sh(SETUP, "--socket", self.socket, "--config-dir", self.dir,
                    "--module-cnf", self.cnf, "--admin-cnf", os.path.join(self.dir, "sg-admin.cnf"),
                    "--admin-user", admin_user, *args, check=check, timeout=300)

    def write_htpasswd(self):
        h.sh("htpasswd", "-bcB", self.htpasswd, "admin", "admin")
        os.chmod(self.htpasswd, 0o644)


def older_migrations(tmp):
    """The migration set of an earlier release: all but the newest two."""
    names = sorted(f for f in os.listdir(SQL) if f.endswith(".sql"))
    h.expect(len(names) >= 3, "too few migrations to test an upgrade:", names)
    folder = os.path.join(tmp, "sql-older")
    os.makedirs(folder)
    for name in names[:-2]:
        shutil.copy(os.path.join(SQL, name), folder)
    return folder, names[-2:]


def test_upgrade_keeps_and_enforces_live_sessions():
    tmp = h.tmpdir()
    db = BareMariaDB().start(tmp=tmp)
    older, newer = older_migrations(tmp)
    out = db.db_setup("--sql-dir", older, "--add-admin", "admin").stdout
    h.expect("ready" in out, "first set-up:", out)
    check = db.db_setup("--check", check=False)
    h.expect(check.returncode == 1 and all(n in check.stdout for n in newer),
             "--check on the older database:", check.returncode, check.stdout)
    db.write_htpasswd()

    # Live sessions as the earlier release's module recorded them (its columns only): this
    # build's module writes columns the newer migrations add.
    cookies = {user: secrets.token_hex(16) for user in ("alice", "bob")}
    for user, value in cookies.items():
        db.root_query("INSERT IGNORE INTO accounts (username, last_login_at) VALUES (%s, NOW(6))", user)
        db.root_query("INSERT INTO sessions (fingerprint, username, cookie_name, state, login_at, last_access) "
                      "VALUES (%s, %s, 'PHPSESSID', 'active', NOW(6), NOW(6))", fingerprint("PHPSESSID", value), user)
    before = db.root_query("SELECT username, fingerprint, state FROM sessions ORDER BY username")

    out = db.db_setup().stdout
    h.expect(all(f"applying {n}" in out for n in newer), "the upgrade did not apply", newer, out)
    h.expect(db.db_setup("--check", check=False).returncode == 0, "--check after the upgrade")
    after = db.root_query("SELECT username, fingerprint, state FROM sessions ORDER BY username")
    h.expect(after == before, "the upgrade changed the live sessions:", before, after)
    again = db.db_setup().stdout
    h.expect("applying" not in again, "a second run applied migrations again:", again)

    web = h.Apache().start(tmp=tmp, db=db, module=h.MODULE, name="sg-upgrade")
    h.eventually(lambda: "deny-list loaded" in web.error_log_text(), what="first poll")

    def reason(user):
        b = web.browser()
        b.cookies["PHPSESSID"] = cookies[user]
        return reason_of(b.get("/php/page2.php"))

    h.sh(h.FCGI_ADMIN, "--config", db.cnf, "--as", "admin", "kill-user", "alice")
    h.eventually(lambda: reason("alice") == "killed", timeout=10, what="alice's session denied")
    h.expect(reason("bob") is None, "bob's session from before the upgrade was denied")
    h.expect(db.root_query("SELECT username, state FROM sessions ORDER BY username") == [["alice", "killed"], ["bob", "active"]],
             "rows after the kill")


def test_every_migration_can_run_again():
    """A migration that failed half-way (DDL commits statement by statement) is run again
    whole on the next set-up, so each must be safe to repeat."""
    tmp = h.tmpdir()
    db = BareMariaDB().start(tmp=tmp)
    db.db_setup()
    db.root_query("DELETE FROM schema_migrations")
    out = db.db_setup().stdout
    names = sorted(f for f in os.listdir(SQL) if f.endswith(".sql"))
    h.expect(all(f"applying {n}" in out for n in names), "not every migration ran again:", out)


def test_bad_arguments_change_nothing():
    tmp = h.tmpdir()
    db = BareMariaDB().start(tmp=tmp)
    for args, says in [(["--database", "x;DROP"], "--database"), (["--hosts", "a b"], "--hosts"),
                       (["--add-admin", "a'b"], "--add-admin"), (["--sql-dir", tmp], "no migrations"),
                       (["--bogus"], "unknown option")]:
        p = db.db_setup(*args, check=False)
        h.expect(p.returncode != 0 and says in p.stderr, args, "->", p.returncode, p.stderr)
    p = h.sh(SETUP, "--socket", os.path.join(tmp, "nothing.sock"), check=False)
    h.expect(p.returncode != 0 and "no MariaDB server socket" in p.stderr, "missing socket:", p.stderr)
    rows = h.sh("mariadb", "--no-defaults", f"--socket={db.socket}", f"-u{getpass.getuser()}", "--batch",
                "--skip-column-names", "-e", "SHOW DATABASES LIKE 'session_guard'").stdout
    h.expect(rows.strip() == "", "a refused run created the database:", rows)


if __name__ == "__main__":
    h.run(globals())
