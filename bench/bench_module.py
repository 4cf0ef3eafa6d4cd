"""Module on vs off, measured side by side in one run (this machine is shared and noisy:
only ratios mean anything). Two Apache instances with the same configuration, one with
mod_session_guard and one without, share one MariaDB; wrk loads both at the same moment.

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

EPOCHS = int(os.environ.get("SG_BENCH_EPOCHS", "6"))
ROUNDS = int(os.environ.get("SG_BENCH_ROUNDS", "3"))  # per epoch
SECONDS = int(os.environ.get("SG_BENCH_SECONDS", "4"))
CONNECTIONS = int(os.environ.get("SG_BENCH_CONNECTIONS", "8"))
# SG_BENCH_AA=1: the "on" side runs without the module too, to check the method itself
# reads 1.000 (within its noise) when both sides are the same.
SAME_ON_BOTH_SIDES = os.environ.get("SG_BENCH_AA") == "1"
# SG_BENCH_APP_ENV=on: the module's side with SessionGuardAppEnv On (the default is Off).
APP_ENV_ON = os.environ.get("SG_BENCH_APP_ENV") == "on"


def start_wrk(url, cookie):
    return subprocess.Popen(["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "-H", f"Cookie: {cookie}", url],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def wrk_result(url, proc):
    out = proc.communicate(timeout=SECONDS + 60)[0]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non_2xx:
        raise SystemExit(f"{url}: {non_2xx.group(1)} failed responses; the session is not live\n{out}")
    return rps, requests


def wrk(url, cookie):
    return wrk_result(url, start_wrk(url, cookie))


def wrk_side_by_side(targets):
    """wrk against every (url, cookie) at the same moment: whatever the machine does during
    the run (steal time, neighbours, frequency) hits every side alike, and the kernel gives
    each side's busy workers the same share of the CPUs, so each side's rate follows its cost
    per request. Measured one after the other, runs differ by up to 10% here."""
    procs = [(url, start_wrk(url, cookie)) for url, cookie in targets]
    try:
        return [wrk_result(url, proc) for url, proc in procs]
    finally:
        for _, proc in procs:  # after a failed side, the other wrk must not outlive us
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def apache_cpu_seconds(web):
    """CPU time used by an Apache instance so far: the parent with the children it reaped,
    plus the live children. Less sensitive than throughput to neighbours on the machine."""
    parent = web.pid()
    ticks = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry), int(fields[1])
        if pid == parent:
            ticks += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
        elif ppid == parent:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def live_cookie(web):
    b = web.browser()
    r = b.login_php("alice", "demo")
    h.expect(r.status == 302, "login failed", r)
    h.expect("Hello, alice" in b.get("/php/").body, "not logged in")
    return f"PHPSESSID={b.cookies['PHPSESSID']}"


# A fixed set of children, so none exits (taking its CPU time along) mid-measurement.
# Production log level on both sides (the test config logs the module at info).
FIXED_CONF = ("<IfModule mpm_prefork_module>\n StartServers 12\n MinSpareServers 12\n MaxSpareServers 20\n"
              " MaxRequestWorkers 20\n</IfModule>\nLogLevel warn\n")


def start_pair(db, epoch):
    """A fresh module-on and module-off instance. Two identical instances started side by
    side differ by up to 1.5% in throughput, one way or the other, for as long as they run
    (memory placement, ports): each epoch starts a new pair, in alternating order, so that
    effect averages out instead of being charged to the module."""
    kinds = [("on", None if SAME_ON_BOTH_SIDES else h.MODULE), ("off", None)]
    web = {}
    for side, module in (kinds if epoch % 2 == 0 else reversed(kinds)):
        web[side] = h.Apache().start(db=db, module=module, name=f"bench-{side}", extra_conf=FIXED_CONF,
                                     php_guard_conf="SessionGuardAppEnv On" if module and APP_ENV_ON else "")
        # A static file inside the guarded location, so the module judges every request.
        with open(os.path.join(web[side].demo, "php", "bench.txt"), "w") as f:
            f.write("static file for the benchmark\n" * 20)
    if not SAME_ON_BOTH_SIDES:
        h.eventually(lambda: "deny-list loaded" in web["on"].error_log_text(), what="first poll")
    cookies = {side: live_cookie(w) for side, w in web.items()}
    for side, w in web.items():  # warm up PHP's opcache and the connections
        wrk(w.base_url + "/php/", cookies[side])
    return web, cookies


def main():
    db = h.MariaDB().start()
    # Each pair is measured side by side (both at once), fresh instances every epoch; the
    # ratio is taken per pair and the median of those is reported.
    ratios = {"static": [], "php": [], "naive": []}
    cpu = {k: [0.0, 0] for k in ("static_on", "static_off", "php_on", "php_off")}  # seconds, requests
    rates = {k: [] for k in ("static_on", "static_off", "php_on", "php_off", "naive_off")}
    queries = requests_on = 0
    round_no = 0
    for epoch in range(EPOCHS):
        web, cookies = start_pair(db, epoch)
        for _ in range(ROUNDS):
            flip = round_no % 2 == 1
            round_no += 1
            pair = ["on", "off"]
            for name, path in (("static", "/php/bench.txt"), ("php", "/php/")):
                sides = list(reversed(pair) if flip else pair)  # who starts first alternates
                q0 = db.queries_count()
                c0 = {side: apache_cpu_seconds(web[side]) for side in sides}
                results = wrk_side_by_side([(web[side].base_url + path, cookies[side]) for side in sides])
                got = {}
                for side, (rps, n) in zip(sides, results):
                    cpu[f"{name}_{side}"][0] += apache_cpu_seconds(web[side]) - c0[side]
                    cpu[f"{name}_{side}"][1] += n
                    got[side] = rps
                    rates[f"{name}_{side}"].append(rps)
                    if side == "on" and name == "php":
                        requests_on += n
                if name == "php":  # only the module's instance talks to the database meanwhile
                    queries += db.queries_count() - q0 - 1  # minus our own SHOW STATUS
                ratios[name].append(got["on"] / got["off"])
            order = [("naive", "/php/naive.php"), ("php", "/php/")]
            got = {}
            for label, path in (reversed(order) if flip else order):
                got[label] = wrk(web["off"].base_url + path, cookies["off"])[0]
            rates["naive_off"].append(got["naive"])
            ratios["naive"].append(got["naive"] / got["php"])
        for w in web.values():
            w.stop()

    if SAME_ON_BOTH_SIDES:
        print("SG_BENCH_AA=1: calibration run, the module is loaded on neither side")
    if APP_ENV_ON:
        print("SG_BENCH_APP_ENV=on: the module's side runs with SessionGuardAppEnv On")
    print(f"wrk -t2 -c{CONNECTIONS} -d{SECONDS}s against on and off at once, {EPOCHS} fresh on/off pairs x {ROUNDS} "
          f"rounds; requests per second:")
    for k, v in rates.items():
        print(f"  {k:11s} median {statistics.median(v):8.0f}   runs: {', '.join(f'{x:.0f}' for x in v)}")
    med = {k: statistics.median(v) for k, v in ratios.items()}
    spread = {k: f"{min(v):.3f}..{max(v):.3f}" for k, v in ratios.items()}
    per_request = queries / max(requests_on, 1)
    per_request_us = {k: 1e6 * v[0] / max(v[1], 1) for k, v in cpu.items()}
    print("Apache CPU per request (all processes of the instance): " +
          ", ".join(f"{k} {v:.1f} us" for k, v in per_request_us.items()))
    print(f"static  module-on / module-off : {med['static']:.3f}  (pairs {spread['static']}; target >= 0.95)"
          f"   requests per CPU-second: {per_request_us['static_off'] / per_request_us['static_on']:.3f}")
    print(f"PHP     module-on / module-off : {med['php']:.3f}  (pairs {spread['php']}; target >= 0.97)"
          f"   requests per CPU-second: {per_request_us['php_off'] / per_request_us['php_on']:.3f}")
    print(f"PHP     naive SQL / module-off : {med['naive']:.3f}  (pairs {spread['naive']})")
    print(f"DB queries per request (module on, PHP): {per_request:.5f}   (target <= 0.01; {queries} queries, "
          f"{requests_on} requests)")
    db.stop()


if __name__ == "__main__":
    main()
