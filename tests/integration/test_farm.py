#!/usr/bin/env python3
"""A farm: three Apache instances with mod_session_guard on a real three-node MariaDB Galera
cluster on loopback (scripts/galera-ctl, harness.Galera). Every instance's option file lists
the three nodes in the same order, so all of them use node 1 while it is up.

What the farm must keep (issue 10): a kill reaches every instance within a second, through
any node; concurrent kills through two nodes are never missed; a database outage under load
keeps killed sessions denied and activity catches up; graceful restarts under load fail no
request. And what it lacked (found 7): with node 1 stopped, logins still work on every
instance and a kill through node 3 is enforced everywhere at once, not when node 1 returns.

Every load here is bounded in requests and seconds: the whole file runs in a few minutes."""
import json
import math
import os
import secrets
import threading
import time

import harness as h
from test_module import fingerprint, php_user, reason_of

GALERA = None
WEBS = []
RUNS = 30               # kill -> deny samples per p99 (nearest rank: the worst but none of 30)
DENY_WITHIN = 1.0       # the requirement: a kill reaches every server within a second
FAILOVER_WITHIN = 3.0   # with a node down, generous (it was 29 s: only when node 1 came back)


def setup_module():
    global GALERA
    GALERA = h.Galera(3).start()
    for i in range(3):
        web = h.Apache().start(db=GALERA, module=h.MODULE, name=f"sg-farm-{i + 1}")
        WEBS.append(web)
    for web in WEBS:
        h.eventually(lambda: "deny-list loaded" in web.error_log_text(), timeout=20, what="first poll")


# ----------------------------------------------------------------- helpers

def admin(*args, cnf=None, check=True):
    """fcgi_admin's CLI through `cnf` (default: every node, as deployed), notices off."""
    cnf = cnf or GALERA.admin_cnf(notify_kill="off")
    return h.sh(h.FCGI_ADMIN, "--config", cnf, "--as", "admin", *args, check=check)


def p99(samples):
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


def kill_to_deny(user, cnf, limit):
    """Log `user` in on every instance, kill-user through `cnf`, and return the seconds from
    starting the command until every instance denies its session (None for one that did not
    within `limit`)."""
    browsers = [php_user(web, user) for web in WEBS]
    t0 = time.monotonic()
    admin("kill-user", user, cnf=cnf)
    seen = [None] * len(browsers)
    while None in seen and time.monotonic() - t0 < limit:
        for i, b in enumerate(browsers):
            if seen[i] is None and reason_of(b.get("/php/")) == "killed":
                seen[i] = time.monotonic() - t0
        time.sleep(0.01)
    return seen


def propagation(user, cnf, runs=RUNS, limit=5.0):
    worst = []
    for _ in range(runs):
        seen = kill_to_deny(user, cnf, limit)
        h.expect(None not in seen, f"a kill of {user} never reached instance(s)",
                 [WEBS[i].base_url for i, t in enumerate(seen) if t is None])
        worst.append(max(seen))
    return worst


class Load:
    """GETs from one thread per browser until stopped or `max_requests`/`max_seconds` reached.
    A request fails when it is not the app's own page for its user (a 5xx, a denial, a
    connection error)."""

    def __init__(self, browsers, user, path="/php/page2.php", max_requests=20000, max_seconds=120):
        self.browsers, self.user, self.path = browsers, user, path
        self.max_requests, self.deadline = max_requests, time.monotonic() + max_seconds
        self.served = 0
        self.failures = []
        self.stopped = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(b,), daemon=True) for b in browsers]

    def _run(self, browser):
        while not self.stopped.is_set() and time.monotonic() < self.deadline:
            with self.lock:
                if self.served + len(self.failures) >= self.max_requests:
                    return
            try:
                r = browser.get(self.path)
                ok = r.status == 200 and f"Hello, {self.user}" in r.body
                what = None if ok else f"{browser.base_url}: {r!r}"
            except Exception as e:   # a refused or reset connection is a failed request too
                ok, what = False, f"{browser.base_url}: {type(e).__name__}: {e}"
            with self.lock:
                if ok:
                    self.served += 1
                else:
                    self.failures.append(what)
            time.sleep(0.002)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        for t in self.threads:
            t.join(timeout=60)


def logins_succeed(user, count_per_instance=2):
    """Every instance signs `user` in (no 503): the browsers."""
    out = []
    for web in WEBS:
        for _ in range(count_per_instance):
            b = web.browser()
            r = b.login_php(user, "demo")
            h.expect(r.status == 302 and r.location.endswith("/php/"), f"login on {web.base_url} failed:", r)
            out.append(b)
    return out


def denial(browser, path="/php/"):
    """The reason `path` is denied for this browser's session. A denial tells the browser to
    drop its cookie; this one keeps presenting it, as an attacker would."""
    kept = dict(browser.cookies)
    try:
        return reason_of(browser.get(path))
    finally:
        browser.cookies.update(kept)


def wait_denied_everywhere(browsers, limit):
    t0 = time.monotonic()
    pending = list(browsers)
    while pending and time.monotonic() - t0 < limit:
        pending = [b for b in pending if denial(b) != "killed"]
        if pending:
            time.sleep(0.01)
    h.expect(not pending, f"{len(pending)} session(s) still allowed {limit}s after the kill:",
             [b.base_url for b in pending])
    return time.monotonic() - t0


def sg_module_connections(node):
    return int(node.root_query("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'sg_module'")[0][0])


# ----------------------------------------------------------------- what holds today

def test_cluster_is_three_synced_nodes_with_interleaved_ids():
    for n in GALERA.nodes:
        h.expect(n.status("wsrep_cluster_size") == "3", n, "cluster size", n.status("wsrep_cluster_size"))
        h.expect(n.status("wsrep_local_state") == "4", n, "not synced")
    # Galera's auto-increment control: each node hands out its own residue of the ids, so the
    # feed the pollers follow has gaps and, across nodes, commits out of id order.
    steps = {n.root_query("SELECT @@auto_increment_increment, @@auto_increment_offset")[0][1] for n in GALERA.nodes}
    h.expect(len(steps) == 3, "auto_increment_offset should differ per node", steps)


def test_kill_reaches_every_instance_within_a_second_p99():
    worst = propagation("bob", GALERA.admin_cnf(notify_kill="off"))
    print(f"    kill -> denied on all 3 instances, {len(worst)} runs through node 1: "
          f"p50 {sorted(worst)[len(worst) // 2]:.3f}s p99 {p99(worst):.3f}s max {max(worst):.3f}s")
    h.expect(p99(worst) < DENY_WITHIN, f"p99 {p99(worst):.3f}s")


def test_kill_through_another_node_reaches_every_instance_within_a_second_p99():
    node3 = GALERA.admin_cnf(GALERA.nodes[2], notify_kill="off")
    worst = propagation("bob", node3)
    print(f"    kill through node 3 -> denied on all 3 instances, {len(worst)} runs: "
          f"p50 {sorted(worst)[len(worst) // 2]:.3f}s p99 {p99(worst):.3f}s max {max(worst):.3f}s")
    h.expect(p99(worst) < DENY_WITHIN, f"p99 {p99(worst):.3f}s")


def test_two_writers_on_two_nodes_miss_no_kill():
    """200 sessions killed by two admins at once, one through node 1 and one through node 3:
    their ids interleave (Galera's offsets) and commit out of order across nodes."""
    count = 200
    values = [secrets.token_hex(16) for _ in range(count)]
    fps = [fingerprint("PHPSESSID", v) for v in values]
    rows = ",".join(h.format_sql("(%s, 'carol', 'PHPSESSID', 'active', NOW(6), NOW(6))", [fp]) for fp in fps)
    GALERA.query("INSERT INTO sessions (fingerprint, username, cookie_name, state, login_at, last_access) "
                 "VALUES " + rows)
    halves = (fps[: count // 2], fps[count // 2:])
    cnfs = (GALERA.admin_cnf(GALERA.nodes[0], notify_kill="off"), GALERA.admin_cnf(GALERA.nodes[2], notify_kill="off"))
    errors = []

    def writer(batch, cnf):
        for fp in batch:
            p = admin("kill", fp, cnf=cnf, check=False)
            if p.returncode != 0:
                errors.append(p.stderr.strip() or p.stdout.strip())
    t0 = time.monotonic()
    threads = [threading.Thread(target=writer, args=(b, c)) for b, c in zip(halves, cnfs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    took = time.monotonic() - t0
    h.expect(not errors, f"{len(errors)} kills failed:", errors[:3])
    killed = int(GALERA.scalar("SELECT COUNT(*) FROM sessions WHERE username='carol' AND state='killed' "
                               "AND fingerprint IN (" + ",".join(h.sql_literal(fp) for fp in fps) + ")"))
    h.expect(killed == count, f"{killed} of {count} killed in the database")
    # Each instance must deny every value: wait a little for the last polls, then count.
    time.sleep(1.0)
    missed = {}
    for web in WEBS:
        b = web.browser()
        late = []
        for v in values:
            b.cookies = {"PHPSESSID": v}
            if reason_of(b.get("/php/")) != "killed":
                late.append(v)
        deadline = time.monotonic() + 5
        while late and time.monotonic() < deadline:
            time.sleep(0.25)
            still = []
            for v in late:
                b.cookies = {"PHPSESSID": v}
                if reason_of(b.get("/php/")) != "killed":
                    still.append(v)
            late = still
        missed[web.base_url] = len(late)
    print(f"    {count} kills through 2 nodes in {took:.1f}s; missed per instance: {list(missed.values())}")
    h.expect(all(m == 0 for m in missed.values()), "missed kills:", missed)


def test_graceful_restarts_under_load_fail_no_request():
    live = [php_user(web, "alice") for web in WEBS]
    killed = [php_user(web, "alice") for web in WEBS]
    for b in killed:
        admin("kill", fingerprint("PHPSESSID", b.cookies["PHPSESSID"]))
    wait_denied_everywhere(killed, 5)
    with Load(live, "alice", max_requests=6000, max_seconds=60) as load:
        for _ in range(2):
            for web in WEBS:
                web.graceful()
                time.sleep(0.5)
        time.sleep(0.5)
    print(f"    2 graceful restarts of each instance: {load.served} requests served, {len(load.failures)} failed")
    h.expect(not load.failures, f"{len(load.failures)} failed requests:", load.failures[:3])
    h.expect(load.served > 0, "the load made no request")
    for b in killed:
        h.expect(denial(b) == "killed", "a killed session is allowed after the restarts", b.base_url)
    for web in WEBS:
        h.expect(not web.crashes(), web.crashes())


# ----------------------------------------------------------------- failover (found 7)

def test_node1_stopped_logins_work_and_kills_through_node3_reach_every_instance():
    node1, node3 = GALERA.nodes[0], GALERA.nodes[2]
    node1.stop()
    try:
        started = time.monotonic()
        browsers = logins_succeed("carol")    # no 503: the login connections skip node 1
        print(f"    node 1 down: {len(browsers)} logins on 3 instances in {time.monotonic() - started:.2f}s")
        admin("kill-user", "carol", cnf=GALERA.admin_cnf(node3, notify_kill="off"))
        took = wait_denied_everywhere(browsers, FAILOVER_WITHIN)
        print(f"    kill through node 3 denied on every instance in {took:.2f}s (was 29 s)")
        # fcgi_admin with the deployed list (node 1 first) works too.
        out = admin("sessions", "--user", "carol").stdout
        h.expect("0 active sessions" in out, out)
        admin("block", "carol", "--reason", "failover test")
        denied = logins_succeed_or_reason("carol")
        h.expect(all(r == "blocked" for r in denied), "blocked login allowed somewhere:", denied)
        admin("unblock", "carol")
        h.eventually(lambda: _try_login_everywhere("carol"), timeout=FAILOVER_WITHIN, what="unblocked everywhere")
        # And as a distribution: every kill through node 3 while node 1 is down.
        worst = propagation("bob", GALERA.admin_cnf(node3, notify_kill="off"), runs=20)
        print(f"    node 1 down, kill through node 3 -> denied on all 3 instances, {len(worst)} runs: "
              f"p50 {sorted(worst)[len(worst) // 2]:.3f}s p99 {p99(worst):.3f}s")
        h.expect(p99(worst) < FAILOVER_WITHIN, f"p99 {p99(worst):.3f}s")
    finally:
        node1.start()
    # Node 1 back: everything still works, and the instances return to it (fail-back).
    browsers = logins_succeed("carol", 1)
    admin("kill-user", "carol", cnf=GALERA.admin_cnf(GALERA.nodes[0], notify_kill="off"))
    wait_denied_everywhere(browsers, FAILOVER_WITHIN)
    h.eventually(lambda: sg_module_connections(node1) >= 3, timeout=40, interval=0.5,
                 what="every instance's poller back on node 1")


def logins_succeed_or_reason(user):
    out = []
    for web in WEBS:
        r = web.browser().login_php(user, "demo")
        out.append(reason_of(r) or r.status)
    return out


def _try_login_everywhere(user):
    return all(web.browser().login_php(user, "demo").status == 302 for web in WEBS)


def test_fcgi_admin_with_node1_down():
    node1 = GALERA.nodes[0]
    node1.stop()
    try:
        t0 = time.monotonic()
        p = admin("sessions", "--json")
        h.expect(isinstance(json.loads(p.stdout), list), p.stdout[:300])
        admin("block", "bob", "--reason", "node 1 down")
        h.expect(GALERA.nodes[1].root_query("SELECT active FROM accounts WHERE username='bob'")[0][0] == "0",
                 "the block did not reach node 2")
        admin("unblock", "bob")
        print(f"    fcgi_admin sessions with node 1 down: {time.monotonic() - t0:.2f}s")
    finally:
        node1.start()


def test_node1_killed_the_farm_fails_over_and_node1_rejoins():
    """A crash, not a clean leave: node 1 gets SIGKILL. The other two evict it after Galera's
    inactivity timeout (3 s here) and go on as the primary component."""
    node1, node2, node3 = GALERA.nodes
    node1.kill()
    try:
        started = time.monotonic()
        browsers = logins_succeed("carol", 1)
        print(f"    node 1 killed: 3 logins in {time.monotonic() - started:.2f}s")
        h.eventually(lambda: node3.status("wsrep_cluster_size") == "2", timeout=15, interval=0.2,
                     what="nodes 2 and 3 evict node 1")
        admin("kill-user", "carol", cnf=GALERA.admin_cnf(node3, notify_kill="off"))
        took = wait_denied_everywhere(browsers, FAILOVER_WITHIN)
        print(f"    kill through node 3 denied on every instance in {took:.2f}s")
    finally:
        node1.start()   # recovers its position from InnoDB and rejoins by state transfer
    h.expect(node1.status("wsrep_cluster_size") == "3", "node 1 did not rejoin")
    browsers = logins_succeed("carol", 1)
    admin("kill-user", "carol")
    wait_denied_everywhere(browsers, FAILOVER_WITHIN)
    h.eventually(lambda: sg_module_connections(node1) >= 3, timeout=40, interval=0.5,
                 what="every instance's poller back on node 1")


# ----------------------------------------------------------------- the whole cluster down

def test_database_down_under_load_keeps_denying_and_activity_catches_up():
    live = [php_user(web, "alice") for web in WEBS]
    killed = [php_user(web, "alice") for web in WEBS]
    for b in killed:
        admin("kill", fingerprint("PHPSESSID", b.cookies["PHPSESSID"]))
    wait_denied_everywhere(killed, 5)
    live_fps = [fingerprint("PHPSESSID", b.cookies["PHPSESSID"]) for b in live]
    marks = [len(web.error_log_text()) for web in WEBS]
    with Load(live, "alice", max_requests=60000, max_seconds=150) as load:
        GALERA.stop()
        try:
            for web, mark in zip(WEBS, marks):
                h.eventually(lambda: "database unreachable" in web.error_log_text()[mark:], timeout=10,
                             what="outage logged")
            for b in killed:
                h.expect(denial(b) == "killed", "a killed session is allowed during the outage")
            time.sleep(1.1)   # the database stores microseconds: activity from now is clearly later
            during = time.time()
            time.sleep(1.0)
        finally:
            GALERA.start()
        for web, mark in zip(WEBS, marks):
            h.eventually(lambda: "deny-list loaded" in web.error_log_text()[mark:].split("database unreachable")[-1],
                         timeout=20, what="recovery logged")
    print(f"    whole cluster stopped and restarted under load: {load.served} requests served, "
          f"{len(load.failures)} failed")
    h.expect(not load.failures, f"{len(load.failures)} failed requests:", load.failures[:3])

    def caught_up():
        times = [GALERA.scalar("SELECT UNIX_TIMESTAMP(last_access) FROM sessions WHERE fingerprint=%s", fp)
                 for fp in live_fps]
        return all(t is not None and float(t) >= during for t in times)
    h.eventually(caught_up, timeout=10, what="activity during the outage reaches the database")
    for b in killed:
        h.expect(denial(b) == "killed", "a killed session is allowed after the outage")


if __name__ == "__main__":
    h.run(globals())
