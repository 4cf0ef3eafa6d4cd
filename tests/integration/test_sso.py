"""Single sign-out through real Apache + mod_fcgid + MariaDB, against a stand-in identity
provider on loopback (sso_idp.py): OpenID Connect back-channel logout and CAS single logout
end the PHP demo's sessions on two Apache instances with reason sso_logout; forged, replayed
or malformed requests are refused (400/403) or harmless, and end nothing."""
import hashlib
import http.client
import json
import os
import sys
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import admin_util as a  # noqa: E402
import sso_idp  # noqa: E402

S = IDP = WEB2 = None
OIDC = "/session-guard/sso/oidc-logout"
CAS = "/session-guard/sso/cas-logout"
# Stands in for mod_auth_openidc, which passes the ID token's sid claim to the app as the
# environment variable OIDC_CLAIM_sid (a client cannot set environment variables; here the
# test sets one through a header only this test configuration turns into one).
SID_CONF = 'SetEnvIf X-Test-Oidc-Sid "^(.+)$" OIDC_CLAIM_sid=$1\n'


def setup_module():
    global S, IDP, WEB2
    tmp = h.tmpdir("sg-sso-")
    IDP = sso_idp.Provider(tmp)
    S = a.Stack(settings={"oidc_issuer": IDP.issuer, "oidc_audience": IDP.audience,
                          "oidc_jwks_url": IDP.jwks_url, "cas_servers": "127.0.0.1"},
                extra_conf=SID_CONF)
    WEB2 = h.Apache().start(db=S.db, module=h.MODULE, name="sg-sso-second", extra_conf=SID_CONF)
    for web in (S.web, WEB2):
        h.eventually(lambda: "deny-list loaded" in web.error_log_text(), what="first poll")


# ----------------------------------------------------------------- helpers

def login(web, user, query="", headers=None):
    b = web.browser()
    b.get("/php/login.php")
    r = b.post_form("/php/login.php" + query, {"username": user, "password": "demo"}, headers=headers)
    h.expect(r.status == 302 and r.location.endswith("/php/"), "php login failed:", r)
    h.expect(f"Hello, {user}" in b.get("/php/").body, "not logged in")
    return b


def reason_of(resp):
    if resp.location and "reason=" in resp.location:
        return urllib.parse.parse_qs(urllib.parse.urlsplit(resp.location).query).get("reason", [None])[0]
    return None


def signed_out(browser):
    """Wait until the browser's session is denied as sso_logout; the response."""
    kept = dict(browser.cookies)

    def check():
        r = browser.get("/php/")
        return r if reason_of(r) == "sso_logout" else None
    try:
        return h.eventually(check, timeout=5, what="denied as sso_logout")
    finally:
        browser.cookies.update(kept)


def alive(*browsers):
    for b in browsers:
        r = b.get("/php/")
        h.expect(r.status == 200 and "Hello," in r.body, "a session that should live was ended:", r)


def post(path, fields, source="127.0.0.1", content_type="application/x-www-form-urlencoded"):
    """POST as the identity provider does: no cookies, no credentials. `source`: the address to post from."""
    conn = http.client.HTTPConnection("127.0.0.1", S.web.port, timeout=30, source_address=(source, 0))
    try:
        conn.request("POST", path, body=urllib.parse.urlencode(fields),
                     headers={"Content-Type": content_type})
        r = conn.getresponse()
        return h.Response(r.status, r.reason, r.getheaders(), r.read())
    finally:
        conn.close()


def refused(token, why):
    r = post(OIDC, {"logout_token": token})
    h.expect(r.status == 400, why, r)
    body = r.json()
    h.expect(body["error"] == "invalid_request" and body["error_description"], body)
    h.expect(r.header("Cache-Control") == "no-store", r.headers)
    return body["error_description"]


def active_count():
    return int(S.db.scalar("SELECT COUNT(*) FROM sessions WHERE state = 'active'"))


# ----------------------------------------------------------------- OpenID Connect

def test_oidc_logout_by_sub_ends_the_users_sessions_on_both_servers():
    here, there = login(S.web, "alice"), login(WEB2, "alice")
    bob = login(WEB2, "bob")
    r = post(OIDC, {"logout_token": IDP.token(IDP.claims(sub="alice"))})
    h.expect(r.status == 200 and r.header("Cache-Control") == "no-store", r)
    for b in (here, there):
        d = signed_out(b)
        h.expect("signed+out+of+single+sign-on" in d.location or "signed%20out%20of%20single%20sign-on" in d.location,
                 d.location)
    alive(bob)
    h.expect(S.db.scalar("SELECT COUNT(*) FROM sessions WHERE username='alice' AND state='active'") == "0")
    h.expect(int(S.db.scalar("SELECT COUNT(*) FROM sessions WHERE username='alice' AND state='sso_logout'")) >= 2)
    row = S.db.query("SELECT actor, source, target_user, message FROM audit_log WHERE action='sso_logout' "
                     "ORDER BY id DESC LIMIT 1")[0]
    h.expect(row[0] == IDP.issuer and row[1] == "sso" and row[2] == "alice", row)
    h.expect("ended by OpenID Connect back-channel logout" in row[3], row)
    # The admin's audit API shows it like any other ending.
    audit = a.api(S.admin(), "GET", "audit?action=sso_logout").json()
    h.expect(any(e["action"] == "sso_logout" and e["source"] == "sso" for e in audit["entries"]), audit)
    h.expect("sso: " not in S.web.error_log_text() or "refused" not in S.web.error_log_text().split("sso: ")[-1])


def test_oidc_logout_by_sid_ends_only_that_session():
    sid = "sid-" + uuid.uuid4().hex
    tied = login(S.web, "carol", headers={"X-Test-Oidc-Sid": sid})
    other = login(S.web, "carol", headers={"X-Test-Oidc-Sid": "sid-" + uuid.uuid4().hex})
    plain = login(WEB2, "carol")
    # Only the digest is stored.
    h.expect(S.db.scalar("SELECT COUNT(*) FROM sessions WHERE sso_key LIKE %s", "%" + sid + "%") == "0")
    r = post(OIDC, {"logout_token": IDP.token(IDP.claims(sid=sid))})
    h.expect(r.status == 200, r)
    signed_out(tied)
    alive(other, plain)


def test_oidc_logout_by_sid_ends_a_session_journalled_in_an_outage():
    # Issue 11: the journal did not keep the sid's digest, so a login kept there while the
    # database was down was recorded at replay without it, and the logout by sid missed it.
    sid = "sid-" + uuid.uuid4().hex
    outages = S.web.error_log_text().count("database unreachable")
    S.db.stop()
    try:
        h.eventually(lambda: S.web.error_log_text().count("database unreachable") > outages, what="outage noticed")
        tied = login(S.web, "bob", headers={"X-Test-Oidc-Sid": sid})
        h.expect("kept in the journal" in S.web.error_log_text(), "the login was not journalled")
    finally:
        S.db.start()
    fingerprint = hashlib.sha256(f"PHPSESSID={tied.cookies['PHPSESSID']}".encode()).hexdigest()
    h.eventually(lambda: S.db.scalar("SELECT sso_key IS NOT NULL FROM sessions WHERE fingerprint=%s AND "
                                     "state='active'", fingerprint) == "1", timeout=20, what="replayed with its sid")
    # The admin's own connection went with the database: its first answer may ask the
    # identity provider to try again, as one does.
    h.eventually(lambda: post(OIDC, {"logout_token": IDP.token(IDP.claims(sid=sid))}).status == 200,
                 what="the logout by sid accepted")
    signed_out(tied)


def test_invalid_logout_tokens_are_refused_and_end_nothing():
    victim, bystander = login(S.web, "bob"), login(WEB2, "alice")
    before = active_count()
    good = IDP.claims(sub="bob")
    parts = IDP.token(good).split(".")
    forged_claims = sso_idp.b64url(json.dumps(dict(good, sub="alice")))
    cases = {
        "forged signature": ".".join([parts[0], forged_claims, parts[2]]),
        "signed with another key, published kid": IDP.token(good, key=IDP.other, kid="k1"),
        "signed with an unknown key": IDP.token(good, key=IDP.other),
        "alg none": IDP.token(good, alg="none"),
        "HS256 with the public key as secret": IDP.token(good, alg="HS256"),
        "alg none with a signature": IDP.token(good, alg="none") + "c2ln",
        "expired": IDP.token(IDP.claims(sub="bob", iat=int(good["iat"]) - 100, exp=int(good["iat"]) - 90)),
        "iat too old": IDP.token(IDP.claims(sub="bob", iat=int(good["iat"]) - 3600, exp=None)),
        "iat in the future": IDP.token(IDP.claims(sub="bob", iat=int(good["iat"]) + 3600)),
        "wrong audience": IDP.token(IDP.claims(sub="bob", aud="someone-else")),
        "wrong issuer": IDP.token(IDP.claims(sub="bob", iss="https://evil.example")),
        "missing events": IDP.token(IDP.claims(sub="bob", events=None)),
        "wrong event": IDP.token(IDP.claims(sub="bob", events={"http://example.com/other": {}})),
        "with a nonce": IDP.token(IDP.claims(sub="bob", nonce="n-1")),
        "no sub or sid": IDP.token(IDP.claims()),
        "no jti": IDP.token(IDP.claims(sub="bob", jti=None)),
        "not a JWT": "not-a-token",
        "empty": "",
    }
    reasons = {}
    for name, token in cases.items():
        reasons[name] = refused(token, name)
    alive(victim, bystander)
    h.expect(active_count() == before, "a refused token ended sessions")
    log = S.web.error_log_text()
    for name, why in reasons.items():
        h.expect(f"refused: {why}" in log, f"no log line for {name}: {why}")
    h.expect(reasons["alg none"] == "logout_token is not signed", reasons)
    h.expect(reasons["alg none with a signature"] == "algorithm none is not accepted", reasons)
    h.expect(reasons["expired"] == "the token has expired", reasons)
    h.expect("algorithm HS256 is not accepted" == reasons["HS256 with the public key as secret"], reasons)
    h.expect(reasons["forged signature"] == "the signature does not verify", reasons)

    # Replay: the first use ends bob's session, the second is refused.
    token = IDP.token(IDP.claims(sub="bob"))
    h.expect(post(OIDC, {"logout_token": token}).status == 200)
    signed_out(victim)
    again = login(S.web, "bob")
    why = refused(token, "replayed jti")
    h.expect("already used" in why, why)
    alive(again, bystander)


def test_wrong_method_and_content_type():
    h.expect(S.web.browser().get(OIDC).status == 405)
    r = post(OIDC, {"logout_token": "x"}, content_type="text/plain")
    h.expect(r.status == 400 and r.json()["error"] == "invalid_request", r)


# ----------------------------------------------------------------- CAS

def test_cas_logout_ends_the_session_its_ticket_established():
    ticket = "ST-1-" + uuid.uuid4().hex
    tied = login(S.web, "alice", query="?ticket=" + ticket)
    other = login(WEB2, "alice", query="?ticket=ST-2-" + uuid.uuid4().hex)
    h.expect(S.db.scalar("SELECT COUNT(*) FROM sessions WHERE sso_key IS NOT NULL AND sso_key LIKE %s",
                         "%" + ticket + "%") == "0", "the raw ticket was stored")
    r = post(CAS, {"logoutRequest": sso_idp.cas_logout_request(ticket)})
    h.expect(r.status == 200, r)
    signed_out(tied)
    alive(other)
    h.expect(ticket not in S.web.error_log_text() and ticket not in WEB2.error_log_text(), "a raw ticket was logged")
    row = S.db.query("SELECT actor, source FROM audit_log WHERE action='sso_logout' ORDER BY id DESC LIMIT 1")[0]
    h.expect(row == ["CAS 127.0.0.1", "sso"], row)


def test_cas_refusals_and_unknown_tickets_end_nothing():
    b = login(S.web, "carol", query="?ticket=ST-3-" + uuid.uuid4().hex)
    before = active_count()
    # Unknown ticket: harmless 200.
    h.expect(post(CAS, {"logoutRequest": sso_idp.cas_logout_request("ST-unknown-1")}).status == 200)
    bad = {
        "malformed": "<samlp:LogoutRequest><samlp:SessionIndex>ST-1</samlp:LogoutRequest>",
        "doctype and entity": '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
                              "<samlp:LogoutRequest><samlp:SessionIndex>&e;</samlp:SessionIndex></samlp:LogoutRequest>",
        "not a ticket": "<samlp:LogoutRequest><samlp:SessionIndex>nope</samlp:SessionIndex></samlp:LogoutRequest>",
        "no session index": "<samlp:LogoutRequest><saml:NameID>x</saml:NameID></samlp:LogoutRequest>",
        "empty": "",
    }
    for name, xml in bad.items():
        r = post(CAS, {"logoutRequest": xml})
        h.expect(r.status == 400, name, r)
    # From an address that is not a configured CAS server (127.0.0.2 is loopback too).
    ticket = "ST-4-" + uuid.uuid4().hex
    tied = login(S.web, "carol", query="?ticket=" + ticket)
    r = post(CAS, {"logoutRequest": sso_idp.cas_logout_request(ticket)}, source="127.0.0.2")
    h.expect(r.status == 403, r)
    h.expect("not a configured CAS server" in S.web.error_log_text())
    alive(b, tied)
    h.expect(active_count() == before + 1, "a refused CAS request ended sessions")


def test_receivers_are_off_unless_configured():
    # WEB2 serves no admin; a stack without SSO settings answers 404 at both addresses.
    plain = a.Stack()
    try:
        for path in (OIDC, CAS):
            r = plain.web.browser().post_form(path, {"logout_token": "x", "logoutRequest": "x"})
            h.expect(r.status == 404, path, r)
    finally:
        plain.web.stop()
        plain.db.stop()


if __name__ == "__main__":
    h.run(globals())
