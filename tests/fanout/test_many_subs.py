#!/usr/bin/env python3
"""fanout_many_subs: a subscriber's every live subscription is served, however many.

Run under decp-testenv --pg --redis: test_many_subs.py SOURCE_ROOT BUILD_ROOT.

docs/fanout.md "Protocol": the upgrade loads the subscriber's non-cancelled subscriptions,
and a Subscribe is refused Error{FORBIDDEN} only "for a master without a live
subscription". A subscriber following 40 masters (decpctl lets it) subscribes to each on one
session: every Subscribe is answered CopyPolicy + SyncStart + SyncEnd, none FORBIDDEN, and
an envelope of master 40 arrives; a polling request for master 40 is answered 200. Before
the fix the fan-out loaded the 32 lowest subscription ids only: masters 33..40 were refused
FORBIDDEN ("no live subscription to this master") on the WebSocket and 403 by polling,
although live (and billed).
"""
import os, socket, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawws import (WS, Checks, fld, msg, redis_cmd, signal_record, start_pipeline,  # noqa: E402
                   stop_pipeline, subscribe)

SRC, BLD = sys.argv[1], sys.argv[2]
PG = os.environ['DECP_PG_CONNINFO']
REDIS = [os.environ['DECP_REDIS_HOST'], os.environ['DECP_REDIS_PORT']]
MASTERS = 40
check = Checks()
decpctl = os.path.join(BLD, 'tools/decpctl/decpctl')
ctl, log, port, tokens, run = start_pipeline(BLD, PG, REDIS, ('a',))


def poll_head(master):
    """The status line of a polling request for master's signals (docs/fanout.md)."""
    s = socket.create_connection(('127.0.0.1', port), timeout=5)
    s.sendall(f'GET /v1/masters/{master}/signals?after=0 HTTP/1.1\r\nHost: x\r\n'
              f'Authorization: Bearer {tokens["a"][0]}\r\nConnection: close\r\n\r\n'.encode())
    head = s.recv(4096).split(b'\r\n')[0]
    s.close()
    return head


def kinds(frames):
    """The ServerMessage field numbers of binary frames (6 = Error)."""
    return [p[0] >> 3 for op, p in frames if op == 2 and p]


try:
    check('decp-control (fanout) listens', port is not None)
    tok, sid = tokens['a']
    for m in range(2, MASTERS + 1):
        subprocess.check_call([decpctl, 'master', 'add', '--id', str(m), '--name', f'm{m}',
                               '--key-seed', f'many{m}'], stdout=subprocess.DEVNULL)
        subprocess.check_call([decpctl, 'subscription', 'add', '--subscriber', str(sid),
                               '--master', str(m)], stdout=subprocess.DEVNULL)
    redis_cmd(REDIS, 'SADD', 'decp:masters', str(MASTERS))
    redis_cmd(REDIS, 'XADD', f'decp:{{m{MASTERS}}}:signals', '1-0', 'r',
              signal_record(MASTERS, 1, 1, 7, 10))
    # the authentication cache has them once the NOTIFY or the state poll brought them:
    # wait (bounded) until polling master 40 is answered 200 (before the fix it never was)
    end, head = time.time() + 20, b''
    while time.time() < end and not head.startswith(b'HTTP/1.1 200'):
        head = poll_head(MASTERS)
        if not head.startswith(b'HTTP/1.1 200'):
            time.sleep(0.1)
    w = WS(port, tok)
    refused, answered = [], 0
    for m in range(1, MASTERS + 1):
        w.send(fld(1, msg((1, m), (2, 1))) if m == MASTERS else subscribe(m))
        k, end = [], time.time() + 10
        while time.time() < end and 3 not in k and 6 not in k:   # SyncEnd or Error
            k += kinds(w.frames(0.2))
        if 6 in k:
            refused.append(m)
        answered += 3 in k   # SyncEnd
    check(f'{MASTERS} Subscribes: none refused (refused: {refused})', refused == [])
    check(f'...each answered with its SyncEnd ({answered})', answered == MASTERS)
    head = poll_head(MASTERS)
    check(f'polling master {MASTERS}: {head.decode()}', head.startswith(b'HTTP/1.1 200'))
finally:
    stop_pipeline(ctl, log, check)
print(f'{check.failed} failed')
sys.exit(1 if check.failed else 0)
