"""Helpers for the admin-side integration tests (fcgi_admin behind real Apache + MariaDB).

Not a test file itself (no test_ prefix): imported by tests/integration/test_admin_*.py.
"""
import email
import glob
import html.parser
import json
import os
import re
import time
import urllib.parse

import harness as h

ADMIN_AUTH = ("admin", "admin")


def fake_sendmail(tmp):
    """A sendmail-compatible program that stores each message in MAILDIR/msg.*.eml, and fails
    with exit status 75 (EX_TEMPFAIL, as a real MTA that is down) while MAILDIR/fail exists."""
    maildir = os.path.join(tmp, "mail")
    os.makedirs(maildir, exist_ok=True)
    os.chmod(maildir, 0o777)         # the FastCGI process runs as www-data
    prog = os.path.join(tmp, "bin", "fake-sendmail")
    os.makedirs(os.path.dirname(prog), exist_ok=True)
    os.chmod(os.path.dirname(prog), 0o755)
    with open(prog, "w") as f:
        f.write(f"""#!/bin/sh
dir='{maildir}'
if [ -e "$dir/fail" ]; then echo "simulated MTA outage" >&2; exit 75; fi
tmp="$dir/.msg.$$.tmp"
{{ printf 'X-Sendmail-Args:'; for a in "$@"; do printf ' %s' "$a"; done; printf '\\n'; cat; }} > "$tmp" || exit 74
mv "$tmp" "$dir/msg.$(date +%s%N).$$.eml"
""")
    os.chmod(prog, 0o755)
    return prog, maildir


def mails(maildir):
    """Delivered messages, oldest first, as email.message.Message objects."""
    out = []
    for p in sorted(glob.glob(os.path.join(maildir, "msg.*.eml"))):
        with open(p, encoding="utf-8") as f:
            out.append(email.message_from_string(f.read()))
    return out


def wait_mail(maildir, count, timeout=20):
    return h.eventually(lambda: len(mails(maildir)) >= count and mails(maildir), timeout=timeout,
                        what=f"{count} mails in {maildir}")


def body_of(message):
    payload = message.get_payload(decode=True)
    return payload.decode("utf-8") if isinstance(payload, bytes) else str(message.get_payload())


def add_admin_settings(db, **settings):
    """Append an [fcgi_admin] group to the DB's option file (what an admin would configure)."""
    with open(db.cnf, "a") as f:
        f.write("\n[fcgi_admin]\n")
        for k, v in settings.items():
            f.write(f"{k}={v}\n")


class Stack:
    """MariaDB + Apache (prefork, mod_php, mod_session_guard) + fcgi_admin under mod_fcgid + fake sendmail."""

    def __init__(self, mpm="prefork", settings=None, extra_conf=""):
        self.tmp = h.tmpdir("sg-admin-")
        self.db = h.MariaDB().start(tmp=self.tmp)
        self.sendmail, self.maildir = fake_sendmail(self.tmp)
        conf = {"sendmail": self.sendmail, "mail_from": "session-guard@example.test",
                "mail_interval": "0.5", "mail_retry": "0.5", "mail_retry_max": "1",
                "sample_interval": "1", "refresh": "2"}
        conf.update(settings or {})
        add_admin_settings(self.db, **conf)
        self.admin_bin = h.web_copy(h.FCGI_ADMIN, self.tmp)
        self.web = h.Apache().start(tmp=self.tmp, db=self.db, mpm=mpm, module=h.MODULE,
                                    admin=self.admin_bin, extra_conf=extra_conf)
        self.base = self.web.base_url

    def admin(self):
        return h.Browser(self.base, auth=ADMIN_AUTH)

    def user(self, name="alice", password="demo", app="php", user_agent=None, timeout=5):
        """A browser logged in to the demo app; retried for a moment, since an unblock takes
        a poll interval to reach Apache."""
        ua = user_agent or "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"

        def attempt():
            b = h.Browser(self.base, user_agent=ua)
            r = b.login_php(name, password) if app == "php" else b.login_perl(name, password)
            ok = r.status in (302, 303) and "reason=" not in (r.location or "") and \
                "action=login" not in (r.location or "") and not (r.location or "").endswith("login.php")
            return b if ok else None
        return h.eventually(attempt, timeout=timeout, interval=0.2, what=f"{name} logged in to {app}")

    def session_of(self, user):
        """Fingerprints of the user's active sessions, newest first."""
        rows = self.db.query("SELECT fingerprint FROM sessions WHERE username = %s AND state = 'active' "
                             "ORDER BY id DESC", user)
        return [r[0] for r in rows]

    def state(self, fingerprint):
        return self.db.scalar("SELECT state FROM sessions WHERE fingerprint = %s", fingerprint)


class FormParser(html.parser.HTMLParser):
    """Collects forms: action, method and their fields (input, textarea, checked checkboxes)."""

    def __init__(self):
        super().__init__()
        self.forms = []
        self._form = None
        self._textarea = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._form = {"action": a.get("action", ""), "method": a.get("method", "get").lower(),
                          "id": a.get("id"), "fields": []}
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None:
            if a.get("type") == "checkbox" and "checked" not in a:
                return
            if a.get("name"):
                self._form["fields"].append((a["name"], a.get("value", "")))
        elif tag == "textarea" and self._form is not None:
            self._textarea = [a.get("name"), ""]

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[1] += data

    def handle_endtag(self, tag):
        if tag == "textarea" and self._textarea is not None and self._form is not None:
            self._form["fields"].append(tuple(self._textarea))
            self._textarea = None
        elif tag == "form":
            self._form = None


def forms(page):
    p = FormParser()
    p.feed(page.body if hasattr(page, "body") else page)
    return p.forms


def post_form(browser, page, overrides=None, drop=(), add=()):
    """Submit the page's POST form as a browser would (hidden fields, CSRF token included)."""
    post = [f for f in forms(page) if f["method"] == "post"]
    h.expect(post, "no POST form on page:", page)
    f = post[0]
    fields = [(k, v) for k, v in f["fields"] if k not in drop and k not in (overrides or {})]
    fields += list((overrides or {}).items()) + list(add)
    return browser.post_form(f["action"], fields)


def confirm(browser, action, **params):
    """GET the confirmation page of an action (kill, kill_many, kill_user, block, unblock, logout_request)."""
    q = [("action", action)]
    for k, v in params.items():
        for item in (v if isinstance(v, list) else [v]):
            q.append((k, item))
    return browser.get("/session-guard/confirm?" + urllib.parse.urlencode(q))


def do_action(browser, action, overrides=None, add=(), **params):
    """Confirmation page, then its form: returns the POST's response."""
    page = confirm(browser, action, **params)
    h.expect(page.status == 200, f"confirm {action}:", page)
    return post_form(browser, page, overrides=overrides, add=add)


def api(browser, method, path, body=None, content_type="application/json"):
    data = None
    headers = {}
    if body is not None:
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        data = data.encode() if isinstance(data, str) else data
        headers["Content-Type"] = content_type
    return browser.request(method, "/session-guard/api/" + path, body=data, headers=headers)


def denied_reason(user_browser, path="/php/"):
    """The user's next click: returns the redirect target (the login page with the reason)."""
    r = user_browser.get(path)
    return r


def csrf_token(page):
    m = re.search(r'name="csrf" value="([0-9a-f]+)"', page.body)
    return m.group(1) if m else None
