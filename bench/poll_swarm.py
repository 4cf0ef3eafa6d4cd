#!/usr/bin/env python3
"""Benchmark: how many Apache instances one MariaDB serves (issue 10, item 9).

Runs build/bench/poll_swarm (the module's real poll code, one stand-in instance a thread,
each with its own connection and deny-list) against a private MariaDB on loopback, for
several instance counts in one run, and prints for each: the database server's CPU per
instance (from /proc, user + system time of mariadbd over the run), queries per second
(Questions), polls per second, and kill -> deny propagation p50/p99 with the kills missed
(must be 0). The poll interval is the module's default, 250 ms. A last row adds 4 threads
recording logins as fast as they can (a new connection each, db::record_login, as the
module does) beside the largest count of instances: the logins a second the database
takes while it serves them.

    python3 bench/poll_swarm.py [--instances 1,50,200] [--seconds 20]
"""
import argparse
import os
import re
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
import harness as h  # noqa: E402

SWARM = os.path.join(REPO, "build", "bench", "poll_swarm")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def questions(db):
    return int(db.root_query("SHOW GLOBAL STATUS LIKE 'Questions'")[0][1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--instances", default="1,50,200")
    ap.add_argument("--seconds", type=int, default=20)
    args = ap.parse_args()
    db = h.MariaDB().start()
    try:
        db.root_query("SET GLOBAL max_connections = 1000")
        with open(os.path.join(db.dir, "mysqld.pid")) as f:
            pid = int(f.read().strip())
        print(f"one MariaDB, poll interval 250 ms, a kill every 500 ms, {args.seconds} s a row; "
              f"{os.cpu_count()} cores shared by the database and the stand-ins")
        print(f"{'instances':>9} {'db CPU %':>9} {'CPU %/inst':>10} {'queries/s':>10} {'q/s/inst':>9} "
              f"{'polls/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'missed':>6} {'logins/s':>9}")
        counts = [int(x) for x in args.instances.split(",")]
        for n, login_threads in [(n, 0) for n in counts] + [(counts[-1], 4)]:
            cpu0, q0 = cpu_seconds(pid), questions(db)
            out = h.sh(SWARM, "--db-options", db.cnf, "--instances", n, "--seconds", args.seconds,
                       "--login-threads", login_threads, timeout=args.seconds + 120).stdout
            # The 3 s warm-up and 3 s drain are in the window too: per second over all of it.
            cpu1, q1 = cpu_seconds(pid), questions(db)
            window = args.seconds + 6
            f = dict(re.findall(r"(\w+)=([\d.]+)", out))
            cpu = 100 * (cpu1 - cpu0) / window
            qps = (q1 - q0) / window
            print(f"{n:>9} {cpu:>9.1f} {cpu / n:>10.2f} {qps:>10.0f} {qps / n:>9.1f} "
                  f"{float(f['polls_per_second']):>8.0f} {float(f['propagation_ms_p50']):>7.0f} "
                  f"{float(f['p99']):>7.0f} {int(f['missed']):>6} "
                  f"{float(f['logins_per_second']) if login_threads else 0:>9.0f}", flush=True)
    finally:
        db.stop()


if __name__ == "__main__":
    main()
