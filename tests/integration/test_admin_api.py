"""The JSON API under /session-guard/api/ through real Apache + mod_fcgid + MariaDB: every
endpoint, its errors and status codes, and the effect on the demo app."""
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import admin_util as a  # noqa: E402

S = None


def setup_module():
    global S
    S = a.Stack()


def reason_of(resp):
    if resp.location and "reason=" in resp.location:
        return urllib.parse.parse_qs(urllib.parse.urlsplit(resp.location).query).get("reason", [None])[0]
    return None


def denied_with(browser, reason, path="/php/"):
    def check():
        r = browser.get(path)
        return r if reason_of(r) == reason else None
    return h.eventually(check, timeout=5, what=f"{path} denied as {reason}")


def counts():
    return [S.db.scalar(f"SELECT COUNT(*) FROM {t}") for t in ("audit_log", "deny_events", "mail_outbox")] + \
        [S.db.scalar("SELECT COUNT(*) FROM sessions WHERE state='active'")]


def test_list_sessions_with_filters_sorting_and_paging():
    S.user("alice"), S.user("alice"), S.user("bob")
    admin = S.admin()
    r = a.api(admin, "GET", "sessions")
    h.expect(r.status == 200 and r.header("Content-Type") == "application/json", r)
    body = r.json()
    h.expect(body["total"] >= 3 and body["sort"] == "last_access" and body["order"] == "desc", body)
    s = body["sessions"][0]
    for key in ("id", "fingerprint", "user", "admin", "login_at", "last_access", "idle_seconds", "ip", "device",
                "browser", "os", "server", "idle_timeout"):
        h.expect(key in s, key, s)
    h.expect(len(s["fingerprint"]) == 64 and s["id"] == s["fingerprint"][:8].upper(), s)
    body = a.api(admin, "GET", "sessions?user=alice&sort=user&order=asc&limit=10").json()
    h.expect(body["total"] == 2 and {x["user"] for x in body["sessions"]} == {"alice"}, body)
    # Paging with next_after visits each row once.
    seen, after = [], ""
    while True:
        page = a.api(admin, "GET", "sessions?limit=10&sort=ip&order=asc" + (f"&after={after}" if after else "")).json()
        seen += [x["fingerprint"] for x in page["sessions"]]
        if page["next_after"] is None:
            break
        after = page["next_after"]
    h.expect(len(seen) == len(set(seen)) == page["total"], len(seen), page["total"])
    for bad in ("sort=secret", "order=up", "limit=7", "after=abc", "q=" + "x" * 300):
        r = a.api(admin, "GET", "sessions?" + bad)
        h.expect(r.status == 400 and r.json()["error"] == "bad_request", bad, r)


def test_kill_requires_json_and_reports_errors_with_fitting_status():
    alice = S.user("alice")
    fp = S.session_of("alice")[0]
    admin = S.admin()
    before = counts()
    r = a.api(admin, "POST", "kill", urllib.parse.urlencode({"id": fp}), content_type="application/x-www-form-urlencoded")
    h.expect(r.status == 415 and r.json()["error"] == "unsupported_media_type", r)
    r = a.api(admin, "POST", "kill", "{not json")
    h.expect(r.status == 400 and r.json()["error"] == "invalid_json", r)
    r = a.api(admin, "POST", "kill", {"session": fp})
    h.expect(r.status == 400 and r.json()["error"] == "missing_field", r)
    r = a.api(admin, "POST", "kill", {"id": 12345})
    h.expect(r.status == 400 and r.json()["error"] == "invalid_field", r)
    r = a.api(admin, "POST", "kill", {"id": "zz-not-hex"})
    h.expect(r.status == 400, r)
    r = a.api(admin, "POST", "kill", {"id": "00000000deadbeef"})
    h.expect(r.status == 404 and r.json()["error"] == "not_found", r)
    r = a.api(admin, "GET", "kill")
    h.expect(r.status == 405 and r.header("Allow") == "POST", r)
    r = a.api(admin, "POST", "sessions", {})
    h.expect(r.status == 405, r)
    r = a.api(admin, "POST", "nothing-here", {})
    h.expect(r.status == 404, r)
    r = a.api(admin, "POST", "kill", {"id": fp, "pad": "x" * (200 * 1024)})
    h.expect(r.status == 413, r)
    h.expect(counts() == before, "nothing may change", before, counts())
    r = a.api(admin, "POST", "kill", {"id": fp[:12]})   # an unambiguous prefix works too
    h.expect(r.status == 200 and r.json()["ok"] and r.json()["message"] == f"Session {fp[:8].upper()} terminated by "
             "administrator admin", r)
    denied_with(alice, "killed")
    # A JSON client of the app learns why with 401 (the module's part).
    r = alice.get("/php/", headers={"Accept": "application/json"})
    h.expect(r.status in (401, 302), r)
    row = S.db.query("SELECT source, actor FROM audit_log WHERE target_session=%s", fp)
    h.expect(row == [["api", "admin"]], row)


def test_kill_many_is_all_or_nothing():
    S.user("carol"), S.user("carol")
    fps = S.session_of("carol")[:2]
    admin = S.admin()
    before = counts()
    r = a.api(admin, "POST", "kill-many", {"ids": fps + ["0000000000000000"]})
    h.expect(r.status == 404 and counts() == before, "one unknown id refuses the whole request", r)
    r = a.api(admin, "POST", "kill-many", {"ids": "not a list"})
    h.expect(r.status == 400, r)
    r = a.api(admin, "POST", "kill-many", {"ids": []})
    h.expect(r.status == 400, r)
    r = a.api(admin, "POST", "kill-many", {"ids": fps})
    h.expect(r.status == 200 and r.json()["sessions_ended"] == 2, r)
    h.expect([S.state(f) for f in fps] == ["killed", "killed"])


def test_kill_user_block_unblock_and_logout_request():
    bob = S.user("bob")
    admin = S.admin()
    r = a.api(admin, "POST", "kill-user", {"user": "nobody"})
    h.expect(r.status == 404, r)
    r = a.api(admin, "POST", "kill-user", {"user": "bob"})
    h.expect(r.status == 200 and r.json()["sessions_ended"] >= 1 and r.json()["mails_queued"] == 1, r)
    denied_with(bob, "killed")
    bob = S.user("bob")
    r = a.api(admin, "POST", "block", {"user": "bob", "reason": ""})
    h.expect(r.status == 400 and "reason" in r.json()["message"], r)
    r = a.api(admin, "POST", "block", {"user": "bob"})
    h.expect(r.status == 400, r)
    r = a.api(admin, "POST", "block", {"user": "admin", "reason": "x"})
    h.expect(r.status == 409 and r.json()["error"] == "self_block", r)
    r = a.api(admin, "POST", "block", {"user": "bob", "reason": "offboarding ticket 4711"})
    h.expect(r.status == 200, r)
    denied_with(bob, "blocked")
    users = {u["user"]: u for u in a.api(admin, "GET", "users?state=blocked").json()["users"]}
    h.expect(users["bob"]["blocked"] and users["bob"]["blocked_by"] == "admin" and
             users["bob"]["block_reason"] == "offboarding ticket 4711", users)
    r = a.api(admin, "POST", "unblock", {"user": "bob"})
    h.expect(r.status == 200, r)
    r = a.api(admin, "POST", "unblock", {"user": "bob"})
    h.expect(r.status == 409, "unblocking twice:", r)
    S.user("bob")
    fp = S.session_of("bob")[0]
    before = len(a.mails(S.maildir))
    r = a.api(admin, "POST", "logout-request", {"id": fp, "subject": "Please log out", "message": ""})
    h.expect(r.status == 400, r)
    r = a.api(admin, "POST", "logout-request", {"id": fp, "subject": "Please log out", "message": "Now, please."})
    h.expect(r.status == 200 and r.json()["mails_queued"] == 1, r)
    m = a.wait_mail(S.maildir, before + 1)[-1]
    h.expect(m["To"] == "bob@example.test" and m["Subject"] == "Please log out" and "Now, please." in a.body_of(m), m)


def test_own_session_needs_confirm_self():
    mine = S.user("admin", "admin")
    fp = S.session_of("admin")[0]
    admin = S.admin()
    r = a.api(admin, "POST", "kill", {"id": fp})
    h.expect(r.status == 409 and r.json()["error"] == "own_session" and S.state(fp) == "active", r)
    r = a.api(admin, "POST", "kill", {"id": fp, "confirm_self": True})
    h.expect(r.status == 200 and S.state(fp) == "killed", r)
    denied_with(mine, "killed")


def test_audit_and_outbox():
    admin = S.admin()
    entries = a.api(admin, "GET", "audit?limit=5").json()
    h.expect(len(entries["entries"]) == 5 and entries["next_before"], entries)
    older = a.api(admin, "GET", f"audit?limit=5&before={entries['next_before']}").json()["entries"]
    h.expect(older and older[0]["id"] < entries["entries"][-1]["id"] + 1, older)
    blocks = a.api(admin, "GET", "audit?action=block_user&user=bob").json()["entries"]
    h.expect(blocks and all(e["action"] == "block_user" and e["user"] == "bob" for e in blocks), blocks)
    h.expect(blocks[0]["reason"] == "offboarding ticket 4711" and blocks[0]["source"] == "api", blocks[0])
    h.eventually(lambda: all(m["state"] == "sent" for m in a.api(admin, "GET", "outbox").json()["mails"]),
                 what="every mail sent")
    mails = a.api(admin, "GET", "outbox").json()["mails"]
    h.expect(mails and {"to", "subject", "state", "attempts", "kind"} <= set(mails[0]), mails[0])
    r = a.api(admin, "GET", "audit?before=x")
    h.expect(r.status == 400, r)


if __name__ == "__main__":
    h.run(globals())
