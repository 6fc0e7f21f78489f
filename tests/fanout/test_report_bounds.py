#!/usr/bin/env python3
"""fanout_report_bounds: a subscriber's ExecutionReport cannot set its own fee base.

Run under decp-testenv --pg --redis: test_report_bounds.py SOURCE_ROOT BUILD_ROOT.

decp-control --roles fanout,archiver (plain ws; tests/fanout/rawws.py). Master 1's stream
holds 4 signals written here as the edge writes them (docs/control.md "Redis key layout"):
1 BUY ticket 11, 2 CLOSE ticket 11, 3 BUY ticket 12, 4 CLOSE_PARTIAL ticket 12. A hostile
subscriber reports (docs/security.md "Execution reports"):
- a CLOSED for sequence 900000000000 (beyond the master's last, 4): refused at the fan-out
  (Error{MALFORMED}, close 4002, never acknowledged), last_sequence_id unchanged;
- the same entry already in the reports stream (written as an older fan-out would): dropped
  by the archiver, last_sequence_id and profit unchanged;
- a FILLED of the BUY (sequence 3) with a realized profit of -10^10: recorded, NOT_CLOSING,
  profit unchanged;
- a CLOSED of sequence 2 with -12.5, then the same close with another broker ticket and
  report id: the first counts, the second is recorded REPEAT.
An honest subscriber reports its close of sequence 2 (+3.25) and its partial close of 4
(-1.5): both count, once, also when resent with the same report id.

Before the fix (0033, cp_report.c keep_known, the fan-out's bound): sequence 900000000000
was acknowledged and set last_sequence_id to it for good, the BUY's -10^10 and the second
close's -12.5 were added to profit_exact.
"""
import os, sys, time

SRC, BLD = sys.argv[1], sys.argv[2]
PG = os.environ['DECP_PG_CONNINFO']
REDIS = [os.environ['DECP_REDIS_HOST'], os.environ['DECP_REDIS_PORT']]

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawws import *  # noqa: E402,F401,F403

check = Checks()


def q(sql):
    return psql(PG, sql)

BUY, CLOSE, CLOSE_PARTIAL = 1, 7, 9
SIGNALS = [(1, BUY, 11, 10), (2, CLOSE, 11, 0), (3, BUY, 12, 20), (4, CLOSE_PARTIAL, 12, 10)]
ctl, log, port, tokens, run = start_pipeline(BLD, PG, REDIS, ('hostile', 'honest'))


def subid(name):
    return int(q(f'SELECT id FROM subscriptions WHERE subscriber_id = {tokens[name][1]}'))


def session(name):
    w = WS(port, tokens[name][0])
    w.send(subscribe(1))
    w.frames(0.5)
    return w


try:
    check('decp-control (fanout, archiver) listens', port is not None)
    hs, ns = subid('hostile'), subid('honest')
    watch = session('honest')  # the fan-out tails master 1 from here on: its history
    publish_signals(REDIS, 1, SIGNALS)
    watch.frames(1)
    got = wait_psql(PG, 'SELECT count(*) FROM signal_archive WHERE master_id = 1', '4')
    check(f'the 4 signals archived ({got})', got == '4')
    # (b) a sequence the master never sent: refused at the fan-out
    w = session('hostile')
    w.send(execution(1, 900000000000, 5, 777, 301, profit(-10 ** 14)))
    fr = w.frames(2)
    check(f'sequence 900000000000: close 4002, not acknowledged (close {close_code(fr)})',
          close_code(fr) == 4002 and not acked(fr, 301))
    w.s.close()
    # ... and an entry already in the reports stream (an older fan-out's "r1"): dropped
    redis_cmd(REDIS, 'XADD', 'decp:{rep}:reports', '*', 'r',
          f'r1 1 {tokens["hostile"][1]} {hs} 1 900000000001 0 0 0 0 0 5 778 0 0 '
          f'{-10 ** 14} 0 0 0 0 302', 'd', '')
    # (a) profit on an opening signal, then a close and the same close again
    w = session('hostile')
    w.send(execution(1, 3, 1, 777, 303, profit(-10 ** 14)))
    w.send(execution(1, 2, 5, 900, 304, profit(-125000)))
    fr = w.frames(1)
    check('hostile reports on real signals acknowledged', all(acked(fr, i) for i in (303, 304)))
    w.send(execution(1, 2, 5, 901, 305, profit(-125000)))
    fr = w.frames(1)
    check('the repeated close acknowledged (stored for the record)', acked(fr, 305))
    w.s.close()
    # the honest subscriber: a gain and a partial-close loss, the second sent twice
    w = session('honest')
    w.send(execution(1, 1, 1, 5001, 401))
    w.send(execution(1, 2, 5, 5001, 402, profit(32500)))
    w.send(execution(1, 4, 5, 5002, 403, profit(-15000)))
    w.send(execution(1, 4, 5, 5002, 403, profit(-15000)))
    fr = w.frames(1)
    check('honest reports acknowledged', all(acked(fr, i) for i in (401, 402, 403)))
    w.s.close()
    left = wait_psql(PG, "SELECT count(*) FROM execution_pnl", '6')
    check(f'6 execution rows stored ({left})', left == '6')
    time.sleep(0.5)
    row = q(f'SELECT last_sequence_id || \' \' || profit_exact FROM subscriptions WHERE id = {hs}')
    check(f'hostile: last_sequence_id 3, profit -12.5 once ({row})', row == '3 -12.5000')
    rows = q(f"SELECT sequence || ' ' || broker_ticket || ' ' || realized_profit || ' ' ||"
             f" coalesce(not_counted, '-') FROM execution_pnl WHERE subscription_id = {hs}"
             f" ORDER BY sequence, broker_ticket").splitlines()
    check(f'hostile rows: the BUY NOT_CLOSING, the second close REPEAT ({rows})',
          rows == ['2 900 -12.5000 -', '2 901 -12.5000 REPEAT',
                   '3 777 -10000000000.0000 NOT_CLOSING'])
    row = q(f'SELECT last_sequence_id || \' \' || profit_exact FROM subscriptions WHERE id = {ns}')
    check(f'honest: last_sequence_id 4, profit 3.25 - 1.5 ({row})', row == '4 1.7500')
    audit = q(f"SELECT closes_counted || ' ' || losses_counted || ' ' || repeats || ' ' ||"
              f" not_closing || ' ' || largest_loss FROM execution_profit_audit"
              f" WHERE subscription_id = {hs}")
    check(f'audit view: 1 counted loss, 1 repeat, 1 not closing ({audit})',
          audit == '1 1 1 1 12.5000')
    inbox = q(f"SELECT count(*) FROM trust_inbox WHERE subscription_id = {hs} AND sequence > 4")
    check(f'no EXECUTE inbox row beyond the master\'s last ({inbox})', inbox == '0')
    n = reports_left(REDIS)
    check(f'reports stream drained ({n} left)', n == '0')
    # the money trail replays: every counted execution is a profit event (sql 0032), the
    # rows not counted (REPEAT, NOT_CLOSING) change no profit and have none
    ledger_verify(BLD, check)
finally:
    stop_pipeline(ctl, log, check)
print(f'{check.failed} failed')
sys.exit(1 if check.failed else 0)
