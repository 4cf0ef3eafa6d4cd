"""CAS single logout for sessions the module did not see signed in with their ticket (issue 13
item 2), through real Apache + MariaDB on two instances, against a stand-in CAS server on
loopback (cas_idp.py):
- the real Debian mod_auth_cas, which validates ?ticket=ST-... in its own hook, cuts it out
  of the query and answers with a redirect that sets its cookie before any handler runs (the
  session is bound from REMOTE_USER on the next request, which carries no ticket);
- a PHP app with its own CAS client (as phpCAS), which never tells the web server its user.
With SessionGuardCasTickets On the module ties the values the ticket's response set to the
ticket; a logoutRequest for it ends them on both servers, and nothing else: not a session a
browser lured to somebody else's ticket sends, not one where the directive is off. A query
with several tickets is refused before the app runs."""
import hashlib
import os
import shutil
import sys
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import admin_util as a  # noqa: E402
import cas_idp  # noqa: E402
import sso_idp  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
MOD_AUTH_CAS = "/usr/lib/apache2/modules/mod_auth_cas.so"
CAS = "/session-guard/sso/cas-logout"
S = WEB2 = IDP = None


def conf(apps, cache, cas_base):
    return f"""\
LoadModule auth_cas_module {MOD_AUTH_CAS}
CASCookiePath {cache}/
CASLoginURL {cas_base}/cas/login
CASValidateURL {cas_base}/cas/serviceValidate
CASVersion 2
Alias /casapp/ {apps}/casapp/
Alias /ownclient/ {apps}/ownclient/
Alias /untied/ {apps}/ownclient/
<Directory {apps}>
  Require all granted
  <FilesMatch "\\.php$">
    SetHandler application/x-httpd-php
  </FilesMatch>
</Directory>
<Location /casapp/>
  AuthType CAS
  Require valid-user
  SessionGuard On
  SessionGuardCookie MOD_AUTH_CAS
  SessionGuardCasTickets On
  SessionGuardDenyAction redirect /signed-out
</Location>
<Location /ownclient/>
  SetEnv CAS_BASE {cas_base}
  SessionGuard On
  SessionGuardCookie PHPSESSID
  SessionGuardCasTickets On
  SessionGuardDenyAction redirect /signed-out
</Location>
# The same app where nobody asked for ticket ties (the default).
<Location /untied/>
  SetEnv CAS_BASE {cas_base}
  SessionGuard On
  SessionGuardCookie PHPSESSID
  SessionGuardDenyAction redirect /signed-out
</Location>
"""


def setup_module():
    global S, WEB2, IDP
    h.expect(os.path.exists(MOD_AUTH_CAS), "mod_auth_cas is not installed (scripts/install-deps installs it)")
    tmp = h.tmpdir("sg-cas-")
    IDP = cas_idp.CasServer()
    apps = os.path.join(tmp, "apps")
    shutil.copytree(os.path.join(HERE, "cas_apps"), apps)
    # mod_auth_cas keeps its sessions in files: both instances share the folder, as a farm
    # shares it (or pins a user to one server).
    cache = os.path.join(tmp, "cas-cache")
    os.makedirs(cache)
    for root, dirs, files in os.walk(tmp):
        for n in dirs + files:
            p = os.path.join(root, n)
            os.chmod(p, 0o777 if os.path.isdir(p) else 0o644)
    os.chmod(tmp, 0o755)
    extra = conf(apps, cache, IDP.base_url)
    S = a.Stack(settings={"cas_servers": "127.0.0.1"}, extra_conf=extra)
    WEB2 = h.Apache().start(db=S.db, module=h.MODULE, name="sg-cas-second", extra_conf=extra)
    for web in (S.web, WEB2):
        h.eventually(lambda: "deny-list loaded" in web.error_log_text(), what="first poll")


def teardown_module():
    if IDP:
        IDP.stop()


# ----------------------------------------------------------------- helpers

def sign_in(web, user, path):
    """Through the CAS server as a browser does; returns (browser, ticket)."""
    b = web.browser()
    r = b.get(path)
    h.expect(r.status == 302 and r.location.startswith(IDP.base_url + "/cas/login"), "not sent to CAS:", r)
    IDP.user = user
    back = h.Browser(IDP.base_url).get(r.location)
    h.expect(back.status == 302 and "ticket=ST-" in back.location, back)
    ticket = urllib.parse.parse_qs(urllib.parse.urlsplit(back.location).query)["ticket"][0]
    r = b.get(back.location)
    # Both clients answer the ticket with a redirect to the same page without it.
    h.expect(r.status == 302 and "ticket=" not in r.location, "the ticket was not accepted:", r)
    page = b.get(r.location)
    h.expect(page.status == 200, page)
    return b, ticket


def reason_of(resp):
    if resp.location and "reason=" in resp.location:
        return urllib.parse.parse_qs(urllib.parse.urlsplit(resp.location).query).get("reason", [None])[0]
    return None


def served(browser, path, text):
    r = browser.get(path)
    return r.status == 200 and text in r.body


def ended(browser, path):
    """Denied as sso_logout; the browser keeps the cookies the denial clears, to try elsewhere."""
    kept = dict(browser.cookies)

    def check():
        browser.cookies.update(kept)
        return reason_of(browser.get(path)) == "sso_logout"
    try:
        return h.eventually(check, timeout=5, what=f"{path} denied as sso_logout")
    finally:
        browser.cookies.update(kept)


def on(web, browser):
    """The same browser (its cookies) against another instance."""
    other = web.browser()
    other.cookies = dict(browser.cookies)
    return other


def logout(ticket):
    """POST as the CAS server does (from 127.0.0.1, a configured CAS server): no cookies."""
    r = h.Browser(S.base).post_form(CAS, {"logoutRequest": sso_idp.cas_logout_request(ticket)})
    h.expect(r.status == 200, r)
    return r


def fingerprint(name, value):
    return hashlib.sha256(f"{name}={value}".encode()).hexdigest()


# ----------------------------------------------------------------- tests

def test_mod_auth_cas_logout_ends_the_session_on_both_servers():
    alice, alice_ticket = sign_in(S.web, "alice", "/casapp/index.html")
    bob, _ = sign_in(S.web, "bob", "/casapp/index.html")
    page = "/casapp/index.html"
    alice_fp = fingerprint("MOD_AUTH_CAS", alice.cookies["MOD_AUTH_CAS"])
    # Bound from REMOTE_USER on the request after mod_auth_cas's redirect: no ticket there.
    h.eventually(lambda: S.db.scalar("SELECT username FROM sessions WHERE fingerprint=%s AND state='active'",
                                     alice_fp) == "alice", what="alice's CAS session bound")
    # Tied once the ticket's response has been sent (log_transaction): a moment later.
    h.eventually(lambda: S.db.scalar("SELECT COUNT(*) FROM sso_ticket_values WHERE fingerprint=%s", alice_fp) == "1",
                 what="the ticket's response tied")
    alice2 = on(WEB2, alice)
    h.expect(served(alice2, page, "mod_auth_cas"), "alice's session does not work on the second server")
    logout(alice_ticket)
    ended(alice, page)
    ended(alice2, page)
    h.expect(served(bob, page, "mod_auth_cas") and served(on(WEB2, bob), page, "mod_auth_cas"),
             "bob's session was ended too")
    h.expect(S.db.scalar("SELECT state FROM sessions WHERE fingerprint=%s", alice_fp) == "sso_logout")
    row = S.db.query("SELECT target_user, message FROM audit_log WHERE action='sso_logout' ORDER BY id DESC LIMIT 1")[0]
    h.expect(row[0] == "alice" and "CAS single logout" in row[1], row)
    # The admin's audit page shows the ending like any other (escaped, with its source).
    page = S.admin().get("/session-guard/audit?action=sso_logout")
    h.expect(page.status == 200 and "1 session of user alice ended by CAS single logout" in page.body, page)
    for web in (S.web, WEB2):
        h.expect(alice_ticket not in web.error_log_text(), "a raw ticket was logged")
    h.expect(S.db.scalar("SELECT COUNT(*) FROM sso_ticket_values WHERE sso_key LIKE %s",
                         "%" + alice_ticket + "%") == "0", "a raw ticket was stored")


def test_own_cas_client_logout_ends_its_unbound_session_on_both_servers():
    page = "/ownclient/index.php"
    carol, carol_ticket = sign_in(S.web, "carol", page)
    dave, _ = sign_in(WEB2, "dave", page)
    h.expect(served(carol, page, "Hello, carol") and served(on(WEB2, carol), page, "Hello, carol"))
    carol_fp = fingerprint("PHPSESSID", carol.cookies["PHPSESSID"])
    h.expect(S.db.scalar("SELECT COUNT(*) FROM sessions WHERE fingerprint=%s", carol_fp) == "0",
             "the app named no user, yet a session was bound")
    logout(carol_ticket)
    ended(carol, page)
    ended(on(WEB2, carol), page)
    h.expect(served(dave, page, "Hello, dave") and served(on(S.web, dave), page, "Hello, dave"),
             "dave's session was ended too")
    message = S.db.scalar("SELECT message FROM audit_log WHERE action='sso_logout' ORDER BY id DESC LIMIT 1")
    h.expect("1 session of no known user" in message, message)


def test_a_browser_lured_to_somebody_elses_ticket_is_not_tied_to_it():
    # Mallory signs in, then gets alice's and carol's browsers to open a link carrying her own
    # (used) ticket. Their browsers send their own sessions, which their apps keep (or the
    # ticket is refused): those must not become Mallory's, or her CAS logout would end them.
    mallory, mallory_ticket = sign_in(S.web, "mallory", "/casapp/index.html")
    mallory_php, mallory_php_ticket = sign_in(S.web, "mallory", "/ownclient/index.php")
    alice, _ = sign_in(S.web, "alice", "/casapp/index.html")
    carol, _ = sign_in(S.web, "carol", "/ownclient/index.php")
    r = alice.get("/casapp/index.html?ticket=" + mallory_ticket)
    h.expect(r.status == 200 and "Set-Cookie" not in dict(r.headers), "mod_auth_cas did not keep alice's session:", r)
    r = carol.get("/ownclient/index.php?ticket=" + mallory_php_ticket)
    h.expect(r.status == 403, "the app accepted a used ticket:", r)
    logout(mallory_ticket)
    logout(mallory_php_ticket)
    ended(mallory, "/casapp/index.html")
    ended(mallory_php, "/ownclient/index.php")
    h.expect(served(alice, "/casapp/index.html", "mod_auth_cas"), "mallory's CAS logout ended alice's session")
    h.expect(served(carol, "/ownclient/index.php", "Hello, carol"), "mallory's CAS logout ended carol's session")


def test_several_tickets_in_one_query_are_refused_before_the_app_runs():
    # PHP reads the last ticket, CGI.pm and mod_auth_cas the first: the module cannot tell
    # which one signs the session in, so its CAS logout could miss it.
    IDP.user = "henry"
    real = h.Browser(IDP.base_url).get("/cas/login?service=x").location.split("ticket=")[1]
    validations = len(IDP.validations)
    b = S.web.browser()
    r = b.get("/ownclient/index.php?ticket=ST-junk1&ticket=ST-junk2&ticket=" + real)
    h.expect(reason_of(r) == "refused", "several tickets were let through:", r)
    h.expect(len(IDP.validations) == validations, "the app ran and validated a ticket")
    h.expect("several CAS tickets" in S.web.error_log_text())


def test_without_the_directive_no_ticket_is_tied():
    before = int(S.db.scalar("SELECT COUNT(*) FROM sso_ticket_values"))
    ivan, ticket = sign_in(S.web, "ivan", "/untied/index.php")
    logout(ticket)
    h.expect(served(ivan, "/untied/index.php", "Hello, ivan"), "a session was ended where no tie was asked for")
    h.expect(int(S.db.scalar("SELECT COUNT(*) FROM sso_ticket_values")) == before, "a ticket was tied")


def test_a_tie_made_in_an_outage_is_kept_in_the_journal_and_replayed():
    page = "/ownclient/index.php"
    outages = S.web.error_log_text().count("database unreachable")
    S.db.stop()
    try:
        h.eventually(lambda: S.web.error_log_text().count("database unreachable") > outages, what="outage noticed")
        gina, gina_ticket = sign_in(S.web, "gina", page)
        # Tied after the response is sent (log_transaction): a moment later.
        h.eventually(lambda: "CAS ticket of session value" in S.web.error_log_text() and
                     "kept in the journal" in S.web.error_log_text(), what="the tie journalled")
    finally:
        S.db.start()
    gina_fp = fingerprint("PHPSESSID", gina.cookies["PHPSESSID"])
    h.eventually(lambda: S.db.scalar("SELECT COUNT(*) FROM sso_ticket_values WHERE fingerprint=%s", gina_fp) == "1",
                 timeout=20, what="the tie replayed")
    # fcgi_admin's connection went with the database: it may take a try to answer again.
    h.eventually(lambda: h.Browser(S.base).post_form(
        CAS, {"logoutRequest": sso_idp.cas_logout_request(gina_ticket)}).status == 200, what="the logout accepted")
    ended(gina, page)
    ended(on(WEB2, gina), page)


if __name__ == "__main__":
    h.run(globals())
