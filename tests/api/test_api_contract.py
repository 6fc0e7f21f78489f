#!/usr/bin/python3
"""test_api_contract.py: promises of docs/api.md a review from outside found broken, checked
against a real decp-control (api role, api_tls = off) on decp-testenv's PostgreSQL and Redis.

- Two Authorization headers in one request are refused (400 bad_request, closed), never
  served: the reader kept the last one written over the first, so a request whose first
  header was someone's rejected or proxy-checked credentials was served with the second.
- A 405 for a path that exists with the other method carries `Allow` (RFC 9110 §15.5.6), as
  the head's 405 does.
- A withdrawal by a subscriber that never deposited is 409 insufficient_funds (its wallet
  reads 0.00), not 404 not_found; an unknown subscriber's is still 404.
- The operator's lists of an unknown master's or subscriber's things (tokens, license
  tokens, ledger, position book) are 404 not_found ("unknown endpoint or id"), not 200
  with an empty list.
- A performance-fee preview without `profit` is 422 missing_field (was wrong_type); a query
  integer is digits only ("+5" and " 5" were taken as 5); a second suspend is 409
  invalid_transition ("from SYNCED only"; it was 200 and rewrote the reason).
- RFC 9112 §3.2: an HTTP/1.1 request without Host, and any with two Hosts or an invalid
  one, is 400 bad_request and closed (they were served); HTTP/1.0 may lack Host.
- An integer field given as a string (or a real, a boolean) is 422 wrong_type on every
  route, an integer out of range invalid_value (a string was invalid_value).
- A protection event for a CANCELLED subscription is 409 cancelled, nothing stored nor
  scored (it was 202).
- A console session cannot make a sign-in link (403): its link opened a fresh 8-hour session,
  so a holder of the cookie could chain links past the session's Sign out (and past its 8
  hours); a token still can.

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

    def post_h(path, body, headers):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("POST", path, body=body, headers=headers)
        r = c.getresponse()
        d = r.read()
        c.close()
        return r.status, (json.loads(d) if d else {}), r

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

    # RFC 9112 §3.2: an HTTP/1.1 request without Host, or any with two Hosts or an invalid
    # one, is 400 bad_request and closed (they were served); HTTP/1.0 may lack it.
    body = json.dumps({"name": "hostless"})
    for what, data in (
            ("GET /healthz without Host", "GET /healthz HTTP/1.1\r\n\r\n"),
            ("the console without Host", "GET /console/ HTTP/1.1\r\n\r\n"),
            ("GET /v1/masters without Host",
             "GET /v1/masters HTTP/1.1\r\nAuthorization: Bearer %s\r\n\r\n" % admin),
            ("POST /v1/subscribers without Host",
             "POST /v1/subscribers HTTP/1.1\r\nAuthorization: Bearer %s\r\n"
             "Content-Length: %d\r\n\r\n%s" % (admin, len(body), body)),
            ("two Host headers", "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
            ("two Host headers on HTTP/1.0",
             "GET /healthz HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n"),
            ("an empty Host", "GET /healthz HTTP/1.1\r\nHost:\r\n\r\n"),
            ("a Host with a space", "GET /healthz HTTP/1.1\r\nHost: a b\r\n\r\n")):
        out = raw(port, data)
        check(out.startswith("HTTP/1.1 400 ") and '"code":"bad_request"' in out and
              "Host" in out and "Connection: close" in out and "<timeout>" not in out,
              "%s: 400 bad_request, closed: %r" % (what, out.split("\r\n")[-1]))
    st, lst, _ = req("GET", "/v1/subscribers")
    check(st == 200 and all(s["name"] != "hostless" for s in lst["subscribers"]),
          "and no subscriber 'hostless' was made")
    for what, data in (("HTTP/1.0 without Host", "GET /healthz HTTP/1.0\r\n\r\n"),
                       ("HTTP/1.1 with Host", "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                        "Connection: close\r\n\r\n" % port)):
        out = raw(port, data)
        check(out.startswith("HTTP/1.1 200 ") and '"ok"' in out, "%s: 200 (%r)" %
              (what, out.split("\r\n")[0]))
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

    # A withdrawal before any deposit: 409 insufficient_funds, by the subscriber and by the
    # operator, with or without an Idempotency-Key; the wallet still reads 0.00.
    wd = "/v1/subscribers/%d/wallet/withdraw" % sub["id"]
    for tok, what in ((sub_tok, "the subscriber"), (admin, "the operator")):
        st, err, _ = req("POST", wd, json.dumps({"amount": "1.00"}), tok)
        check(st == 409 and err.get("code") == "insufficient_funds",
              "withdrawal before any deposit by %s: 409 insufficient_funds (got %d %s)" %
              (what, st, err.get("code")))
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("POST", wd, body=json.dumps({"amount": "1.00"}),
              headers={"Authorization": "Bearer " + admin, "Idempotency-Key": "wd-1"})
    r = c.getresponse()
    err = json.loads(r.read())
    c.close()
    check(r.status == 409 and err.get("code") == "insufficient_funds",
          "...with an Idempotency-Key too (got %d %s)" % (r.status, err.get("code")))
    st, w, _ = req("GET", "/v1/subscribers/%d/wallet" % sub["id"], None, sub_tok)
    check(st == 200 and w.get("balance_usd") in ("0.00", 0, "0"),
          "the wallet reads 0.00 (%d %r)" % (st, w.get("balance_usd")))
    st, err, _ = req("POST", "/v1/subscribers/999999/wallet/withdraw",
                     json.dumps({"amount": "1.00"}))
    check(st == 404 and err.get("code") == "not_found",
          "an unknown subscriber's withdrawal: 404 not_found (got %d %s)" %
          (st, err.get("code")))
    # after a deposit, beyond the balance is 409 as before, within it 200
    st, _, _ = req("POST", "/v1/subscribers/%d/wallet/deposit" % sub["id"],
                   json.dumps({"amount": "5.00"}))
    check(st == 200, "a deposit of 5.00 (%d)" % st)
    st, err, _ = req("POST", wd, json.dumps({"amount": "6.00"}), sub_tok)
    check(st == 409 and err.get("code") == "insufficient_funds",
          "6.00 of 5.00: 409 insufficient_funds (got %d %s)" % (st, err.get("code")))
    st, w, _ = req("POST", wd, json.dumps({"amount": "2.00"}), sub_tok)
    check(st == 200, "2.00 of 5.00: 200 (%d %r)" % (st, w))

    # Unknown ids in the operator's lists: 404, and the known ones still 200.
    st, m, _ = req("POST", "/v1/masters", json.dumps({"name": "contract-m",
                                                      "ed25519_public_key": "07" * 32}))
    check(st == 201, "a master made (%d)" % st)
    for path, known in (("/v1/subscribers/%d/tokens", sub["id"]),
                        ("/v1/subscribers/%d/ledger", sub["id"]),
                        ("/v1/masters/%d/license-tokens", m["id"]),
                        ("/v1/masters/%d/positions", m["id"])):
        st, err, _ = req("GET", path % 999999)
        check(st == 404 and err.get("code") == "not_found",
              "GET %s of an unknown id: 404 not_found (got %d %s)" %
              (path % 999999, st, err.get("code")))
        st, _, _ = req("GET", path % known)
        check(st == 200, "GET %s: 200 (%d)" % (path % known, st))

    # A subscription to preview, page and suspend.
    st, so, _ = req("POST", "/v1/subscriptions", json.dumps({"master_id": m["id"],
                                                             "subscriber_id": sub["id"]}))
    check(st == 201, "a subscription made (%d)" % st)
    st, err, _ = req("GET", "/v1/subscriptions/%d/performance-fee" % so["id"])
    check(st == 422 and err.get("code") == "missing_field",
          "a fee preview without profit: 422 missing_field (got %d %s)" % (st, err.get("code")))
    # wrong_type is a value of the wrong JSON type, invalid_value the right type with a bad
    # value, for every integer field of every route (an integer given as a string was
    # invalid_value); nothing is made or stored by a refusal.
    ev = "/v1/protection-events"
    sid = so["id"]
    for path, body, code in (
            ("/v1/subscriptions", {"master_id": str(m["id"]), "subscriber_id": sub["id"]},
             "wrong_type"),
            ("/v1/subscriptions", {"master_id": m["id"], "subscriber_id": str(sub["id"])},
             "wrong_type"),
            ("/v1/subscriptions", {"master_id": 1.0, "subscriber_id": sub["id"]}, "wrong_type"),
            ("/v1/subscriptions", {"master_id": True, "subscriber_id": sub["id"]}, "wrong_type"),
            ("/v1/subscriptions", {"master_id": 0, "subscriber_id": sub["id"]}, "invalid_value"),
            ("/v1/subscriptions", {"master_id": None, "subscriber_id": sub["id"]},
             "missing_field"),
            (ev, {"events": [{"subscription_id": str(sid), "reason": "TTL_EXPIRED"}]},
             "wrong_type"),
            (ev, {"events": [{"subscription_id": sid, "reason": "TTL_EXPIRED",
                              "sequence": "5"}]}, "wrong_type"),
            (ev, {"events": [{"subscription_id": sid, "reason": "TTL_EXPIRED",
                              "event_time_ms": str(int(time.time() * 1000))}]}, "wrong_type"),
            (ev, {"events": [{"subscription_id": sid, "reason": "EXECUTE", "sequence": 5,
                              "report_id": "7"}]}, "wrong_type"),
            (ev, {"events": [{"subscription_id": sid, "reason": "TTL_EXPIRED",
                              "latency_ms": "12"}]}, "wrong_type"),
            (ev, {"events": [{"subscription_id": sid, "reason": "TTL_EXPIRED",
                              "sequence": 5.5}]}, "wrong_type"),
            (ev, {"events": [{"subscription_id": sid, "reason": "TTL_EXPIRED",
                              "sequence": -1}]}, "invalid_value"),
            (ev, {"events": [{"subscription_id": sid, "reason": "EXECUTE", "sequence": 5,
                              "report_id": 0}]}, "invalid_value"),
            (ev, {"events": [{"subscription_id": 0, "reason": "TTL_EXPIRED"}]},
             "invalid_value"),
            (ev, {"events": "TTL_EXPIRED"}, "wrong_type"),
            (ev, {"events": []}, "invalid_value")):
        st, err, _ = req("POST", path, json.dumps(body))
        check(st == 422 and err.get("code") == code,
              "POST %s %s: 422 %s (got %d %s %s)" % (path, json.dumps(body), code, st,
                                                     err.get("code"), err.get("message")))
    st, lst, _ = req("GET", "/v1/subscriptions")
    check(st == 200 and len(lst["subscriptions"]) == 1,
          "no subscription made by the refused ones (%d)" % len(lst.get("subscriptions", [])))
    st, tr, _ = req("GET", "/v1/subscriptions/%d/trust" % sid)
    check(st == 200 and not tr.get("recent_events"), "no event stored by the refused ones")
    st, err, _ = post_h("/v1/console/session", json.dumps({"token": 5}),
                        {"X-Decp-Console": "1", "Content-Type": "application/json"})
    check(st == 422 and err.get("code") == "wrong_type",
          "console sign-in with a number for the token: 422 wrong_type (got %d %s)" %
          (st, err.get("code")))

    st, _, _ = req("GET", "/v1/subscriptions/%d/performance-fee?profit=10.00" % so["id"])
    check(st == 200, "a fee preview with profit=10.00: 200 (%d)" % st)
    for q in ("+5", "%205", "5%20", "0x5", ""):
        st, err, _ = req("GET", "/v1/subscriptions?limit=" + q)
        check(st == 422 and err.get("code") == "invalid_value",
              "limit=%s: 422 invalid_value (got %d %s)" % (q, st, err.get("code")))
    st, _, _ = req("GET", "/v1/subscriptions?limit=5")
    check(st == 200, "limit=5: 200 (%d)" % st)
    sp = "/v1/subscriptions/%d/suspend" % so["id"]
    st, row, _ = req("POST", sp, "{}")
    check(st == 200 and row.get("state") == "SUSPENDED_ADMIN", "suspend: 200 (%d)" % st)
    st, err, _ = req("POST", sp, "{}")
    check(st == 409 and err.get("code") == "invalid_transition",
          "suspend again: 409 invalid_transition (got %d %s)" % (st, err.get("code")))

    # A CANCELLED subscription takes no protection events (terminal; its score would carry
    # over to the pair's next subscription): 409 cancelled, nothing stored. It was 202.
    st, m2, _ = req("POST", "/v1/masters", json.dumps({"name": "contract-m2",
                                                       "ed25519_public_key": "08" * 32}))
    st2, sc, _ = req("POST", "/v1/subscriptions", json.dumps({"master_id": m2["id"],
                                                              "subscriber_id": sub["id"]}))
    st3, row, _ = req("POST", "/v1/subscriptions/%d/cancel" % sc["id"], "{}", sub_tok)
    check(st == 201 and st2 == 201 and st3 == 200 and row.get("state") == "CANCELLED",
          "a second subscription, cancelled (%d %d %d)" % (st, st2, st3))
    for tok, what in ((sub_tok, "its subscriber"), (admin, "the operator")):
        st, err, _ = req("POST", "/v1/protection-events", json.dumps(
            {"events": [{"subscription_id": sc["id"], "reason": "REPLAY", "sequence": 3}]}), tok)
        check(st == 409 and err.get("code") == "cancelled",
              "an event for the cancelled subscription by %s: 409 cancelled (got %d %s)" %
              (what, st, err.get("code")))
    st, tr, _ = req("GET", "/v1/subscriptions/%d/trust" % sc["id"])
    check(st == 200 and not tr.get("recent_events") and tr.get("trust_score") == 100,
          "nothing stored nor scored for it (%d %r)" % (st, tr.get("recent_events")))

    # Console: a session cannot mint a sign-in link; a token can.
    st, _, r = post_h("/v1/console/session", json.dumps({"token": admin}),
                      {"X-Decp-Console": "1", "Content-Type": "application/json"})
    cookie = (r.getheader("Set-Cookie") or "").split(";")[0]
    check(st == 201 and cookie.startswith("decp_console="), "a console session (%d)" % st)
    st, err, _ = post_h("/v1/console/link", "{}", {"Cookie": cookie, "X-Decp-Console": "1"})
    check(st == 403 and err.get("code") == "forbidden",
          "a sign-in link from the console session: 403 forbidden (got %d %s)" %
          (st, err.get("code")))
    st, lk, _ = post_h("/v1/console/link", "{}", {"Authorization": "Bearer " + admin})
    check(st == 201 and lk.get("path", "").startswith("/console/#code="),
          "a sign-in link with the operator token: 201 (%d)" % st)
    # Sign out says whether it ended a session: with a token (no session) nothing ends.
    st, out, _ = post_h("/v1/console/logout", "{}", {"Authorization": "Bearer " + admin})
    check(st == 200 and out.get("ended") is False,
          "sign out with a token, no session: ended false (%d %r)" % (st, out))
    st, out, _ = post_h("/v1/console/logout", "{}", {"Cookie": cookie, "X-Decp-Console": "1"})
    check(st == 200 and out.get("ended") is True, "sign out: ended true (%d %r)" % (st, out))
    st, out, _ = post_h("/v1/console/logout", "{}", {"Cookie": cookie, "X-Decp-Console": "1"})
    check(out.get("ended") is not True,
          "the ended session's cookie again: nothing ended (%d %r)" % (st, out))
finally:
    ctl.terminate()
    ctl.wait(timeout=10)
    log.close()
    if failed:
        print(open(log.name).read()[-3000:])
    os.unlink(log.name)
print("%d failed" % failed)
sys.exit(1 if failed else 0)
