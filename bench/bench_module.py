"""Module on vs off, measured side by side in one run (this machine is shared and noisy:
only ratios mean anything). Two Apache instances with the same configuration, one with
mod_session_guard and one without, share one MariaDB; wrk alternates between them.

Prints: module-on / module-off requests per second for a static file and for the PHP demo
page with a live session, naive per-request SQL check / module-off, and DB queries per
request while the module serves.
"""
import os
import re
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import harness as h  # noqa: E402

ROUNDS = int(os.environ.get("SG_BENCH_ROUNDS", "3"))
SECONDS = int(os.environ.get("SG_BENCH_SECONDS", "4"))
CONNECTIONS = int(os.environ.get("SG_BENCH_CONNECTIONS", "8"))


def wrk(url, cookie):
    out = subprocess.run(["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "-H", f"Cookie: {cookie}", url],
                         capture_output=True, text=True, timeout=SECONDS + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non_2xx:
        raise SystemExit(f"{url}: {non_2xx.group(1)} failed responses; the session is not live\n{out}")
    return rps, requests


def live_cookie(web):
    b = web.browser()
    r = b.login_php("alice", "demo")
    h.expect(r.status == 302, "login failed", r)
    h.expect("Hello, alice" in b.get("/php/").body, "not logged in")
    return f"PHPSESSID={b.cookies['PHPSESSID']}"


def main():
    db = h.MariaDB().start()
    on = h.Apache().start(db=db, module=h.MODULE, name="bench-on")
    off = h.Apache().start(db=db, module=None, name="bench-off")
    # A static file inside the guarded location, so the module judges every request.
    for web in (on, off):
        with open(os.path.join(web.demo, "php", "bench.txt"), "w") as f:
            f.write("static file for the benchmark\n" * 20)
    h.eventually(lambda: "deny-list loaded" in on.error_log_text(), what="first poll")
    cookies = {on: live_cookie(on), off: live_cookie(off)}
    # Warm up PHP's opcache and the connections.
    for web in (on, off):
        wrk(web.base_url + "/php/", cookies[web])

    runs = {k: [] for k in ("static_on", "static_off", "php_on", "php_off", "naive_off")}
    queries = requests_on = 0
    for _ in range(ROUNDS):
        runs["static_on"].append(wrk(on.base_url + "/php/bench.txt", cookies[on])[0])
        runs["static_off"].append(wrk(off.base_url + "/php/bench.txt", cookies[off])[0])
        q0 = db.queries_count()
        rps, n = wrk(on.base_url + "/php/", cookies[on])
        queries += db.queries_count() - q0 - 1  # minus our own SHOW STATUS
        requests_on += n
        runs["php_on"].append(rps)
        runs["php_off"].append(wrk(off.base_url + "/php/", cookies[off])[0])
        runs["naive_off"].append(wrk(off.base_url + "/php/naive.php", cookies[off])[0])

    med = {k: statistics.median(v) for k, v in runs.items()}
    print(f"wrk -t2 -c{CONNECTIONS} -d{SECONDS}s, {ROUNDS} alternating rounds, medians (req/s):")
    for k in runs:
        print(f"  {k:11s} {med[k]:9.0f}   runs: {', '.join(f'{x:.0f}' for x in runs[k])}")
    static_ratio = med["static_on"] / med["static_off"]
    php_ratio = med["php_on"] / med["php_off"]
    naive_ratio = med["naive_off"] / med["php_off"]
    per_request = queries / max(requests_on, 1)
    print(f"static  module-on / module-off : {static_ratio:.3f}   (target >= 0.95)")
    print(f"PHP     module-on / module-off : {php_ratio:.3f}   (target >= 0.97)")
    print(f"PHP     naive SQL / module-off : {naive_ratio:.3f}")
    print(f"DB queries per request (module on, PHP): {per_request:.5f}   (target <= 0.01; {queries} queries, "
          f"{requests_on} requests)")
    on.stop()
    off.stop()
    db.stop()


if __name__ == "__main__":
    main()
