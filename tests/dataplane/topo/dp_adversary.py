#!/usr/bin/python3
"""dp_adversary.py: scapy attacks on decp-dataplane --stack dpdk (issue 6, adversarial).

Runs inside the test's network namespace, on the kernel side of the net_tap interface
whose other side is the DPDK port of the dataplane under test (test_dpdk_adversarial.sh
builds that topology). Frames are written with an AF_PACKET socket on the tap, so they
reach the userspace stack exactly as written: random sources, forged flags, bad sums.

Each case reads the dataplane's counters before and after (`decpctl top --json`: the
stack's drop_* counters are published in the shared stats block as "transport"
counters), and prints one line per assertion:
    PASS: <what>      or      FAIL: <what> (<details>)
The shell test counts them. Every case is bounded in frames and in time.

usage: dp_adversary.py --iface TAP --dst IPV4 --port N --src IPV4 --decpctl PATH
                       --shm NAME --dp-pid PID --seed S CASE...
CASE: arp syn_flood blind_rst_syn overlap one_byte out_of_window garbage
"""
import argparse
import json
import random
import select
import socket
import subprocess
import sys
import time

from scapy.all import (ARP, IP, TCP, UDP, Ether, IPOption, Raw, conf,  # noqa: E402
                       get_if_hwaddr)

RESULTS = {"passed": 0, "failed": 0}


def check(what, cond, details=""):
    if cond:
        RESULTS["passed"] += 1
        print("PASS: " + what, flush=True)
    else:
        RESULTS["failed"] += 1
        print("FAIL: %s (%s)" % (what, details), flush=True)


class Dataplane:
    """Counters of the dataplane under test, from its shared stats block."""

    def __init__(self, decpctl, shm, pid):
        self.decpctl, self.shm, self.pid = decpctl, shm, pid

    def sample(self):
        out = subprocess.run([self.decpctl, "top", "--shm", self.shm, "--once", "--json",
                              "--interval", "0.05"], capture_output=True, text=True,
                             timeout=10, check=True).stdout
        tot = json.loads(out.splitlines()[-1])["total"]
        c = dict(tot["transport"])
        for k, v in tot["counters"].items():
            c["session." + k] = v
        for k, v in tot["rejects"].items():
            c["reject." + k] = v
        return c

    def settle(self, pred, timeout=30.0):
        """Sample until pred(sample) holds (frames still queued in the tap) or timeout.
        The bound is generous because the machine may be loaded (tests run in parallel):
        the wait ends as soon as the condition holds."""
        end = time.monotonic() + timeout
        while True:
            s = self.sample()
            if pred(s) or time.monotonic() > end:
                return s
            time.sleep(0.05)

    def rss_kib(self):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return -1


def delta(a, b, name):
    return b.get(name, 0) - a.get(name, 0)


def drops(s):
    return sum(v for k, v in s.items() if k.startswith("drop_"))


class Wire:
    """AF_PACKET send/receive on the tap (kernel side)."""

    def __init__(self, iface):
        self.iface = iface
        self.tx = conf.L2socket(iface=iface)
        self.rx = conf.L2listen(iface=iface)
        self.mac = get_if_hwaddr(iface)

    def drain(self):
        """Forget frames received so far (the listening socket buffers everything). Raw
        reads: parsing each frame would not keep up with the legitimate master's stream on
        a loaded machine."""
        while select.select([self.rx], [], [], 0)[0]:
            self.rx.recv_raw()

    def send(self, frames):
        for f in frames:
            self.tx.send(f)

    def recv_until(self, pred, timeout, dst=None):
        """First received frame for which pred(frame) is true, or None after timeout.
        dst: only IPv4 frames to this address are parsed at all (checked on the raw bytes),
        so a reply to one of our hand-made clients is found behind thousands of the
        legitimate master's frames even when the machine is slow."""
        want = socket.inet_aton(dst) if dst is not None else None
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self.rx], [], [], left)
            if not r:
                return None
            _, raw, _ = self.rx.recv_raw()
            if raw is None:
                continue
            if want is not None and (raw[12:14] != b"\x08\x00" or raw[30:34] != want):
                continue
            f = Ether(raw)
            if pred(f):
                return f

    def close(self):
        self.tx.close()
        self.rx.close()


def rand_unicast_mac(rng):
    b = [0x02] + [rng.randrange(256) for _ in range(5)]
    return ":".join("%02x" % x for x in b)


def rand_public_ip(rng):
    while True:
        a = rng.randrange(1, 224)
        if a not in (10, 127):
            return "%d.%d.%d.%d" % (a, rng.randrange(256), rng.randrange(256),
                                    rng.randrange(1, 255))


class RawConn:
    """A TCP client written by hand (no kernel state): handshake through the SYN cookie,
    then segments at any sequence number we like."""

    def __init__(self, ctx, src_ip, src_mac, sport):
        self.c, self.ip, self.mac, self.sport = ctx, src_ip, src_mac, sport
        self.base = 0  # our first data byte's sequence number (ISN + 1)
        self.rcv = 0   # server's next sequence number

    def _from_server(self, f):
        return (IP in f and TCP in f and f[IP].src == self.c.dst and f[IP].dst == self.ip
                and f[TCP].sport == self.c.port and f[TCP].dport == self.sport)

    def frame(self, off, flags, data=b"", seq=None):
        s = self.base + off if seq is None else seq
        p = (Ether(src=self.mac, dst=self.c.dmac) / IP(src=self.ip, dst=self.c.dst) /
             TCP(sport=self.sport, dport=self.c.port, seq=s & 0xFFFFFFFF,
                 ack=self.rcv, flags=flags, window=65535))
        return p / Raw(data) if data else p

    def connect(self):
        isn = self.c.rng.randrange(1 << 32)
        syn = (Ether(src=self.mac, dst=self.c.dmac) / IP(src=self.ip, dst=self.c.dst) /
               TCP(sport=self.sport, dport=self.c.port, seq=isn, flags="S", window=65535,
                   options=[("MSS", 1460)]))
        self.c.w.drain()
        self.c.w.send([syn])
        sa = self.c.w.recv_until(lambda f: self._from_server(f) and f[TCP].flags == "SA", 15,
                                 dst=self.ip)
        if sa is None:
            return False
        self.base = (isn + 1) & 0xFFFFFFFF
        self.rcv = (sa[TCP].seq + 1) & 0xFFFFFFFF
        self.c.w.send([self.frame(0, "A")])
        return True

    def send_wait_ack(self, off, data, want_ack_off, timeout=15.0):
        """Send data at off; wait for an ACK covering want_ack_off. Returns it or None."""
        self.c.w.drain()
        self.c.w.send([self.frame(off, "PA", data)])
        want = (self.base + want_ack_off) & 0xFFFFFFFF
        return self.c.w.recv_until(
            lambda f: self._from_server(f) and "A" in f[TCP].flags and f[TCP].ack == want,
            timeout, dst=self.ip)

    def reset(self, off):
        self.c.w.send([self.frame(off, "R")])


class Ctx:
    def __init__(self, a):
        self.dst, self.port, self.src = a.dst, a.port, a.src
        self.rng = random.Random(a.seed)
        self.w = Wire(a.iface)
        self.dp = Dataplane(a.decpctl, a.shm, a.dp_pid)
        self.dmac = None
        self.next_src = 50

    def fresh_client(self):
        """Our own address on the subnet (no kernel owns it) and a MAC, per connection."""
        self.next_src += 1
        net = self.dst.rsplit(".", 1)[0]
        return RawConn(self, "%s.%d" % (net, self.next_src),
                       "02:00:00:00:%02x:%02x" % (self.next_src >> 8, self.next_src & 255),
                       self.rng.randrange(20000, 60000))


# ------------------------------------------------------------------ cases

def case_arp(c):
    """Find the stack's MAC (and check it answers ARP)."""
    req = Ether(src=c.w.mac, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=c.w.mac, psrc=c.src,
                                                           pdst=c.dst)
    c.w.send([req])
    r = c.w.recv_until(lambda f: ARP in f and f[ARP].op == 2 and f[ARP].psrc == c.dst, 15)
    check("ARP: the stack answers who-has %s" % c.dst, r is not None)
    if r is None:
        return False
    c.dmac = r[ARP].hwsrc
    return True


def case_syn_flood(c, n=5000):
    """SYN flood from random sources while the legitimate master streams."""
    frames = []
    for _ in range(n):
        frames.append(Ether(src=rand_unicast_mac(c.rng), dst=c.dmac) /
                      IP(src=rand_public_ip(c.rng), dst=c.dst) /
                      TCP(sport=c.rng.randrange(1024, 65536), dport=c.port,
                          seq=c.rng.randrange(1 << 32), flags="S", window=29200,
                          options=[("MSS", 1460), ("WScale", 7)]))
    a = c.dp.sample()
    rss0 = c.dp.rss_kib()
    t0 = time.monotonic()
    c.w.send(frames)
    dt = time.monotonic() - t0
    b = c.dp.settle(lambda s: delta(a, s, "tcp_syn_rx") >= n)
    # The pool settles once the SYN-ACKs' mbufs are back from the TX path.
    b = c.dp.settle(lambda s: abs(s.get("mbufs_in_use", 0) - a.get("mbufs_in_use", 0)) <= 64)
    rss1 = c.dp.rss_kib()
    got = delta(a, b, "tcp_syn_rx")
    print("syn_flood: %d SYNs in %.2f s (%.0f/s); tcp_syn_rx +%d; RSS %d -> %d KiB; "
          "mbufs_in_use %d -> %d; conns_in_use %d -> %d" %
          (n, dt, n / dt, got, rss0, rss1, a.get("mbufs_in_use", -1),
           b.get("mbufs_in_use", -1), a.get("conns_in_use", -1), b.get("conns_in_use", -1)),
          flush=True)
    check("SYN flood: every SYN answered statelessly (tcp_syn_rx +%d of %d)" % (got, n),
          got >= n, "tap lost %d" % (n - got))
    check("SYN flood: no connection created (tcp_accepted +0, conns_in_use unchanged)",
          delta(a, b, "tcp_accepted") == 0 and b.get("conns_in_use") == a.get("conns_in_use"),
          "accepted +%d, conns %d -> %d" % (delta(a, b, "tcp_accepted"),
                                            a.get("conns_in_use", -1), b.get("conns_in_use", -1)))
    check("SYN flood: dataplane RSS flat (+%d KiB <= 4096)" % (rss1 - rss0),
          rss1 - rss0 <= 4096)
    check("SYN flood: mbuf pool back to its level (%d -> %d, +-64)" %
          (a.get("mbufs_in_use", -1), b.get("mbufs_in_use", -1)),
          abs(b.get("mbufs_in_use", 0) - a.get("mbufs_in_use", 0)) <= 64)
    check("SYN flood: the legitimate session kept being ACKed (acks_sent +%d)" %
          delta(a, b, "session.acks_sent"), delta(a, b, "session.acks_sent") > 0)
    return True


def legit_segment(c, timeout=15.0):
    """A data segment of the legitimate (kernel) master: its 4-tuple and next sequence."""
    c.w.drain()
    f = c.w.recv_until(lambda f: IP in f and TCP in f and f[IP].src == c.src and
                       f[IP].dst == c.dst and f[TCP].dport == c.port and
                       len(f[TCP].payload) > 0, timeout)
    return f


def case_blind_rst_syn(c, n=1000, exact=5):
    """Blind RST and SYN injection at the legitimate session (RFC 5961)."""
    f = legit_segment(c)
    check("blind RST/SYN: the legitimate session is streaming", f is not None)
    if f is None:
        return False
    sport = f[TCP].sport

    def seg(flags, seq):
        return (Ether(src=f[Ether].src, dst=f[Ether].dst) / IP(src=c.src, dst=c.dst) /
                TCP(sport=sport, dport=c.port, seq=seq & 0xFFFFFFFF, flags=flags,
                    window=1000))

    def in_window():
        """A sequence number inside the receive window but not RCV.NXT: the attacker who
        guessed the window (RFC 5961 §3.2). 48 KiB beyond the master's latest segment:
        inside the 64 KiB window while RCV.NXT has moved less than 48 KiB since."""
        g = legit_segment(c)
        nxt = (g[TCP].seq + len(g[TCP].payload)) if g is not None else 0
        return (nxt + 49152) & 0xFFFFFFFF, nxt

    def blind_seq(nxt):  # at least 4 MiB away from the window on either side
        return (nxt + (4 << 20) + c.rng.randrange((1 << 32) - (8 << 20))) & 0xFFFFFFFF

    a = c.dp.sample()
    t0 = time.monotonic()
    seq, nxt = in_window()
    c.w.send([seg("R", seq) for _ in range(exact)])
    c.w.send([seg("R", blind_seq(nxt)) for _ in range(n)])
    seq, nxt = in_window()
    c.w.send([seg("S", seq) for _ in range(exact)])
    c.w.send([seg("S", blind_seq(nxt)) for _ in range(n)])
    want = (("drop_tcp_rst_out_window", n), ("drop_tcp_rst_challenged", exact),
            ("drop_tcp_syn_challenged", n + exact))
    b = c.dp.settle(lambda s: all(delta(a, s, k) >= v for k, v in want))
    secs = time.monotonic() - t0
    for name, v in want:
        check("blind RST/SYN: %s +%d (== %d)" % (name, delta(a, b, name), v),
              delta(a, b, name) == v)
    # Challenge ACKs: in-window RSTs and every SYN (RFC 5961 §3.2, §4.2), at most
    # challenge_ack_per_sec (10) per second on the connection (§7). The injection takes
    # longer on a loaded machine, so the bound is the rate over the time it took (one more
    # second for the bucket's initial burst).
    ch = delta(a, b, "tcp_challenge_ack_tx") + delta(a, b, "tcp_challenge_ack_limited")
    cap = 10 * (int(secs) + 2)
    check("blind RST/SYN: challenge-ACK rule met by %d segments (>= %d), rate-limited "
          "(sent %d in %.1f s, <= %d)" % (ch, n + 2 * exact, delta(a, b, "tcp_challenge_ack_tx"),
                                         secs, cap),
          ch >= n + 2 * exact and delta(a, b, "tcp_challenge_ack_tx") <= cap)
    check("blind RST/SYN: the legitimate connection was not reset (tcp_rst_rx +%d)" %
          delta(a, b, "tcp_rst_rx"), delta(a, b, "tcp_rst_rx") == 0)
    return True


def case_overlap(c):
    """Overlapping segments with conflicting bytes: the first copy of a byte wins.

    Out of order first: bytes 2..11 = 00 00 'A'*8. Then in order bytes 0..11 =
    00 00 10 00 'B'*8. First-copy-wins delivers the length prefix 00 00 00 00 (a zero
    frame length: the session refuses it as OVERSIZE and closes); last-copy-wins would
    deliver 00 00 10 00 (4096, a legal length: the session would wait for more bytes)."""
    k = c.fresh_client()
    ok = k.connect()
    check("overlap: handshake through the SYN cookie", ok)
    if not ok:
        return False
    a = c.dp.sample()
    r1 = k.send_wait_ack(2, b"\x00\x00" + b"A" * 8, 0)
    r2 = k.send_wait_ack(0, b"\x00\x00\x10\x00" + b"B" * 8, 12)
    b = c.dp.settle(lambda s: delta(a, s, "reject.oversize") >= 1)
    check("overlap: out-of-order copy queued and duplicate-ACKed (tcp_ooo_queued +%d)" %
          delta(a, b, "tcp_ooo_queued"), r1 is not None and delta(a, b, "tcp_ooo_queued") >= 1)
    check("overlap: the in-order copy completed the range (ACK covers 12 bytes)", r2 is not None)
    check("overlap: first copy won (the session saw length 0: reject.oversize +%d)" %
          delta(a, b, "reject.oversize"), delta(a, b, "reject.oversize") == 1)
    k.reset(12)
    return True


def case_one_byte(c):
    """1-byte segments: in order (each ACKed), then 50 out of order with holes between
    them: the bounded reassembly queue keeps 8 ranges and drops the rest."""
    k = c.fresh_client()
    ok = k.connect()
    check("1-byte: handshake through the SYN cookie", ok)
    if not ok:
        return False
    a = c.dp.sample()
    stream = b"\x00\x00\x01\x00" + b"x" * 16  # frame length 256: the session waits
    missed = [i for i in range(len(stream))
              if k.send_wait_ack(i, stream[i:i + 1], i + 1) is None]
    check("1-byte: %d in-order 1-byte segments ACKed one by one" % len(stream),
          not missed, "no ACK for offsets %s" % missed)
    c.w.send([k.frame(22 + 2 * j, "PA", b"y") for j in range(50)])
    b = c.dp.settle(lambda s: delta(a, s, "drop_tcp_ooo_full") >= 42)
    check("1-byte: 8 out-of-order ranges held (tcp_ooo_queued +%d)" %
          delta(a, b, "tcp_ooo_queued"), delta(a, b, "tcp_ooo_queued") >= 8)
    check("1-byte: the rest dropped by the bounded queue (drop_tcp_ooo_full +%d >= 42)" %
          delta(a, b, "drop_tcp_ooo_full"), delta(a, b, "drop_tcp_ooo_full") >= 42)
    c.ooo_conn = k
    return True


def case_out_of_window(c, n=10):
    """Data far beyond the window and data wholly below RCV.NXT, on a live connection."""
    k = getattr(c, "ooo_conn", None)
    if k is None:
        k = c.fresh_client()
        if not k.connect():
            check("out-of-window: handshake", False)
            return False
        k.send_wait_ack(0, b"\x00\x00\x01\x00" + b"x" * 16, 20)
    a = c.dp.sample()
    c.w.send([k.frame(20 + (10 << 20) + 1000 * j, "PA", b"z" * 100) for j in range(n)])
    c.w.send([k.frame(0, "PA", b"\x00\x00\x01\x00") for _ in range(n)])
    b = c.dp.settle(lambda s: delta(a, s, "drop_tcp_out_of_window") >= n and
                    delta(a, s, "drop_tcp_dup_data") >= n)
    check("out-of-window: data 10 MiB ahead dropped (drop_tcp_out_of_window +%d >= %d)" %
          (delta(a, b, "drop_tcp_out_of_window"), n), delta(a, b, "drop_tcp_out_of_window") >= n)
    check("out-of-window: old data dropped with an ACK (drop_tcp_dup_data +%d >= %d)" %
          (delta(a, b, "drop_tcp_dup_data"), n), delta(a, b, "drop_tcp_dup_data") >= n)
    k.reset(20)
    b2 = c.dp.settle(lambda s: delta(b, s, "tcp_rst_rx") >= 1)
    check("out-of-window: exact RST then frees the connection (tcp_rst_rx +%d)" %
          delta(b, b2, "tcp_rst_rx"), delta(b, b2, "tcp_rst_rx") == 1)
    return True


def case_garbage(c, n=500, each=20):
    """Seeded random frames, then named malformations, each with its own drop counter."""
    rnd = []
    for i in range(n):
        ln = c.rng.randrange(14, 1515)
        body = bytes(c.rng.randrange(256) for _ in range(ln))
        if i % 2 == 0:  # half of them addressed to the stack's MAC
            body = bytes.fromhex(c.dmac.replace(":", "")) + body[6:]
        rnd.append(Raw(body))
    src = "%s.77" % c.dst.rsplit(".", 1)[0]
    eth = Ether(src="02:00:00:00:77:77", dst=c.dmac)

    def ipok(**kw):
        return IP(src=src, dst=c.dst, **kw)

    def tcp(**kw):
        return TCP(sport=c.rng.randrange(1024, 65536), dport=c.port,
                   seq=c.rng.randrange(1 << 32), **kw)

    def bad_ip_cksum():
        p = eth / ipok() / tcp(flags="S")
        p = Ether(bytes(p))
        p[IP].chksum ^= 0x5A5A
        return p

    def bad_tcp_cksum():
        p = Ether(bytes(eth / ipok() / tcp(flags="S")))
        p[TCP].chksum ^= 0x5A5A
        return p

    named = {
        "drop_ip_cksum": bad_ip_cksum,
        "drop_ip_options": lambda: eth / ipok(options=IPOption(b"\x01\x01\x01\x00")) /
        tcp(flags="S"),
        "drop_ip_fragment": lambda: eth / ipok(flags="MF") / tcp(flags="S"),
        "drop_ip_proto": lambda: eth / ipok() / UDP(sport=1, dport=7000) / Raw(b"u" * 8),
        "drop_tcp_cksum": bad_tcp_cksum,
        "drop_tcp_port_closed": lambda: eth / ipok() / TCP(sport=40000, dport=c.port + 1,
                                                            flags="S"),
        "drop_tcp_flags": lambda: eth / ipok() / tcp(flags="SF"),
        "drop_tcp_cookie_bad": lambda: eth / ipok() / tcp(flags="A",
                                                          ack=c.rng.randrange(1 << 32)),
        "drop_eth_type": lambda: Ether(src="02:00:00:00:77:77", dst=c.dmac,
                                       type=0x88B5) / Raw(b"\x00" * 46),
        "drop_arp_op": lambda: Ether(src="02:00:00:00:77:77", dst=c.dmac) /
        ARP(op=9, hwsrc="02:00:00:00:77:77", psrc=src, pdst=c.dst),
    }
    a = c.dp.sample()
    c.w.send(rnd)
    b = c.dp.settle(lambda s: drops(s) - drops(a) >= n)
    check("garbage: %d random frames each counted as a drop (drops +%d)" %
          (n, drops(b) - drops(a)), drops(b) - drops(a) >= n)
    a = b
    frames = []
    for mk in named.values():
        frames += [mk() for _ in range(each)]
    c.w.send(frames)
    b = c.dp.settle(lambda s: all(delta(a, s, k) >= each for k in named))
    for k in named:
        check("garbage: %s +%d (== %d)" % (k, delta(a, b, k), each), delta(a, b, k) == each)
    return True


CASES = {
    "arp": case_arp,
    "syn_flood": case_syn_flood,
    "blind_rst_syn": case_blind_rst_syn,
    "overlap": case_overlap,
    "one_byte": case_one_byte,
    "out_of_window": case_out_of_window,
    "garbage": case_garbage,
}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--iface", required=True, help="kernel side of the tap")
    p.add_argument("--dst", required=True, help="the stack's IPv4 address")
    p.add_argument("--port", type=int, required=True, help="the stack's TCP port")
    p.add_argument("--src", required=True, help="the kernel's address on the tap")
    p.add_argument("--decpctl", required=True)
    p.add_argument("--shm", required=True)
    p.add_argument("--dp-pid", type=int, required=True)
    p.add_argument("--seed", type=int, default=6)
    p.add_argument("cases", nargs="+", choices=sorted(CASES))
    a = p.parse_args()
    conf.verb = 0
    c = Ctx(a)
    try:
        for name in a.cases:
            t0 = time.monotonic()
            if not CASES[name](c):
                break
            print("case %s: %.1f s" % (name, time.monotonic() - t0), flush=True)
    finally:
        c.w.close()
    print("adversary: %d passed, %d failed" % (RESULTS["passed"], RESULTS["failed"]))
    return 0 if RESULTS["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
