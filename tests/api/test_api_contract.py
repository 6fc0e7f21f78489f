#!/usr/bin/python3
"""test_api_contract.py: promises of docs/api.md a review from outside found broken, checked
against a real decp-control (api role, api_tls = off) on decp-testenv's PostgreSQL and Redis.

- Two Authorization headers in one request are refused (400 bad_request, closed), never
  served: the reader kept the last one written over the first, so a request whose first
  header was someone's rejected or proxy-checked credentials was served with the second.
- A 405 for a path that exists with the other method carries `Allow` (RFC 9110 §15.5.6), as
  the head's 405 does.

usage (meson): decp-testenv --pg --redis -- test_api_contract.py DECP_CONTROL DECP_MIGRATE
"""
import hashlib
import http.client
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time

control, migrate = sys.argv[1], sys.argv[2]
conninfo, redis_port = os.environ["DECP_PG_CONNINFO"], os.environ["DECP_REDIS_PORT"]
failed = 0


def check(cond, what):
    global failed
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        failed += 1


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def raw(port, data, wait=2.0):
    """Send data, read until the server closes (or wait s): the bytes it answered."""
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(wait)
    s.sendall(data.encode())
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except socket.timeout:
        out += b"<timeout>"
    s.close()
    return out.decode("latin1")


subprocess.run([migrate, "--conninfo", conninfo], check=True, stdout=subprocess.DEVNULL)
admin = secrets.token_hex(24)
port = free_port()
log = tempfile.NamedTemporaryFile(prefix="decp-api-contract-", suffix=".log", delete=False)
ctl = subprocess.Popen([control, "--roles", "api", "--set", "pg_conninfo=" + conninfo,
                        "--set", "redis_port=" + redis_port, "--set", "api_port=%d" % port,
                        "--set", "api_tls=off", "--set", "api_admin_token_sha256=" +
                        hashlib.sha256(admin.encode()).hexdigest(), "--set", "log_level=warn"],
                       stdout=log, stderr=subprocess.STDOUT)
try:
    for _ in range(200):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/healthz")
            if c.getresponse().status == 200:
                break
        except OSError:
            time.sleep(0.05)
    else:
        sys.exit("decp-control did not answer /healthz")

    def req(method, path, body=None, tok=admin):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request(method, path, body=body, headers={"Authorization": "Bearer " + tok})
        r = c.getresponse()
        d = r.read()
        c.close()
        return r.status, json.loads(d), r

    st, sub, _ = req("POST", "/v1/subscribers", json.dumps({"name": "contract"}))
    check(st == 201, "a subscriber made (%d)" % st)
    st, tok, _ = req("POST", "/v1/subscribers/%d/tokens" % sub["id"], "{}")
    check(st == 201, "its token made (%d)" % st)
    sub_tok = tok["token"]

    # Two Authorization headers: refused whatever their order, never served.
    for first, second, what in ((sub_tok, admin, "a subscriber's, then the operator's"),
                                ("nope", admin, "an unknown one, then the operator's"),
                                (admin, "nope", "the operator's, then an unknown one"),
                                (admin, admin, "the operator's twice")):
        out = raw(port, "GET /v1/masters HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                  "Authorization: Bearer %s\r\n\r\n" % (first, second))
        check(out.startswith("HTTP/1.1 400 ") and '"code":"bad_request"' in out and
              "Connection: close" in out and "<timeout>" not in out and
              '"masters"' not in out,
              "two Authorization headers (%s): 400 bad_request, closed: %r" %
              (what, out.split("\r\n")[0]))
    # and on a POST: nothing made
    body = json.dumps({"name": "smuggled"})
    out = raw(port, "POST /v1/subscribers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
              "Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s" %
              (sub_tok, admin, len(body), body))
    check(out.startswith("HTTP/1.1 400 "), "POST with two Authorization headers: 400: %r" %
          out.split("\r\n")[0])
    st, lst, _ = req("GET", "/v1/subscribers")
    check(st == 200 and all(s["name"] != "smuggled" for s in lst["subscribers"]),
          "and no subscriber 'smuggled' was made")
    # one header still works, as before
    st, _, _ = req("GET", "/v1/masters")
    check(st == 200, "one Authorization header: 200 (%d)" % st)

    # 405 on a path that has the other method: Allow names it.
    for method, path, allow in (("GET", "/v1/subscriptions/1/suspend", "POST"),
                                ("POST", "/v1/masters/activity", "GET"),
                                ("GET", "/v1/protection-events", None),
                                ("POST", "/v1/subscribers/1/ledger", "GET")):
        st, err, r = req(method, path, "{}" if method == "POST" else None)
        if allow is None:   # both methods exist: no 405 at all
            check(st != 405, "%s %s is served (%d)" % (method, path, st))
            continue
        check(st == 405 and err.get("code") == "method_not_allowed" and
              r.getheader("Allow") == allow,
              "%s %s: 405 method_not_allowed with Allow: %s (got %d, Allow %r)" %
              (method, path, allow, st, r.getheader("Allow")))
finally:
    ctl.terminate()
    ctl.wait(timeout=10)
    log.close()
    if failed:
        print(open(log.name).read()[-3000:])
    os.unlink(log.name)
print("%d failed" % failed)
sys.exit(1 if failed else 0)
