#!/usr/bin/env python3
"""fanout_msg_rate: one subscriber's TimePings and AccountStates share its report budget.

Run under decp-testenv --pg --redis: test_msg_rate.py SOURCE_ROOT BUILD_ROOT.

decp-control --roles fanout,archiver,api (plain ws, plain HTTP /metrics) with
fanout_report_rate = 200. Subscriber "flood" writes 3,000 TimePings on one session as fast
as the socket takes them and reads the TimePongs; then 3,000 AccountStates on a new
session. Each is one
token of the subscriber's bucket (200/s, burst 200); over it the session stops reading
until the debt is paid (docs/fanout.md "Backpressure"). Whatever the load of the machine:

- pongs(t) <= 200 + 200 t + OWED (t since just before the first write; OWED one read's
  worth of frames, 8 KiB with slack): a pong answers a ping the fan-out had taken. A slow
  machine only lowers pongs(t); without the budget the 3,000 are taken at once: the
  pongs overflow the session's send queue and it is closed after 32 (4008);
- decp_fanout_account_states_total, sampled every 0.1 s, stays within the same bound;
- decp_fanout_report_throttled_total grows (the session was paused);
- all 3,000 pongs arrive, in order, no close;
- subscriber "honest" (its own bucket) gets its TimePong within 2 s while the flood still
  owes seconds of its budget.
"""
import os, sys, threading, time

SRC, BLD = sys.argv[1], sys.argv[2]
PG = os.environ['DECP_PG_CONNINFO']
REDIS = [os.environ['DECP_REDIS_HOST'], os.environ['DECP_REDIS_PORT']]
RATE, N = 200, 3000
READ = 8192          # bytes of one read, with slack (lws reads 4 KiB)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawws import *  # noqa: E402,F401,F403

check = Checks()
api_port = free_port()


def metric(name):
    return http_metric(api_port, name)


def ping(t0):                 # ClientMessage.time_ping (2) { client_send_ns (1) }
    return fld(2, msg((1, t0)))


def account(t):               # ClientMessage.account_state (5) { time_ns (1) }
    return fld(5, msg((1, t)))


def pong_of(p):
    """client_send_ns of a ServerMessage.time_pong (4), else None."""
    if not p or p[0] != 0x22:
        return None
    i, n = 1, 0
    shift = 0
    while p[i] & 0x80:       # the length varint
        n |= (p[i] & 0x7f) << shift
        shift += 7
        i += 1
    i += 1
    if p[i] != 0x08:         # client_send_ns (1), varint
        return None
    i += 1
    v, shift = 0, 0
    while True:
        v |= (p[i] & 0x7f) << shift
        shift += 7
        if not p[i] & 0x80:
            return v
        i += 1


def bound(t, t0, owed):
    return RATE + RATE * (t - t0) + owed


ctl, log, port, tokens, run = start_pipeline(
    BLD, PG, REDIS, ('flood', 'honest'),
    extra=f'fanout_report_rate = {RATE}\n', api_port=api_port)
try:
    check('decp-control (fanout, archiver, api) listens', port is not None)

    # ---- TimePings
    ws = WS(port, tokens['flood'][0])
    ws.send(subscribe(1))
    ws.frames(0.3)
    pings = [ping(k + 1) for k in range(N)]
    owed = READ // min(len(frame(p)) for p in pings) + 1
    tx = ws.s.dup()
    tx.settimeout(60)
    err = []
    throttled0 = metric('decp_fanout_report_throttled_total') or 0

    def write():
        try:
            tx.sendall(b''.join(frame(p) for p in pings))
        except OSError as e:
            err.append(e)
    t0 = time.monotonic()
    wt = threading.Thread(target=write)
    wt.start()
    pongs, closed, honest_s = [], [], None
    deadline = t0 + 20 + 2 * N / RATE
    while len(pongs) < N and time.monotonic() < deadline:
        for op, p in ws.frames(0.05):          # each pong's time <= 50 ms late
            v = pong_of(p) if op == 2 else None
            if v is not None:
                pongs.append((time.monotonic(), v))
            elif op in (8, 'EOF'):
                closed.append(op)
        if closed:
            break
        if honest_s is None and len(pongs) >= RATE and \
                N - bound(time.monotonic(), t0, owed) > 2 * RATE:
            # the flood owes more than 2 s: another subscriber is answered at once
            w = WS(port, tokens['honest'][0])
            th = time.monotonic()
            w.send(ping(777))
            while time.monotonic() < th + 2 and honest_s is None:
                if any(op == 2 and pong_of(p) == 777 for op, p in w.frames(0.2)):
                    honest_s = time.monotonic() - th
            w.s.close()
            check(f'honest subscriber: its TimePong in {honest_s if honest_s is None else round(honest_s, 2)} s (< 2 s) while the flood '
                  'owed more than 2 s of its budget', honest_s is not None)
    wt.join()
    check(f'pings: all {N} answered in order ({len(pongs)}), no close ({closed}), no '
          f'write error ({err})', [v for _, v in pongs] == list(range(1, N + 1)) and
          not closed and not err)
    worst = max(((k + 1) - bound(t, t0, owed), k + 1, t - t0)
                for k, (t, _) in enumerate(pongs)) if pongs else (0, 0, 0)
    check(f'pings: every pong within the budget: pongs(t) <= {RATE} + {RATE} t + {owed} '
          f'(nearest the bound: pong {worst[1]} at {worst[2]:.2f} s, bound '
          f'{worst[1] - worst[0]:.0f})', worst[0] <= 0)
    span = pongs[-1][0] - t0 if pongs else 0
    print(f'info: {N} pongs in {span:.2f} s ({N / span if span else 0:.0f}/s)', flush=True)
    throttled1 = metric('decp_fanout_report_throttled_total') or 0
    check(f'pings paused the session: decp_fanout_report_throttled_total '
          f'{throttled0} -> {throttled1}', throttled1 > throttled0)

    ws.s.close()

    # ---- AccountStates, on a new session once the subscriber owes nothing (an upgrade
    # while it owes gets 429)
    ws = None
    for _ in range(300):
        w = WS(port, tokens['flood'][0])
        if w.status == 101:
            ws = w
            break
        w.s.close()
        time.sleep(0.1)
    check(f'a new session of the flooding subscriber once its debt is paid ({ws is not None})',
          ws is not None)
    ws.send(subscribe(1))
    ws.frames(0.3)
    tx = ws.s.dup()
    tx.settimeout(60)
    base = metric('decp_fanout_account_states_total') or 0
    states = [account(k + 1) for k in range(N)]
    owed = READ // min(len(frame(p)) for p in states) + 1
    samples, stop = [], threading.Event()

    def sample():
        while not stop.is_set():
            v = metric('decp_fanout_account_states_total')
            if v is not None:
                samples.append((time.monotonic(), v - base))
            time.sleep(0.1)
    t1 = time.monotonic()
    st = threading.Thread(target=sample)
    st.start()
    try:
        tx.sendall(b''.join(frame(p) for p in states))
    except OSError as e:
        err.append(e)
    for _ in range(int(20 + 2 * N / RATE) * 10):
        if samples and samples[-1][1] >= N:
            break
        time.sleep(0.1)
    stop.set()
    st.join()
    got = samples[-1][1] if samples else 0
    check(f'account states: all {N} taken ({got}), no write error ({err})',
          got == N and not err)
    worst = max((v - bound(t, t1, owed), v, t - t1) for t, v in samples) if samples \
        else (1, 0, 0)
    check(f'{len(samples)} samples of decp_fanout_account_states_total: all within the '
          f'budget, taken(t) <= {RATE} + {RATE} t + {owed} (nearest the bound: {worst[1]} '
          f'at {worst[2]:.2f} s, bound {worst[1] - worst[0]:.0f})', worst[0] <= 0)
    ws.s.close()
finally:
    stop_pipeline(ctl, log, check)
print(f'{check.failed} failed')
sys.exit(1 if check.failed else 0)
