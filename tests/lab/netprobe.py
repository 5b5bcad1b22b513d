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
  turn-echo --transport udp|tcp|tls        TURN client (RFC 8656, long-term
            --dst ADDR:P --user U --pass P credentials): Allocate, CreatePermission
            --realm R --peer-ip IP          for IP, print {"relayed": ...}, then
            [--ca FILE --server-name N]     answer every Data indication with a Send
                                           indication carrying the same bytes back
  punch     --stun ADDR:P --me FILE        UDP hole punching as ICE would try it
            --peer-file FILE                from one socket: learn the srflx address
                                           with a STUN Binding, write it to FILE,
                                           wait for the other side's in --peer-file,
                                           then send to it every 50 ms; answered
                                           (exit 0) once a packet from the other
                                           side's NAT arrives, timeout (3) if none
  turn-send (same options) --peer ADDR:P   Allocate, CreatePermission, send a Send
                                           indication to ADDR:P (another allocation's
                                           relayed address), wait for the echo in a
                                           Data indication, deallocate
"""
import argparse
import hashlib
import hmac
import json
import os
import select
import socket
import ssl
import struct
import sys
import time

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


# ---------------------------------------------------------------- TURN
def xor_addr(ip, port):
    return struct.pack('!BBH4s', 0, 1, port ^ (MAGIC >> 16),
                       struct.pack('!I', struct.unpack('!I', socket.inet_aton(ip))[0] ^ MAGIC))


def attr(t, v):
    return struct.pack('!HH', t, len(v)) + v + b'\0' * ((4 - len(v) % 4) % 4)


def parse_attrs(msg):
    mtype, mlen = struct.unpack('!HH', msg[:4])
    res = {}
    off, body = 0, msg[20:20 + mlen]
    while off + 4 <= len(body):
        at, al = struct.unpack('!HH', body[off:off + 4])
        res.setdefault(at, body[off + 4:off + 4 + al])
        off += 4 + ((al + 3) & ~3)
    return mtype, res


def decode_xor(val):
    port = struct.unpack('!H', val[2:4])[0] ^ (MAGIC >> 16)
    addr = struct.unpack('!I', val[4:8])[0] ^ MAGIC
    return socket.inet_ntoa(struct.pack('!I', addr)), port


class Turn:
    """Minimal TURN client over UDP, TCP or TLS with long-term credentials."""

    def __init__(self, a):
        self.a = a
        self.dst = hostport(a.dst)
        self.key = hashlib.md5(('%s:%s:%s' % (a.user, a.realm, a.password)).encode()).digest()
        self.nonce = None
        self.realm = a.realm.encode()
        if a.transport == 'udp':
            self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.s.connect(self.dst)
        else:
            self.s = socket.create_connection(self.dst, timeout=a.timeout)
            if a.transport == 'tls':
                ctx = ssl.create_default_context(cafile=a.ca)
                self.s = ctx.wrap_socket(self.s, server_hostname=a.server_name or self.dst[0])

    def send(self, msg):
        self.s.sendall(msg) if self.a.transport != 'udp' else self.s.send(msg)

    def recv(self, timeout):
        self.s.settimeout(timeout)
        if self.a.transport == 'udp':
            return self.s.recv(4096)
        hdr = recv_exact(self.s, 4)
        if hdr[0] & 0xC0:      # ChannelData (not used here): skip it
            ln = struct.unpack('!H', hdr[2:4])[0]
            recv_exact(self.s, (ln + 3) & ~3)
            return b''
        ln = struct.unpack('!H', hdr[2:4])[0]
        return hdr + recv_exact(self.s, 16 + ln)

    def build(self, mtype, attrs, auth=True):
        txid = os.urandom(12)
        body = b''.join(attrs)
        if auth and self.nonce is not None:
            body += attr(0x0006, self.a.user.encode()) + attr(0x0014, self.realm) \
                + attr(0x0015, self.nonce)
            hdr = struct.pack('!HHI12s', mtype, len(body) + 24, MAGIC, txid)
            mac = hmac.new(self.key, hdr + body, hashlib.sha1).digest()
            body += attr(0x0008, mac)
        return struct.pack('!HHI12s', mtype, len(body), MAGIC, txid) + body, txid

    def transact(self, mtype, attrs):
        """Request with the 401/438 dance; returns the success response's attributes."""
        for _ in range(3):
            msg, txid = self.build(mtype, attrs)
            self.send(msg)
            deadline = time.monotonic() + self.a.timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise socket.timeout()
                resp = self.recv(left)
                if len(resp) >= 20 and resp[8:20] == txid:
                    break
            rtype, ra = parse_attrs(resp)
            if rtype == mtype | 0x0100:
                return ra
            code = (ra[0x0009][2] & 7) * 100 + ra[0x0009][3] if 0x0009 in ra else 0
            if code in (401, 438) and 0x0015 in ra:
                self.nonce = ra[0x0015]
                if 0x0014 in ra:
                    self.realm = ra[0x0014]
                continue
            raise RuntimeError("request 0x%04x failed: 0x%04x error %d" % (mtype, rtype, code))
        raise RuntimeError("request 0x%04x: authentication loop" % mtype)

    def allocate(self, peer_ip):
        ra = self.transact(0x0003, [attr(0x0019, struct.pack('!B3x', 17))])
        self.relayed = decode_xor(ra[0x0016])
        self.mapped = decode_xor(ra[0x0020]) if 0x0020 in ra else None
        self.transact(0x0008, [attr(0x0012, xor_addr(peer_ip, 0))])

    def send_to(self, peer, data):
        msg, _ = self.build(0x0016, [attr(0x0012, xor_addr(*peer)), attr(0x0013, data)],
                            auth=False)
        self.send(msg)

    def data_indication(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout()
            m = self.recv(left)
            if len(m) >= 20:
                t, ra = parse_attrs(m)
                if t == 0x0017 and 0x0012 in ra and 0x0013 in ra:
                    return decode_xor(ra[0x0012]), ra[0x0013]

    def deallocate(self):
        try:
            self.transact(0x0004, [attr(0x000D, struct.pack('!I', 0))])
        except (OSError, RuntimeError):
            pass


def turn_run(args):
    try:
        t = Turn(args)
        t.allocate(args.peer_ip or hostport(args.peer)[0])
    except socket.timeout:
        out({"ok": False, "error": "timeout", "stage": "allocate"}, 3)
    except (OSError, ConnectionError) as e:
        out({"ok": False, "error": str(e), "stage": "allocate"}, 4)
    except (RuntimeError, KeyError) as e:
        out({"ok": False, "error": str(e), "stage": "allocate"}, 1)
    info = {"relayed": "%s:%d" % t.relayed,
            "mapped": "%s:%d" % t.mapped if t.mapped else None,
            "transport": args.transport}
    if args.cmd == 'turn-echo':
        print(json.dumps(dict(info, ok=True)), flush=True)
        while True:
            try:
                peer, data = t.data_indication(3600)
            except socket.timeout:
                continue
            t.send_to(peer, data)
    payload = os.urandom(16).hex().encode()
    t.send_to(hostport(args.peer), payload)
    try:
        peer, data = t.data_indication(args.timeout)
    except socket.timeout:
        out(dict(info, ok=False, error="timeout", stage="echo"), 3)
    t.deallocate()
    ok = data == payload and peer == hostport(args.peer)
    out(dict(info, ok=ok, echo_from="%s:%d" % peer, echo_ok=data == payload), 0 if ok else 1)


# ---------------------------------------------------------------- hole punching
def punch(args):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('0.0.0.0', 0))
    req, txid = stun_request('binding')
    s.settimeout(args.timeout)
    try:
        s.sendto(req, hostport(args.stun))
        res = parse_stun(s.recvfrom(2048)[0], txid)
    except socket.timeout:
        out({"ok": False, "error": "timeout", "stage": "stun"}, 3)
    except (OSError, ValueError) as e:
        out({"ok": False, "error": str(e), "stage": "stun"}, 4)
    mine = res["mapped"]
    with open(args.me + '.tmp', 'w') as f:
        f.write(mine)
    os.rename(args.me + '.tmp', args.me)
    deadline = time.monotonic() + args.timeout
    while not os.path.exists(args.peer_file):
        if time.monotonic() > deadline:
            out({"ok": False, "error": "peer never published its address", "mine": mine}, 1)
        time.sleep(0.01)
    peer = hostport(open(args.peer_file).read().strip())
    got = None
    nxt = 0.0
    while time.monotonic() < deadline:
        now = time.monotonic()
        if now >= nxt:
            s.sendto(b"punch", peer)
            nxt = now + 0.05
        s.settimeout(max(0.001, min(nxt, deadline) - now))
        try:
            data, src = s.recvfrom(2048)
        except socket.timeout:
            continue
        if data == b"punch" and src[0] == peer[0]:
            got = src
            # keep sending for a moment so the other side gets through too
            for _ in range(5):
                s.sendto(b"punch", peer)
                time.sleep(0.02)
            break
    if got is None:
        out({"ok": False, "error": "timeout", "mine": mine, "peer": "%s:%d" % peer}, 3)
    out({"ok": True, "mine": mine, "peer": "%s:%d" % peer, "from": "%s:%d" % got}, 0)


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
    p = sub.add_parser('punch')
    p.add_argument('--stun', required=True)
    p.add_argument('--me', required=True)
    p.add_argument('--peer-file', required=True)
    p.add_argument('--timeout', type=float, default=2.0)
    for name in ('turn-echo', 'turn-send'):
        p = sub.add_parser(name)
        p.add_argument('--transport', choices=('udp', 'tcp', 'tls'), default='udp')
        p.add_argument('--dst', required=True)
        p.add_argument('--user', required=True)
        p.add_argument('--pass', dest='password', required=True)
        p.add_argument('--realm', required=True)
        p.add_argument('--ca')
        p.add_argument('--server-name')
        p.add_argument('--timeout', type=float, default=3.0)
        if name == 'turn-echo':
            p.add_argument('--peer-ip', required=True)
        else:
            p.add_argument('--peer', required=True)
            p.add_argument('--peer-ip')
    a = ap.parse_args()
    {'udp-echo': udp_echo, 'tcp-echo': tcp_echo, 'udp-probe': udp_probe,
     'tcp-probe': tcp_probe, 'stun': stun, 'turn-echo': turn_run,
     'turn-send': turn_run, 'punch': punch}[a.cmd](a)


if __name__ == '__main__':
    main()
