#!/usr/bin/env python3
"""Benchmark: the admin sessions page with 1,000,000 rows in the sessions table.

Starts a private MariaDB and Apache (mod_fcgid + fcgi_admin, exactly as `make run` mounts it)
on loopback ports in a temp folder, fills the sessions table, then requests the page and reads
the server time of each request from Apache's access log (%D, microseconds: from the request
line to the last byte, so it includes mod_fcgid, fcgi_admin and every query). Stops everything.

    python3 bench/sessions_page.py [--rows 1000000] [--requests 200]

The headline case is the one issue 3 names: 100 rows, sorted by last access, filtered to one
user (target: median <= 50 ms). The other cases show where paging stays fast and where not.
"""
import argparse
import os
import statistics
import sys
import time
import urllib.parse

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
import harness as h  # noqa: E402

USERS = 10000
HEAVY = "alice"            # the filtered user: many sessions of her own


def fill(db, rows, buffer_pool_mb):
    # A production database would size its buffer pool for the table; mariadb-ctl starts with
    # 64 MB for tests. Resize it (dynamic in MariaDB 10.11) before loading.
    db.root_query(f"SET GLOBAL innodb_buffer_pool_size = {buffer_pool_mb} * 1024 * 1024")
    db.root_query("SET GLOBAL innodb_flush_log_at_trx_commit = 2")
    db.query(f"INSERT IGNORE INTO accounts (username, email) SELECT CONCAT('user', seq), "
             f"CONCAT('user', seq, '@example.test') FROM seq_1_to_{USERS}")
    heavy = min(5000, rows // 100)
    batch = 100000
    t0 = time.monotonic()
    done = 0
    while done < rows:
        n = min(batch, rows - done)
        first, last = done + 1, done + n
        # ~20% of rows are live sessions, the rest history (killed, expired, logged out);
        # HEAVY owns the first `heavy` rows, 40% of them active.
        db.query(
            "INSERT INTO sessions (fingerprint, username, cookie_name, state, login_at, last_access, client_ip, "
            "user_agent, device, browser, os, server_name, idle_timeout) "
            "SELECT SHA2(CONCAT('bench-', seq), 256), "
            f"IF(seq <= {heavy}, '{HEAVY}', CONCAT('user', 1 + MOD(seq * 7919, {USERS}))), 'PHPSESSID', "
            f"IF(seq <= {heavy}, ELT(1 + MOD(seq, 5), 'active', 'active', 'killed', 'expired', 'logged_out'), "
            "ELT(1 + MOD(seq, 10), 'active', 'killed', 'expired', 'logged_out', 'expired', 'logged_out', 'expired', "
            "'logged_out', 'active', 'expired')), "
            "NOW(6) - INTERVAL MOD(seq * 31, 2592000) SECOND, NOW(6) - INTERVAL MOD(seq * 17, 86400) SECOND, "
            "CONCAT('10.', MOD(seq, 256), '.', MOD(seq DIV 256, 256), '.', MOD(seq, 7)), "
            "'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0', "
            "ELT(1 + MOD(seq, 3), 'Desktop', 'Tablet', 'Phone'), 'Firefox 121', 'Linux', 'app.example.test', 1800 "
            f"FROM seq_{first}_to_{last}")
        done = last
        print(f"  loaded {done:,} rows ({time.monotonic() - t0:.0f} s)", flush=True)
    db.root_query("SET GLOBAL innodb_flush_log_at_trx_commit = 1")
    db.query("ANALYZE TABLE sessions, accounts")


def sessions_after(db, sort, order, offset):
    """Id of the active session at `offset` in that order (the keyset cursor a user who paged there holds)."""
    column = {"login": "login_at", "ip": "client_ip", "device": "device", "timeout": "idle_timeout", "user": "username",
              "session": "fingerprint", "server": "server_name", "browser": "browser"}[sort]
    d = "DESC" if order == "desc" else "ASC"
    return db.scalar(f"SELECT id FROM sessions WHERE state='active' ORDER BY {column} {d}, id {d} LIMIT 1 OFFSET %s", offset)


def server_times(web, marker):
    """%D of the access-log lines whose request contains `marker`, in ms."""
    out = []
    for line in web.access_log_text().splitlines():
        if marker in line:
            # ... "GET /x HTTP/1.1" 200 1234 5678 "UA"  -> %D is the field after the size
            parts = line.split('"')
            fields = parts[2].split()
            out.append(int(fields[2]) / 1000.0)
    return out


def measure(web, admin, name, url, requests):
    marker = "bench=" + "".join(c if c.isalnum() else "-" for c in name)
    full = url + ("&" if "?" in url else "?") + marker
    first = admin.get(full)
    if first.status != 200:
        raise SystemExit(f"{name}: {first.status} {first.body[:300]}")
    for _ in range(requests - 1):
        r = admin.get(full)
        assert r.status == 200, r
    times = server_times(web, marker)[1:]     # the first request warms caches and prepares statements
    times.sort()
    med = statistics.median(times)
    p95 = times[int(len(times) * 0.95) - 1]
    print(f"  {name:<40} median {med:7.1f} ms   p95 {p95:7.1f} ms   max {times[-1]:7.1f} ms   ({len(times)} requests)")
    return med


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1000000)
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--buffer-pool-mb", type=int, default=1024)
    p.add_argument("--db-dir", help="reuse a running, filled mariadb-ctl folder (DIR:PORT) instead of loading one")
    args = p.parse_args()
    tmp = h.tmpdir("sg-bench-")
    if args.db_dir:
        db = h.MariaDB()
        db.dir, db.port = args.db_dir.rsplit(":", 1)
        print(f"sessions page benchmark on {db.dir}, {args.requests} requests per case")
    else:
        db = h.MariaDB().start(tmp=tmp)
        print(f"sessions page benchmark: {args.rows:,} session rows, {args.requests} requests per case")
        fill(db, args.rows, args.buffer_pool_mb)
    args.rows = int(db.scalar("SELECT COUNT(*) FROM sessions"))
    active = int(db.scalar("SELECT COUNT(*) FROM sessions WHERE state='active'"))
    heavy_active = int(db.scalar("SELECT COUNT(*) FROM sessions WHERE username=%s AND state='active'", HEAVY))
    print(f"  {active:,} active sessions; {HEAVY} has {heavy_active:,} of them")
    with open(db.cnf, "a") as f:
        f.write("\n[fcgi_admin]\nsendmail=/bin/true\n")
    web = h.Apache().start(tmp=tmp, db=db, module=h.MODULE, admin=h.web_copy(h.FCGI_ADMIN, tmp))
    admin = h.Browser(web.base_url, auth=("admin", "admin"))
    base = "/session-guard/sessions"
    # A cursor deep inside the list: the 100,000th active session by last access.
    deep = db.scalar("SELECT id FROM sessions WHERE state='active' ORDER BY last_access DESC, id DESC "
                     "LIMIT 1 OFFSET %s", min(100000, max(0, active - 200)))
    heavy_deep = db.scalar("SELECT id FROM sessions WHERE username=%s AND state='active' "
                           "ORDER BY last_access DESC, id DESC LIMIT 1 OFFSET %s", HEAVY, max(0, heavy_active // 2))
    results = {}
    results["headline"] = measure(web, admin, "user filter, last access, 100", f"{base}?user={HEAVY}&sort=last_access&order=desc&limit=100", args.requests)
    measure(web, admin, "user filter, deep keyset page", f"{base}?user={HEAVY}&sort=last_access&order=desc&limit=100&after={heavy_deep}", args.requests)
    measure(web, admin, "all users, last access, 100", f"{base}?sort=last_access&order=desc&limit=100", args.requests)
    measure(web, admin, "all users, page after row 100,000", f"{base}?sort=last_access&order=desc&limit=100&after={deep}", args.requests)
    measure(web, admin, "all users, sorted by IP, 100", f"{base}?sort=ip&order=asc&limit=100", args.requests)
    measure(web, admin, "all users, last page", f"{base}?sort=last_access&order=desc&limit=100&last=1", args.requests)
    for sort, order in (("login", "desc"), ("ip", "asc"), ("device", "asc"), ("timeout", "desc"), ("user", "asc"),
                        ("session", "asc"), ("server", "asc"), ("browser", "asc")):
        cursor = sessions_after(db, sort, order, min(100000, max(0, active - 200)))
        measure(web, admin, f"all users, {sort} {order}, after 100,000", f"{base}?sort={sort}&order={order}&limit=100&after={cursor}",
                max(20, args.requests // 10))
    measure(web, admin, "all users, sorted by admin, 100", f"{base}?sort=admin&order=desc&limit=100", max(10, args.requests // 20))
    measure(web, admin, "search 'user12', 25", f"{base}?q=user12&limit=25", max(20, args.requests // 10))
    measure(web, admin, "JSON API, user filter, 100", f"/session-guard/api/sessions?user={HEAVY}&limit=100", args.requests)
    target = 50.0
    verdict = "meets" if results["headline"] <= target else "MISSES"
    print(f"RESULT sessions page (100 rows, last access, user filter, {args.rows:,} rows): "
          f"median {results['headline']:.1f} ms server time, {verdict} the {target:.0f} ms target")


if __name__ == "__main__":
    try:
        main()
    finally:
        if "--db-dir" in " ".join(sys.argv):
            h._servers[:] = [x for x in h._servers if not isinstance(x, h.MariaDB)]
        h._cleanup()
