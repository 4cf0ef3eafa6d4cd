"""Integration-test harness: real mariadbd and Apache on free loopback ports in
temporary folders, started through the scripts in scripts/, a small cookie-keeping
HTTP client that does not follow redirects, and a tiny test runner.

    import harness as h

    def setup_module():              # optional; servers started here live until the end
        global DB, WEB
        DB = h.MariaDB().start()
        WEB = h.Apache().start(db=DB, module=h.MODULE)

    def test_login():                # servers started inside a test stop after it
        b = h.Browser(WEB.base_url)
        r = b.login_php("alice", "demo")
        h.expect(r.status == 302, r)

    if __name__ == "__main__":
        h.run(globals())

The runner prints `PASS name` or `FAIL name: reason` (with traceback and the tail of
the error logs of the Apache instances involved), and at the end exactly one line
`RESULT <passed> <failed>`. `python3 test_x.py NAME...` runs only tests whose name
contains one of the NAMEs. SG_KEEP_TMP=1 keeps the temporary folders.
Stdlib only.
"""
import atexit
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse
from http.cookiejar import http2time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPTS = os.path.join(REPO, "scripts")
MODULE = os.path.join(REPO, "build", "mod_session_guard.so")
FCGI_ADMIN = os.path.join(REPO, "build", "fcgi_admin")
DEMO = os.path.join(REPO, "demo")

_servers = []      # every running server, most recent last, for cleanup
_tmpdirs = []


class CommandError(AssertionError):
    pass


def sh(*args, check=True, timeout=120, env=None):
    """Run a command; return its CompletedProcess (text). Raise with its output if it fails."""
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True,
                       timeout=timeout, env=env)
    if check and p.returncode != 0:
        raise CommandError(f"{' '.join(map(str, args))} exited {p.returncode}\n"
                           f"--- stdout\n{p.stdout}--- stderr\n{p.stderr}")
    return p


def script(name, *args, **kw):
    return sh(os.path.join(SCRIPTS, name), *args, **kw)


def free_port():
    """A TCP port free on 127.0.0.1 right now (the kernel picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tmpdir(prefix="sg-it-"):
    """A fresh folder that Apache's www-data children can enter (mkdtemp makes 0700)."""
    d = tempfile.mkdtemp(prefix=prefix)
    os.chmod(d, 0o755)
    _tmpdirs.append(d)
    return d


def expect(cond, *what):
    """assert that survives python -O and says what it saw."""
    if not cond:
        raise AssertionError(" ".join(str(w) for w in what) or "expectation failed")


def eventually(predicate, timeout=10.0, interval=0.05, what="condition"):
    """Poll predicate() until it returns something truthy; return that, or fail after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
        time.sleep(interval)


def sql_literal(v):
    """Quote a value for SQL. Test code only: the product uses prepared statements."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        v = v.encode("utf-8")
    if isinstance(v, (bytes, bytearray)):
        # Hex needs no escaping at all; CONVERT gives it a character set again.
        return f"CONVERT(X'{bytes(v).hex()}' USING utf8mb4)" if v else "''"
    raise TypeError(f"cannot quote {type(v).__name__}")


def format_sql(sql, params):
    parts = sql.split("%s")
    if len(parts) - 1 != len(params):
        raise ValueError(f"{len(parts) - 1} placeholders, {len(params)} params: {sql}")
    out = [parts[0]]
    for p, rest in zip(params, parts[1:]):
        out += [sql_literal(p), rest]
    return "".join(out)


class MariaDB:
    """A private mariadbd (scripts/mariadb-ctl) with the schema and demo accounts (scripts/db-setup)."""

    def __init__(self):
        self.dir = None
        self.port = None
        self.running = False

    def start(self, tmp=None):
        """First call: new server in tmp (or a fresh temp folder). Later calls: restart the same one."""
        first = self.dir is None
        if first:
            self.dir = os.path.join(tmp or tmpdir(), "db")
            self.port = free_port()
        if self not in _servers:
            _servers.append(self)
        self.running = True     # also when start fails half-way, so cleanup tries a stop
        script("mariadb-ctl", "start", self.dir, self.port, timeout=90)
        if first:
            self.setup()
        return self

    def setup(self):
        """Run db-setup (again): idempotent."""
        return script("db-setup", self.dir, timeout=120)

    def stop(self):
        if self.running:
            script("mariadb-ctl", "stop", self.dir, timeout=120)
            self.running = False

    @property
    def cnf(self):
        return os.path.join(self.dir, "sg.cnf")

    @property
    def socket(self):
        return os.path.join(self.dir, "mysqld.sock")

    @property
    def htpasswd(self):
        return os.path.join(self.dir, "htpasswd")

    def _cli(self, args, sql, params):
        p = sh("mariadb", *args, "--default-character-set=utf8mb4", "--batch", "--skip-column-names",
               "-e", format_sql(sql, params))
        # Batch mode escapes \t, \n and \\ inside values; tests rarely care, so rows stay raw.
        return [line.split("\t") for line in p.stdout.splitlines()]

    def query(self, sql, *params):
        """Rows as lists of strings (NULL shows as 'NULL'), as the application user sg."""
        return self._cli([f"--defaults-file={self.cnf}"], sql, params)

    def root_query(self, sql, *params):
        """Same, as the server's admin (the OS user, unix_socket auth), e.g. for global settings."""
        import getpass
        return self._cli(["--no-defaults", f"--socket={self.socket}", f"-u{getpass.getuser()}",
                          "session_guard"],
                         sql, params)

    def scalar(self, sql, *params):
        rows = self.query(sql, *params)
        return rows[0][0] if rows else None

    def queries_count(self):
        """Server-wide statement count. Each call adds its own query (and the CLI's) to it."""
        return int(self.query("SHOW GLOBAL STATUS LIKE 'Queries'")[0][1])

    def __repr__(self):
        return f"MariaDB({self.dir}, port {self.port})"


class GaleraNode:
    """One node of a Galera cluster (scripts/galera-ctl): its SQL port and three cluster ports."""

    def __init__(self, cluster, index, folder):
        self.cluster, self.index, self.dir = cluster, index, folder
        self.port, self.gcomm, self.ist, self.sst = (free_port() for _ in range(4))
        self.running = False

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    @property
    def socket(self):
        return os.path.join(self.dir, "mysqld.sock")

    def start(self, new_cluster=False):
        self.running = True     # also when start fails half-way, so cleanup tries a stop
        script("galera-ctl", "start", self.dir, self.port, self.gcomm, self.ist, self.sst, self.cluster.peers,
               *(["--new-cluster"] if new_cluster else []), timeout=180)
        return self

    def stop(self):
        if self.running:
            script("galera-ctl", "stop", self.dir, timeout=120)
            self.running = False

    def kill(self):
        script("galera-ctl", "kill", self.dir, timeout=60)
        self.running = False

    def root_query(self, sql, *params):
        import getpass
        p = sh("mariadb", "--no-defaults", f"--socket={self.socket}", f"-u{getpass.getuser()}",
               "--default-character-set=utf8mb4", "--batch", "--skip-column-names", "session_guard",
               "-e", format_sql(sql, params))
        return [line.split("\t") for line in p.stdout.splitlines()]

    def status(self, name):
        rows = self.root_query("SELECT VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
                               "WHERE VARIABLE_NAME = UPPER(%s)", name)
        return rows[0][1] if rows else None

    def __repr__(self):
        return f"GaleraNode({self.index + 1}, {self.address})"


class Galera:
    """A MariaDB Galera cluster of `size` nodes on loopback, each a mariadbd of its own in a
    temp folder (scripts/galera-ctl), with the schema and accounts of scripts/db-setup. It
    stands in for MariaDB wherever a `db` is passed: its option files (`cnf`) list every
    node, in node order, as the module's and fcgi_admin's servers (SG_DB_HOSTS)."""

    def __init__(self, size=3):
        self.size = size
        self.nodes = []
        self.running = False

    @property
    def peers(self):
        return ",".join(f"127.0.0.1:{n.gcomm}" for n in self.nodes)

    @property
    def hosts(self):
        return ",".join(n.address for n in self.nodes)

    def start(self, tmp=None):
        """First call: a new cluster (node 1 bootstraps it, db-setup runs there, the others
        join by state transfer). Later calls: start the nodes that are down, bootstrapping
        from node 1 when none is running (it must be the last one stopped: see stop())."""
        first = not self.nodes
        if first:
            base = os.path.join(tmp or tmpdir("sg-galera-"), "galera")
            os.makedirs(base)
            os.chmod(base, 0o755)
            self.nodes = [GaleraNode(self, i, os.path.join(base, f"node{i + 1}")) for i in range(self.size)]
        if self not in _servers:
            _servers.append(self)
        self.running = True
        if not any(n.running for n in self.nodes):
            self.nodes[0].start(new_cluster=True)
            if first:
                self.setup()
        for n in self.nodes:
            if not n.running:
                n.start()
        return self

    def setup(self):
        env = dict(os.environ, SG_DB_HOSTS=self.hosts)
        return script("db-setup", self.nodes[0].dir, timeout=120, env=env)

    def stop(self):
        """Every node, the last one first, so that node 1 is the last to leave: it holds every
        transaction and may bootstrap the cluster again (safe_to_bootstrap)."""
        errors = []
        for n in reversed(self.nodes):
            try:
                n.stop()
            except Exception as e:
                errors.append(e)
        self.running = False
        if errors:
            raise errors[0]

    def live_node(self):
        for n in self.nodes:
            if n.running:
                return n
        raise AssertionError("no Galera node is running")

    @property
    def dir(self):
        return self.nodes[0].dir

    @property
    def cnf(self):
        return os.path.join(self.dir, "sg.cnf")

    @property
    def htpasswd(self):
        return os.path.join(self.dir, "htpasswd")

    def admin_cnf(self, *nodes, **settings):
        """An option file for fcgi_admin that names only `nodes` (all when none), in that
        order, with extra [fcgi_admin] settings: e.g. a kill made through node 3 alone."""
        nodes = nodes or tuple(self.nodes)
        tag = "-".join(str(n.index + 1) for n in nodes) + ("-" + "-".join(sorted(settings)) if settings else "")
        with open(os.path.join(self.dir, "sg-admin.cnf")) as f:
            text = f.read()
        hosts = ",".join(n.address for n in nodes)
        text = "\n".join(f"host={hosts}" if line.startswith("host=") else line for line in text.splitlines())
        credentials = os.path.join(self.dir, f"sg-admin-{tag}.cnf")
        with open(credentials, "w") as f:
            f.write(text + "\n")
        os.chmod(credentials, 0o600)
        config = os.path.join(self.dir, f"fcgi-admin-{tag}.cnf")
        with open(config, "w") as f:
            f.write(f"[fcgi_admin]\ncredentials_file={credentials}\n")
            for k, v in settings.items():
                f.write(f"{k}={v}\n")
        return config

    def query(self, sql, *params):
        """As the server's admin on the first running node (rows as lists of strings)."""
        return self.live_node().root_query(sql, *params)

    root_query = query

    def scalar(self, sql, *params):
        rows = self.query(sql, *params)
        return rows[0][0] if rows else None

    def __repr__(self):
        return f"Galera({self.hosts})"


def _php_fpm_binary():
    import glob
    found = sorted(glob.glob("/usr/sbin/php-fpm*"))
    expect(found, "php-fpm not installed (scripts/install-deps installs php-fpm)")
    return found[-1]


class PhpFpm:
    """A PHP-FPM master of its own, started from a folder of the test with its own config
    (no /etc/php/*/fpm/pool.d, no system service): one pool on a Unix socket in that folder,
    which only Apache's user may connect to; the workers run as www-data when we are root,
    as Debian's www pool does. php.ini is Debian's FPM one, as on a stock install."""

    def __init__(self, folder, session_dir):
        self.dir = folder
        self.session_dir = session_dir
        self.socket = os.path.join(folder, "php-fpm.sock")
        self.conf = os.path.join(folder, "php-fpm.conf")
        self.log = os.path.join(folder, "php-fpm.log")
        self.access_log = os.path.join(folder, "access.log")     # what the pool's workers ran
        self.proc = None

    def write_conf(self):
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        root = os.geteuid() == 0
        owner = ""
        if root:
            # The pool's workers and the socket belong to www-data, Apache's User: the
            # socket is 0660, so nobody else on the machine can talk FastCGI to the pool.
            owner = ("user = www-data\ngroup = www-data\n"
                     "listen.owner = www-data\nlisten.group = www-data\n")
        with open(self.conf, "w") as f:
            f.write(f"""\
[global]
pid = {self.dir}/php-fpm.pid
error_log = {self.log}
log_level = notice
daemonize = no

[sg-test]
{owner}listen = {self.socket}
listen.mode = 0660
pm = static
pm.max_children = 4
catch_workers_output = yes
access.log = {self.access_log}
access.format = "%m %{{REQUEST_URI}}e script=%f path_info=%{{PATH_INFO}}e %s"
security.limit_extensions = .php
php_admin_value[session.save_path] = {self.session_dir}
php_admin_value[session.gc_probability] = 0
""")

    def start(self):
        self.write_conf()
        binary = _php_fpm_binary()
        sh(binary, "--test", "--fpm-config", self.conf)
        with open(os.path.join(self.dir, "php-fpm.stdout"), "w") as out:
            self.proc = subprocess.Popen([binary, "--nodaemonize", "--fpm-config", self.conf],
                                         stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        eventually(lambda: self.proc.poll() is not None or os.path.exists(self.socket), timeout=20,
                   what="php-fpm socket")
        expect(self.proc.poll() is None, "php-fpm exited", self.proc.returncode, self.log_text()[-2000:])
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)     # graceful: the master ends its workers
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None

    def log_text(self):
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""


class Apache:
    """An Apache instance with a config from scripts/httpd-conf, run by scripts/apache-ctl."""

    _count = 0

    def __init__(self):
        self.dir = None
        self.running = False
        self.fpm = None

    def start(self, tmp=None, db=None, mpm="prefork", module=None, extra_conf="", name="sg-test", admin=None,
              php_guard_conf="", php=None):
        """module: path to mod_session_guard.so (h.MODULE) or None for the same config without it.
        extra_conf: Apache directives appended in server context.
        php_guard_conf: directives (one per line) added to the PHP app's own <Directory> after
        its guard (a section of their own would cost every request a merge: the benchmarks).
        admin: path to fcgi_admin (e.g. web_copy(FCGI_ADMIN)): served at /session-guard/ by mod_fcgid.
        php: None (mod_php under prefork, no PHP under event) or "fpm": the PHP app runs in a
        PHP-FPM master of this instance's own (PhpFpm), reached through mod_proxy_fcgi as in
        Debian's php8.2-fpm.conf, and stopped with this instance."""
        expect(db is not None, "Apache.start needs db=MariaDB")
        Apache._count += 1
        base = tmp or tmpdir()
        self.dir = os.path.join(base, f"httpd-{mpm}-{Apache._count}")
        os.makedirs(self.dir)
        self.db, self.mpm, self.module = db, mpm, module
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        # A private copy of demo/: the repository may sit where www-data cannot read
        # (a clone under /root), the temp folder never does.
        self.demo = os.path.join(base, "demo")
        if not os.path.isdir(self.demo):
            shutil.copytree(DEMO, self.demo)
            for root, dirs, files in os.walk(self.demo):   # even from a clone made under umask 077
                for n in dirs + files:
                    p = os.path.join(root, n)
                    os.chmod(p, os.stat(p).st_mode | 0o044 | (0o011 if os.stat(p).st_mode & 0o100 else 0))
        extra = os.path.join(self.dir, "extra.conf")
        with open(extra, "w") as f:
            f.write(extra_conf + "\n")
        script("httpd-conf", "--dir", self.dir, "--port", self.port, "--mpm", mpm,
               "--module", module or "none", "--db-cnf", db.cnf, "--htpasswd", db.htpasswd,
               "--demo", self.demo, "--extra", extra, "--name", name,
               *(["--admin", admin] if admin else []),
               *(["--php-guard-extra", php_guard_conf] if php_guard_conf else []),
               *(["--php", "fpm", "--php-fpm-socket", os.path.join(self.dir, "fpm", "php-fpm.sock")]
                 if php == "fpm" else []),
               "--out", os.path.join(self.dir, "httpd.conf"))
        _servers.append(self)
        if php == "fpm":
            # httpd-conf made php-sessions (0700, www-data's when root) for the pool to use.
            self.fpm = PhpFpm(os.path.join(self.dir, "fpm"), os.path.join(self.dir, "php-sessions"))
            self.fpm.start()
        self.running = True
        script("apache-ctl", "start", self.dir, timeout=60)
        return self

    def stop(self):
        try:
            if self.running:
                script("apache-ctl", "stop", self.dir, timeout=60)
                self.running = False
        finally:
            if self.fpm:
                self.fpm.stop()

    def graceful(self):
        script("apache-ctl", "graceful", self.dir, timeout=60)

    def pid(self):
        with open(os.path.join(self.dir, "httpd.pid")) as f:
            return int(f.read().strip())

    @property
    def error_log(self):
        return os.path.join(self.dir, "error.log")

    def error_log_text(self):
        try:
            with open(self.error_log, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def access_log_text(self):
        try:
            with open(os.path.join(self.dir, "access.log"), encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def crashes(self):
        """Error-log lines that mean a child died (segfault, abort)."""
        return [line for line in self.error_log_text().splitlines()
                if "exit signal" in line or "Segmentation fault" in line]

    def browser(self, **kw):
        return Browser(self.base_url, **kw)

    def __repr__(self):
        return f"Apache({self.mpm}, {self.base_url}, {self.dir})"


class Response:
    def __init__(self, status, reason, headers, raw):
        self.status = status
        self.reason = reason
        self.headers = headers          # list of (name, value) in order, repeated names kept
        self.raw = raw
        self.body = raw.decode("utf-8", errors="replace")

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    @property
    def location(self):
        return self.header("Location")

    def json(self):
        import json
        return json.loads(self.body)

    def __repr__(self):
        loc = f" -> {self.location}" if self.location else ""
        return f"<{self.status} {self.reason}{loc} {self.body[:200]!r}>"


class Browser:
    """One user agent: keeps cookies (name -> value, path and domain ignored: the demo
    apps use path /), never follows redirects by itself."""

    def __init__(self, base_url, auth=None, user_agent="sg-integration-test/1.0", timeout=30):
        u = urllib.parse.urlsplit(base_url)
        self.host, self.port = u.hostname, u.port or 80
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.user_agent = user_agent
        self.timeout = timeout
        self.cookies = {}

    def request(self, method, path, body=None, headers=None, auth=None):
        if path.startswith("http://") or path.startswith("https://"):
            u = urllib.parse.urlsplit(path)
            path = urllib.parse.urlunsplit(("", "", u.path, u.query, ""))
        h = {"User-Agent": self.user_agent}
        if self.cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        auth = auth or self.auth
        if auth:
            import base64
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            h["Authorization"] = f"Basic {token}"
        h.update(headers or {})
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            resp = Response(r.status, r.reason, r.getheaders(), r.read())
        finally:
            conn.close()
        for v in resp.header_all("Set-Cookie"):
            self._store_cookie(v)
        return resp

    def _store_cookie(self, header):
        first, *attrs = header.split(";")
        if "=" not in first:
            return
        name, value = (s.strip() for s in first.split("=", 1))
        gone = False
        for a in attrs:
            k, _, v = a.strip().partition("=")
            k = k.lower()
            if k == "max-age":
                try:
                    gone = gone or int(v) <= 0
                except ValueError:
                    pass
            elif k == "expires":
                t = http2time(v.strip())
                gone = gone or (t is not None and t <= time.time())
        if gone:
            self.cookies.pop(name, None)
        else:
            self.cookies[name] = value

    def get(self, path, headers=None, auth=None):
        return self.request("GET", path, headers=headers, auth=auth)

    def post_form(self, path, fields, headers=None, auth=None):
        body = urllib.parse.urlencode(fields)
        h = {"Content-Type": "application/x-www-form-urlencoded"}
        h.update(headers or {})
        return self.request("POST", path, body=body.encode(), headers=h, auth=auth)

    def follow(self, resp, headers=None):
        """GET the Location of a redirect response."""
        expect(resp.location, "not a redirect:", resp)
        return self.get(resp.location, headers=headers)

    def login_php(self, user, password):
        """GET the form (the app hands out its cookie, as in a browser), POST it.
        Returns the POST's response (302 to /php/ when it worked)."""
        self.get("/php/login.php")
        return self.post_form("/php/login.php", {"username": user, "password": password})

    def login_perl(self, user, password):
        self.get("/perl/app.cgi?action=login")
        return self.post_form("/perl/app.cgi?action=login", {"username": user, "password": password})


def web_copy(path, tmp=None):
    """A copy of `path` in a temp folder that the web server's user (www-data) can read and
    execute: the repository may sit where it cannot (a clone under /root)."""
    d = os.path.join(tmp or tmpdir(), "bin")
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o755)
    dest = os.path.join(d, os.path.basename(path))
    shutil.copy2(path, dest)
    os.chmod(dest, 0o755)
    return dest


def fcgi_admin(db, *args, check=True, as_user=None):
    """build/fcgi_admin --config DB.cnf ARGS... (the admin CLI)."""
    extra = ["--as", as_user] if as_user else []
    return sh(FCGI_ADMIN, "--config", db.cnf, *args, *extra, check=check)


def _stop_servers(since=0):
    """Stop servers registered after index `since`, newest first (Apache before its DB)."""
    while len(_servers) > since:
        s = _servers.pop()
        try:
            s.stop()
        except Exception as e:  # keep stopping the others
            print(f"warning: could not stop {s!r}: {e}", file=sys.stderr)


def _cleanup():
    _stop_servers(0)
    if os.environ.get("SG_KEEP_TMP"):
        for d in _tmpdirs:
            print(f"kept {d}", file=sys.stderr)
        return
    for d in _tmpdirs:
        shutil.rmtree(d, ignore_errors=True)
    _tmpdirs.clear()


atexit.register(_cleanup)
# `timeout` sends SIGTERM: turn it into a normal exit so atexit stops the servers.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def _log_tails(servers, lines=25):
    out = []
    for s in servers:
        if isinstance(s, Apache):
            tail = s.error_log_text().splitlines()[-lines:]
            out.append(f"    --- {s.error_log} (last {len(tail)} lines)")
            out += ["    " + t for t in tail]
            if s.fpm:
                tail = s.fpm.log_text().splitlines()[-lines:]
                out.append(f"    --- {s.fpm.log} (last {len(tail)} lines)")
                out += ["    " + t for t in tail]
    return "\n".join(out)


def run(ns):
    """Run the test_* functions of a module namespace in definition order."""
    only = sys.argv[1:]
    tests = [(n, f) for n, f in ns.items()
             if n.startswith("test_") and callable(f) and (not only or any(o in n for o in only))]
    passed = failed = 0
    try:
        if "setup_module" in ns:
            ns["setup_module"]()
    except Exception as e:
        print(f"FAIL setup_module: {e}")
        traceback.print_exc(file=sys.stdout)
        print(_log_tails(list(_servers)))
        print(f"RESULT 0 {max(len(tests), 1)}")
        sys.stdout.flush()
        _cleanup()
        sys.exit(1)
    shared = len(_servers)
    for name, fn in tests:
        before = len(_servers)
        t0 = time.monotonic()
        try:
            fn()
            passed += 1
            print(f"PASS {name}")
        except Exception as e:
            failed += 1
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            print(f"FAIL {name}: {reason}")
            traceback.print_exc(file=sys.stdout)
            print(_log_tails(_servers[:shared] + _servers[before:]))
        finally:
            _stop_servers(before)
            print(f"    ({time.monotonic() - t0:.1f}s)")
            sys.stdout.flush()
    try:
        if "teardown_module" in ns:
            ns["teardown_module"]()
    finally:
        _cleanup()
    print(f"RESULT {passed} {failed}")
    sys.stdout.flush()
    sys.exit(0 if failed == 0 else 1)
