#!/usr/bin/env python3
"""fanout_report_poison: one subscriber's report must not stop everyone's reports.

Run under decp-testenv --pg --redis: test_report_poison.py SOURCE_ROOT BUILD_ROOT.

decp-control --roles fanout,archiver (plain ws). A raw WebSocket client (RFC 6455 and
protobuf written here from docs/protocol.md) sends, as a hostile subscriber, reports whose
values the database columns cannot hold: a sequence or broker ticket above 2^63 - 1 (bigint),
an age or a price deviation beyond protection_logs' numeric(14,3) / numeric(14,2), a detail
that is not UTF-8. Each is refused as an undecodable ClientMessage (Error{MALFORMED}, close
4002), never acknowledged. Then an honest subscriber reports a protection event and an
execution: both are stored within 10 s. An entry already in the reports stream (an older
fan-out's) with such a value is dropped by the archiver, and the reports after it stored.

Before the fix every such report was acknowledged, and the archiver's transaction failed on
it for ever ("value ... is out of range for type bigint"), holding every later report of
every subscriber (protection logs, trust credits, profit) unstored.
"""
import os, subprocess, sys, time

SRC, BLD = sys.argv[1], sys.argv[2]
PG = os.environ['DECP_PG_CONNINFO']
REDIS = [os.environ['DECP_REDIS_HOST'], os.environ['DECP_REDIS_PORT']]

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawws import *  # noqa: E402,F401,F403

check = Checks()


def q(sql):
    return psql(PG, sql)

ctl, log, port, tokens, run = start_pipeline(BLD, PG, REDIS, ('hostile', 'honest'))
try:
    check('decp-control (fanout, archiver) listens', port is not None)
    I64 = (1 << 63) - 1
    refused = [
        ('protection event, sequence 2^63', protection(1, I64 + 1, 4, 101)),
        ('protection event, sequence 2^64 - 1', protection(1, (1 << 64) - 1, 1, 102)),
        ('protection event, detail not UTF-8', protection(1, 5, 5, 103, [(10, b'\xc0\xaf bad')])),
        ('execution report, sequence 2^63', execution(1, I64 + 1, 1, 7, 104)),
        ('execution report, broker ticket 2^63', execution(1, 5, 1, I64 + 1, 105)),
    ]
    for rid, (what, payload) in enumerate(refused, 101):
        w = WS(port, tokens['hostile'][0])
        w.send(subscribe(1))
        w.frames(0.3)
        w.send(payload)
        fr = w.frames(2)
        check(f'{what}: refused, close 4002, not acknowledged (close {close_code(fr)})',
              close_code(fr) == 4002 and not acked(fr, rid))
        w.s.close()
    # too large an age or deviation (beyond numeric(14,3) / (14,2)) is clamped and stored;
    # the largest sequence that fits is stored; a long detail is cut between characters
    w = WS(port, tokens['hostile'][0])
    w.send(subscribe(1))
    w.frames(0.3)
    w.send(protection(1, I64, 4, 120, [(6, 10 ** 17), (10, 'é'.encode() * 100)]))
    w.send(protection(1, 5, 4, 121, [(6, -10 ** 17)]))
    w.send(protection(1, 6, 5, 122, [(7, 10 ** 14)]))
    fr = w.frames(2)
    check('clamped and edge reports acknowledged', all(acked(fr, i) for i in (120, 121, 122)))
    w.s.close()
    # an older fan-out's entry already in the stream: dropped by the archiver
    hid, hsub = tokens['hostile'][1], int(q(f"SELECT id FROM subscriptions WHERE subscriber_id = {tokens['hostile'][1]}"))
    subprocess.check_call(['redis-cli', '-h', REDIS[0], '-p', REDIS[1], 'XADD', 'decp:{rep}:reports', '*',
                           'r', f'r1 0 {hid} {hsub} 1 {(1 << 64) - 1} 0 1 0 0 0 0 0 0 0 0 0 0 0 0 130',
                           'd', ''], stdout=subprocess.DEVNULL)
    # the honest subscriber's reports are stored
    hon, honsub = tokens['honest'][0], int(q(f"SELECT id FROM subscriptions WHERE subscriber_id = {tokens['honest'][1]}"))
    w = WS(port, hon)
    w.send(subscribe(1))
    w.frames(0.3)
    # an execution names a signal the master sent (test_report_bounds.py): 1..8 published
    publish_signals(REDIS, 1, [(i, 1, 100 + i, 10) for i in range(1, 9)])
    w.frames(1)
    w.send(protection(1, 7, 5, 201))
    w.send(execution(1, 8, 1, 4242, 202, [(6, 10), (7, 100000)]))
    fr = w.frames(2)
    check('honest reports acknowledged', acked(fr, 201) and acked(fr, 202))
    stored = ('0', '0')
    for _ in range(100):
        stored = (q(f'SELECT count(*) FROM protection_logs WHERE subscription_id = {honsub}'),
                  q(f'SELECT count(*) FROM execution_pnl WHERE subscription_id = {honsub}'))
        if stored == ('1', '1'):
            break
        time.sleep(0.1)
    check(f'honest protection event and execution stored within 10 s ({stored})', stored == ('1', '1'))
    rows = q(f"SELECT sequence || ' ' || latency_ms || ' ' || coalesce(price_deviation::text, '-')"
             f" || ' ' || length(details->>'detail') FROM protection_logs"
             f" WHERE subscription_id = {hsub} ORDER BY sequence").splitlines()
    check(f'hostile reports stored clamped ({rows})',
          rows == ['5 -1000000000.000 0.00 0', '6 0.000 1000000000.00 0',
                   f'{I64} 1000000000.000 0.00 63'])
    left = reports_left(REDIS)
    check(f'reports stream drained ({left} left)', left == '0')
finally:
    stop_pipeline(ctl, log, check)
print(f'{check.failed} failed')
sys.exit(1 if check.failed else 0)
