#!/usr/bin/env python3
"""Benchmark: table sizes over a simulated day at 100 logins/s, with session-guard-prune
run every simulated hour (as its timer does), asserting that they stay flat.

Starts a private MariaDB set up by scripts/db-setup, under libfaketime: the server's clock
(NOW(6), which every DELETE of the pruner compares with) is the real one plus an offset read
from a file, which this script moves an hour forward each simulated hour, so no row is ever
rewritten to age it. Each simulated hour k (ending at T_k):

  - the hour's logins are added with their own timestamps in the hour before T_k (INSERT ...
    SELECT from the seq engine, --chunk logins per statement, over --connections connections
    at once): one session each, all ended by T_k (1 in 10 superseded by a newer login, with
    its revocation in deny_events; 1 in 100 killed by an administrator, with its revocation,
    its audit line and its notice in mail_outbox, sent), and the hour's activity samples (as
    many as fcgi_admin's default takes, one per 10 s);
  - the server's clock is set to T_k, the instance's health row reports again (revocation
    retention 1 h), and session-guard-prune runs with short ages so the day reaches its
    steady state: ended sessions 3 h, finished mail 3 h, audit 6 h, activity samples 6 h,
    revocations 1 h (+ the pruner's hour of margin).

Prints rows and on-disk megabytes per table each hour, the seconds the inserts and the
prune took and the CPU seconds mariadbd used in the hour (the machine may be shared: CPU is
the steadier measure), then each table's rows in the last hour over those in the first hour
of steady state (flat: 1.00); exits 1 if that or any steady hour's ratio is outside
0.90..1.10. Megabytes are shown, not asserted (InnoDB keeps freed pages for reuse).

    nice -n 10 python3 bench/retention.py [--logins-per-second 100] [--hours 24]
"""
import argparse
import concurrent.futures
import datetime
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
import harness as h  # noqa: E402

PRUNE = os.path.join(REPO, "build", "session-guard-prune")
FAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"   # Debian's libfaketime
TABLES = ("sessions", "deny_events", "audit_log", "mail_outbox", "activity_samples")
SHORT = {"sessions": "sessions", "deny_events": "deny_events", "audit_log": "audit_log",
         "mail_outbox": "mail", "activity_samples": "samples"}
# Ages given to the pruner (its minimum is 1 h), and the instance's revocation retention.
AGES = {"--ended-sessions": "3h", "--finished-mail": "3h", "--audit": "6h", "--activity-samples": "6h",
        "--revocations": "1h"}
INSTANCE_REVOCATION_RETENTION_MS = 3600 * 1000
# The longest age above: from this hour on every table holds as many hours as it keeps.
STEADY_FROM_HOUR = 6
SAMPLE_INTERVAL = 10        # seconds: fcgi_admin's sample_interval default
# Events of an hour are spread over its last 55 minutes: its first five stay empty, so a
# prune that takes up to five minutes (its NOW(6) moving on while it runs) deletes no row of
# the hour after the one whose age has come before its time.
GAP = 300
MAIL_BODY = ("Hello {user},\n\nan administrator (admin) ended your session {session} on www.example.com at {time}.\n"
             "You will need to sign in again.\n\nIf you did not expect this, please contact your helpdesk.\n\n"
             "This wasn't me: sign me out everywhere (valid for 24 hours):\n"
             "https://sessions.example.com/signout?t=")


class ClockedMariaDB(h.MariaDB):
    """The harness's private server started under libfaketime: its clock is the real one plus
    the offset in offset_file ("+N" seconds), which libfaketime reads again every second.
    Monotonic clocks are left alone, so InnoDB's timeouts and sleeps are not disturbed."""

    def start(self, tmp=None):
        folder = tmp or h.tmpdir("sg-retention-")
        self.offset_file = os.path.join(folder, "faketime.rc")
        self._write_offset(0)
        fake = {"LD_PRELOAD": FAKETIME, "FAKETIME_TIMESTAMP_FILE": self.offset_file,
                "FAKETIME_CACHE_DURATION": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
        # mariadb-ctl passes its environment on to mariadbd; the pruner and the clients started
        # later by this script run on the real clock.
        saved = dict(os.environ)
        os.environ.update(fake)
        try:
            return super().start(folder)
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def _write_offset(self, seconds):
        with open(self.offset_file + ".new", "w") as f:
            f.write(f"{seconds:+d}\n")
        os.replace(self.offset_file + ".new", self.offset_file)

    def server_clock(self):
        return float(self.root_query("SELECT UNIX_TIMESTAMP(NOW(6))")[0][0])

    def set_clock(self, when):
        """Make the server's NOW() read `when` (epoch seconds), and wait until it does."""
        self._write_offset(round(when - time.time()))
        deadline = time.monotonic() + 15
        while True:
            now = self.server_clock()
            if abs(now - when) < 5:
                return now
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server's clock did not move: NOW() is {sql_time(now)}, expected "
                                   f"{sql_time(when)} (libfaketime not working with mariadbd?)")
            time.sleep(0.2)


def sql_time(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def add_logins(db, start, lo, hi):
    """Logins lo..hi (sequence numbers, unique over the day), events in the hour from `start`."""
    src = f"FROM seq_{lo}_to_{hi}"
    # The event (logout, newer login, kill) at a time spread evenly over the hour's last 55
    # minutes; the session began up to an hour before it and was last used up to a minute before.
    # Row ids are given (from the sequence number), so that parallel INSERT ... SELECTs do not
    # queue for the table's AUTO_INCREMENT lock; fingerprints are unique as the numbers are.
    at = f"{start} + INTERVAL ({GAP * 1000} + (seq * 7919) MOD {(3600 - GAP) * 1000}) * 1000 MICROSECOND"
    db.root_query(
        "INSERT INTO sessions (id, fingerprint, username, cookie_name, state, login_at, last_access, client_ip, "
        "user_agent, device, browser, os, server_name, idle_timeout, max_lifetime, ended_at, ended_by) "
        f"SELECT seq, SHA2(seq, 256), CONCAT('user', seq MOD 10000), 'PHPSESSID', "
        "CASE WHEN seq MOD 100 = 0 THEN 'killed' WHEN seq MOD 10 = 0 THEN 'superseded' ELSE 'logged_out' END, "
        f"{at} - INTERVAL (60 + seq MOD 3540) SECOND, {at} - INTERVAL (seq MOD 60) SECOND, "
        "CONCAT('10.', seq MOD 200, '.', (seq DIV 200) MOD 250, '.', (seq DIV 50000) MOD 250), "
        "CONCAT('Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/',"
        " 120 + seq MOD 12, '.0.0.0 Safari/537.36'), "
        "IF(seq MOD 5 = 0, 'Phone', 'Desktop'), 'Chrome', IF(seq MOD 5 = 0, 'Android', 'Windows'), "
        f"'www.example.com', 1800, 28800, {at}, IF(seq MOD 100 = 0, 'admin', NULL) {src}")
    # 1 in 10 superseded or killed: a revocation each.
    db.root_query(
        "INSERT INTO deny_events (id, kind, fingerprint, username, reason, created_at) "
        "SELECT seq DIV 10, 'session', SHA2(seq, 256), CONCAT('user', seq MOD 10000), "
        f"IF(seq MOD 100 = 0, 'killed', 'superseded'), {at} {src} WHERE seq MOD 10 = 0")
    # 1 in 100 killed by an administrator: an audit line and a notice, sent.
    db.root_query(
        "INSERT INTO audit_log (id, at, actor, actor_ip, source, action, target_user, target_session, message) "
        f"SELECT seq DIV 100, {at}, 'admin', '192.0.2.10', 'web', 'kill_session', CONCAT('user', seq MOD 10000), "
        "SHA2(seq, 256), CONCAT('Session ', UPPER(LEFT(SHA2(seq, 256), 8)), ' terminated by administrator admin') "
        f"{src} WHERE seq MOD 100 = 0")
    body = h.sql_literal(MAIL_BODY)
    db.root_query(
        "INSERT INTO mail_outbox (id, kind, created_at, recipient, target_user, subject, body, state, attempts, "
        "next_try_at, sent_at, audit_id) "
        f"SELECT seq DIV 100, 'kill', {at}, CONCAT('user', seq MOD 10000, '@example.com'), CONCAT('user', seq MOD 10000), "
        f"'Your session was ended', CONCAT(REPLACE(REPLACE(REPLACE({body}, '{{user}}', CONCAT('user', seq MOD 10000)), "
        f"'{{session}}', UPPER(LEFT(SHA2(seq, 256), 8))), '{{time}}', {at}), SHA2(CONCAT('link', seq), 512)), "
        f"'sent', 1, {at}, {at} + INTERVAL 5 SECOND, seq DIV 100 {src} WHERE seq MOD 100 = 0")


def add_hour_of_logins(db, per_hour, hour, end, chunk, connections):
    """The hour's rows, timestamped in the hour before `end` (epoch seconds): CHUNK logins per
    statement, over CONNECTIONS connections at once (as many Apache children write them)."""
    start = f"TIMESTAMP'{sql_time(end - 3600)}'"
    first = hour * per_hour
    with concurrent.futures.ThreadPoolExecutor(connections) as pool:
        jobs = [pool.submit(add_logins, db, start, lo, min(lo + chunk - 1, first + per_hour))
                for lo in range(first + 1, first + per_hour + 1, chunk)]
        for job in jobs:
            job.result()
    # As many as fcgi_admin takes in an hour, in its last 55 minutes.
    samples = 3600 // SAMPLE_INTERVAL
    db.root_query(
        "INSERT INTO activity_samples (at, active_sessions, active_users) "
        f"SELECT {start} + INTERVAL ({GAP} + seq * {3600 - GAP} DIV {samples}) SECOND, 150000 + seq * 10, 9000 + seq "
        f"FROM seq_0_to_{samples - 1}")


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")   # utime + stime


def sizes(db):
    rows = {t: int(db.root_query(f"SELECT COUNT(*) FROM {t}")[0][0]) for t in TABLES}
    db.root_query("ANALYZE TABLE " + ", ".join(TABLES))
    mb = {r[0]: float(r[1]) for r in db.root_query(
        "SELECT table_name, (data_length + index_length) / 1048576 FROM information_schema.tables "
        "WHERE table_schema = 'session_guard' AND table_name IN (" + ", ".join(f"'{t}'" for t in TABLES) + ")")}
    return rows, mb


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--logins-per-second", type=int, default=100)
    ap.add_argument("--hours", type=int, default=24)
    ap.add_argument("--chunk", type=int, default=50000, help="rows per INSERT ... SELECT (default 50000)")
    ap.add_argument("--connections", type=int, default=2, help="connections inserting at once (default 2)")
    ap.add_argument("--batch", type=int, default=5000, help="the pruner's rows per DELETE (default 5000)")
    ap.add_argument("--buffer-pool-mb", type=int, default=4096)
    args = ap.parse_args()
    per_hour = args.logins_per_second * 3600
    began = time.monotonic()
    db = ClockedMariaDB().start()
    ok = True
    try:
        # The working set in memory, a redo log that does not force a checkpoint every few
        # seconds, and no flush per commit: the bench measures sizes, not durability.
        db.root_query(f"SET GLOBAL innodb_buffer_pool_size = {args.buffer_pool_mb} * 1024 * 1024")
        db.root_query("SET GLOBAL innodb_log_file_size = 1024 * 1024 * 1024")
        db.root_query("SET GLOBAL innodb_flush_log_at_trx_commit = 2")
        # The day starts at the next whole hour a day from now, on the server's clock only.
        day = (int(time.time()) // 3600 + 25) * 3600
        real = time.time()
        moved = db.set_clock(day)
        print(f"server clock under libfaketime: NOW() = {sql_time(moved)} UTC while the real time is "
              f"{sql_time(real)} UTC")
        db.root_query("INSERT INTO instance_health (instance, reported_at, report_interval_ms, revoked_sessions, "
                      "blocked_users, deny_list_capacity, deny_list_age_ms, poll_lag_ms, activity_slots_used, "
                      "activity_slots, activity_dropped, revocations_dropped, login_connections_in_use, "
                      "login_connections, journal_bytes, journal_records_pending, revocation_retention_ms) "
                      "VALUES ('www1:80', NOW(6), 10000, 0, 0, 100000, 0, 0, 0, 65536, 0, 0, 0, 4, 0, 0, "
                      f"{INSTANCE_REVOCATION_RETENTION_MS})")
        print(f"{args.logins_per_second} logins/s, {per_hour:,} a simulated hour; prune hourly ("
              + ", ".join(f"{k[2:]} {v}" for k, v in AGES.items()) + ", + 1 h margin for revocations)")
        head = "".join(f" {SHORT[t]:>11} {'MB':>7}" for t in TABLES)
        print(f"{'hour':>4}{head} {'insert s':>8} {'prune s':>7} {'db cpu s':>8} {'wall min':>8}", flush=True)
        with open(os.path.join(db.dir, "mysqld.pid")) as f:
            pid = int(f.read())
        history, history_mb = [], []
        for hour in range(args.hours):
            end = day + (hour + 1) * 3600
            cpu0 = cpu_seconds(pid)
            t0 = time.monotonic()
            add_hour_of_logins(db, per_hour, hour, end, args.chunk, args.connections)
            inserted = time.monotonic() - t0
            db.set_clock(end)
            # The instance keeps reporting: its row stays current.
            db.root_query("UPDATE instance_health SET reported_at = NOW(6)")
            t0 = time.monotonic()
            h.sh(PRUNE, "--db-options", os.path.join(db.dir, "prune.cnf"),
                 *[a for kv in AGES.items() for a in kv], "--batch", args.batch, timeout=3000)
            pruned = time.monotonic() - t0
            rows, mb = sizes(db)
            history.append(rows)
            history_mb.append(mb)
            cells = "".join(f" {rows[t]:>11,} {mb[t]:>7.1f}" for t in TABLES)
            print(f"{hour + 1:>4}{cells} {inserted:>8.1f} {pruned:>7.1f} {cpu_seconds(pid) - cpu0:>8.1f} "
                  f"{(time.monotonic() - began) / 60:>8.1f}", flush=True)
        if len(history) > STEADY_FROM_HOUR:
            first, last = history[STEADY_FROM_HOUR - 1], history[-1]
            ratios = {t: last[t] / first[t] for t in TABLES}
            print(f"rows at hour {len(history)} / rows at hour {STEADY_FROM_HOUR} (flat = 1.00): "
                  + ", ".join(f"{t} {r:.2f}" for t, r in ratios.items()))
            first_mb, last_mb = history_mb[STEADY_FROM_HOUR - 1], history_mb[-1]
            print(f"MB at hour {len(history)} / MB at hour {STEADY_FROM_HOUR} (not asserted): "
                  + ", ".join(f"{t} {last_mb[t] / first_mb[t]:.2f}" for t in TABLES if first_mb[t]))
            steady = history[STEADY_FROM_HOUR - 1:]
            spread = {t: (min(r[t] for r in steady) / first[t], max(r[t] for r in steady) / first[t]) for t in TABLES}
            print(f"every hour from {STEADY_FROM_HOUR} on / hour {STEADY_FROM_HOUR}: "
                  + ", ".join(f"{t} {lo:.2f}..{hi:.2f}" for t, (lo, hi) in spread.items()))
            bad = [t for t, (lo, hi) in spread.items() if not (0.9 <= lo and hi <= 1.1)]
            if bad:
                ok = False
                print("NOT FLAT: " + ", ".join(bad), file=sys.stderr)
        else:
            print(f"(no ratio: steady state is reached at hour {STEADY_FROM_HOUR}; run more hours)")
    finally:
        db.stop()
    print(f"wall time {(time.monotonic() - began) / 60:.1f} min")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
