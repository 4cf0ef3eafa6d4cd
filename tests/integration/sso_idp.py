"""A stand-in identity provider on loopback for the single sign-out tests: an RSA key made
with the openssl command line, JWTs signed with `openssl dgst -sha256 -sign` (no Python
crypto library needed), the JWKS served over HTTP on 127.0.0.1, and CAS logoutRequests.

It is also a minimal OpenID Connect provider, enough for the real mod_auth_openidc's
authorization-code flow (test_sso_openidc.py): a discovery document, an authorization
endpoint that signs in `login_as` at once (no login page) and redirects back with a code,
and a token endpoint (client_secret_basic or client_secret_post, PKCE when asked for) that
answers with an RS256 ID token (iss, aud, sub, sid, nonce, iat, exp) and an access token.
Its keys can be rotated (`rotate`), as a provider does.

Not a test file itself (no test_ prefix): imported by tests/integration/test_sso.py and
tests/integration/test_sso_openidc.py."""
import base64
import hashlib
import http.server
import json
import os
import secrets
import subprocess
import threading
import time
import urllib.parse
import uuid

BACKCHANNEL = "http://schemas.openid.net/event/backchannel-logout"


def b64url(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Key:
    """An RSA key pair in a temp folder; its public half as a JWK."""

    def __init__(self, folder, kid):
        self.kid = kid
        self.pem = os.path.join(folder, f"{kid}.pem")
        subprocess.run(["openssl", "genrsa", "-out", self.pem, "2048"], check=True, capture_output=True)
        modulus = subprocess.run(["openssl", "rsa", "-in", self.pem, "-noout", "-modulus"], check=True,
                                 capture_output=True, text=True).stdout.strip().split("=", 1)[1]
        text = subprocess.run(["openssl", "rsa", "-in", self.pem, "-noout", "-text"], check=True,
                              capture_output=True, text=True).stdout
        exponent = int(text.split("publicExponent:")[1].split()[0])
        self.jwk = {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                    "n": b64url(bytes.fromhex(modulus)),
                    "e": b64url(exponent.to_bytes((exponent.bit_length() + 7) // 8, "big"))}

    def sign(self, data):
        return subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.pem], input=data, check=True,
                              capture_output=True).stdout


class Provider:
    """Issuer `issuer`, client `audience`; JWKS at self.jwks_url.

    As an OpenID provider: discovery at `discovery_url`; the client `audience` with secret
    `client_secret` may use the redirect URIs in `redirect_uris` (add to it once the
    client's address is known); /authorize signs in the user named `login_as`, whose `sub`
    is `sub_of(user)` (opaque, not the user name) and whose `preferred_username` is the user
    name; every sign-in is appended to `logins` ({"user", "sub", "sid", "nonce"}). JWKS
    fetches are counted in `jwks_fetches` and logged in `jwks_log` as (monotonic time,
    User-Agent)."""

    def __init__(self, folder, audience="session-guard-test"):
        self.folder = folder
        self.key = Key(folder, "k1")
        self.other = Key(folder, "k-other")   # never published
        self.published = [self.key]           # the JWKS, current key first
        self.audience = audience
        self.client_secret = "secret-" + secrets.token_hex(8)
        self.redirect_uris = set()
        self.login_as = None
        self.logins = []
        self.token_requests = []              # (client authentication method, grant_type)
        self.jwks_fetches = 0
        self.jwks_log = []
        self._codes = {}
        self._lock = threading.Lock()
        provider = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                u = urllib.parse.urlsplit(self.path)
                if u.path == "/jwks":
                    with provider._lock:
                        provider.jwks_fetches += 1
                        provider.jwks_log.append((time.monotonic(), self.headers.get("User-Agent", "")))
                    self.reply(200, provider.jwks())
                elif u.path == "/.well-known/openid-configuration":
                    self.reply(200, provider.discovery())
                elif u.path == "/authorize":
                    status, where = provider.authorize(urllib.parse.parse_qs(u.query))
                    if status == 302:
                        self.send_response(302)
                        self.send_header("Location", where)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                    else:
                        self.reply(status, {"error": where})
                else:
                    self.reply(404, {"error": "not_found"})

            def do_POST(self):
                u = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                if u.path != "/token":
                    self.reply(404, {"error": "not_found"})
                    return
                status, body = provider.token_response(form, self.headers.get("Authorization"))
                self.reply(status, body, extra={"Cache-Control": "no-store", "Pragma": "no-cache"})

            def reply(self, status, obj, extra=None):
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        port = self.server.server_address[1]
        self.issuer = f"http://127.0.0.1:{port}"
        self.jwks_url = f"http://127.0.0.1:{port}/jwks"
        self.discovery_url = f"{self.issuer}/.well-known/openid-configuration"

    def stop(self):
        self.server.shutdown()

    # ------------------------------------------------------------ keys

    def jwks(self):
        return {"keys": [k.jwk for k in self.published]}

    def rotate(self):
        """A new current key, published first; the previous ones stay published beside it
        (tokens already signed with them stay verifiable), as providers rotate. Returns it."""
        key = Key(self.folder, f"k{len(self.published) + 1}-{secrets.token_hex(3)}")
        with self._lock:
            self.published = [key] + self.published
            self.key = key
        return key

    def fetches_by(self, user_agent):
        """Monotonic times of the JWKS fetches whose User-Agent is `user_agent` ("" = none:
        libcurl as fcgi_admin uses it sends none; mod_auth_openidc's is "mod_auth_openidc")."""
        with self._lock:
            return [t for t, ua in self.jwks_log if ua == user_agent]

    # ------------------------------------------------------------ back-channel logout tokens

    def claims(self, sub=None, sid=None, **override):
        now = int(time.time())
        c = {"iss": self.issuer, "aud": self.audience, "iat": now, "exp": now + 120, "jti": uuid.uuid4().hex,
             "events": {BACKCHANNEL: {}}}
        if sub is not None:
            c["sub"] = sub
        if sid is not None:
            c["sid"] = sid
        c.update(override)
        return {k: v for k, v in c.items() if v is not None}

    def token(self, claims, alg="RS256", key=None, kid=None, header=None):
        """A compact JWS. alg "none" leaves the signature empty; "HS256" signs with the
        provider's public JWK as the HMAC secret (the algorithm-confusion attack)."""
        key = key or self.key
        h = {"alg": alg, "typ": "logout+jwt", "kid": kid or key.kid}
        h.update(header or {})
        signing_input = (b64url(json.dumps(h)) + "." + b64url(json.dumps(claims))).encode()
        if alg == "none":
            sig = b""
        elif alg == "HS256":
            import hmac
            sig = hmac.new(json.dumps(self.key.jwk).encode(), signing_input, hashlib.sha256).digest()
        else:
            sig = key.sign(signing_input)
        return signing_input.decode() + "." + b64url(sig)

    # ------------------------------------------------------------ OpenID Connect sign-in

    @staticmethod
    def sub_of(user):
        """The provider's subject identifier for a user: opaque and stable, not the name."""
        return "u-" + hashlib.sha256(user.encode()).hexdigest()[:16]

    def discovery(self):
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": self.jwks_url,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": ["openid", "profile"],
            "claims_supported": ["iss", "aud", "sub", "sid", "nonce", "iat", "exp", "auth_time",
                                 "preferred_username"],
            "code_challenge_methods_supported": ["S256", "plain"],
            "authorization_response_iss_parameter_supported": True,
            "backchannel_logout_supported": True,
            "backchannel_logout_session_supported": True,
        }

    def authorize(self, q):
        """(302, where to) or (400, error). Signs in `login_as` at once."""
        one = {k: v[0] for k, v in q.items()}
        redirect_uri = one.get("redirect_uri", "")
        if one.get("client_id") != self.audience:
            return 400, "unauthorized_client"
        if redirect_uri not in self.redirect_uris:
            return 400, "redirect_uri not registered"      # never redirect to an unknown place
        if one.get("response_type") != "code" or "openid" not in one.get("scope", "").split():
            return 400, "unsupported_response_type"
        user = self.login_as
        if not user:
            return 400, "nobody to sign in (set login_as)"
        login = {"user": user, "sub": self.sub_of(user), "sid": "sid-" + uuid.uuid4().hex,
                 "nonce": one.get("nonce")}
        code = secrets.token_urlsafe(24)
        with self._lock:
            self.logins.append(login)
            self._codes[code] = dict(login, redirect_uri=redirect_uri, client_id=self.audience,
                                     challenge=one.get("code_challenge"),
                                     method=one.get("code_challenge_method", "plain"),
                                     issued=time.time())
        back = {"code": code, "iss": self.issuer}
        if "state" in one:
            back["state"] = one["state"]
        sep = "&" if "?" in redirect_uri else "?"
        return 302, redirect_uri + sep + urllib.parse.urlencode(back)

    def _client(self, form, authorization):
        """The authenticated client_id and how, or (None, why)."""
        if authorization and authorization.lower().startswith("basic "):
            try:
                raw = base64.b64decode(authorization[6:].strip()).decode()
            except ValueError:
                return None, "bad basic credentials"
            cid, _, secret = raw.partition(":")
            cid, secret, how = urllib.parse.unquote_plus(cid), urllib.parse.unquote_plus(secret), "client_secret_basic"
        else:
            cid = form.get("client_id", [""])[0]
            secret = form.get("client_secret", [""])[0]
            how = "client_secret_post"
        if cid != self.audience or not secrets.compare_digest(secret, self.client_secret):
            return None, "invalid_client"
        return cid, how

    def token_response(self, form, authorization):
        cid, how = self._client(form, authorization)
        if cid is None:
            return 401, {"error": "invalid_client"}
        one = {k: v[0] for k, v in form.items()}
        with self._lock:
            self.token_requests.append((how, one.get("grant_type")))
            grant = self._codes.pop(one.get("code", ""), None)    # a code is good once
        if one.get("grant_type") != "authorization_code":
            return 400, {"error": "unsupported_grant_type"}
        if grant is None or time.time() - grant["issued"] > 60 or grant["client_id"] != cid or \
                grant["redirect_uri"] != one.get("redirect_uri"):
            return 400, {"error": "invalid_grant"}
        if grant["challenge"]:
            verifier = one.get("code_verifier", "")
            expected = b64url(hashlib.sha256(verifier.encode()).digest()) if grant["method"] == "S256" else verifier
            if not verifier or not secrets.compare_digest(expected, grant["challenge"]):
                return 400, {"error": "invalid_grant", "error_description": "PKCE verification failed"}
        return 200, {"access_token": secrets.token_urlsafe(24), "token_type": "Bearer", "expires_in": 300,
                     "id_token": self.id_token(grant)}

    def id_token(self, login):
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.audience, "sub": login["sub"], "sid": login["sid"],
                  "iat": now, "exp": now + 300, "auth_time": now, "preferred_username": login["user"]}
        if login.get("nonce"):
            claims["nonce"] = login["nonce"]
        key = self.key
        header = {"alg": "RS256", "typ": "JWT", "kid": key.kid}
        signing_input = (b64url(json.dumps(header)) + "." + b64url(json.dumps(claims))).encode()
        return signing_input.decode() + "." + b64url(key.sign(signing_input))


def cas_logout_request(ticket):
    return f"""<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" \
xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="LR-{uuid.uuid4().hex}" Version="2.0" \
IssueInstant="{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}">
<saml:NameID>@NOT_USED@</saml:NameID>
<samlp:SessionIndex>{ticket}</samlp:SessionIndex>
</samlp:LogoutRequest>"""
