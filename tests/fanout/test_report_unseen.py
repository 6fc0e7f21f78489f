#!/usr/bin/env python3
"""fanout_report_unseen: an execution report taken by a fan-out that has not seen the master
yet, for a signal ACKed (in Redis) but not archived yet, is stored as any other.

Run under decp-testenv --pg --redis: test_report_unseen.py SOURCE_ROOT BUILD_ROOT [direct].

decp-control --roles fanout,archiver (plain ws; tests/fanout/rawws.py), the archiver's
claim of stale entries set to 10 minutes. Master 1's stream gets 1 BUY ticket 11 (archived),
then 2 CLOSE ticket 11 and 3 BUY ticket 12, which another consumer of the archiver's group
takes in the same Lua script (atomically, so the archiver never reads them): they stay
ACKed and unarchived, as in the second after an edge ACKs them. A subscriber connects and,
before any Subscribe (an EA resending its unacknowledged reports at once, e.g. just after
the fan-out restarted), reports:
- a CLOSED of sequence 2 with +3.25: stored and counted;
- a FILLED of the BUY (sequence 3) with -100: recorded NOT_CLOSING, not counted (the
  signal's type comes from Redis, not known to the fan-out or the archive);
- a CLOSED of sequence 4 with -10^8 (no such signal): acknowledged by the fan-out (it cannot
  judge) and dropped at store time.

`direct`: the same with decp-control --roles fanout alone and fanout_reports_redis = no
(decp-fanout's way: the fan-out stores the reports itself; no archiver, so nothing is
archived and the three signals are simply in the stream).

Before (docs/security.md "Execution reports", a known limit): the storer's bound was the
archive's highest sequence (1) and the fan-out's (0), so the reports of 2 and 3 were
dropped although acknowledged: the honest close's profit and trust credit were lost.
"""
import os, sys, time

SRC, BLD = sys.argv[1], sys.argv[2]
DIRECT = sys.argv[3:] == ['direct']
PG = os.environ['DECP_PG_CONNINFO']
REDIS = [os.environ['DECP_REDIS_HOST'], os.environ['DECP_REDIS_PORT']]

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawws import *  # noqa: E402,F401,F403

check = Checks()
BUY, CLOSE = 1, 7
FILLED, CLOSED = 1, 5
KEY = 'decp:{m1}:signals'
# XADD both, then read them as another consumer of the archiver's group: one script, so
# the archiver (which reads '>' in its own loop) cannot take them in between
TAKE = ("redis.call('XADD', KEYS[1], '2-0', 'r', ARGV[1]) "
        "redis.call('XADD', KEYS[1], '3-0', 'r', ARGV[2]) "
        "return #redis.call('XREADGROUP', 'GROUP', 'archiver', 'ghost', 'COUNT', '10', "
        "'STREAMS', KEYS[1], '>')[1][2]")


def q(sql):
    return psql(PG, sql)


def log_has(log, text):
    log.seek(0)
    return text in log.read()


if DIRECT:
    ctl, log, port, tokens, run = start_pipeline(BLD, PG, REDIS, ('sub',), roles='fanout',
                                                 extra='fanout_reports_redis = no\n')
else:
    ctl, log, port, tokens, run = start_pipeline(BLD, PG, REDIS, ('sub',),
                                                 extra='archiver_claim_idle_ms = 600000\n')
try:
    check('decp-control listens', port is not None)
    sid = int(q(f'SELECT id FROM subscriptions WHERE subscriber_id = {tokens["sub"][1]}'))
    if DIRECT:
        publish_signals(REDIS, 1, [(1, BUY, 11, 10), (2, CLOSE, 11, 0), (3, BUY, 12, 10)])
    else:
        publish_signals(REDIS, 1, [(1, BUY, 11, 10)])
        got = wait_psql(PG, 'SELECT count(*) FROM signal_archive WHERE master_id = 1', '1')
        check(f'signal 1 archived (the archiver\'s group reads master 1: {got})', got == '1')
        out = redis_cmd(REDIS, 'EVAL', TAKE, '1', KEY, signal_record(1, 2, CLOSE, 11, 0),
                        signal_record(1, 3, BUY, 12, 10))
        check(f'signals 2 and 3 in Redis, taken by another consumer ({out!r})',
              out == b':2\r\n')
    w = WS(port, tokens['sub'][0])  # no Subscribe: the fan-out has not seen master 1
    w.send(execution(1, 2, CLOSED, 900, 501, profit(32500)))
    w.send(execution(1, 3, FILLED, 901, 502, profit(-1000000)))
    w.send(execution(1, 4, CLOSED, 902, 503, profit(-10 ** 12)))
    fr = w.frames(1)
    check('the three reports acknowledged', all(acked(fr, i) for i in (501, 502, 503)))
    w.s.close()
    n = reports_left(REDIS, 15)
    check(f'reports stream empty or drained by the archiver ({n} left)', n == '0')
    arch = q('SELECT count(*) FROM signal_archive WHERE master_id = 1')
    check(f'signals 2 and 3 not archived ({arch} archived)', arch == ('0' if DIRECT else '1'))
    rows = wait_psql(PG, f"SELECT string_agg(sequence || ' ' || broker_ticket || ' ' || "
                     f"realized_profit || ' ' || coalesce(not_counted, '-'), ', ' ORDER BY "
                     f"sequence) FROM execution_pnl WHERE subscription_id = {sid}",
                     '2 900 3.2500 -, 3 901 -100.0000 NOT_CLOSING', 15)
    check(f'the close of 2 counted, the BUY 3 NOT_CLOSING, nothing of 4 ({rows})',
          rows == '2 900 3.2500 -, 3 901 -100.0000 NOT_CLOSING')
    row = q(f"SELECT last_sequence_id || ' ' || profit_exact FROM subscriptions WHERE id = {sid}")
    check(f'last_sequence_id 3, profit 3.25 ({row})', row == '3 3.2500')
    inbox = q(f"SELECT string_agg(sequence::text, ',' ORDER BY sequence) FROM trust_inbox "
              f"WHERE subscription_id = {sid} AND event = 'EXECUTE'")
    check(f'EXECUTE inbox rows of 2 and 3, none of 4 ({inbox})', inbox == '2,3')
    dropped = log_has(log, 'names sequence 4 beyond master 1')
    check('the report of 4 dropped at store time (control.log)', dropped)
    ledger_verify(BLD, check)
finally:
    stop_pipeline(ctl, log, check)
print(f'{check.failed} failed')
sys.exit(1 if check.failed else 0)
