#!/usr/bin/python3
"""A stand-in for firn-peer that speaks the same signaling contract (DESIGN.md), used
only to prove the lab's call plumbing (lab_call) before firn's agent exists.

fakepeer.py --offer|--answer --ip ADDR [--packets N] [--quiet S]
Binds one UDP socket on ADDR, prints an SDP with one host candidate and a line '.',
reads the remote SDP up to its '.' line (offerer prints first; the answerer prints after
reading), sends N datagrams to the remote host candidate, receives until it has N or S
seconds pass without traffic, prints one JSON summary line and exits 0 if all N arrived
intact, 1 if not, 2 on an SDP error. No ICE, no DTLS: plain UDP to the remote host
candidate, so it connects only where direct UDP works.
"""
import argparse
import json
import socket
import sys
import time


def read_sdp():
    lines = []
    for raw in sys.stdin:
        line = raw.rstrip('\n').rstrip('\r')
        if line == '.':
            return lines
        lines.append(line)
    raise EOFError("stdin closed before the '.' line")


def main():
    ap = argparse.ArgumentParser()
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument('--offer', action='store_true')
    g.add_argument('--answer', action='store_true')
    ap.add_argument('--ip', required=True)
    ap.add_argument('--packets', type=int, default=5)
    ap.add_argument('--quiet', type=float, default=1.0)
    a = ap.parse_args()

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a.ip, 0))
    port = s.getsockname()[1]
    sdp = ["v=0", "o=- 1 1 IN IP4 %s" % a.ip, "s=-", "t=0 0",
           "m=audio %d RTP/SAVPF 0" % port, "c=IN IP4 %s" % a.ip, "a=mid:0",
           "a=candidate:1 1 udp 2130706431 %s %d typ host" % (a.ip, port),
           "a=end-of-candidates"]

    def emit():
        sys.stdout.write("\r\n".join(sdp) + "\r\n.\r\n")
        sys.stdout.flush()

    try:
        if a.offer:
            emit()
            remote = read_sdp()
        else:
            remote = read_sdp()
            emit()
        cand = [l for l in remote if l.startswith("a=candidate:")][0].split()
        raddr = (cand[4], int(cand[5]))
    except (EOFError, IndexError, ValueError) as e:
        print("fakepeer: SDP error: %s" % e, file=sys.stderr)
        sys.exit(2)

    t0 = time.monotonic()
    for n in range(a.packets):
        s.sendto(b"fake-%d" % n, raddr)
    got = set()
    ok = True
    s.settimeout(a.quiet)
    while len(got) < a.packets:
        try:
            data, src = s.recvfrom(2048)
        except socket.timeout:
            break
        if src != raddr or not data.startswith(b"fake-"):
            ok = False
            continue
        got.add(data)
    print(json.dumps({
        "selected_pair": "host/udp %s:%d <-> host/udp %s:%d" % (a.ip, port, raddr[0], raddr[1]),
        "dtls": "none", "sent": a.packets, "received": len(got),
        "payload_ok": ok and len(got) == a.packets,
        "connect_ms": round((time.monotonic() - t0) * 1000, 1)}), flush=True)
    sys.exit(0 if ok and len(got) == a.packets else 1)


if __name__ == '__main__':
    main()
