"""A stand-in identity provider on loopback for the single sign-out tests: an RSA key made
with the openssl command line, JWTs signed with `openssl dgst -sha256 -sign` (no Python
crypto library needed), the JWKS served over HTTP on 127.0.0.1, and CAS logoutRequests.

Not a test file itself (no test_ prefix): imported by tests/integration/test_sso.py."""
import base64
import http.server
import json
import os
import subprocess
import threading
import time
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
    """Issuer `issuer`, client `audience`; JWKS at self.jwks_url."""

    def __init__(self, folder, audience="session-guard-test"):
        self.key = Key(folder, "k1")
        self.other = Key(folder, "k-other")   # never published
        self.audience = audience
        provider = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = json.dumps({"keys": [provider.key.jwk]}).encode()
                self.send_response(200 if self.path == "/jwks" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                provider.jwks_fetches += 1

            def log_message(self, *args):
                pass

        self.jwks_fetches = 0
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        port = self.server.server_address[1]
        self.issuer = f"http://127.0.0.1:{port}"
        self.jwks_url = f"http://127.0.0.1:{port}/jwks"

    def stop(self):
        self.server.shutdown()

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
            import hashlib
            import hmac
            sig = hmac.new(json.dumps(self.key.jwk).encode(), signing_input, hashlib.sha256).digest()
        else:
            sig = key.sign(signing_input)
        return signing_input.decode() + "." + b64url(sig)


def cas_logout_request(ticket):
    return f"""<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" \
xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="LR-{uuid.uuid4().hex}" Version="2.0" \
IssueInstant="{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}">
<saml:NameID>@NOT_USED@</saml:NameID>
<samlp:SessionIndex>{ticket}</samlp:SessionIndex>
</samlp:LogoutRequest>"""
