#!/usr/bin/env python3
"""Benchmark: table sizes over a simulated day at 100 logins/s, with session-guard-prune
run every simulated hour (as its timer does).

Starts a private MariaDB set up by scripts/db-setup. Each simulated hour: every row already
there is moved an hour into the past (the server's clock cannot be moved), then the hour's
logins are added: one session each, ended within the hour (a tenth superseded by a newer
login, with its revocation, a hundredth killed by an administrator, with its revocation and
audit line), then session-guard-prune runs with short retentions so the day reaches its
steady state: ended sessions 3h, audit 6h, revocations 1h (+1h margin), the instance's too.
Prints rows and on-disk megabytes per table each hour, and the ratio of the last hour's
rows to those of the first hour of steady state (flat: 1.00).

    python3 bench/retention.py [--logins-per-second 100] [--hours 24]
"""
import argparse
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
import harness as h  # noqa: E402

PRUNE = os.path.join(REPO, "build", "session-guard-prune")
TABLES = ("sessions", "deny_events", "audit_log")
SHIFTS = (("sessions", ("login_at", "last_access", "ended_at")), ("deny_events", ("created_at",)),
          ("audit_log", ("at",)), ("instance_health", ()))
# The longest the policy below keeps anything: after this many hours the tables are full.
STEADY_AFTER_HOURS = 6


def one_hour_passes(db):
    for table, columns in SHIFTS:
        if columns:
            db.root_query(f"UPDATE {table} SET " + ", ".join(f"{c} = {c} - INTERVAL 1 HOUR" for c in columns))
    # The instance keeps reporting: its row stays current.
    db.root_query("UPDATE instance_health SET reported_at = NOW(6)")


def add_hour_of_logins(db, per_hour, hour):
    # Sequence numbers unique over the day make the fingerprints unique.
    first = hour * per_hour
    db.root_query(
        "INSERT INTO sessions (fingerprint, username, cookie_name, state, login_at, last_access, ended_at) "
        "SELECT SHA2(seq, 256), CONCAT('user', seq MOD 10000), 'PHPSESSID', "
        "CASE WHEN seq MOD 100 = 0 THEN 'killed' WHEN seq MOD 10 = 0 THEN 'superseded' ELSE 'logged_out' END, "
        "NOW(6) - INTERVAL (1800 + seq MOD 1800) SECOND, "
        "NOW(6) - INTERVAL (seq MOD 1800) SECOND, NOW(6) - INTERVAL (seq MOD 1800) SECOND "
        f"FROM seq_{first + 1}_to_{first + per_hour}")
    db.root_query(
        "INSERT INTO deny_events (kind, fingerprint, username, reason, created_at) "
        "SELECT 'session', SHA2(seq, 256), CONCAT('user', seq MOD 10000), "
        "IF(seq MOD 100 = 0, 'killed', 'superseded'), NOW(6) - INTERVAL (seq MOD 1800) SECOND "
        f"FROM seq_{first + 1}_to_{first + per_hour} WHERE seq MOD 10 = 0")
    db.root_query(
        "INSERT INTO audit_log (at, actor, source, action, target_user, target_session, message) "
        "SELECT NOW(6) - INTERVAL (seq MOD 1800) SECOND, 'admin', 'web', 'kill', CONCAT('user', seq MOD 10000), "
        "SHA2(seq, 256), CONCAT('Session ', UPPER(LEFT(SHA2(seq, 256), 8)), ' terminated by administrator admin') "
        f"FROM seq_{first + 1}_to_{first + per_hour} WHERE seq MOD 100 = 0")


def sizes(db):
    rows = {t: int(db.root_query(f"SELECT COUNT(*) FROM {t}")[0][0]) for t in TABLES}
    db.root_query("ANALYZE TABLE " + ", ".join(TABLES))
    mb = {r[0]: float(r[1]) for r in db.root_query(
        "SELECT table_name, ROUND((data_length + index_length) / 1048576, 1) FROM information_schema.tables "
        "WHERE table_schema = 'session_guard' AND table_name IN (" + ", ".join(f"'{t}'" for t in TABLES) + ")")}
    return rows, mb


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--logins-per-second", type=int, default=100)
    ap.add_argument("--hours", type=int, default=24)
    args = ap.parse_args()
    per_hour = args.logins_per_second * 3600
    db = h.MariaDB().start()
    try:
        db.root_query("SET GLOBAL innodb_flush_log_at_trx_commit = 2")
        db.root_query("SET GLOBAL innodb_buffer_pool_size = 512 * 1024 * 1024")
        db.root_query("INSERT INTO instance_health (instance, reported_at, report_interval_ms, revoked_sessions, "
                      "blocked_users, deny_list_capacity, deny_list_age_ms, poll_lag_ms, activity_slots_used, "
                      "activity_slots, activity_dropped, revocations_dropped, login_connections_in_use, "
                      "login_connections, journal_bytes, journal_records_pending, revocation_retention_ms) "
                      "VALUES ('bench:80', NOW(6), 10000, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 3600000)")
        print(f"{args.logins_per_second} logins/s, {per_hour:,} a simulated hour; prune hourly "
              "(ended sessions 3h, audit 6h, revocations 1h + 1h)")
        print(f"{'hour':>4} {'sessions':>10} {'MB':>7} {'deny_events':>12} {'MB':>7} {'audit_log':>10} {'MB':>7}"
              f" {'prune s':>8}")
        history = []
        for hour in range(args.hours):
            if hour:
                one_hour_passes(db)
            add_hour_of_logins(db, per_hour, hour)
            t0 = time.monotonic()
            h.sh(PRUNE, "--db-options", os.path.join(db.dir, "prune.cnf"), "--ended-sessions", "3h",
                 "--audit", "6h", "--revocations", "1h", "--batch", "2000", timeout=1800)
            took = time.monotonic() - t0
            rows, mb = sizes(db)
            history.append(rows)
            print(f"{hour + 1:>4} {rows['sessions']:>10,} {mb['sessions']:>7} {rows['deny_events']:>12,} "
                  f"{mb['deny_events']:>7} {rows['audit_log']:>10,} {mb['audit_log']:>7} {took:>8.1f}", flush=True)
        if len(history) > STEADY_AFTER_HOURS:
            first, last = history[STEADY_AFTER_HOURS - 1], history[-1]
            ratios = ", ".join(f"{t} {last[t] / first[t]:.2f}" for t in TABLES)
            print(f"rows at hour {len(history)} / rows at hour {STEADY_AFTER_HOURS} (flat = 1.00): {ratios}")
    finally:
        db.stop()


if __name__ == "__main__":
    main()
