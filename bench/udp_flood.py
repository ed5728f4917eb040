#!/usr/bin/env python3
"""UDP flood sender and sink for skbtracer's benchmarks.

  udp_flood.py send DST PORT SECONDS   -> prints packets sent
  udp_flood.py sink PORT SECONDS       -> prints packets received

Both are bounded in time; the sender only sends to the address it is given
(a lab namespace's address). The sink also ends on SIGTERM, once its queue is
drained: the scripts start it before the sender and stop it after, so its own
start-up on a busy machine cannot cut the count short.
"""
import signal
import socket
import sys
import time


def send(dst, port, seconds):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    payload = b"x" * 64
    n = 0
    end = time.monotonic() + seconds
    while True:
        for _ in range(256):
            try:
                s.sendto(payload, (dst, port))
                n += 1
            except OSError:
                pass
        if time.monotonic() >= end:
            break
    print(n)


def sink(port, seconds):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(("0.0.0.0", port))
    s.settimeout(0.2)
    n = 0
    end = time.monotonic() + seconds
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    while time.monotonic() < end and not stopping:
        try:
            while True:
                s.recv(2048)
                n += 1
        except socket.timeout:
            pass
    print(n)


if __name__ == "__main__":
    if sys.argv[1] == "send":
        send(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    else:
        sink(int(sys.argv[2]), float(sys.argv[3]))
