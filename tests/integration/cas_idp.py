"""A stand-in CAS server on loopback for the CAS tests (test_sso_cas.py): /cas/login signs in
the user the test names at once and sends the browser back to the service with a service
ticket; /cas/serviceValidate answers CAS 2.0 XML, each ticket once, as a CAS server does.
Enough for the real mod_auth_cas and for an app with its own CAS client.

Not a test file itself (no test_ prefix)."""
import http.server
import threading
import urllib.parse
import uuid
from xml.sax.saxutils import escape


class CasServer:
    def __init__(self):
        self.user = None          # who /cas/login signs in next
        self.tickets = {}         # ticket -> (user, service), until validated
        self.issued = []          # every ticket issued, in order
        self.validations = []     # (ticket, ok)
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                if url.path == "/cas/login" and "service" in query and server.user:
                    ticket = "ST-" + uuid.uuid4().hex
                    server.tickets[ticket] = (server.user, query["service"])
                    server.issued.append(ticket)
                    service = query["service"]
                    sep = "&" if "?" in service else "?"
                    self.send_response(302)
                    self.send_header("Location", f"{service}{sep}ticket={ticket}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if url.path in ("/cas/serviceValidate", "/cas/p3/serviceValidate"):
                    found = server.tickets.pop(query.get("ticket", ""), None)
                    server.validations.append((query.get("ticket"), found is not None))
                    if found:
                        body = ("<cas:serviceResponse xmlns:cas='http://www.yale.edu/tp/cas'>"
                                "<cas:authenticationSuccess><cas:user>" + escape(found[0]) +
                                "</cas:user></cas:authenticationSuccess></cas:serviceResponse>")
                    else:
                        body = ("<cas:serviceResponse xmlns:cas='http://www.yale.edu/tp/cas'>"
                                "<cas:authenticationFailure code='INVALID_TICKET'>unknown ticket"
                                "</cas:authenticationFailure></cas:serviceResponse>")
                    data = body.encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
