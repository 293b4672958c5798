#!/usr/bin/env python3
# ICMP echo to ADDR every INTERVAL_MS for at most COUNT requests or until SIGINT/SIGTERM; each
# reply is matched to its request by sequence number (hping3 -1 pairs some replies with the wrong
# request and reports ~1000 ms for them). Prints one JSON line at the end:
#   {"sent": N, "received": N, "max_ms": F, "p99_ms": F, "rtts_over_20ms": N}
# Usage (root, inside a namespace): ping.py ADDR INTERVAL_MS COUNT
import json
import os
import select
import signal
import socket
import struct
import sys
import time

addr, interval_ms, count = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
ident = os.getpid() & 0xFFFF
sent_at = {}
rtts = []
stop = False


def on_signal(_sig, _frm):
    global stop
    stop = True


signal.signal(signal.SIGINT, on_signal)
signal.signal(signal.SIGTERM, on_signal)


def checksum(b):
    if len(b) % 2:
        b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def send(seq):
    payload = struct.pack('!d', time.monotonic()) + b'lvsadm-bench'
    hdr = struct.pack('!BBHHH', 8, 0, 0, ident, seq)
    pkt = struct.pack('!BBHHH', 8, 0, checksum(hdr + payload), ident, seq) + payload
    sock.sendto(pkt, (addr, 0))
    sent_at[seq] = time.monotonic()


def receive(timeout):
    """Waits up to `timeout` s for one packet; records the RTT if it answers one of ours."""
    r, _, _ = select.select([sock], [], [], timeout)
    if not r:
        return
    data = sock.recv(2048)
    ihl = (data[0] & 0x0F) * 4
    typ, _code, _cs, rid, rseq = struct.unpack('!BBHHH', data[ihl:ihl + 8])
    if typ == 0 and rid == ident and rseq in sent_at:
        rtts.append((time.monotonic() - sent_at.pop(rseq)) * 1000)


seq = 0
next_send = time.monotonic()
while not stop and seq < count:
    if time.monotonic() >= next_send:
        send(seq)
        seq += 1
        next_send += interval_ms / 1000
    receive(max(0.0, min(next_send - time.monotonic(), 0.01)))

# Replies still on the way get a second.
end = time.monotonic() + 1
while sent_at and time.monotonic() < end:
    receive(0.05)

s = sorted(rtts)
print(json.dumps({
    'sent': seq,
    'received': len(rtts),
    'max_ms': round(s[-1], 2) if s else None,
    'p99_ms': round(s[min(len(s) - 1, int(len(s) * 0.99))], 2) if s else None,
    'rtts_over_20ms': sum(1 for x in s if x > 20),
}))
