#!/usr/bin/env python3
"""Seed programs for fuzz_agent, fuzz_turn, fuzz_dtls and fuzz_sdp.

    fuzz/gen_seeds.py fuzz/corpus      (deterministic; commit the output)

The programs follow the formats documented at the top of each target. They are scenarios a
real peer or server plays (answered checks, nomination, role conflicts, consent, restart,
ICE-TCP, TURN allocation with 401 and relayed checks); the messages themselves are built by
the harness from the program, so they are valid for the agent's current credentials and
transaction IDs. Real captured packets (coturn, browsers) are added by other generators and
committed next to these.
"""
import os
import struct
import sys

# ---------------------------------------------------------------------------------------
# fuzz_agent (opcodes: fuzz.h FUZZ_AGENT_OP_*)

RAW, REQUEST, RESPONSE, ADVANCE, TO_EXPIRY, POLL, WRITE, RESTART, CANDIDATE, TCP, EOC, \
    DESTROY_IN_CB, CLOSE = range(13)

# options
CONTROLLED, LITE, TWO_COMP, ICE_TCP, STUN_SRV, TURN_SRV, REMOTE_LITE, RELAY_ONLY = \
    (1 << i for i in range(8))
# locals / remotes (fuzz_agent.c)
L_ETH0, L_WLAN0, L_V6, L_COMP2, L_TCP, L_UNKNOWN, L_RELAYED = range(7)
R_HOST, R_SRFLX, R_V6, R_COMP2, R_TCP_PASSIVE, R_TCP_ACTIVE, R_UNKNOWN, R_STUN, R_TURN = range(9)
# via
VIA_UDP, VIA_TURN_DATA, VIA_TURN_CHANNEL, VIA_TCP = range(4)
# request flags
REQ_USERNAME_WRONG, REQ_NO_PRIORITY, REQ_CONTROLLING, REQ_CONTROLLED, REQ_USE_CANDIDATE, \
    REQ_SHA256, REQ_NO_INTEGRITY, REQ_NO_FINGERPRINT = (1 << i for i in range(8))
# response flags
RSP_ERROR, RSP_OTHER_MAPPED, RSP_WRONG_KEY, RSP_NO_INTEGRITY, RSP_SHA256, RSP_NO_FINGERPRINT, \
    RSP_FROM_ELSEWHERE, RSP_CHANNEL = (1 << i for i in range(8))
ERR = {487: 0, 400: 1, 401: 2, 438: 3, 500: 4, 420: 5, 437: 6, 403: 7, 486: 8, 508: 9, 300: 10,
       441: 11}


def path(local, remote):
    return local | (remote << 3)


class Prog:
    def __init__(self, options, seed=1):
        self.b = bytearray([options, seed])

    def op(self, code, *fields):
        self.b.append(code)
        for f in fields:
            if isinstance(f, (bytes, bytearray)):
                self.b += f
            else:
                self.b.append(f & 0xff)
        return self

    def raw(self, local, remote, data, via=VIA_UDP, conn=0):
        return self.op(RAW, path(local, remote), via | (conn << 2), struct.pack('>H', len(data)),
                       data)

    def request(self, local, remote, flags, via=VIA_UDP, tiebreaker=None, prio=0, tid=0,
                attrs=b'', nattrs=0, conn=0):
        tb = bytes([1]) + struct.pack('>Q', tiebreaker) if tiebreaker is not None else bytes([0])
        return self.op(REQUEST, path(local, remote), flags, via | (conn << 2), tb,
                       struct.pack('>I', prio), tid, nattrs, attrs)

    def response(self, idx, flags=0, err=0, pick=0, attrs=b'', nattrs=0):
        return self.op(RESPONSE, idx, flags, ERR.get(err, 0) | (pick << 4) if err else pick,
                       nattrs, attrs)

    def advance(self, ms):
        while ms > 0xffff:
            self.op(ADVANCE, struct.pack('>H', 0xffff))
            ms -= 0xffff
        return self.op(ADVANCE, struct.pack('>H', ms))

    def write(self, comp, data):
        return self.op(WRITE, comp - 1, len(data), data)

    def cand(self, text):
        t = text.encode()
        return self.op(CANDIDATE, len(t), t)


def rtp(n, size=40):
    return bytes([0x80, 0x00]) + struct.pack('>HII', n, 160 * n, 0x1234) + bytes(
        (n * 7 + i) & 0xff for i in range(size))


def answer_all(p, count=16, flags=0):
    for i in range(count):
        p.response(i, flags)
    return p


def agent_seeds():
    s = {}
    # controlling full agent: checks go out, every one is answered, nomination, media, consent
    p = Prog(0)
    p.op(POLL).advance(50).advance(50).advance(50).advance(50)
    answer_all(p, 8)
    p.advance(200)
    answer_all(p, 16)
    p.advance(500).write(1, rtp(1)).raw(L_ETH0, R_HOST, rtp(2))
    for _ in range(8):
        p.advance(5000)
        answer_all(p, 4)
    p.write(1, rtp(3))
    s['agent-controlling-answered'] = p.b

    # controlled: the peer checks us with USE-CANDIDATE (aggressive/regular nomination)
    p = Prog(CONTROLLED, 2)
    p.op(POLL)
    p.request(L_ETH0, R_HOST, REQ_CONTROLLING, tiebreaker=0x1122334455667788)
    p.advance(50)
    answer_all(p, 6)
    p.request(L_ETH0, R_HOST, REQ_CONTROLLING | REQ_USE_CANDIDATE, tiebreaker=0x1122334455667788)
    p.advance(100).raw(L_ETH0, R_HOST, rtp(1)).write(1, rtp(2))
    p.advance(30000).op(TO_EXPIRY).op(TO_EXPIRY)
    s['agent-controlled-nominated'] = p.b

    # role conflict both ways: the peer claims our role with a higher and a lower tie-breaker
    for role, flags in (('controlling', REQ_CONTROLLING), ('controlled', REQ_CONTROLLED)):
        for tb, name in ((0xffffffffffffffff, 'high'), (1, 'low')):
            p = Prog(0 if role == 'controlling' else CONTROLLED, 3)
            p.op(POLL).request(L_ETH0, R_HOST, flags, tiebreaker=tb)
            p.advance(50).response(0, RSP_ERROR, 487).response(1, RSP_ERROR, 487)
            p.advance(100)
            answer_all(p, 6)
            p.request(L_ETH0, R_HOST, flags ^ (REQ_CONTROLLING | REQ_CONTROLLED), tiebreaker=tb)
            s['agent-role-conflict-%s-%s' % (role, name)] = p.b

    # peer-reflexive: checks from an unknown address, responses mapping us elsewhere
    p = Prog(CONTROLLED, 4)
    p.request(L_ETH0, R_UNKNOWN, REQ_CONTROLLING | REQ_USE_CANDIDATE, tiebreaker=5, prio=0x6e0001ff)
    p.op(POLL).advance(50)
    answer_all(p, 6, RSP_OTHER_MAPPED)
    p.advance(1000).raw(L_ETH0, R_UNKNOWN, rtp(9))
    p.request(L_WLAN0, R_SRFLX, REQ_CONTROLLING | REQ_SHA256, tiebreaker=5)
    p.request(L_V6, R_V6, REQ_CONTROLLING | REQ_USE_CANDIDATE, tiebreaker=5)
    s['agent-prflx'] = p.b

    # unauthenticated / wrong credentials / malformed checks and responses are dropped
    p = Prog(0, 5)
    p.op(POLL).advance(60)
    p.request(L_ETH0, R_HOST, REQ_USERNAME_WRONG | REQ_CONTROLLED)
    p.request(L_ETH0, R_HOST, REQ_NO_INTEGRITY | REQ_CONTROLLED)
    p.request(L_ETH0, R_HOST, REQ_NO_PRIORITY | REQ_CONTROLLED | REQ_NO_FINGERPRINT)
    p.response(0, RSP_WRONG_KEY).response(1, RSP_NO_INTEGRITY).response(2, RSP_FROM_ELSEWHERE)
    p.response(0, RSP_ERROR, 400).response(1, RSP_ERROR, 500).response(2, RSP_ERROR, 420)
    p.raw(L_ETH0, R_HOST, bytes.fromhex('000100002112a442') + bytes(12))
    p.raw(L_ETH0, R_HOST, bytes.fromhex('0101000c2112a442') + bytes(12) + bytes.fromhex('802800040000'))
    p.raw(L_UNKNOWN, R_HOST, rtp(1)).raw(L_ETH0, R_HOST, b'').raw(L_ETH0, R_HOST, bytes([1, 2, 3]))
    p.request(L_ETH0, R_HOST, REQ_CONTROLLED, nattrs=3,
              attrs=struct.pack('>HB', 0x0024, 4) + b'\x00\x00\x00\x01' +
              struct.pack('>HB', 0x8029, 8) + bytes(8) + struct.pack('>HB', 0x0003, 0))
    s['agent-hostile'] = p.b

    # two components, STUN server, end-of-candidates, trickled candidates
    p = Prog(TWO_COMP | STUN_SRV, 6)
    p.op(POLL).advance(50)
    answer_all(p, 10)
    p.cand('candidate:9 1 udp 2130706431 10.0.0.3 6100 typ host')
    p.cand('a=candidate:9 2 udp 2130706430 10.0.0.3 6101 typ host\r\n')
    p.cand('candidate:7 1 udp 16777215 198.51.100.20 3478 typ relay raddr 0.0.0.0 rport 0')
    p.op(EOC).advance(100)
    answer_all(p, 16)
    p.advance(1000).write(1, rtp(1)).write(2, rtp(2)).raw(L_COMP2, R_COMP2, rtp(3))
    s['agent-two-components-stun'] = p.b

    # ICE restart after connecting; old pair keeps media until a new one is selected
    p = Prog(0, 7)
    p.op(POLL).advance(50)
    answer_all(p, 6)
    p.advance(200)
    answer_all(p, 16)
    p.write(1, rtp(1)).op(RESTART, 1).op(POLL).write(1, rtp(2)).advance(50)
    answer_all(p, 16)
    p.advance(200).write(1, rtp(3))
    s['agent-restart'] = p.b

    # consent lost: nothing answered after connecting -> disconnected, failed
    p = Prog(CONTROLLED, 8)
    p.request(L_ETH0, R_HOST, REQ_CONTROLLING | REQ_USE_CANDIDATE, tiebreaker=9)
    p.op(POLL).advance(50)
    answer_all(p, 4)
    p.advance(100)
    for _ in range(10):
        p.advance(5000)
    p.write(1, rtp(1))
    s['agent-consent-lost'] = p.b

    # lite agent answering a full controlling peer
    p = Prog(LITE | CONTROLLED, 9)
    p.request(L_ETH0, R_HOST, REQ_CONTROLLING, tiebreaker=1)
    p.request(L_ETH0, R_HOST, REQ_CONTROLLING | REQ_USE_CANDIDATE, tiebreaker=1)
    p.raw(L_ETH0, R_HOST, rtp(1)).write(1, rtp(2)).advance(40000)
    s['agent-lite'] = p.b

    # full agent facing a lite peer (takes control)
    p = Prog(CONTROLLED | REMOTE_LITE, 10)
    p.op(POLL).advance(50)
    answer_all(p, 8)
    p.advance(100)
    answer_all(p, 8)
    p.write(1, rtp(1))
    s['agent-remote-lite'] = p.b

    # ICE-TCP: the peer connects to our passive candidate and checks; we connect to its
    # passive candidate (active) and it answers
    p = Prog(ICE_TCP | CONTROLLED, 11)
    p.op(POLL).op(TCP, 0, 1)  # accept from the active remote
    p.request(L_TCP, R_TCP_ACTIVE, REQ_CONTROLLING | REQ_USE_CANDIDATE, via=VIA_TCP,
              tiebreaker=3, conn=0)
    p.advance(50).op(TCP, 1, 1).op(TCP, 1, 3).op(POLL)
    answer_all(p, 8)
    p.advance(500).write(1, rtp(1))
    p.raw(L_TCP, R_TCP_ACTIVE, b'\x00\x0c' + rtp(1, 0), via=VIA_TCP)
    p.raw(L_TCP, R_TCP_ACTIVE, b'\xff\xff\x00', via=VIA_TCP)
    p.op(TCP, 2, 0).op(TCP, 3, 5).advance(6000)
    s['agent-ice-tcp'] = p.b

    # ICE-TCP only connections that never authenticate are closed
    p = Prog(ICE_TCP, 12)
    for i in range(10):
        p.op(TCP, 0, i)
    p.raw(L_TCP, R_UNKNOWN, b'\x00\x14' + bytes(20), via=VIA_TCP, conn=1)
    p.raw(L_TCP, R_UNKNOWN, b'\x10\x00' + bytes(100), via=VIA_TCP, conn=2)
    p.advance(6000)
    s['agent-ice-tcp-hostile'] = p.b

    # TURN: 401 -> authenticated Allocate -> relay candidate, permissions, channel, relayed
    # checks both ways, refresh, then close (deallocate)
    for name, opts in (('turn', TURN_SRV), ('turn-relay-only', TURN_SRV | RELAY_ONLY | CONTROLLED)):
        p = Prog(opts, 13)
        p.op(POLL)
        p.response(0, RSP_ERROR, 401).response(1, RSP_ERROR, 401).op(POLL)
        for i in range(16):
            p.response(i, 0, pick=0)
        p.op(POLL).advance(50)
        for i in range(16):
            p.response(i, 0)
        p.advance(50)
        p.request(L_RELAYED, R_HOST, REQ_CONTROLLING | REQ_USE_CANDIDATE if opts & CONTROLLED
                  else REQ_CONTROLLED, via=VIA_TURN_DATA, tiebreaker=7)
        for i in range(16):
            p.response(i, RSP_CHANNEL if i & 1 else 0)
        p.advance(300)
        for i in range(16):
            p.response(i, 0)
        p.write(1, rtp(1)).raw(L_ETH0, R_HOST, rtp(2), via=VIA_TURN_DATA)
        p.raw(L_ETH0, R_HOST, rtp(3), via=VIA_TURN_CHANNEL)
        p.advance(0xffff).advance(0xffff)
        for i in range(16):
            p.response(i, 0)
        p.response(0, RSP_ERROR, 438, pick=3).response(1, RSP_ERROR, 437)
        p.op(CLOSE).op(POLL).response(0, 0)
        s['agent-' + name] = p.b

    # destroy from inside a callback (state change, data)
    p = Prog(CONTROLLED, 14)
    p.op(DESTROY_IN_CB)
    p.request(L_ETH0, R_HOST, REQ_CONTROLLING | REQ_USE_CANDIDATE, tiebreaker=9)
    p.op(POLL).advance(50)
    answer_all(p, 6)
    s['agent-destroy-in-callback'] = p.b

    # many remote candidates and unknown-address checks: tables stay bounded
    p = Prog(0, 15)
    for i in range(120):
        p.cand('candidate:%d 1 udp %d 10.1.%d.%d %d typ host' % (i, 2130706431 - i, i // 250,
                                                                  i % 250, 1000 + i))
    for i in range(40):
        p.request(L_ETH0, R_UNKNOWN, REQ_CONTROLLED, tid=i, tiebreaker=i)
    p.advance(50).op(POLL)
    s['agent-bounds'] = p.b
    return s


def write(dirpath, seeds):
    os.makedirs(dirpath, exist_ok=True)
    for name, data in sorted(seeds.items()):
        with open(os.path.join(dirpath, name), 'wb') as f:
            f.write(bytes(data))


def main():
    if len(sys.argv) != 2:
        sys.exit('usage: gen_seeds.py CORPUS_DIR')
    out = sys.argv[1]
    write(os.path.join(out, 'agent'), agent_seeds())


if __name__ == '__main__':
    main()
