#!/usr/bin/env python3
"""`make chaos`: the fault scenarios of issue 10 on a real farm, one table (issue 10, item 10).

A 3-node MariaDB Galera cluster and 3 Apache instances (prefork + mod_php) on loopback, started
by the project's scripts through the test harness. Each scenario runs under load (GETs of a
live session on every instance) and, while the fault lasts, makes what must not be lost:
logins and logouts on every instance, kills through fcgi_admin (each timed until every
instance denies it) with their audit lines, which every instance's poller copies to its
error log, and the mail that tells the user. After recovery it counts what the database or a log lacks. Prints one row a scenario:
requests served and failed, faults, what was lost (must be 0) and kill -> deny p50/p99 per
instance. Bounded: each scenario stops its load after at most 90 s.

    python3 bench/chaos.py [--kills 8]
"""
import argparse
import os
import re
import signal
import statistics
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
import harness as h  # noqa: E402
import test_farm as farm  # noqa: E402
import test_faults as faults  # noqa: E402
from test_module import fingerprint, php_user  # noqa: E402


def pct(samples, p):
    ordered = sorted(samples)
    return ordered[max(0, min(len(ordered) - 1, int(round(p * len(ordered) + 0.5)) - 1))]


class Ledger:
    """What the scenario made and must find again after recovery."""

    def __init__(self):
        self.logins = []    # fingerprints that must be recorded as sessions
        self.logouts = []   # fingerprints that must end up logged_out
        # Every audit line written from now on must be in every instance's error log.
        self.audit_mark = int(farm.GALERA.scalar("SELECT COALESCE(MAX(id), 0) FROM audit_log"))
        self.per_instance = [[] for _ in farm.WEBS]
        self.faults = 0

    def login_and_logout_everywhere(self, user):
        for web in farm.WEBS:
            b = web.browser()
            r = b.login_php(user, "demo")
            if r.status == 302 and r.location.endswith("/php/"):
                self.logins.append(fingerprint("PHPSESSID", b.cookies["PHPSESSID"]))
            out = web.browser()
            if out.login_php(user, "demo").status == 302:
                fp = fingerprint("PHPSESSID", out.cookies["PHPSESSID"])
                self.logins.append(fp)
                if out.get("/php/logout.php").status == 302:
                    self.logouts.append(fp)

    def timed_kill(self, user, cnf=None):
        """Sessions of `user` on every instance, kill-user, seconds until each denies it."""
        seen = farm.kill_to_deny(user, cnf or farm.GALERA.admin_cnf(notify_kill="on"), limit=10)
        for i, t in enumerate(seen):
            self.per_instance[i].append(t if t is not None else float("inf"))

    def audit_ids(self):
        """Short ids of the sessions the audit lines since the mark name as terminated."""
        rows = farm.GALERA.query("SELECT message FROM audit_log WHERE id > %s", self.audit_mark)
        return {m for r in rows for m in re.findall(r"Session ([0-9A-F]{8})", r[0])}

    def lost(self):
        sessions = {r[0]: r[1] for r in farm.GALERA.query("SELECT fingerprint, state FROM sessions")}
        lost_logins = sum(1 for fp in self.logins if fp not in sessions)
        lost_logouts = sum(1 for fp in self.logouts if sessions.get(fp) != "logged_out")
        lost_kills = sum(1 for samples in self.per_instance for t in samples if t == float("inf"))
        expected = self.audit_ids()
        lost_audit = sum(len(expected - faults.audit_ids_logged(web)) for web in farm.WEBS)
        # Each kill-user notifies the user: its mail is queued with the audit line's id.
        lost_mail = int(farm.GALERA.scalar(
            "SELECT COUNT(*) FROM audit_log a WHERE a.id > %s AND a.action = 'kill_user' AND NOT EXISTS "
            "(SELECT 1 FROM mail_outbox m WHERE m.audit_id = a.id)", self.audit_mark))
        return lost_logins, lost_logouts, lost_kills, lost_audit, lost_mail


def settle():
    """Between scenarios: every instance's poller loaded from the database again."""
    h.eventually(lambda: farm.logins_succeed_or_reason("alice").count(302) == len(farm.WEBS), timeout=60,
                 what="logins on every instance")


def recovered_everywhere(ledger, timeout=60):
    def done():
        sessions = {r[0] for r in farm.GALERA.query("SELECT fingerprint FROM sessions")}
        return all(fp in sessions for fp in ledger.logins)
    h.eventually(done, timeout=timeout, interval=0.5, what="journalled logins replayed")
    # The audit lines reach every log within a few polls.
    h.eventually(lambda: ledger.lost()[3] == 0, timeout=30, interval=0.5, what="audit lines on every instance")


def scenario_poller_sigkills(ledger, kills):
    for _ in range(kills):
        for web in farm.WEBS:
            os.kill(faults.active_poller(web), signal.SIGKILL)
            ledger.faults += 1
        ledger.login_and_logout_everywhere("bob")
        ledger.timed_kill("carol")


def scenario_graceful_restarts(ledger, kills):
    for _ in range(kills):
        for web in farm.WEBS:
            web.graceful()
            ledger.faults += 1
        ledger.login_and_logout_everywhere("bob")
        ledger.timed_kill("carol")


def without_node1(ledger, kills, take_down):
    """Node 1 taken down (stopped, or SIGKILLed and evicted after Galera's inactivity
    timeout): logins and logouts everywhere, kills through node 3; node 1 back after."""
    node1, node3 = farm.GALERA.nodes[0], farm.GALERA.nodes[2]
    take_down(node1)
    ledger.faults += 1
    try:
        h.eventually(lambda: node3.status("wsrep_cluster_size") == "2", timeout=20, interval=0.2,
                     what="nodes 2 and 3 without node 1")
        for _ in range(kills):
            ledger.login_and_logout_everywhere("bob")
            ledger.timed_kill("carol", farm.GALERA.admin_cnf(node3, notify_kill="on"))
    finally:
        node1.start()


def scenario_node_stopped(ledger, kills):
    without_node1(ledger, kills, lambda node: node.stop())


def scenario_node_killed(ledger, kills):
    without_node1(ledger, kills, lambda node: node.kill())


def scenario_cluster_down(ledger, kills):
    """The whole cluster stopped: logins and logouts go to each instance's journal; kills
    need the database, so they are timed right after it is back."""
    farm.GALERA.stop()
    ledger.faults += 1
    try:
        for _ in range(2):
            ledger.login_and_logout_everywhere("bob")
        time.sleep(5)
    finally:
        farm.GALERA.start()
    for _ in range(kills):
        ledger.timed_kill("carol")


SCENARIOS = [
    ("poller SIGKILLed", scenario_poller_sigkills),
    ("graceful restarts", scenario_graceful_restarts),
    ("Galera node 1 stopped", scenario_node_stopped),
    ("Galera node 1 SIGKILLed", scenario_node_killed),
    ("whole cluster down", scenario_cluster_down),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kills", type=int, default=8, help="timed kills a scenario")
    args = ap.parse_args()
    t_start = time.monotonic()
    farm.setup_module()
    faults.DB = farm.GALERA
    print("3-node Galera cluster, 3 Apache instances (prefork, mod_php); load: GETs of a live session "
          "on each instance")
    head = (f"{'scenario':<24} {'served':>7} {'failed':>6} {'faults':>6} {'lost: logins':>12} {'logouts':>7} "
            f"{'kills':>5} {'audit':>5} {'mail':>4}  " + "  ".join(f"inst{i + 1} p50/p99 s" for i in range(len(farm.WEBS))))
    print(head)
    for name, run in SCENARIOS:
        settle()
        ledger = Ledger()
        live = [php_user(web, "alice") for web in farm.WEBS]
        with farm.Load(live, "alice", max_requests=50000, max_seconds=90) as load:
            run(ledger, args.kills)
            recovered_everywhere(ledger)
        lost = ledger.lost()
        times = "  ".join(f"{statistics.median(s):>6.3f}/{pct(s, 0.99):<6.3f}" for s in ledger.per_instance)
        print(f"{name:<24} {load.served:>7} {len(load.failures):>6} {ledger.faults:>6} {lost[0]:>12} "
              f"{lost[1]:>7} {lost[2]:>5} {lost[3]:>5} {lost[4]:>4}  {times}", flush=True)
    print(f"({time.monotonic() - t_start:.0f} s)")


if __name__ == "__main__":
    main()
