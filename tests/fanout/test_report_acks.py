#!/usr/bin/env python3
"""fanout_report_acks: a burst of ReportAcks never closes an honest, reading session.

Run under decp-testenv --pg --redis: test_report_acks.py SOURCE_ROOT BUILD_ROOT.

decp-control --roles fanout,archiver (plain ws) with the default send queue
(fanout_queue = 1,024) and report budget (5,000/s, burst 5,000). One session writes 3,000
ProtectionEvents at once (an EA resending what an outage left unacknowledged) while it
reads. The db thread acknowledges them in batches of up to 4,096; each ack used to take
a slot of the send queue, and one that found it full dropped the session as a slow
consumer (close 4008, every ack queued cleared), again at every reconnect: 389 acks then
4008 were measured. Now the acks that do not fit the queue's lower half wait beside it
(docs/fanout.md "Backpressure"). Checks: all 3,000 acknowledged, each once, no close;
one more report then is answered (the session is live, not dropped); all stored once.
"""
import os, sys, threading, time

SRC, BLD = sys.argv[1], sys.argv[2]
PG = os.environ['DECP_PG_CONNINFO']
REDIS = [os.environ['DECP_REDIS_HOST'], os.environ['DECP_REDIS_PORT']]
N = 3000

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawws import *  # noqa: E402,F401,F403

check = Checks()


def q(sql):
    return psql(PG, sql)


ctl, log, port, tokens, run = start_pipeline(BLD, PG, REDIS, ('ea',))
try:
    check('decp-control (fanout, archiver) listens', port is not None)
    sub = int(q(f"SELECT id FROM subscriptions WHERE subscriber_id = {tokens['ea'][1]}"))
    ws = WS(port, tokens['ea'][0])
    ws.send(subscribe(1))
    ws.frames(0.3)
    tx = ws.s.dup()
    tx.settimeout(60)
    rids = list(range(1, N + 1))
    err = []

    def write():
        try:
            tx.sendall(b''.join(frame(protection(1, rid, 5, rid)) for rid in rids))
        except OSError as e:
            err.append(e)
    wt = threading.Thread(target=write)
    wt.start()
    want = {fld(7, msg((1, rid))): rid for rid in rids}
    got, closed = set(), []
    deadline = time.monotonic() + 60
    while len(got) < N and not closed and time.monotonic() < deadline:
        for op, p in ws.frames(0.1):
            if op == 2 and p in want:
                got.add(want[p])
            elif op in (8, 'EOF'):
                closed.append((op, p[:2] if isinstance(p, bytes) else p))
    wt.join()
    check(f'all {N} reports acknowledged ({len(got)}), no close ({closed}), no write error '
          f'({err})', len(got) == N and not closed and not err)

    # still live: one more report is answered (a session dropped as slow is not)
    ws.send(protection(1, 900001, 5, 900001))
    frs = []
    t = time.monotonic()
    while not acked(frs, 900001) and time.monotonic() < t + 10:
        frs = ws.frames(0.2)
    check('the session answers after the burst (one more report acknowledged)',
          acked(frs, 900001))

    n = ''
    for _ in range(600):
        n = q(f'SELECT count(DISTINCT sequence) || \' \' || count(*) FROM protection_logs '
              f'WHERE subscription_id = {sub}')
        if n == f'{N + 1} {N + 1}':
            break
        time.sleep(0.1)
    check(f'{N + 1} protection events stored once each ({n})', n == f'{N + 1} {N + 1}')
    ws.s.close()
finally:
    stop_pipeline(ctl, log, check)
print(f'{check.failed} failed')
sys.exit(1 if check.failed else 0)
