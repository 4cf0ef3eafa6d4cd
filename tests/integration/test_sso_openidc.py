"""Single sign-out with the real Debian libapache2-mod-auth-openidc in front of the PHP demo:
users sign in through mod_auth_openidc's authorization-code flow against the stand-in
OpenID provider on loopback (sso_idp.py), Session Guard binds mod_auth_openidc's session
cookie to REMOTE_USER (the preferred_username claim) with the sid and sub claims that
mod_auth_openidc passes in the environment, and the provider's back-channel logout tokens,
posted to fcgi_admin's receiver, end exactly the sessions they name (reason sso_logout);
one signed with a key the provider rotated in is accepted once the receiver fetches the
JWKS again."""
import hashlib
import http.client
import json
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import admin_util as a  # noqa: E402
import sso_idp  # noqa: E402

S = IDP = None
OIDC = "/session-guard/sso/oidc-logout"
COOKIE = "mod_auth_openidc_session"
OPENIDC = "/usr/lib/apache2/modules/mod_auth_openidc.so"
# What a browser sends when it navigates: mod_auth_openidc answers 401 instead of redirecting
# to the provider when a request does not accept HTML (an XHR, a script).
NAVIGATE = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def openidc_conf(provider, passphrase):
    """Server-context directives: mod_auth_openidc in front of the PHP demo (/php/) and the
    Basic demo's whoami.cgi (/basic/, which prints REMOTE_USER), Session Guard judging
    mod_auth_openidc's session cookie there. A <Location> because the harness's <Directory>
    of the demo already names PHPSESSID; SessionGuardCookie in a later section replaces the
    list. The same as the README's worked example, but over http on loopback."""
    return f"""\
LoadModule auth_openidc_module {OPENIDC}
OIDCProviderMetadataURL {provider.discovery_url}
OIDCClientID {provider.audience}
OIDCClientSecret {provider.client_secret}
OIDCRedirectURI /php/redirect_uri
OIDCCryptoPassphrase {passphrase}
OIDCScope "openid profile"
OIDCRemoteUserClaim preferred_username
OIDCPassClaimsAs environment
<Location /php/>
  AuthType openid-connect
  Require valid-user
  SessionGuardCookie {COOKIE}
</Location>
<Location /basic/>
  AuthType openid-connect
  Require valid-user
  SessionGuardCookie {COOKIE}
</Location>
"""


def setup_module():
    global S, IDP
    tmp = h.tmpdir("sg-openidc-")
    h.expect(os.path.exists(OPENIDC), "libapache2-mod-auth-openidc is not installed (scripts/install-deps)")
    IDP = sso_idp.Provider(tmp)
    S = a.Stack(settings={"oidc_issuer": IDP.issuer, "oidc_audience": IDP.audience,
                          "oidc_jwks_url": IDP.jwks_url},
                extra_conf=openidc_conf(IDP, hashlib.sha256(os.urandom(16)).hexdigest()))
    # OIDCRedirectURI is relative: mod_auth_openidc makes it absolute from the request.
    IDP.redirect_uris.add(f"{S.web.base_url}/php/redirect_uri")
    h.eventually(lambda: "deny-list loaded" in S.web.error_log_text(), what="first poll")


# ----------------------------------------------------------------- a browser that follows redirects

class Agent:
    """One browser across origins: a harness Browser (cookie jar) per origin, so the
    provider's and the app's cookies stay apart; `go` follows redirects as a browser does."""

    def __init__(self, web):
        self.web = web
        self.app = web.browser()
        self.jars = {urllib.parse.urlsplit(web.base_url).netloc: self.app}
        self.hops = []

    def _browser(self, url):
        u = urllib.parse.urlsplit(url)
        if not u.netloc:
            return self.app, url
        jar = self.jars.setdefault(u.netloc, h.Browser(f"{u.scheme}://{u.netloc}"))
        return jar, urllib.parse.urlunsplit(("", "", u.path, u.query, ""))

    def go(self, url, limit=10):
        """GET url and follow redirects (any origin) until a response that is not one."""
        browser, path = self._browser(url)
        r = browser.get(path, headers=NAVIGATE)
        self.hops = [(url, r.status)]
        while r.status in (301, 302, 303, 307) and r.location:
            h.expect(len(self.hops) < limit, "redirect loop:", self.hops)
            target = urllib.parse.urljoin(url, r.location)
            browser, path = self._browser(target)
            url = target
            r = browser.get(path, headers=NAVIGATE)
            self.hops.append((url, r.status))
        return r

    def get(self, path):
        return self.app.get(path, headers=NAVIGATE)

    @property
    def session(self):
        return self.app.cookies.get(COOKIE)


def sign_in(user, web=None, agent=None):
    """Through the real flow: /php/ -> the provider's /authorize (which signs `user` in at
    once) -> /php/redirect_uri?code=... (mod_auth_openidc redeems the code, checks the ID
    token, sets its session cookie) -> /php/ -> the demo's own login form, as a legacy app
    behind single sign-on still has; then the demo's login. Returns the Agent and the
    provider's record of the sign-in (user, sub, sid, nonce). An `agent` whose demo session
    (PHPSESSID) is still open skips the demo's form, as a browser would."""
    web = web or S.web
    IDP.login_as = user
    before = len(IDP.logins)
    agent = agent or Agent(web)
    r = agent.go("/php/")
    visited = [u for u, _ in agent.hops]
    h.expect(any(u.startswith(IDP.issuer + "/authorize?") for u in visited), "not sent to the provider:", agent.hops)
    h.expect(any("/php/redirect_uri?" in u for u in visited), "not back at the redirect URI:", agent.hops)
    h.expect(r.status == 200 and ("<form" in r.body or f"Hello, {user}" in r.body),
             "neither the demo's login form nor its page reached:", agent.hops, r)
    h.expect(agent.session, "mod_auth_openidc set no session cookie", agent.app.cookies)
    h.expect(len(IDP.logins) == before + 1, "the provider signed nobody in")
    login = IDP.logins[-1]
    h.expect(login["user"] == user and login["nonce"], login)
    if "<form" in r.body:
        r = agent.app.post_form("/php/login.php", {"username": user, "password": "demo"}, headers=NAVIGATE)
        h.expect(r.status == 302 and r.location.endswith("/php/"), "php login failed:", r)
    page = agent.get("/php/")
    h.expect(page.status == 200 and f"Hello, {user}" in page.body, "not signed in to the demo:", page)
    return agent, login


def fingerprint(agent):
    return hashlib.sha256(f"{COOKIE}={agent.session}".encode()).hexdigest()


def sid_key(sid):
    """What the module stores for a sid: SHA-256 of "sso=" "oidc-sid\\n" sid (core/src/sso.cpp)."""
    return hashlib.sha256(f"sso=oidc-sid\n{sid}".encode()).hexdigest()


def reason_of(resp):
    """Session Guard's reason for a denial, named by its header (on the redirect too)."""
    return resp.header("X-Session-Guard-Reason")


def signed_out(agent):
    """Wait until the agent's session is denied by Session Guard as sso_logout; the denial."""
    kept = dict(agent.app.cookies)

    def check():
        r = agent.get("/php/")
        return r if reason_of(r) == "sso_logout" else None
    try:
        d = h.eventually(check, timeout=5, what="denied as sso_logout")
    finally:
        agent.app.cookies.update(kept)
    # mod_auth_openidc keeps its session in a cookie, which the denial clears: unlike Basic
    # auth (whose credentials the browser resends, so a redirect would loop) the user follows
    # the location's redirect, to a login that starts a new sign-in at the provider.
    h.expect(d.status == 302 and "reason=sso_logout" in (d.location or "") and
             "You signed out of single sign-on" in d.body, d)
    # The denial clears mod_auth_openidc's cookie: the browser's next visit starts a new sign-in.
    h.expect(any(v.startswith(f"{COOKIE}=deleted;") and "Max-Age=0" in v for v in d.header_all("Set-Cookie")),
             "the session cookie was not cleared:", d.headers)
    return d


def alive(*agents):
    for agent in agents:
        r = agent.get("/php/")
        h.expect(r.status == 200 and "Hello," in r.body and r.header("X-Session-Guard-Reason") is None,
                 "a session that should live was ended:", r)


def post(web, token):
    """POST a logout token as the provider does: no cookies, no credentials."""
    conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=30)
    try:
        conn.request("POST", OIDC, body=urllib.parse.urlencode({"logout_token": token}),
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        r = conn.getresponse()
        return h.Response(r.status, r.reason, r.getheaders(), r.read())
    finally:
        conn.close()


def row(agent):
    rows = S.db.query("SELECT username, state, sso_key, sso_sub FROM sessions WHERE fingerprint = %s",
                      fingerprint(agent))
    h.expect(len(rows) == 1, "no single session row for the cookie:", rows)
    return rows[0]


# ----------------------------------------------------------------- tests

def test_sign_in_through_mod_auth_openidc_binds_its_session_with_sid_and_sub():
    agent, login = sign_in("alice")
    # Bound to the preferred_username (REMOTE_USER), tied to the provider's session (the
    # sid's digest) and subject, which mod_auth_openidc passed as OIDC_CLAIM_sid/_sub.
    h.expect(row(agent) == ["alice", "active", sid_key(login["sid"]), login["sub"]], row(agent), login)
    h.expect(login["sub"] != "alice", "the stand-in provider's sub should not be the user name")
    h.expect(S.db.scalar("SELECT COUNT(*) FROM sessions WHERE sso_key LIKE %s", "%" + login["sid"] + "%") == "0",
             "the raw sid was stored")
    short = fingerprint(agent)[:8].upper()
    h.expect(f"session {short} bound to user alice (REMOTE_USER)" in S.web.error_log_text(),
             "no binding in the error log")
    # The admin sees it like any other session.
    listed = json.loads(h.fcgi_admin(S.db, "sessions", "--user", "alice", "--json", as_user="admin").stdout)
    h.expect(any(e["fingerprint"] == fingerprint(agent) and e["id"] == short for e in listed), listed)
    # mod_auth_openidc is what authenticates: REMOTE_USER reaches a CGI under it too.
    who = agent.get("/basic/whoami.cgi")
    h.expect(who.status == 200 and who.body.strip() == "alice", who)
    h.expect(("client_secret_basic", "authorization_code") in IDP.token_requests, IDP.token_requests)


def test_backchannel_logout_by_sid_ends_only_that_session():
    first, login = sign_in("alice")
    second, other_login = sign_in("alice")
    bob, _ = sign_in("bob")
    h.expect(login["sid"] != other_login["sid"] and first.session != second.session)
    r = post(S.web, IDP.token(IDP.claims(sid=login["sid"])))
    h.expect(r.status == 200 and r.header("Cache-Control") == "no-store", r)
    signed_out(first)
    alive(second, bob)
    h.expect(row(first)[1] == "sso_logout" and row(second)[1] == "active", row(first), row(second))
    audit = S.db.query("SELECT actor, source, target_user FROM audit_log WHERE action='sso_logout' "
                       "ORDER BY id DESC LIMIT 1")[0]
    h.expect(audit == [IDP.issuer, "sso", "alice"], audit)
    # The ended cookie stays refused even though mod_auth_openidc still knows its session...
    stale = h.Browser(S.web.base_url)
    stale.cookies[COOKIE] = first.session
    r = stale.get("/php/", headers=NAVIGATE)
    h.expect(reason_of(r) == "sso_logout", "an ended mod_auth_openidc session was served:", r)
    # ...and the browser whose cookie was cleared signs in afresh: a new session, a new sid.
    old = first.session
    first.app.cookies.pop(COOKIE, None)
    again, new_login = sign_in("alice", agent=first)
    h.expect(again.session != old and new_login["sid"] != login["sid"])
    h.expect(row(again)[:3] == ["alice", "active", sid_key(new_login["sid"])], row(again))
    alive(again)


def test_backchannel_logout_by_sub_ends_every_session_of_that_subject():
    here, login = sign_in("carol")
    there, _ = sign_in("carol")
    bob, _ = sign_in("bob")
    # The sub is the provider's opaque identifier, not the user name the sessions are bound
    # to: only the recorded OIDC_CLAIM_sub ties them.
    r = post(S.web, IDP.token(IDP.claims(sub=login["sub"])))
    h.expect(r.status == 200, r)
    signed_out(here)
    signed_out(there)
    alive(bob)
    h.expect(S.db.scalar("SELECT COUNT(*) FROM sessions WHERE username='carol' AND state='active'") == "0")


def test_a_logout_signed_with_a_rotated_key_is_accepted_after_one_fetch():
    # Last in the file: the provider keeps its new key afterwards.
    # A receiver of its own (a second Apache instance with fcgi_admin, one process under
    # mod_fcgid): its key cache starts empty, so what it fetched is known.
    receiver = h.Apache().start(db=S.db, module=h.MODULE, admin=S.admin_bin, name="sg-openidc-receiver",
                                extra_conf="FcgidMaxProcessesPerClass 1\n")
    victim, login = sign_in("alice")
    bob, _ = sign_in("bob")
    fetched = len(IDP.fetches_by(""))
    # The receiver loads the current key set at its first token (a harmless unknown sid).
    h.expect(post(receiver, IDP.token(IDP.claims(sid="sid-unknown"))).status == 200)
    h.expect(len(IDP.fetches_by("")) == fetched + 1, "the receiver did not fetch the JWKS")
    loaded = IDP.fetches_by("")[-1]
    new = IDP.rotate()
    token = IDP.token(IDP.claims(sid=login["sid"]))
    h.expect(new.kid != "k1" and IDP.jwks()["keys"][0]["kid"] == new.kid, IDP.jwks())
    # Within 10 s of its last fetch the receiver does not fetch again, whatever it is sent
    # (a token naming an unknown key could be anyone's): refused, nothing ended.
    r = post(receiver, token)
    h.expect(time.monotonic() - loaded < 9, "too slow to check the rate limit")
    h.expect(r.status == 400 and f"no key of the provider's JWKS fits (kid {new.kid}" in r.json()["error_description"],
             r)
    h.expect(len(IDP.fetches_by("")) == fetched + 1, "fetched again within 10 s")
    alive(victim, bob)
    # After that, the unknown kid makes it fetch once, find the new key and accept the token.
    time.sleep(max(0.0, loaded + 11 - time.monotonic()))
    r = post(receiver, token)
    h.expect(r.status == 200, r)
    h.expect(len(IDP.fetches_by("")) == fetched + 2, "not exactly one more fetch")
    signed_out(victim)
    alive(bob)
    # New sign-ins carry ID tokens signed with the new key (mod_auth_openidc refetches too),
    # and their logouts are accepted by the receiver with the refreshed keys.
    after, new_login = sign_in("alice")
    h.expect(post(receiver, IDP.token(IDP.claims(sid=new_login["sid"]))).status == 200)
    signed_out(after)
    alive(bob)


if __name__ == "__main__":
    h.run(globals())
