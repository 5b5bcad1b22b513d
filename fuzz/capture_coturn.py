#!/usr/bin/env python3
"""Capture a real coturn exchange for the fuzz_turn seed corpus.

    fuzz/capture_coturn.py fuzz/captures/coturn

Starts a throwaway coturn on 127.0.0.1 with scripts/coturn.sh (credentials fuzzuser /
fuzzpass, realm firn.example: the ones fuzz_turn signs with), plays a TURN client over UDP and
over TCP (Allocate -> 401 -> Allocate, CreatePermission, data from a peer as a Data
indication, ChannelBind, ChannelData, Refresh, a second Allocate (437), a stale nonce (438),
deallocation) and writes each message coturn sent, byte for byte, to
OUT/<transport>-<nn>-<what>. gen_seeds.py turns them into fuzz_turn programs. Needs coturn
(Debian package `coturn`); sends packets only on loopback.
"""
import hashlib
import hmac
import os
import socket
import struct
import subprocess
import sys
import tempfile
import zlib

COOKIE = 0x2112A442
USER, PASS, REALM = 'fuzzuser', 'fuzzpass', 'firn.example'
KEY = hashlib.md5(('%s:%s:%s' % (USER, REALM, PASS)).encode()).digest()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def attr(t, v):
    pad = (4 - len(v) % 4) % 4
    return struct.pack('>HH', t, len(v)) + v + bytes(pad)


def xaddr(t, ip, port):
    a = socket.inet_aton(ip)
    xa = bytes(x ^ y for x, y in zip(a, struct.pack('>I', COOKIE)))
    return attr(t, struct.pack('>BBH', 0, 1, port ^ (COOKIE >> 16)) + xa)


def msg(mtype, tid, attrs, key=None, fp=True):
    body = b''.join(attrs)
    if key:
        hdr = struct.pack('>HHI', mtype, len(body) + 24, COOKIE) + tid
        mac = hmac.new(key, hdr + body, hashlib.sha1).digest()
        body += attr(0x0008, mac)
    if fp:
        hdr = struct.pack('>HHI', mtype, len(body) + 8, COOKIE) + tid
        crc = (zlib.crc32(hdr + body) ^ 0x5354554E) & 0xffffffff
        body += attr(0x8028, struct.pack('>I', crc))
    return struct.pack('>HHI', mtype, len(body), COOKIE) + tid + body


def parse_attrs(m):
    out = {}
    off = 20
    while off + 4 <= len(m):
        t, l = struct.unpack('>HH', m[off:off + 4])
        out.setdefault(t, m[off + 4:off + 4 + l])
        off += 4 + l + (4 - l % 4) % 4
    return out


def decode_xaddr(v):
    port = struct.unpack('>H', v[2:4])[0] ^ (COOKIE >> 16)
    ip = socket.inet_ntoa(bytes(x ^ y for x, y in zip(v[4:8], struct.pack('>I', COOKIE))))
    return ip, port


class Conn:
    def __init__(self, transport, host, port):
        self.transport = transport
        self.buf = b''
        if transport == 'udp':
            self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.s.connect((host, port))
        else:
            self.s = socket.create_connection((host, port))
        self.s.settimeout(3)

    def send(self, b):
        self.s.send(b)

    def recv(self):
        if self.transport == 'udp':
            return self.s.recv(4096)
        while True:
            if len(self.buf) >= 4:
                if self.buf[0] & 0xc0 == 0x40:
                    n = 4 + struct.unpack('>H', self.buf[2:4])[0]
                    n = (n + 3) & ~3
                else:
                    n = 20 + struct.unpack('>H', self.buf[2:4])[0]
                if len(self.buf) >= n:
                    frame, self.buf = self.buf[:n], self.buf[n:]
                    return frame
            chunk = self.s.recv(4096)
            if not chunk:
                raise EOFError
            self.buf += chunk


def run(transport, env, out):
    host, port = env['FIRN_COTURN_HOST'], int(env['FIRN_COTURN_PORT'])
    c = Conn(transport, host, port)
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(('127.0.0.1', 0))
    peer.settimeout(3)
    n = [0]

    def save(what, data):
        n[0] += 1
        with open(os.path.join(out, '%s-%02d-%s' % (transport, n[0], what)), 'wb') as f:
            f.write(data)

    tid_n = [0]

    def tid():
        tid_n[0] += 1
        return hashlib.sha1(b'firn-fuzz-%s-%d' % (transport.encode(), tid_n[0])).digest()[:12]

    rt = attr(0x0019, bytes([17, 0, 0, 0]))
    c.send(msg(0x0003, tid(), [rt], fp=False))
    r = c.recv()
    save('allocate-401', r)
    nonce = parse_attrs(r)[0x0015]
    auth = [attr(0x0006, USER.encode()), attr(0x0014, REALM.encode()), attr(0x0015, nonce)]
    c.send(msg(0x0003, tid(), [rt, attr(0x000d, struct.pack('>I', 600))] + auth, KEY))
    r = c.recv()
    save('allocate-ok', r)
    relayed = decode_xaddr(parse_attrs(r)[0x0016])
    pip, pport = peer.getsockname()
    c.send(msg(0x0008, tid(), [xaddr(0x0012, pip, pport)] + auth, KEY))
    save('create-permission-ok', c.recv())
    peer.sendto(b'\x80\x00' + bytes(range(40)), relayed)
    save('data-indication', c.recv())
    c.send(msg(0x0009, tid(), [attr(0x000c, struct.pack('>HH', 0x4000, 0)),
                               xaddr(0x0012, pip, pport)] + auth, KEY))
    save('channel-bind-ok', c.recv())
    peer.sendto(b'\x80\x01' + bytes(range(41)), relayed)
    save('channel-data', c.recv())
    c.send(msg(0x0009, tid(), [attr(0x000c, struct.pack('>HH', 0x4001, 0)),
                               xaddr(0x0012, pip, pport)] + auth, KEY))
    save('channel-bind-400', c.recv())
    c.send(msg(0x0004, tid(), [attr(0x000d, struct.pack('>I', 600))] + auth, KEY))
    save('refresh-ok', c.recv())
    c.send(msg(0x0003, tid(), [rt] + auth, KEY))
    save('allocate-437', c.recv())
    stale = [attr(0x0006, USER.encode()), attr(0x0014, REALM.encode()),
             attr(0x0015, b'0000000000000000')]
    c.send(msg(0x0004, tid(), [attr(0x000d, struct.pack('>I', 600))] + stale, KEY))
    save('refresh-438', c.recv())
    c.send(msg(0x0008, tid(), [xaddr(0x0012, pip, pport)] + auth, None))
    save('create-permission-401', c.recv())
    c.send(msg(0x0004, tid(), [attr(0x000d, struct.pack('>I', 0))] + auth, KEY))
    save('refresh-0-ok', c.recv())
    peer.close()
    c.s.close()


def main():
    if len(sys.argv) != 2:
        sys.exit('usage: capture_coturn.py OUT_DIR')
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    d = tempfile.mkdtemp(prefix='firn-coturn-capture-')
    env = dict(os.environ, FIRN_COTURN_USER=USER, FIRN_COTURN_PASS=PASS, FIRN_COTURN_REALM=REALM)
    subprocess.run([os.path.join(ROOT, 'scripts', 'coturn.sh'), 'start', d], check=True, env=env)
    try:
        cenv = {}
        for line in open(os.path.join(d, 'coturn.env')):
            line = line.strip()
            if '=' in line:
                k, v = line.split('=', 1)
                cenv[k.replace('export ', '')] = v.strip("'\"")
        for transport in ('udp', 'tcp'):
            run(transport, cenv, out)
    finally:
        subprocess.run([os.path.join(ROOT, 'scripts', 'coturn.sh'), 'stop', d], env=env)


if __name__ == '__main__':
    main()
