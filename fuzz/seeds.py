#!/usr/bin/env python3
"""Writes the hand-made seed inputs of fuzz/corpus/<target>/ (run from anywhere; idempotent).

Seeds are what real clients and files look like, plus the inputs of known bugs (named by
what they are), so each target starts deep in its reader and `make test` replays them.
Inputs the fuzzer finds interesting are not committed: `make fuzz` keeps them in
build/fuzz/corpus/. Add a seed here, or drop a file into fuzz/corpus/<target>/ by hand."""
import hashlib
import hmac
import os

HERE = os.path.dirname(os.path.abspath(__file__))
TOKEN_KEY = b"fuzz-key-0123456789abcdef0123456789abcdef"  # fuzz_signout_token.cpp's kKey

FP = "85c8a1f2" + "0123456789abcdef" * 3 + "01234567"
FP2 = "f" * 64


def token(user, expiry, nonce="0123456789abcdef0123456789abcdef"):
    body = f"v1.{user.encode().hex()}.{expiry}.{nonce}"
    return body + "." + hmac.new(TOKEN_KEY, body.encode(), hashlib.sha256).hexdigest()


def journal_record(kind, at, fp_hex, fields=None, sso=None):
    """One record of core/journal: "SGJ1", u32 length, payload, 8 bytes of SHA-256; a login
    with single sign-out ends with its key and subject (sso = (key, sub))."""
    payload = bytes([kind]) + at.to_bytes(8, "little") + bytes.fromhex(fp_hex)
    if fields is not None:
        user, cookie, ip, agent, server, idle, life, limit, refuse = fields
        for text in (user, cookie, ip, agent, server):
            payload += len(text).to_bytes(2, "little") + text
        for n in (idle, life, limit):
            payload += (n & 0xffffffff).to_bytes(4, "little")
        payload += bytes([refuse])
    if sso is not None:
        for text in sso:
            payload += len(text).to_bytes(2, "little") + text
    head = b"SGJ1" + len(payload).to_bytes(4, "little") + payload
    return head + hashlib.sha256(head).digest()[:8]


LOGIN = journal_record(1, 1700000000123456, FP, (b"alice", b"PHPSESSID", b"127.0.0.1",
                                                 b"Mozilla/5.0 (X11; Linux x86_64)", b"www.example.com",
                                                 1800, 0, 1, 0))
LOGOUT = journal_record(2, 1700000000999999, FP2)


SEEDS = {
    "journal": {
        "login": LOGIN,
        "login_logout": LOGIN + LOGOUT,
        "login_sso": journal_record(1, 1700000000123456, FP, (b"alice", b"PHPSESSID", b"127.0.0.1", b"curl/8",
                                                              b"www.example.com", 1800, 0, 1, 0),
                                    (FP2.encode(), b"sub-alice")),
        "torn_end": LOGIN + LOGOUT[:20],
        "torn_middle": LOGIN + LOGOUT[:30] + LOGIN,
        "damaged": LOGIN[:40] + b"X" + LOGIN[41:] + LOGOUT,
        "huge_length": b"SGJ1\xff\xff\xff\xff" + LOGOUT,
        "empty_fields": journal_record(1, 0, FP2, (b"", b"", b"", b"", b"", -1, -1, -1, 1)),
        "ticket_tie": journal_record(3, 1700000000123456, FP, sso=(b"MOD_AUTH_CAS", FP2.encode())) + LOGOUT,
        "bad_kind": journal_record(9, 1, FP) + LOGOUT,
        "magic_only": b"SGJ1SGJ1SGJ",
    },
    "cookie": {
        "plain": "PHPSESSID\nPHPSESSID=abc123def456; lang=en",
        "quoted": 'CGISESSID\nfoo=bar; CGISESSID="0a1b2c3d4e5f"; theme=dark',
        "percent": "PHPSESSID\nPHPSESSID=ab%63123; other=1",
        "plus_comma_amp": "CGISESSID\na=1, CGISESSID=abc+def&x=1; b=2",
        "decoy_space": "PHPSESSID\nPHPSESSID =decoy; PHPSESSID=killedvalue",   # issue 9, case 1
        "decoy_tab": "CGISESSID\nCGISESSID\t=decoy; CGISESSID=killedvalue",
        "encoded_name": "PHPSESSID\nPHP%53ESSID=abc; PHPSESSID=def",
        "duplicates": "sg_session\nsg_session=1; sg_session=2; sg_session=1",
        "nameless": "PHPSESSID\n=x; novalue; ;; PHPSESSID=",
        "set_cookie": "PHPSESSID\nPHPSESSID=newvalue; path=/; HttpOnly; SameSite=Lax",
        "set_cookie_clear": "CGISESSID\nCGISESSID=\"\"; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/",
        "bad_escapes": "PHPSESSID\nPHPSESSID=%zz%4%; x=%%41",
    },
    "form": {
        "login": "username=alice&password=demo",
        "duplicate_field": "username=alice&username=bob&password=demo",  # issue 9, case 2
        "semicolons": "x=1;username=bob&username=alice&password=demo",
        "encoded_names": "%20username=carol&username%00x=carol&user+name=x",
        "query": "action=login&next=%2Fphp%2Findex.php%3Fa%3D1",
        "empty_parts": "&&=&a&=b&c=&",
        "bad_escapes": "a=%&b=%4&c=%zz&d=%41%4a%4A",
        "php_mangling": "user.name=1&user name=2&user[x]=3&user[=4",
        "utf8": b"name=caf%C3%A9&raw=caf\xe9",
    },
    "multipart": {
        "login": ("multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW\nusername\n"
                  "------WebKitFormBoundary7MA4YWxkTrZu0gW\r\n"
                  "Content-Disposition: form-data; name=\"username\"\r\n\r\nalice\r\n"
                  "------WebKitFormBoundary7MA4YWxkTrZu0gW\r\n"
                  "Content-Disposition: form-data; name=\"password\"\r\n\r\ndemo\r\n"
                  "------WebKitFormBoundary7MA4YWxkTrZu0gW--\r\n"),
        "quoted_boundary": ("multipart/form-data; boundary=\"xyz\"; charset=utf-8\nusername\n"
                            "--xyz\r\ncontent-disposition: form-data; filename=\"a.txt\"; name=\"username\"\r\n"
                            "Content-Type: text/plain\r\n\r\nbob\r\n--xyz--\r\n"),
        "unquoted_name": ("multipart/form-data; boundary=b\nusername\n"  # issue 9, case 3
                          "--b\r\nContent-Disposition: form-data; name=username\r\n\r\ncarol\r\n--b--\r\n"),
        "truncated": ("multipart/form-data; boundary=b\nusername\n"
                      "--b\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\ncar"),
        "filename_only": ("multipart/form-data; BOUNDARY=b\nusername\n"
                          "--b\r\nContent-Disposition: form-data; filename=\"username\"\r\n\r\nx\r\n--b--"),
        "duplicate": ("multipart/form-data; boundary=b\nusername\n"
                      "--b\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nalice\r\n"
                      "--b\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nbob\r\n--b--\r\n"),
    },
    "snapshot": {
        "empty": "session-guard-deny-list 1 1764000000000000\nend 0\n",
        "entries": (f"session-guard-deny-list 1 1764000000000000\ns {FP} 1\ns {FP2} 3\n"
                    f"u {FP2}\nend 3\n"),
        "uppercase": f"session-guard-deny-list 1 5\ns {FP.upper()} 7\nend 1\n",
        "duplicate": f"session-guard-deny-list 1 5\ns {FP} 1\ns {FP} 2\nu {FP}\nu {FP}\nend 4\n",
        "huge_time": "session-guard-deny-list 1 9999999999999999999\nend 0\n",  # issue 9, case 7
        "torn": f"session-guard-deny-list 1 5\ns {FP} 1\nend 1",
        "bad_count": f"session-guard-deny-list 1 5\ns {FP} 1\nend 2\n",
        "after_end": "session-guard-deny-list 1 5\nend 0\nend 0\n",
        "bad_reason": f"session-guard-deny-list 1 5\ns {FP} 0\nend 1\n",
    },
    "signout_token": {
        "valid": token("alice", 1900000000),
        "expired": token("bob", 1700000000),
        "leading_zeros": token("carol", "0001900000000"[:12]),
        "odd_user": token("caf\u00e9 <x>", 999999999999),
        "malformed": "v1.616c696365.1900000000.0123.deadbeef",
        "claim": b"alice\n\x00\x00\x00\x00\x71\x3f\xb8\x00nonce-bytes-16!!",
        "uppercase_hex": token("alice", 1900000000).upper(),
    },
    "device": {
        "firefox": "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
        "chrome_win": ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                       "Chrome/120.0.0.0 Safari/537.36"),
        "iphone": ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
                   "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"),
        "ipad_as_mac": ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
                        "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"),
        "android_tablet": "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 Chrome/120.0 Safari/537.36",
        "edge": "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/120.0 Safari/537.36 Edg/120.0.2210.61",
        "curl": "curl/7.88.1",
        "script": "<script>alert(1)</script>\"><img src=x onerror=alert(1)>",
        "latin1": b"caf\xe9",  # issue 9, case 8 (sent as one byte, not UTF-8)
        "long_version": "Firefox/" + "9" * 600,
    },
    "escape": {
        "script": "<script>alert('x')</script>\"&amp;",
        "json": "\"\\\n\r\t\x00\x1f\x7f</script>",
        "header_injection": "Alice\r\nBcc: victim@example.org",
        "utf8_long": "J\u00fcrgen M\u00fcller-L\u00fcdenscheidt " * 4,
        "latin1": b"caf\xe9",
        # encode_header looped for ever on 90+ UTF-8 continuation bytes in a row (found by fuzz_escape)
        "encode_header_hang": b"J\xc3\xbcr" + b"\xab" * 100,
        "plain_like_encoded_word": "=?" + "o" * 100,
    },
    "config": {
        "login_redirect": "/php/login.php\nusername\nredirect",
        "login_query": "/perl/app.cgi?action=login\nusername\nstatus=302",
        "login_header": "/app?a=1&b=2\nuser\nheader=X-Logged-In",
        "bad_status": "/x\nuser\nstatus=99999999999",
        "durations": b"250ms\n/\n\x00\x00\x00\x00\x00\x00\x10\x00",
        "duration_hours": b"999999999999h\n\n\xff\xff\xff\xff\xff\xff\xff\xff",
        "cookie": "PHPSESSID\n/php/\n",
        "bad_cookie": "PHP SESSID\nphp\n",
        "deny_redirect": "redirect\n/login?x=1\n",
        "deny_status": "status\n403\n",
        "message": "killed\nYour session was ended ({limit}).\n",
        "fingerprint": FP.upper() + "\n\n",
        "on_off": "On\n\n",
        "empty_query": "/php/?\nuser\n",
    },
}


def main():
    for target, seeds in SEEDS.items():
        folder = os.path.join(HERE, "corpus", target)
        os.makedirs(folder, exist_ok=True)
        for name, text in seeds.items():
            data = text if isinstance(text, bytes) else text.encode("utf-8")
            with open(os.path.join(folder, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
