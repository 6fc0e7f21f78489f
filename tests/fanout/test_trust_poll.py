#!/usr/bin/env python3
"""fanout_trust_poll: what a poller is sent is recorded as delivery runs, and its reports
posted through the api are judged by them (docs/fanout.md "HTTP polling", "Send stamps and
delivery records"; docs/api.md "Trust").

Run under decp-testenv --pg --redis: test_trust_poll.py SOURCE_ROOT BUILD_ROOT.

Master 1's sequence 1 is in Redis before decp-control --roles fanout,archiver,trust,api
starts (the fan-out has not seen it: a restarted fan-out). One raw poller, on one
keep-alive connection:
  - after=0: sequence 1 read back from Redis (replay);
  - after=1, wait=10, parked; sequence 2 published: answered at once, live, in time;
  - after=2, wait=10, parked; the poll has waited 400 ms when sequence 3 is published
    with an arrival stamp 1 s old: the signal was there before the request, the answer
    comes 400 ms after it: the fan-out's own delay, a late run;
  - sequence 4 published with an arrival stamp 1 s old, then after=3: the poller catches
    up by its own pace; sent at once, in time (not late), though 1 s after its arrival.
Then, through POST /v1/protection-events (as a poller reports), in this order:
  - TTL_EXPIRED of 4 claimed PLATFORM_LATE_SEND (false: the poller's own pace): -5;
  - EXECUTE of 2 (polled live): +1;
  - TTL_EXPIRED of 3 claimed PLATFORM_LATE_SEND (true): not scored, platform_stale;
  - TTL_EXPIRED of 1 claimed PLATFORM_REPLAY (true): not scored, platform_stale.
Score 96; runs 1-1 replay, 2-2 live, 3-3 live late, 4-4 live, all polled.

Before: a poll recorded no delivery: the execution was not credited and both true claims
were scored after the 10 s wait for a record (score 85). With the runs but the trust
role's arrival rule applied to polled runs, the catch-up of 4 was confirmed as the
platform's lag (score 100, three confirmed).
"""
import os, select, socket, sys, time

SRC, BLD = sys.argv[1], sys.argv[2]
PG = os.environ['DECP_PG_CONNINFO']
REDIS = [os.environ['DECP_REDIS_HOST'], os.environ['DECP_REDIS_PORT']]

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawws import (Checks, delivery_runs, event, free_port, poll_answer,  # noqa: E402
                   post_events, psql, redis_cmd, signal_record, start_pipeline,
                   stop_pipeline, trust_scored, wait_psql)

check = Checks()
api = free_port()


def xadd(seq, arrival_ns):
    redis_cmd(REDIS, 'XADD', 'decp:{m1}:signals', f'{seq}-0', 'r',
              signal_record(1, seq, 1, 100 + seq, 10, arrival_ns))


def ask(s, tok, after, wait):
    s.sendall(f'GET /v1/masters/1/signals?after={after}&wait={wait} HTTP/1.1\r\n'
              f'Host: 127.0.0.1\r\nAuthorization: Bearer {tok}\r\n\r\n'.encode())


def envelopes(msgs):
    """(sequence, fanout_send_ns, replay, server_arrival_ns) of each Envelope."""
    return [(d.get(4), d.get(5, 0), d.get(6, 0), d.get(2, 0)) for k, d in msgs if k == 1]


redis_cmd(REDIS, 'SADD', 'decp:masters', '1')
xadd(1, time.time_ns())
ctl, log, port, tokens, run = start_pipeline(BLD, PG, REDIS, ('poller',),
                                             roles='fanout,archiver,trust', api_port=api,
                                             extra='trust_tick_s = 1\n')
try:
    tok = tokens['poller'][0]
    sid = int(psql(PG, f'SELECT id FROM subscriptions WHERE subscriber_id = '
                       f'{tokens["poller"][1]}'))
    s = socket.create_connection(('127.0.0.1', port), timeout=30)
    got = []
    ask(s, tok, 0, 0)
    st, m = poll_answer(s, 10)
    got += envelopes(m)
    check(f'after=0: 200 with sequence 1 read back from Redis, replay ({st}, {got})',
          st == 200 and [(g[0], g[2]) for g in got] == [(1, 1)])
    ask(s, tok, 1, 10)
    # parked: no answer while nothing follows 1 (bounded, 0.3 s)
    check('after=1 parked', not select.select([s], [], [], 0.3)[0])
    xadd(2, time.time_ns())
    st, m = poll_answer(s, 12)
    got += envelopes(m)
    check(f'sequence 2 answered live ({st}, {got[1:]})',
          st == 200 and [(g[0], g[2]) for g in got[1:]] == [(2, 0)])
    ask(s, tok, 2, 10)
    # the fan-out's lag, simulated: sequence 3 (arrived 1 s ago, before the request) is
    # published 400 ms after the request; the poll stays parked meanwhile
    asked = time.monotonic()
    check('after=2 parked for 400 ms', not select.select([s], [], [], 0.4)[0])
    xadd(3, time.time_ns() - 1_000_000_000)
    st, m = poll_answer(s, 12)
    waited = time.monotonic() - asked
    got += envelopes(m)
    check(f'sequence 3 answered live after {waited:.3f} s ({st}, {got[2:]})',
          st == 200 and [(g[0], g[2]) for g in got[2:]] == [(3, 0)] and waited > 0.35)
    xadd(4, time.time_ns() - 1_000_000_000)  # arrived 1 s ago; the poller asks only now
    ask(s, tok, 3, 10)
    st, m = poll_answer(s, 12)
    got += envelopes(m)
    check(f'sequence 4 answered live ({st}, {got[3:]})',
          st == 200 and [(g[0], g[2]) for g in got[3:]] == [(4, 0)])
    s.close()
    check('3 and 4 stamped over 250 ms after their arrival (what the guard calls the '
          'platform\'s), 2 within',
          len(got) == 4 and got[2][1] - got[2][3] > 250_000_000 and
          got[3][1] - got[3][3] > 250_000_000 and got[1][1] - got[1][3] <= 250_000_000)
    # the archive holds 4's arrival, so the arrival rule could (wrongly) confirm its claim
    arch = wait_psql(PG, 'SELECT count(*) FROM signal_archive_keys WHERE master_id = 1',
                     '4', seconds=20)
    check(f'signals 1..4 archived ({arch})', arch == '4')
    runs = delivery_runs(PG, sid, '1-1 0 0 1,2-2 1 0 1,3-3 1 1 1,4-4 1 0 1', seconds=20)
    check(f'polled runs: 1 replay, 2 live, 3 live late, 4 live ({runs})',
          runs == '1-1 0 0 1,2-2 1 0 1,3-3 1 1 1,4-4 1 0 1')
    # posted once the runs are there, so none waits and they are scored in this order
    st = post_events(api, tok, [
        event(sid, 'TTL_EXPIRED', 4, 21, 'PLATFORM_LATE_SEND'), event(sid, 'EXECUTE', 2, 22),
        event(sid, 'TTL_EXPIRED', 3, 23, 'PLATFORM_LATE_SEND'),
        event(sid, 'TTL_EXPIRED', 1, 24, 'PLATFORM_REPLAY')])
    check(f'four reports posted through the api ({st})', st == 202)
    left, score, cred, ps, rf = trust_scored(PG, api, sid)
    check(f'every report scored ({left} left)', left == '0')
    check(f'score 100 - 5 + 1 = 96 ({score})', score == '96')
    check(f'the execution of 2 credited ({cred})', cred == '2 1')
    check(f'the late send of 3 and the replay of 1 confirmed ({ps}), the catch-up of 4 '
          f'refuted ({rf})', ps == 2 and rf == 1)
finally:
    stop_pipeline(ctl, log, check)
print(f'{check.failed} failed')
sys.exit(1 if check.failed else 0)
