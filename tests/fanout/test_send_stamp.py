#!/usr/bin/env python3
"""fanout_send_stamp: each envelope's send stamp is read at its own write.

Run under decp-testenv --pg --redis: test_send_stamp.py SOURCE_ROOT BUILD_ROOT.

docs/fanout.md "Send stamps and delivery records": `Envelope.fanout_send_ns` (5) is the
fan-out's wall clock at the write to that connection, and the guard calls a stale signal
the platform's fault (PLATFORM_LATE_SEND, docs/guard.md) only when that stamp is more than
250 ms after the signal's arrival. Before the fix the clock was read once per publish and
the same stamp went to every subscriber written in that pass: the subscriber written last
(after thousands of writes, or after a preemption of the fan-out between them) carried a
stamp older than its write, so our delay was hidden from PLATFORM_LATE_SEND and scored
against the subscriber. Here SUBS subscribers each hold a live session on master 1; one
signal is published; every envelope must carry a stamp of its own (SUBS different stamps,
each between the signal's arrival and the moment the client read it). Before the fix all
SUBS envelopes carried one stamp.
"""
import os, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawws import (WS, Checks, fields, publish_signals, start_pipeline,  # noqa: E402
                   stop_pipeline, subscribe)

SRC, BLD = sys.argv[1], sys.argv[2]
PG = os.environ['DECP_PG_CONNINFO']
REDIS = [os.environ['DECP_REDIS_HOST'], os.environ['DECP_REDIS_PORT']]
SUBS = 24
check = Checks()


def envelope(payload):
    """The Envelope (ServerMessage field 1) of a binary frame as a dict, else None."""
    f = fields(payload)
    if len(f) != 1 or f[0][0] != 1:
        return None
    return dict(fields(f[0][1]))


ctl, log, port, tokens, run = start_pipeline(BLD, PG, REDIS, [f's{i}' for i in range(SUBS)])
try:
    check('decp-control (fanout) listens', port is not None)
    # master 1's stream exists (its tail marks it), so a live-only Subscribe ends in SyncEnd
    publish_signals(REDIS, 1, [(1, 0, 71, 10)])
    socks = []
    for name in sorted(tokens):
        w = WS(port, tokens[name][0])
        w.send(subscribe(1))
        socks.append(w)
    live = 0
    for w in socks:   # each attachment is live once its SyncEnd (3) arrived
        end = time.time() + 20
        while time.time() < end:
            if any(op == 2 and p[:1] == b'\x1a' for op, p in w.frames(0.2)):
                live += 1
                break
    check(f'{SUBS} sessions live on master 1 ({live})', live == SUBS)
    publish_signals(REDIS, 1, [(2, 0, 72, 10)])
    arrival_floor = time.time_ns() - 10**9   # the record's arrival stamp is its XADD's
    stamps = []
    for w in socks:
        end, env = time.time() + 20, None
        while env is None and time.time() < end:
            for op, p in w.frames(0.2):
                e = envelope(p) if op == 2 else None
                if e is not None and e.get(4) == 2:
                    env = e
        if env is not None:
            stamps.append((env.get(5, 0), env.get(2, 0), time.time_ns()))
    check(f'envelope 2 reached all {SUBS} sessions ({len(stamps)})', len(stamps) == SUBS)
    check('every envelope stamped after its arrival and before the client read it',
          all(arr <= st <= rd for st, arr, rd in stamps) and
          all(st >= arrival_floor for st, _, _ in stamps))
    distinct = len({st for st, _, _ in stamps})
    spread = (max(st for st, _, _ in stamps) - min(st for st, _, _ in stamps)) / 1e3
    check(f'a stamp per write: {distinct} different stamps for {SUBS} envelopes of one '
          f'publish (spread {spread:.0f} us)', distinct == SUBS)
    for w in socks:
        w.s.close()
finally:
    stop_pipeline(ctl, log, check)
print(f'{check.failed} failed')
sys.exit(1 if check.failed else 0)
