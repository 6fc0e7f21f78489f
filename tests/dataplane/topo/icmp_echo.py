#!/usr/bin/env python3
"""icmp_echo.py ADDR [COUNT]: send ICMP echo requests to ADDR (raw socket, needs root)
and print how many distinct ones were answered (1 s after each, 3 s more at the end).
Used by the DPDK tap test: this machine has no ping binary."""
import socket
import struct
import sys
import time


def csum(b):
    if len(b) % 2:
        b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff


def main():
    if len(sys.argv) < 2 or sys.argv[1] in ('-h', '--help'):
        print(__doc__)
        return 0 if len(sys.argv) > 1 else 2
    dst = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    ident = 0x4000 | (id(sys) & 0x3fff)
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    got = set()

    def collect(deadline):
        # Late replies count too: a busy-polling dataplane sharing a loaded CPU may answer
        # seq 0 after seq 1 was sent.
        while len(got) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            s.settimeout(left)
            try:
                d, a = s.recvfrom(2048)
            except socket.timeout:
                return
            ihl = (d[0] & 15) * 4
            t, _, _, i, sq = struct.unpack('!BBHHH', d[ihl:ihl + 8])
            if a[0] == dst and t == 0 and i == ident and sq < count and \
                    d[ihl + 8:] == b'decp-dpdk-echo':
                got.add(sq)

    for seq in range(count):
        h = struct.pack('!BBHHH', 8, 0, 0, ident, seq) + b'decp-dpdk-echo'
        h = h[:2] + struct.pack('!H', csum(h)) + h[4:]
        s.sendto(h, (dst, 0))
        collect(time.monotonic() + 1.0)
    collect(time.monotonic() + 3.0)
    ok = len(got)
    print(ok)
    return 0


sys.exit(main())
