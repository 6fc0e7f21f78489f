#!/usr/bin/env python3
"""fanout_token_expiry: a session whose token expires is closed when it expires.

Run under decp-testenv --pg --redis: test_token_expiry.py SOURCE_ROOT BUILD_ROOT.

docs/fanout.md "Close codes": 4001 when the session's token was revoked or has expired,
within a second. Two subscribers hold a WebSocket session each (raw client, rawws.py); the
first one's token is given an expiry 3 s ahead (an UPDATE of subscriber_tokens, as
`decpctl`/the api would have set it at creation). That session must get
Error{UNAUTHENTICATED} and close 4001 within 1.5 s of the expiry; the other stays open.
Before the fix the fan-out looked for expired tokens every 30 s only: the session went on
receiving signals for up to 30 s after its token expired.
"""
import os, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawws import WS, Checks, close_code, psql, start_pipeline, stop_pipeline, subscribe  # noqa: E402

SRC, BLD = sys.argv[1], sys.argv[2]
PG = os.environ['DECP_PG_CONNINFO']
REDIS = [os.environ['DECP_REDIS_HOST'], os.environ['DECP_REDIS_PORT']]
check = Checks()


def q(sql):
    return psql(PG, sql)


ctl, log, port, tokens, run = start_pipeline(BLD, PG, REDIS, ('expiring', 'other'))
try:
    check('decp-control (fanout, archiver) listens', port is not None)
    ws = {}
    for name in tokens:
        ws[name] = WS(port, tokens[name][0])
        ws[name].send(subscribe(1))
        ws[name].frames(0.5)
    check('both upgraded', all(w.status == 101 for w in ws.values()))
    time.sleep(1)  # past the fan-out's first looks
    exp = float(q(f"UPDATE subscriber_tokens SET expires_at = now() + interval '3 seconds'"
                  f" WHERE subscriber_id = {tokens['expiring'][1]}"
                  f" RETURNING extract(epoch FROM expires_at)"))
    fr = ws['expiring'].frames(exp - time.time() + 5)
    at = time.time() - exp
    code = close_code(fr)
    check(f'the expired session is closed 4001 {at:.2f} s after its expiry (close {code})',
          code == 4001 and at < 1.5)
    # ServerMessage.error (6) { code (1) = CODE_UNAUTHENTICATED } before the close
    check('Error{UNAUTHENTICATED} before the close', any(op == 2 and p[:1] == b'\x32' for op, p in fr))
    fr = ws['other'].frames(0.5)
    check('the other session stays open', close_code(fr) is None and not any(op == 'EOF' for op, _ in fr))
finally:
    stop_pipeline(ctl, log, check)
print(f'{check.failed} failed')
sys.exit(1 if check.failed else 0)
