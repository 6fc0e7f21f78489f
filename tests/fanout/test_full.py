#!/usr/bin/env python3
"""fanout_full: a fan-out at fanout_max_conns answers a new upgrade 503 with Retry-After.

Run under decp-testenv --pg --redis: test_full.py SOURCE_ROOT BUILD_ROOT.

docs/fanout.md "Close codes": a full process (`fanout_max_conns` live sessions) is the
platform's condition, not the client's: 503 Service Unavailable with `Retry-After: 1`,
so that any client retries (and a load balancer tries another process). It was 401, which
a client written from the HTTP standard reads as "bad credentials" and stops retrying on.
A bad token is still 401 at capacity and below it; a session closed frees a place.
"""
import os, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawws import WS, Checks, start_pipeline, stop_pipeline  # noqa: E402

SRC, BLD = sys.argv[1], sys.argv[2]
PG = os.environ['DECP_PG_CONNINFO']
REDIS = [os.environ['DECP_REDIS_HOST'], os.environ['DECP_REDIS_PORT']]
check = Checks()

ctl, log, port, tokens, run = start_pipeline(
    BLD, PG, REDIS, ('a', 'b', 'c'), extra='fanout_max_conns = 2\n')
try:
    check('decp-control (fanout, archiver) listens', port is not None)
    a = WS(port, tokens['a'][0])
    b = WS(port, tokens['b'][0])
    check(f'two sessions open (101, 101): {a.status}, {b.status}',
          a.status == 101 and b.status == 101)
    c = WS(port, tokens['c'][0])
    head = c.head.lower()
    check(f'the third, at fanout_max_conns = 2: 503 (got {c.status})', c.status == 503)
    check('with Retry-After', b'retry-after: 1' in head)
    bad = WS(port, 'not-a-token')
    check(f'a bad token at capacity: 401 (got {bad.status})', bad.status == 401)
    # a closed session frees its place (bounded wait: the fan-out sees the close)
    a.s.close()
    ok = False
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not ok:
        c = WS(port, tokens['c'][0])
        ok = c.status == 101
        if not ok:
            time.sleep(0.05)
    check('after one session closed, a new one opens (101)', ok)
finally:
    stop_pipeline(ctl, log, check)
print(f'{check.failed} failed')
sys.exit(1 if check.failed else 0)
