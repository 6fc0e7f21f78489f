#!/usr/bin/env python3
"""fanout_trust_rest: reports posted through the api are judged by the fan-out's delivery
records (docs/api.md "Trust") even when posted at once and the master then goes quiet.

Run under decp-testenv --pg --redis: test_trust_rest.py SOURCE_ROOT BUILD_ROOT.

decp-control --roles fanout,archiver,trust,api (plain ws and HTTP, trust_record_wait_s at
its default). One subscriber, live on master 1 (rawws.py): sequence 1 arrives and is sent
at once; sequence 2's arrival stamp is 1 s old when the fan-out reads it, so it goes out
live and late (the platform's lag). Nothing follows: the master is quiet. At once, through
POST /v1/protection-events (no ordering with the WebSocket), the subscriber reports
  - EXECUTE of 1 (delivered live): +1;
  - TTL_EXPIRED of 2 claimed PLATFORM_LATE_SEND (true): not scored, platform_stale;
  - TTL_EXPIRED of 1 claimed PLATFORM_LATE_SEND (false: sent in time): -5;
  - TTL_EXPIRED of 2 claimed PLATFORM_REPLAY (false: it went out live): -5, once the
    wait for a replay record is over.
Score 91. Both live runs reach trust_deliveries with no later send, report or close.

Before: the open run of a quiet master stayed in the fan-out's memory until the next send,
a report on that connection or its close, and a report through the api was scored the
moment it was posted: nothing on record, so the platform's late send cost the honest
subscriber 5 and its execution was never credited (score 85, no run in the database).
"""
import os, sys, time

SRC, BLD = sys.argv[1], sys.argv[2]
PG = os.environ['DECP_PG_CONNINFO']
REDIS = [os.environ['DECP_REDIS_HOST'], os.environ['DECP_REDIS_PORT']]

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawws import *  # noqa: E402,F401,F403

check = Checks()
api = free_port()


def record(seq, arrival_ns):
    """Master 1's BUY `seq` as the edge stores it, with the given arrival stamp."""
    body = msg((1, 1), (2, seq), (3, b'EURUSD'), (4, 1), (5, 10), (6, 110000 + seq),
               (9, 100 + seq), (10, arrival_ns))
    return bytes([1]) + arrival_ns.to_bytes(8, 'little') + bytes([0, 0]) + body


def envelopes(frames):
    """(sequence, fanout_send_ns, replay, server_arrival_ns) of each Envelope."""
    out = []
    for _, p in frames:
        for k, v in fields(p):
            if k == 1:
                d = dict(fields(v))
                out.append((d.get(4), d.get(5, 0), d.get(6, 0), d.get(2, 0)))
    return out


ctl, log, port, tokens, run = start_pipeline(BLD, PG, REDIS, ('sub',),
                                             roles='fanout,archiver,trust', api_port=api,
                                             extra='trust_tick_s = 1\n')
try:
    tok = tokens['sub'][0]
    sid = int(psql(PG, f'SELECT id FROM subscriptions WHERE subscriber_id = {tokens["sub"][1]}'))
    redis_cmd(REDIS, 'SADD', 'decp:masters', '1')
    w = WS(port, tok)
    w.send(subscribe(1))  # from 0: live from the stream's end
    w.frames(0.5)
    redis_cmd(REDIS, 'XADD', 'decp:{m1}:signals', '1-0', 'r', record(1, time.time_ns()))
    got = []
    for _ in range(100):
        got += envelopes(w.frames(0.1))
        if got:
            break
    redis_cmd(REDIS, 'XADD', 'decp:{m1}:signals', '2-0', 'r',
              record(2, time.time_ns() - 1_000_000_000))
    for _ in range(100):
        got += envelopes(w.frames(0.1))
        if len(got) >= 2:
            break
    print('envelopes (seq, send, replay, arrival):', got)
    check('1 and 2 delivered live', [g[0] for g in got] == [1, 2] and not any(g[2] for g in got))
    check('2 sent late (over 250 ms after its arrival), 1 in time',
          len(got) == 2 and got[1][1] - got[1][3] > 250_000_000 and
          got[0][1] - got[0][3] <= 250_000_000)
    st = post_events(api, tok, [  # scored in this order (the last one after its wait)
        event(sid, 'TTL_EXPIRED', 1, 13, 'PLATFORM_LATE_SEND'), event(sid, 'EXECUTE', 1, 11),
        event(sid, 'TTL_EXPIRED', 2, 12, 'PLATFORM_LATE_SEND'),
        event(sid, 'TTL_EXPIRED', 2, 14, 'PLATFORM_REPLAY')])
    check(f'four reports posted through the api ({st})', st == 202)
    left, score, cred, ps, rf = trust_scored(PG, api, sid)
    check(f'every report scored ({left} left)', left == '0')
    runs = delivery_runs(PG, sid, '1-1 1 0 0,2-2 1 1 0')
    check(f'both live runs recorded with no later send ({runs})', runs == '1-1 1 0 0,2-2 1 1 0')
    check(f'score 100 - 5 + 1 - 5 = 91 ({score})', score == '91')
    check(f'the execution of 1 credited ({cred})', cred == '1 1')
    check(f'one platform lag confirmed ({ps}), two claims refuted ({rf})', ps == 1 and rf == 2)
finally:
    stop_pipeline(ctl, log, check)
sys.exit(1 if check.failed else 0)
