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
import base64, os, socket, struct, subprocess, sys, tempfile, time

SRC, BLD = sys.argv[1], sys.argv[2]
PG = os.environ['DECP_PG_CONNINFO']
REDIS = [os.environ['DECP_REDIS_HOST'], os.environ['DECP_REDIS_PORT']]
DECPCTL = os.path.join(BLD, 'tools/decpctl/decpctl')
CONTROL = os.path.join(BLD, 'controlplane/core/decp-control')
failed = 0


def check(what, cond):
    global failed
    print(('ok: ' if cond else 'FAIL: ') + what, flush=True)
    failed += 0 if cond else 1


def q(sql):
    return subprocess.check_output(['psql', '-X', '-q', '-t', '-A', '-d', PG, '-c', sql],
                                   text=True).strip()


# ---- protobuf (docs/protocol.md "Subscriber channel"), encoder only ----
def varint(n):
    n &= (1 << 64) - 1
    out = b''
    while True:
        b, n = n & 0x7f, n >> 7
        if not n:
            return out + bytes([b])
        out += bytes([b | 0x80])


def fld(num, val):
    if isinstance(val, bytes):
        return varint(num << 3 | 2) + varint(len(val)) + val
    return varint(num << 3) + varint(val)


def msg(*fields):
    return b''.join(fld(n, v) for n, v in fields)


def subscribe(master):                       # ClientMessage.subscribe (1)
    return fld(1, msg((1, master)))


def protection(master, seq, reason, rid, extra=()):  # ClientMessage.protection_event (4)
    return fld(4, msg((3, master), (4, seq), (5, reason), (13, rid), *extra))


def execution(master, seq, status, ticket, rid, extra=()):  # ClientMessage.execution_report (3)
    return fld(3, msg((2, master), (3, seq), (4, status), (9, ticket), (14, rid), *extra))


# ---- WebSocket client (RFC 6455) ----
class WS:
    def __init__(self, port, token):
        self.s = socket.create_connection(('127.0.0.1', port), timeout=5)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall((f'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n'
                        f'Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n'
                        f'Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n').encode())
        self.buf = b''
        while b'\r\n\r\n' not in self.buf:
            d = self.s.recv(4096)
            if not d:
                break
            self.buf += d
        head, _, self.buf = self.buf.partition(b'\r\n\r\n')
        self.status = int(head.split(b' ')[1]) if head.startswith(b'HTTP/1.1 ') else 0

    def send(self, payload):
        m = os.urandom(4)
        n = len(payload)
        hdr = struct.pack('!BB', 0x82, 0x80 | n) if n < 126 else struct.pack('!BBH', 0x82, 0xfe, n)
        self.s.sendall(hdr + m + bytes(c ^ m[i % 4] for i, c in enumerate(payload)))

    def _need(self, n):
        while len(self.buf) < n:
            d = self.s.recv(65536)
            if not d:
                raise EOFError
            self.buf += d

    def frames(self, seconds):
        """(opcode, payload) until a close frame, the end of the stream or `seconds`."""
        out, end = [], time.time() + seconds
        while time.time() < end:
            self.s.settimeout(max(0.01, end - time.time()))
            try:
                self._need(2)
                n, off = self.buf[1] & 0x7f, 2
                if n == 126:
                    self._need(4)
                    n, off = struct.unpack('!H', self.buf[2:4])[0], 4
                self._need(off + n)
                op, p = self.buf[0] & 0x0f, self.buf[off:off + n]
                self.buf = self.buf[off + n:]
            except (socket.timeout, TimeoutError):
                break
            except (EOFError, ConnectionResetError):
                out.append(('EOF', b''))
                break
            out.append((op, p))
            if op == 8:
                break
        return out


def acked(frames, rid):     # ServerMessage.report_ack (7) { report_id (1) }
    return any(op == 2 and p == fld(7, msg((1, rid))) for op, p in frames)


def close_code(frames):
    c = [p for op, p in frames if op == 8]
    return struct.unpack('!H', c[0][:2])[0] if c and len(c[0]) >= 2 else None


run = tempfile.mkdtemp(prefix='decp-report-poison.')
subprocess.check_call([DECPCTL, 'db', 'migrate'], stdout=subprocess.DEVNULL)
subprocess.check_call([DECPCTL, 'master', 'add', '--id', '1', '--name', 'm1', '--key-seed', 'poison'],
                      stdout=subprocess.DEVNULL)
tokens = {}
for name in ('hostile', 'honest'):
    out = os.path.join(run, name + '.token')
    subprocess.check_call([DECPCTL, 'subscriber', 'add', '--name', name, '--out', out],
                          stdout=subprocess.DEVNULL)
    kv = dict(l.split(' = ', 1) for l in open(out).read().splitlines() if ' = ' in l)
    subprocess.check_call([DECPCTL, 'subscription', 'add', '--subscriber', kv['subscriber_id'],
                           '--master', '1'], stdout=subprocess.DEVNULL)
    tokens[name] = (kv['subscriber_token'], int(kv['subscriber_id']))
conf = os.path.join(run, 'control.conf')
with open(conf, 'w') as f:
    f.write(f'roles = fanout,archiver\nredis_host = {REDIS[0]}\nredis_port = {REDIS[1]}\n'
            f'pg_conninfo = "{PG}"\nfanout_port = 0\nfanout_tls = off\n')
log = open(os.path.join(run, 'control.log'), 'w+')
ctl = subprocess.Popen([CONTROL, '--config', conf], stdout=log, stderr=subprocess.STDOUT)
port = None
for _ in range(100):
    time.sleep(0.1)
    log.seek(0)
    for line in log.read().splitlines():
        if 'listening on 127.0.0.1:' in line:
            port = int(line.split('listening on 127.0.0.1:')[1].split()[0])
    if port:
        break
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
    left = subprocess.check_output(['redis-cli', '-h', REDIS[0], '-p', REDIS[1], 'XLEN',
                                    'decp:{rep}:reports'], text=True).strip()
    check(f'reports stream drained ({left} left)', left == '0')
finally:
    ctl.terminate()
    rc = ctl.wait(timeout=10)
    check(f'decp-control exits 0 ({rc})', rc == 0)
    if failed:
        log.seek(0)
        print(log.read()[-4000:])
print(f'{failed} failed')
sys.exit(1 if failed else 0)
