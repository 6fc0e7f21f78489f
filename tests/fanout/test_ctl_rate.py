#!/usr/bin/env python3
"""fanout_ctl_rate: pings, pongs and empty continuation frames share the message budget.

Run under decp-testenv --pg --redis: test_ctl_rate.py SOURCE_ROOT BUILD_ROOT.

docs/fanout.md "Backpressure": one subscriber's messages are budgeted
(`fanout_report_rate`, here 200/s, burst the same) because a flood of them from its
sessions took most of the fan-out's lws thread, the one that delivers to every other
subscriber. WebSocket pings and pongs, and empty continuation frames (which carry nothing
and can go on for ever inside one unfinished message), cost that thread the same and were
not counted: 8 sessions flooding them took the thread (another subscriber's TimePong RTT
p50 0.15 -> 1.4 ms, p90 0.3 -> 2.2 ms, on the shared 2-core machine). Each is now a token
of its subscriber's bucket; over it the session stops reading (TCP backpressure: nothing
refused, no close). Lower bounds that a loaded machine cannot break, each phase by its own
subscriber (t since just before the first write; OWED: one read's worth of frames, 8 KiB
with slack, which a paused session has taken already):

- 2,400 pings, then a TimePing: its TimePong not before (2,401 - 200 - OWED) / 200 s
  (4.2 s), no close. Without the budget: ~0.1 s.
- 2,400 empty continuation frames inside a message, then its last frame completing a
  TimePing: the same bound.
- 2,400 unsolicited pongs, then a TimePing: the same bound.
"""
import os, struct, sys, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawws import WS, Checks, fld, msg, start_pipeline, stop_pipeline  # noqa: E402

SRC, BLD = sys.argv[1], sys.argv[2]
PG = os.environ['DECP_PG_CONNINFO']
REDIS = [os.environ['DECP_REDIS_HOST'], os.environ['DECP_REDIS_PORT']]
RATE, N = 200, 2400
READ = 8192          # bytes of one read, with slack (lws reads 4 KiB)
check = Checks()


def cframe(op, payload, fin=True):
    """A client frame (mask 0: the payload as it is) of opcode op."""
    return struct.pack('!BB', (0x80 if fin else 0) | op, 0x80 | len(payload)) + \
        b'\0\0\0\0' + payload


def time_ping(t0):   # ClientMessage.time_ping (2) { client_send_ns (1) }
    return fld(2, msg((1, t0)))


def is_pong_of(p, t0):  # ServerMessage.time_pong (4) whose client_send_ns (1) is t0
    return p[:1] == b'\x22' and p[2:2 + len(msg((1, t0)))] == msg((1, t0))


def write_async(ws, data):
    tx = ws.s.dup()
    tx.settimeout(120)
    th = threading.Thread(target=lambda: tx.sendall(data))
    th.start()
    return th


def pong_delay(ws, frames):
    """Seconds from the writing of `frames` (ending in a TimePing of 777) to its TimePong,
    and whether the session was closed meanwhile."""
    t0 = time.monotonic()
    th = write_async(ws, frames)
    while time.monotonic() < t0 + 60:
        for op, p in ws.frames(0.05):
            if op == 2 and is_pong_of(p, 777):
                th.join()
                return time.monotonic() - t0, False
            if op in (8, 'EOF'):
                return time.monotonic() - t0, True
    return None, False


ctl, log, port, tokens, run = start_pipeline(
    BLD, PG, REDIS, ('pinger', 'emptier', 'ponger'), extra=f'fanout_report_rate = {RATE}\n')
try:
    check('decp-control (fanout, archiver) listens', port is not None)

    owed = READ // 6 + 1   # one read of the smallest frames (6 bytes: empty, masked)
    want = (N + 1 - RATE - owed) / RATE

    # ---- pings (each answered by a pong, or only the latest: RFC 6455 §5.5.3), then a
    # TimePing
    ws = WS(port, tokens['pinger'][0])
    d, closed = pong_delay(ws, cframe(9, b'') * N + cframe(2, time_ping(777)))
    check(f'after {N} pings the TimePong comes no sooner than the budget allows '
          f'({d} s >= {want:.2f} s), no close', d is not None and d >= want and not closed)

    # ---- empty continuation frames inside one message that ends as a TimePing
    ws = WS(port, tokens['emptier'][0])
    p = time_ping(777)
    d, closed = pong_delay(ws, cframe(2, p[:2], fin=False) +
                           cframe(0, b'', fin=False) * N + cframe(0, p[2:]))
    check(f'after {N} empty continuation frames the TimePong comes no sooner than the '
          f'budget allows ({d} s >= {want:.2f} s), no close', d is not None and d >= want
          and not closed)

    # ---- unsolicited pongs, then a TimePing
    ws = WS(port, tokens['ponger'][0])
    d, closed = pong_delay(ws, cframe(10, b'') * N + cframe(2, time_ping(777)))
    check(f'after {N} pongs the TimePong comes no sooner than the budget allows '
          f'({d} s >= {want:.2f} s), no close', d is not None and d >= want and not closed)
finally:
    stop_pipeline(ctl, log, check)
print(f'{check.failed} failed')
sys.exit(1 if check.failed else 0)
