"""Instructions per request, module on vs off, counted by callgrind: the same number on a
busy machine as on an idle one, so it says where the module's cost goes when the
throughput ratios of bench_module.py move by a point between runs.

Each count is a fresh `apache2 -X` (one process) under callgrind, collecting only inside
connection processing; it serves one login and then N keep-alive requests of the live
session. The cost of a request is the difference between two runs with different N, so
start-up, the login and the connection set-up cancel out.

Configurations: the module off; on as shipped (directives in the apps' <Directory>,
SessionGuardAppEnv at its default Off); on with SessionGuardAppEnv On (what mod_php spends on
the two SESSION_GUARD_* variables); and on
with the same directives repeated in <Location> sections, which is what a <Location>-based
setup pays on top in httpd's own location walk and configuration merging.
"""
import glob
import importlib.machinery
import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import harness as h  # noqa: E402


def load_httpd_conf():
    """scripts/httpd-conf, whose guard of the PHP app the <Location> variant repeats."""
    loader = importlib.machinery.SourceFileLoader("httpd_conf", os.path.join(h.SCRIPTS, "httpd-conf"))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader("httpd_conf", loader))
    loader.exec_module(module)
    return module


FEW = int(os.environ.get("SG_BENCH_FEW", "50"))
MANY = int(os.environ.get("SG_BENCH_MANY", "300"))
PATHS = (("static", "/php/bench.txt"), ("php", "/php/"))
LOCATIONS = (f"<Location /php/>\n{load_httpd_conf().APP_GUARDS['php']}</Location>\n"
             "<Location /php/static/>\n  SessionGuard Off\n</Location>\n")


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), 1).close()
        return True
    except OSError:
        return False


def processes_using(folder):
    found = []
    for cmdline in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(cmdline, "rb") as f:
                if folder.encode() in f.read():
                    found.append(cmdline)
        except OSError:
            pass
    return found


def prepare(db, side, module, extra="", php_guard_conf=""):
    """Writes the instance's config with the harness, then hands its folder to the server's
    user: under valgrind, apache2 -X runs as www-data from the start (valgrind writes its
    counts as the process's final user)."""
    web = h.Apache().start(db=db, module=module, name=f"instr-{side}", extra_conf="LogLevel warn\n" + extra,
                           php_guard_conf=php_guard_conf)
    with open(os.path.join(web.demo, "php", "bench.txt"), "w") as f:
        f.write("static file for the benchmark\n" * 20)
    web.stop()
    for folder in (os.path.dirname(web.dir), web.demo):
        os.chmod(folder, 0o755)
    subprocess.run(["chown", "-R", "www-data:www-data", web.dir], check=True)
    return web


def count(web, path, requests, out_dir):
    """Instructions executed inside connection processing for one login and `requests`
    requests of the live session."""
    prefix = os.path.join(out_dir, f"{os.path.basename(web.dir)}-{path.strip('/').replace('/', '_')}-{requests}")
    pid_file = os.path.join(web.dir, "httpd.pid")
    if os.path.exists(pid_file):
        os.unlink(pid_file)
    server = subprocess.Popen(
        ["runuser", "-u", "www-data", "--", "valgrind", "--tool=callgrind", "--collect-atstart=no",
         "--toggle-collect=ap_run_process_connection", f"--callgrind-out-file={prefix}.%p",
         "/usr/sbin/apache2", "-X", "-f", os.path.join(web.dir, "httpd.conf")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        h.eventually(lambda: port_open(web.port), timeout=120, interval=0.5, what="apache2 -X under callgrind")
        browser = web.browser()
        h.expect(browser.login_php("alice", "demo").status == 302, "login failed")
        cookie = f"PHPSESSID={browser.cookies['PHPSESSID']}"
        h.expect("Hello, alice" in browser.get("/php/").body, "not logged in")
        result = subprocess.run(["ab", "-k", "-n", str(requests), "-c", "1", "-C", cookie, web.base_url + path],
                                capture_output=True, text=True, timeout=600)
        h.expect(re.search(rf"Complete requests:\s+{requests}\b", result.stdout) and "Non-2xx" not in result.stdout,
                 "requests failed", result.stdout)
    finally:
        try:
            with open(pid_file) as f:
                os.kill(int(f.read()), 15)
        except (OSError, ValueError):  # it never came up: end valgrind itself
            server.terminate()
        server.wait(timeout=120)
        # The module's poller (a child of apache2 -X, also under valgrind) follows its parent.
        h.eventually(lambda: not processes_using(web.dir), timeout=60, what="valgrind processes gone")
    # The largest file is the server's; the poller writes its own, smaller one.
    dump = max(glob.glob(prefix + ".*"), key=os.path.getsize)
    with open(dump) as f:
        return int(re.search(r"^(?:summary|totals): (\d+)", f.read(), re.M).group(1))


def per_request(web, path, out_dir):
    return (count(web, path, MANY, out_dir) - count(web, path, FEW, out_dir)) / (MANY - FEW)


def main():
    if shutil.which("valgrind") is None or shutil.which("ab") is None:
        raise SystemExit("needs valgrind and ab (apache2-utils)")
    if os.geteuid() != 0:
        raise SystemExit("needs root: apache2 -X runs as www-data under valgrind (runuser)")
    out_dir = tempfile.mkdtemp(prefix="sg-instr-")
    os.chmod(out_dir, 0o777)
    db = h.MariaDB().start()
    module = h.web_copy(h.MODULE)  # www-data may not read the clone (under /root, say)
    webs = {"off": prepare(db, "off", None),
            "on": prepare(db, "on", module),
            "on, AppEnv On": prepare(db, "env", module, php_guard_conf="SessionGuardAppEnv On"),
            "on+Location": prepare(db, "loc", module, LOCATIONS)}
    counts = {}
    for name, path in PATHS:
        for side, web in webs.items():
            counts[(side, name)] = per_request(web, path, out_dir)
    db.stop()
    shutil.rmtree(out_dir, ignore_errors=True)

    print(f"instructions per request (callgrind, apache2 -X, {MANY} - {FEW} keep-alive requests of a live session):")
    for name, path in PATHS:
        off = counts[("off", name)]
        print(f"  {name:6s} {path:15s} module off {off:8.0f}")
        for side, label in (("on", "module on (as shipped)"), ("on, AppEnv On", "on, SessionGuardAppEnv On"),
                            ("on+Location", "on, also guarded in <Location>")):
            n = counts[(side, name)]
            print(f"         {label:32s} {n:8.0f}   on / off {n / off:.4f}  (+{n - off:.0f})")


if __name__ == "__main__":
    main()
