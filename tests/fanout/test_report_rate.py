#!/usr/bin/env python3
"""fanout_report_rate: one subscriber's report flood is slowed at the fan-out, not lost.

Run under decp-testenv --pg --redis: test_report_rate.py SOURCE_ROOT BUILD_ROOT.

decp-control --roles fanout,archiver,api (plain ws, plain HTTP /metrics) with
fanout_report_rate = 200. Subscriber "flood" opens 2 sessions and writes 3,000
ProtectionEvents (1,500 each, distinct report ids) as fast as the sockets take them, while
reading its ReportAcks. Its reports share one bucket of 200/s, burst 200; over it a session
stops reading until the subscriber's debt is paid, what one read held is taken and owed
too, and its upgrades get 429 while it owes (docs/fanout.md "Backpressure"). Whatever the
load of the machine:

- every ack received by time t (since just before the first write) names a report the
  fan-out had taken by t, hence acks(t) <= 200 + 200 t + OWED, OWED being one read's
  worth of frames per session (a 4 KiB read; the bound uses 8 KiB). A slow machine only
  lowers acks(t): it cannot make this fail; without the budget the fan-out takes the
  3,000 as fast as it reads them (273,800 in 3 s from 8 sessions were measured);
- meanwhile 20 more upgrades of "flood", each with 150 reports right behind its request,
  are opened and closed (closing and reopening must not buy reads beyond the budget):
  decp_fanout_reports_total (XADDed), sampled every 0.1 s, stays within the same bound
  with one more session's read (and the honest subscriber's 10);
- decp_fanout_report_throttled_total > 0 (/metrics): the sessions were paused. It cannot
  pass without the budget, however slow the machine;
- all 3,000 acknowledged (none refused, none dropped, no close), and all 3,000 stored in
  protection_logs once; the stream drained;
- meanwhile subscriber "honest" (its own bucket), writing 10 reports once the flood was
  paused, while at least 3,000 - (200 + 200 t + OWED) of it (~1,700, > 8 s of the
  budget) were still to take, has them all acknowledged within 5 s (one bucket for all
  subscribers would hold them behind the rest of the flood).

Without the budget (its call taken out of on_message): no pause counted, 3,000 acks within
0.1 s (bound there 1,247), 6,010 XADDed at 13 s (bound 4,382). Without the 429 for a
subscriber that owes: the 20 reconnects let in, 3,454 XADDed at 2.9 s (bound 2,324). With
both: ~14 s for the 3,000 (~210 acks/s), 19 of the 20 reconnects refused.
"""
import os, socket, sys, threading, time

SRC, BLD = sys.argv[1], sys.argv[2]
PG = os.environ['DECP_PG_CONNINFO']
REDIS = [os.environ['DECP_REDIS_HOST'], os.environ['DECP_REDIS_PORT']]
RATE, PER_SESS, SESSIONS = 200, 1500, 2
CYCLE = 150          # reports behind each reconnect's upgrade request
READ = 8192          # bytes of one read, with slack (lws reads 4 KiB: pt_serv_buf_size)


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawws import *  # noqa: E402,F401,F403

check = Checks()


def q(sql):
    return psql(PG, sql)

api_port = free_port()


def metric(name):
    return http_metric(api_port, name)


def frame_len(payload):      # a masked client frame (payload < 126 bytes)
    return 2 + 4 + len(payload)


class Flood:
    """One session: a writer thread (all its reports, as fast as the socket takes them)
    and a reader thread (ReportAcks with their arrival times)."""

    def __init__(self, port, token, first_rid):
        self.ws = WS(port, token)
        self.ws.send(subscribe(1))
        self.ws.frames(0.3)
        self.rids = list(range(first_rid, first_rid + PER_SESS))
        self.payloads = [protection(1, rid, 5, rid) for rid in self.rids]
        self.acks, self.closed, self.sent_at, self.err = [], [], None, None
        self.tx = self.ws.s.dup()        # its own timeout: the reader's does not apply
        self.tx.settimeout(60)

    def write(self):
        try:
            self.tx.sendall(b''.join(frame(p) for p in self.payloads))
            self.sent_at = time.monotonic()
        except OSError as e:
            self.err = e

    def read(self, deadline):
        want = {fld(7, msg((1, rid))): rid for rid in self.rids}
        while want and time.monotonic() < deadline:
            for op, p in self.ws.frames(0.05):   # the time taken is <= 50 ms late
                if op == 2 and p in want:
                    self.acks.append((time.monotonic(), want.pop(p)))
                elif op in (8, 'EOF'):
                    self.closed.append((op, p))
                    return


ctl, log, port, tokens, run = start_pipeline(
    BLD, PG, REDIS, ('flood', 'honest'),
    extra=f'fanout_report_rate = {RATE}\n', api_port=api_port)
try:
    check('decp-control (fanout, archiver, api) listens', port is not None)
    fsub = int(q(f"SELECT id FROM subscriptions WHERE subscriber_id = {tokens['flood'][1]}"))
    hsub = int(q(f"SELECT id FROM subscriptions WHERE subscriber_id = {tokens['honest'][1]}"))
    base = metric('decp_fanout_reports_total') or 0
    floods = [Flood(port, tokens['flood'][0], 1 + 100000 * i) for i in range(SESSIONS)]
    owed = SESSIONS * (READ // min(frame_len(p) for f in floods for p in f.payloads) + 1)
    total = SESSIONS * PER_SESS
    t0 = time.monotonic()
    deadline = t0 + 20 + 2 * total / RATE
    threads = [threading.Thread(target=f.write) for f in floods] + \
              [threading.Thread(target=f.read, args=(deadline,)) for f in floods]
    for t in threads:
        t.start()
    # XADDed reports (all subscribers), sampled: (time read, value)
    samples, stop_sampling = [], threading.Event()

    def sample():
        while not stop_sampling.is_set():
            v = metric('decp_fanout_reports_total')
            if v is not None:
                samples.append((time.monotonic(), v))
            time.sleep(0.1)
    sampler = threading.Thread(target=sample)
    sampler.start()

    # the sessions were paused: the counter says so (bounded wait)
    throttled = None
    for _ in range(100):
        throttled = metric('decp_fanout_report_throttled_total')
        if throttled:
            break
        time.sleep(0.1)
    check(f'decp_fanout_report_throttled_total > 0 ({throttled})', bool(throttled))

    # another subscriber's reports meanwhile: its own bucket, acknowledged promptly
    # what the flood still had to have taken then: > 5 s of the budget
    untaken = total - (RATE + RATE * (time.monotonic() - t0) + owed)
    w = WS(port, tokens['honest'][0])
    w.send(subscribe(1))
    w.frames(0.3)
    th = time.monotonic()
    for rid in range(501, 511):
        w.send(protection(1, rid, 5, rid))
    got, frs = set(), []
    while len(got) < 10 and time.monotonic() < th + 5:
        frs = w.frames(0.5)
        got |= {rid for rid in range(501, 511) if acked(frs, rid)}
    check(f'honest subscriber: 10 reports acknowledged in {time.monotonic() - th:.2f} s '
          f'(< 5 s) while the flood had at least {untaken:.0f} of {total} to take '
          f'({untaken / RATE:.1f} s of its budget)',
          len(got) == 10)
    w.s.close()

    # closing and reopening sessions buys no new read: 20 upgrades of the flooding
    # subscriber, each with CYCLE reports sent right behind its request (in its first
    # read), closed at once. While the subscriber owes, an upgrade gets 429 and nothing of
    # it is read; one let in has its first read counted in the bound below
    cyc = {101: 0, 429: 0}
    for i in range(20):
        c = socket.create_connection(('127.0.0.1', port), timeout=5)
        c.sendall(upgrade_request(tokens['flood'][0]) +
                  b''.join(frame(protection(1, rid, 5, rid))
                           for rid in range(200001 + 1000 * i, 200001 + 1000 * i + CYCLE)))
        try:
            head = c.recv(64)
            st = int(head.split(b' ')[1]) if head.startswith(b'HTTP/1.1 ') else 0
        except OSError:
            st = 0
        cyc[st] = cyc.get(st, 0) + 1
        c.close()
        time.sleep(0.1)
    print(f'info: reconnects while flooding: {cyc}', flush=True)

    for t in threads:
        t.join()
    stop_sampling.set()
    sampler.join()
    acks = sorted(a for f in floods for a in f.acks)
    check(f'flood: all {total} reports acknowledged ({len(acks)}), none twice',
          len(acks) == total and len({r for _, r in acks}) == total)
    check(f'flood: no close, no write error ({[f.closed for f in floods]}, '
          f'{[f.err for f in floods]})', all(not f.closed and f.err is None for f in floods))
    # the budget: acks(t) <= burst + RATE * t + what the sessions' reads held
    worst = max(((k + 1) - (RATE + RATE * (t - t0) + owed), k + 1, t - t0)
                for k, (t, _) in enumerate(acks)) if acks else (0, 0, 0)
    check(f'flood: every ack within the budget: acks(t) <= {RATE} + {RATE} t + {owed} '
          f'(nearest the bound: ack {worst[1]} at {worst[2]:.2f} s, bound '
          f'{worst[1] - worst[0]:.0f})', worst[0] <= 0)
    # the same bound on what the fan-out XADDed (the reconnects' reports included; one
    # more session's read; the honest subscriber's 10)
    xowed = owed + owed // SESSIONS + 10
    worst = max(((v - base) - (RATE + RATE * (t - t0) + xowed), v - base, t - t0)
                for t, v in samples) if samples else (1, 0, 0)
    check(f'{len(samples)} samples of decp_fanout_reports_total: all within the budget, '
          f'XADDed(t) <= {RATE} + {RATE} t + {xowed} (nearest the bound: {worst[1]} at '
          f'{worst[2]:.2f} s, bound {worst[1] - worst[0]:.0f})', worst[0] <= 0)
    sent = [f'{f.sent_at - t0:.2f}' if f.sent_at else None for f in floods]
    span = acks[-1][0] - t0 if acks else 0
    print(f'info: writes done at {sent} s; last ack at {span:.2f} s '
          f'({total / span if span else 0:.0f}/s); paused {metric("decp_fanout_report_throttled_total")} times',
          flush=True)

    # stored once each, in the end (bounded wait); the stream drained
    n = '0'
    for _ in range(600):
        n = q(f'SELECT count(DISTINCT sequence) || \' \' || count(*) FROM protection_logs '
              f'WHERE subscription_id = {fsub} AND sequence < 200000')
        if n == f'{total} {total}':
            break
        time.sleep(0.1)
    check(f'flood: {total} protection events stored once each (distinct, rows: {n})',
          n == f'{total} {total}')
    left = reports_left(REDIS)
    check(f'reports stream drained ({left} left)', left == '0')
    check('honest reports stored', q(f'SELECT count(*) FROM protection_logs '
                                     f'WHERE subscription_id = {hsub}') == '10')
finally:
    stop_pipeline(ctl, log, check)
print(f'{check.failed} failed')
sys.exit(1 if check.failed else 0)
