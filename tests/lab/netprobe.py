#!/usr/bin/python3
"""Small network probes for the firn namespace lab (tests/lab/).

Runs inside a namespace via `lab_exec NS /usr/bin/python3 netprobe.py ...`.
Standard library only. Every client waits at most --timeout seconds; a probe
that gets no answer prints {"ok": false, "error": "timeout"} and exits 3; one
that fails visibly (no route, connection refused, ICMP unreachable, TLS
verification) exits 4; a malformed or unexpected answer exits 1; an expected
answer exits 0. So a test can tell "silently dropped" from "refused".

Subcommands
  udp-echo  --bind ADDR --ports P[,P...]   reply to each datagram with JSON
                                           {"seen": "ip:port", "port": P}: the
                                           source address the server observed
  tcp-echo  --bind ADDR --ports P[,P...]   same for each TCP connection (one
                                           JSON line, then close)
  udp-probe --dst ADDR:P[,ADDR:P...]       send one datagram from ONE socket to
            [--src ADDR] [--src-port N]    each destination, print the list of
                                           replies (what each server saw)
  tcp-probe --dst ADDR:P                   connect, print the server's line
  stun      --transport udp|tcp|tls        RFC 8489 Binding request (20-byte
            --dst ADDR:P [--ca FILE]       header crafted here); checks the
            [--server-name NAME]           response type 0x0101 and transaction
            [--method binding|allocate]    id, prints XOR-MAPPED-ADDRESS; with
                                           allocate (no credentials) expects the
                                           401 error response 0x0113
"""
import argparse
import json
import os
import select
import socket
import ssl
import struct
import sys

MAGIC = 0x2112A442


def hostport(s):
    host, _, port = s.rpartition(':')
    return host.strip('[]'), int(port)


def out(obj, code):
    print(json.dumps(obj), flush=True)
    sys.exit(code)


# ---------------------------------------------------------------- servers
def udp_echo(args):
    socks = []
    for p in args.ports.split(','):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((args.bind, int(p)))
        socks.append(s)
    while True:
        r, _, _ = select.select(socks, [], [])
        for s in r:
            data, peer = s.recvfrom(2048)
            reply = {"seen": "%s:%d" % peer, "port": s.getsockname()[1],
                     "echo": data.decode('ascii', 'replace')[:64]}
            s.sendto(json.dumps(reply).encode(), peer)


def tcp_echo(args):
    socks = []
    for p in args.ports.split(','):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((args.bind, int(p)))
        s.listen(16)
        socks.append(s)
    while True:
        r, _, _ = select.select(socks, [], [])
        for s in r:
            c, peer = s.accept()
            try:
                reply = {"seen": "%s:%d" % peer, "port": s.getsockname()[1]}
                c.sendall((json.dumps(reply) + "\n").encode())
            except OSError:
                pass
            finally:
                c.close()


# ---------------------------------------------------------------- clients
def udp_probe(args):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((args.src or '0.0.0.0', args.src_port or 0))
    dsts = [hostport(d) for d in args.dst.split(',')]
    replies = []
    for i, d in enumerate(dsts):
        s.settimeout(args.timeout)
        try:
            s.sendto(("probe-%d" % i).encode(), d)
            data, _ = s.recvfrom(2048)
        except socket.timeout:
            out({"ok": False, "error": "timeout", "dst": "%s:%d" % d,
                 "local": "%s:%d" % s.getsockname(), "replies": replies}, 3)
        except OSError as e:   # no route, ICMP unreachable: an answer, not silence
            out({"ok": False, "error": str(e), "dst": "%s:%d" % d, "replies": replies}, 4)
        replies.append(json.loads(data))
    out({"ok": True, "local": "%s:%d" % s.getsockname(), "replies": replies}, 0)


def tcp_probe(args):
    d = hostport(args.dst)
    try:
        c = socket.create_connection(d, timeout=args.timeout)
        line = c.makefile('rb').readline()
    except socket.timeout:
        out({"ok": False, "error": "timeout", "dst": args.dst}, 3)
    except OSError as e:
        out({"ok": False, "error": str(e), "dst": args.dst}, 4)
    out({"ok": True, "reply": json.loads(line)}, 0)


def stun_request(method):
    txid = os.urandom(12)
    if method == 'allocate':
        # REQUESTED-TRANSPORT (0x0019): UDP (17), 3 bytes RFFU
        attrs = struct.pack('!HHB3x', 0x0019, 4, 17)
        mtype = 0x0003
    else:
        attrs = b''
        mtype = 0x0001
    return struct.pack('!HHI12s', mtype, len(attrs), MAGIC, txid) + attrs, txid


def parse_stun(msg, txid):
    if len(msg) < 20:
        raise ValueError("short STUN message (%d bytes)" % len(msg))
    mtype, mlen, cookie, rtxid = struct.unpack('!HHI12s', msg[:20])
    if cookie != MAGIC:
        raise ValueError("bad magic cookie 0x%08x" % cookie)
    if rtxid != txid:
        raise ValueError("transaction id mismatch")
    res = {"type": "0x%04x" % mtype}
    body = msg[20:20 + mlen]
    off = 0
    while off + 4 <= len(body):
        at, al = struct.unpack('!HH', body[off:off + 4])
        val = body[off + 4:off + 4 + al]
        if at == 0x0020 and al >= 8 and val[1] == 1:   # XOR-MAPPED-ADDRESS, IPv4
            port = struct.unpack('!H', val[2:4])[0] ^ (MAGIC >> 16)
            addr = struct.unpack('!I', val[4:8])[0] ^ MAGIC
            res["mapped"] = "%s:%d" % (socket.inet_ntoa(struct.pack('!I', addr)), port)
        elif at == 0x0009 and al >= 4:                  # ERROR-CODE
            res["error_code"] = (val[2] & 7) * 100 + val[3]
        elif at == 0x0014:                              # REALM
            res["realm"] = val.decode('utf-8', 'replace')
        elif at == 0x8022:                              # SOFTWARE
            res["software"] = val.decode('utf-8', 'replace')
        off += 4 + ((al + 3) & ~3)
    return res


def recv_exact(sock, n):
    buf = b''
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def stun(args):
    d = hostport(args.dst)
    req, txid = stun_request(args.method)
    try:
        if args.transport == 'udp':
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(args.timeout)
            s.sendto(req, d)
            msg, _ = s.recvfrom(2048)
            local = s.getsockname()
        else:
            s = socket.create_connection(d, timeout=args.timeout)
            local = s.getsockname()
            if args.transport == 'tls':
                ctx = ssl.create_default_context(cafile=args.ca)
                if args.ca is None:
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
                s = ctx.wrap_socket(s, server_hostname=args.server_name or d[0])
            s.sendall(req)
            hdr = recv_exact(s, 20)
            mlen = struct.unpack('!H', hdr[2:4])[0]
            msg = hdr + recv_exact(s, mlen)
    except socket.timeout:
        out({"ok": False, "error": "timeout", "dst": args.dst,
             "transport": args.transport}, 3)
    except (OSError, ConnectionError) as e:
        out({"ok": False, "error": str(e), "dst": args.dst,
             "transport": args.transport}, 4)
    try:
        res = parse_stun(msg, txid)
    except ValueError as e:
        out({"ok": False, "error": str(e)}, 1)
    res["local"] = "%s:%d" % local
    res["transport"] = args.transport
    want = "0x0113" if args.method == 'allocate' else "0x0101"
    res["ok"] = res["type"] == want
    out(res, 0 if res["ok"] else 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest='cmd', required=True)
    for name in ('udp-echo', 'tcp-echo'):
        p = sub.add_parser(name)
        p.add_argument('--bind', default='0.0.0.0')
        p.add_argument('--ports', required=True)
    p = sub.add_parser('udp-probe')
    p.add_argument('--dst', required=True)
    p.add_argument('--src')
    p.add_argument('--src-port', type=int)
    p.add_argument('--timeout', type=float, default=1.0)
    p = sub.add_parser('tcp-probe')
    p.add_argument('--dst', required=True)
    p.add_argument('--timeout', type=float, default=1.0)
    p = sub.add_parser('stun')
    p.add_argument('--transport', choices=('udp', 'tcp', 'tls'), default='udp')
    p.add_argument('--dst', required=True)
    p.add_argument('--ca')
    p.add_argument('--server-name')
    p.add_argument('--method', choices=('binding', 'allocate'), default='binding')
    p.add_argument('--timeout', type=float, default=2.0)
    a = ap.parse_args()
    {'udp-echo': udp_echo, 'tcp-echo': tcp_echo, 'udp-probe': udp_probe,
     'tcp-probe': tcp_probe, 'stun': stun}[a.cmd](a)


if __name__ == '__main__':
    main()
