"""Browser test of the admin pages: Debian's headless Chromium driven by playwright-core
(tests/browser/admin_browser.mjs) against real Apache + mod_fcgid + MariaDB. Screenshots go
to build/test-output/browser/."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import admin_util as a  # noqa: E402

BROWSER_DIR = os.path.join(h.REPO, "tests", "browser")
OUT = os.path.join(h.REPO, "build", "test-output", "browser")


def ensure_node_modules():
    if os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")):
        return
    # The lock file pins the exact version; playwright-core downloads no browser.
    h.sh("npm", "ci", "--no-audit", "--no-fund", "--prefix", BROWSER_DIR, timeout=300)


def test_admin_kills_and_blocks_in_a_real_browser():
    h.expect(os.access("/usr/bin/chromium", os.X_OK), "Debian's chromium is not installed (scripts/install-deps)")
    ensure_node_modules()
    st = a.Stack(settings={"refresh": "2"})
    p = subprocess.run(["node", os.path.join(BROWSER_DIR, "admin_browser.mjs")], capture_output=True, text=True,
                       timeout=300, cwd=BROWSER_DIR, env=dict(os.environ, BASE_URL=st.base, OUT_DIR=OUT))
    print(p.stdout + p.stderr)
    h.expect(p.returncode == 0 and "\nOK" in p.stdout, "browser test failed:",
             (p.stdout.strip().splitlines() or ["no output"])[-1])
    # What the browser did is in the database too.
    h.expect(st.db.scalar("SELECT active FROM accounts WHERE username='bob'") == "0", "bob blocked")
    h.expect(st.db.scalar("SELECT COUNT(*) FROM sessions WHERE username='alice' AND state='killed'") == "1")
    for shot in ("sessions.png", "confirm-kill.png", "alice-killed.png", "bob-blocked.png", "audit.png"):
        h.expect(os.path.getsize(os.path.join(OUT, shot)) > 1000, shot)


def test_session_limit_of_one_supersedes_the_first_browser():
    h.expect(os.access("/usr/bin/chromium", os.X_OK), "Debian's chromium is not installed (scripts/install-deps)")
    ensure_node_modules()
    st = a.Stack(extra_conf="<Location /php/>\n  SessionGuardMaxSessions 1\n</Location>\n")
    p = subprocess.run(["node", os.path.join(BROWSER_DIR, "policy_browser.mjs")], capture_output=True, text=True,
                       timeout=300, cwd=BROWSER_DIR, env=dict(os.environ, BASE_URL=st.base, OUT_DIR=OUT))
    print(p.stdout + p.stderr)
    h.expect(p.returncode == 0 and "\nOK" in p.stdout, "browser test failed:",
             (p.stdout.strip().splitlines() or ["no output"])[-1])
    h.expect(st.db.scalar("SELECT COUNT(*) FROM sessions WHERE username='alice' AND state='superseded'") == "1")
    h.expect(st.db.scalar("SELECT COUNT(*) FROM sessions WHERE username='alice' AND state='active'") == "1")
    for shot in ("limit-superseded.png", "my-sessions.png"):
        h.expect(os.path.getsize(os.path.join(OUT, shot)) > 1000, shot)


if __name__ == "__main__":
    h.run(globals())
