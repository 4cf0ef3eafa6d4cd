"""Issue 11, item 5: the module's state for operators. mod_status's server-status page (HTML
and ?auto) shows a Session Guard section whose figures move with what happens (a kill, a
login, a database outage), and the pollers of two Apache instances sharing one database each
report a row that GET /api/health and the admin's Health page show."""
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import admin_util as a  # noqa: E402

STATUS_CONF = """
LoadModule status_module /usr/lib/apache2/modules/mod_status.so
<Location /server-status>
  SetHandler server-status
</Location>
"""
KEYS = ["SessionGuardInstance", "SessionGuardRevokedSessions", "SessionGuardBlockedUsers",
        "SessionGuardDenyListCapacity", "SessionGuardDenyListAgeMs", "SessionGuardPollLagMs",
        "SessionGuardLastDatabaseError", "SessionGuardActivitySlotsUsed", "SessionGuardActivitySlots",
        "SessionGuardLoginConnectionsInUse", "SessionGuardLoginConnections", "SessionGuardJournalBytes",
        "SessionGuardJournalRecordsPending"]
S = None


def setup_module():
    global S
    S = a.Stack(extra_conf=STATUS_CONF)
    h.eventually(lambda: "deny-list loaded" in S.web.error_log_text(), what="first poll")


def status(web):
    r = h.Browser(web.base_url).get("/server-status?auto")
    h.expect(r.status == 200, "server-status?auto:", r)
    figures = {}
    for line in r.body.splitlines():
        key, sep, value = line.partition(": ")
        if sep and key.startswith("SessionGuard"):
            figures[key] = value
    return figures


def number(web, key):
    return int(status(web)[key])


def instance_of(web):
    return f"{socket.gethostname()}:{web.port}"


def health_rows(allow_unavailable=False):
    r = a.api(S.admin(), "GET", "health")
    if allow_unavailable and r.status == 503:  # the admin's connection, just after the database returned
        return {}
    h.expect(r.status == 200, "GET /api/health:", r)
    return {row["instance"]: row for row in r.json()["instances"]}


def test_server_status_auto_has_every_figure():
    figures = status(S.web)
    missing = [k for k in KEYS if k not in figures]
    h.expect(not missing, "missing from ?auto:", missing, figures)
    h.expect(figures["SessionGuardInstance"] == instance_of(S.web), figures)
    h.expect(figures["SessionGuardLastDatabaseError"] == "none", figures)
    h.expect(int(figures["SessionGuardLoginConnections"]) == 4, figures)
    # Fresh: the poller refreshes every 250 ms; a generous bound for a loaded machine.
    h.eventually(lambda: number(S.web, "SessionGuardPollLagMs") < 5000, what="a recent poll")


def test_server_status_html_has_an_escaped_section():
    r = h.Browser(S.web.base_url).get("/server-status")
    h.expect(r.status == 200, r)
    h.expect("<h2>Session Guard</h2>" in r.body, "no Session Guard section in server-status")
    h.expect("<td>activity slots used</td>" in r.body, "figures missing from the HTML section")


def test_a_kill_raises_the_deny_list_size():
    S.user("alice")
    before = number(S.web, "SessionGuardRevokedSessions")
    r = a.api(S.admin(), "POST", "kill-user", {"user": "alice"})
    h.expect(r.status == 200, r)
    h.eventually(lambda: number(S.web, "SessionGuardRevokedSessions") > before, timeout=15,
                 what="the revocation in the deny-list size")


def test_a_login_takes_an_activity_slot():
    before = number(S.web, "SessionGuardActivitySlotsUsed")
    S.user("bob")
    h.eventually(lambda: number(S.web, "SessionGuardActivitySlotsUsed") > before, timeout=15,
                 what="the new session's activity slot")


def test_two_instances_each_report_a_row():
    second = h.Apache().start(tmp=S.tmp, db=S.db, module=h.MODULE, extra_conf=STATUS_CONF, name="sg-health-2")
    names = {instance_of(S.web), instance_of(second)}
    rows = h.eventually(lambda: names <= set(health_rows()) and health_rows(), timeout=30,
                        what="a health row from each instance")
    for name in names:
        row = rows[name]
        h.expect(row["stale"] is False, row)
        h.expect(row["report_interval_ms"] == 10000, row)
        h.expect(row["activity_slots"] > 0 and row["login_connections"] == 4, row)
        h.expect(row["deny_list_capacity"] > 0 and "revoked_sessions" in row and "journal_bytes" in row, row)
    # The figures are the instance's own: the second one has none of the first one's logins.
    h.expect(rows[instance_of(second)]["activity_slots_used"] == 0, rows)
    page = S.admin().get("/session-guard/health")
    h.expect(page.status == 200, page)
    for name in names:
        h.expect(page.body.count(f'data-instance="{name}"') == 1, "one row per instance on the Health page:", name)
    second.stop()


def test_database_outage_shows_in_server_status_then_in_the_report():
    S.db.stop()
    try:
        h.eventually(lambda: status(S.web)["SessionGuardLastDatabaseError"] != "none", timeout=20,
                     what="the database error in server-status")
        age = number(S.web, "SessionGuardDenyListAgeMs")
        h.eventually(lambda: number(S.web, "SessionGuardDenyListAgeMs") > age + 500, timeout=10,
                     what="the deny-list ageing while the database is away")
        # A login the database cannot take waits in the journal (SessionGuardLoginWhenUnreachable admit).
        b = S.web.browser()
        b.login_php("carol", "demo")
        h.eventually(lambda: number(S.web, "SessionGuardJournalBytes") > 0, timeout=10, what="journal bytes")
        h.eventually(lambda: number(S.web, "SessionGuardJournalRecordsPending") >= 1, timeout=10,
                     what="journal records pending")
    finally:
        S.db.start(tmp=S.tmp)
    h.eventually(lambda: number(S.web, "SessionGuardJournalRecordsPending") == 0, timeout=30, what="journal replayed")
    def reported():
        row = health_rows(allow_unavailable=True).get(instance_of(S.web)) or {}
        return row if row.get("last_db_error") else None
    row = h.eventually(reported, timeout=40, what="the outage in the health report")
    h.expect(row["last_db_error_at"], row)
    h.expect(status(S.web)["SessionGuardLastDatabaseError"] != "none", "the last error is kept after recovery")


if __name__ == "__main__":
    h.run(globals())
