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
    def __init__(self, options, seed=1, fail=0):
        self.b = bytearray([options, seed, fail])

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

    # both sides restart (new remote credentials too); the peer checks with the new ones
    p = Prog(CONTROLLED, 16)
    p.request(L_ETH0, R_HOST, REQ_CONTROLLING | REQ_USE_CANDIDATE, tiebreaker=9)
    p.op(POLL).advance(50)
    answer_all(p, 6)
    p.write(1, rtp(1)).op(RESTART, 2).op(POLL)
    p.request(L_ETH0, R_HOST, REQ_CONTROLLING | REQ_USE_CANDIDATE, tiebreaker=9)
    p.advance(50)
    answer_all(p, 8)
    p.advance(200).write(1, rtp(2)).raw(L_ETH0, R_HOST, rtp(3))
    s['agent-restart-both'] = p.b

    # after our restart the peer still checks with the old credentials for a while
    p = Prog(CONTROLLED, 17)
    p.request(L_ETH0, R_HOST, REQ_CONTROLLING | REQ_USE_CANDIDATE, tiebreaker=9)
    p.op(POLL).advance(50)
    answer_all(p, 6)
    p.op(RESTART, 0).op(POLL)
    p.op(REQUEST, path(L_ETH0, R_HOST), REQ_USERNAME_WRONG | REQ_CONTROLLING | REQ_USE_CANDIDATE,
         0, 4, struct.pack('>I', 0), 0, 0)
    p.advance(1000).raw(L_ETH0, R_HOST, rtp(1)).op(RESTART, 3).op(POLL)
    p.op(REQUEST, path(L_ETH0, R_HOST), REQ_USERNAME_WRONG | REQ_CONTROLLING, 0, 4,
         struct.pack('>I', 0), 0, 0)
    s['agent-restart-old-credentials'] = p.b

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

    # TURN over TCP: the agent asks for a connection per host IP, the runtime reports it
    # open, the allocation runs on the stream, relayed checks come back as Data indications
    # and padded ChannelData on the same connection
    p = Prog(TURN_SRV | RELAY_ONLY | CONTROLLED, 0x80 | 13)
    p.op(POLL).op(TCP, 1, 1).op(TCP, 1, 3).op(POLL)
    p.response(0, RSP_ERROR, 401).response(1, RSP_ERROR, 401).op(POLL)
    for i in range(16):
        p.response(i, 0)
    p.op(POLL).advance(50)
    for i in range(16):
        p.response(i, 0)
    p.advance(50)
    p.request(L_RELAYED, R_HOST, REQ_CONTROLLING | REQ_USE_CANDIDATE, via=VIA_TURN_DATA, tiebreaker=7)
    for i in range(16):
        p.response(i, RSP_CHANNEL if i & 1 else 0)
    p.advance(300)
    for i in range(16):
        p.response(i, 0)
    p.write(1, rtp(1)).raw(L_ETH0, R_HOST, rtp(2), via=VIA_TURN_DATA)
    p.raw(L_ETH0, R_HOST, rtp(3), via=VIA_TURN_CHANNEL)
    p.op(TCP, 2, 0).advance(1000).op(CLOSE).op(POLL)
    s['agent-turn-tcp'] = p.b

    # allocation failures: one at each of the first allocations after setup, and all of
    # them from some point, during checks, nomination, TURN and ICE-TCP
    for n in (1, 2, 3, 5, 8, 13, 21, 34):
        p = Prog(TURN_SRV | ICE_TCP | CONTROLLED, 21, n)
        p.op(POLL).response(0, RSP_ERROR, 401).op(POLL).response(0).op(TCP, 0, 1)
        p.request(L_ETH0, R_HOST, REQ_CONTROLLING | REQ_USE_CANDIDATE, tiebreaker=3)
        p.advance(50)
        answer_all(p, 8)
        p.write(1, rtp(1)).op(RESTART, 1).advance(100)
        answer_all(p, 4)
        s['agent-nomem-%d' % n] = p.b
    p = Prog(TURN_SRV | CONTROLLED, 22, 0x80 | 10)
    p.op(POLL).response(0, RSP_ERROR, 401).op(POLL).response(0)
    p.request(L_ETH0, R_HOST, REQ_CONTROLLING | REQ_USE_CANDIDATE, tiebreaker=3)
    p.advance(50)
    answer_all(p, 8)
    p.advance(6000)
    s['agent-nomem-from-10'] = p.b

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


# ---------------------------------------------------------------------------------------
# fuzz_turn (opcodes: fuzz.h FUZZ_TURN_OP_*)

T_RAW, T_RESPONSE, T_PEER_DATA, T_ADVANCE, T_TO_EXPIRY, T_POLL, T_PERMIT, T_BIND, T_REMOVE, \
    T_WRAP, T_FRAME_LENGTH, T_CONNECTION, T_CLOSE, T_FREE_ON_READY, T_RESIGNED = range(15)
T_UDP, T_TCP, T_TLS = 0, 1, 2
T_V6, T_DUAL, T_SMALL, T_LIFETIME60, T_SOFTWARE, T_FREE = 4, 8, 16, 32, 64, 128
# response flags
TR_ERROR, TR_NO_SIGN, TR_SHA256_KEY, TR_MI256, TR_FP, TR_WRONG_SOURCE, TR_NO_ADDRS, TR_DUAL = \
    (1 << i for i in range(8))
TCODES = [401, 438, 437, 300, 400, 403, 420, 440, 441, 442, 443, 446, 447, 486, 500, 508]
# peers
TP_PEER1, TP_PEER2, TP_PEER1_OTHER_PORT, TP_PEER6, TP_STRANGER = range(5)
# peer data kinds
TD_DATA, TD_CHANNEL, TD_NO_DATA, TD_BAD_LENGTH = range(4)


class TurnProg(Prog):
    def __init__(self, options, seed=1):
        self.b = bytearray([options, seed])

    def response(self, back=0, flags=0, err=None, pick=0, attrs=b'', nattrs=0):
        if err is not None:
            flags |= TR_ERROR
            pick = (pick & 0xf0) | TCODES.index(err)
        return self.op(T_RESPONSE, back, flags, pick, nattrs, attrs)

    def raw(self, data, sel=0):
        return self.op(T_RAW, sel, struct.pack('>H', len(data)), data)

    def resigned(self, data, back=0, flags=0):
        return self.op(T_RESIGNED, back, flags, struct.pack('>H', len(data)), data)

    def peer_data(self, peer, kind, data):
        return self.op(T_PEER_DATA, peer | (kind << 3), len(data), data)

    def wrap(self, peer, data):
        return self.op(T_WRAP, peer, len(data), data)

    def advance(self, ms):
        units = ms // 10
        while units > 0xffff:
            self.op(T_ADVANCE, struct.pack('>H', 0xffff))
            units -= 0xffff
        return self.op(T_ADVANCE, struct.pack('>H', units))

    def allocate(self, sha256=False):
        self.op(T_POLL).response(0, 0, 401, pick=0x10 | (0x80 if sha256 else 0)).op(T_POLL)
        return self.response(0, TR_SHA256_KEY if sha256 else 0)


def turn_seeds(captures):
    s = {}
    for name, tr in (('udp', T_UDP), ('tcp', T_TCP)):
        # the whole life of an allocation
        p = TurnProg(tr, 1)
        p.allocate()
        p.op(T_PERMIT, TP_PEER1).op(T_BIND, TP_PEER2).op(T_POLL).response(0).response(1)
        p.peer_data(TP_PEER1, TD_DATA, rtp(1)).peer_data(TP_PEER2, TD_CHANNEL, rtp(2))
        p.peer_data(TP_STRANGER, TD_DATA, rtp(3)).peer_data(TP_PEER1_OTHER_PORT, TD_DATA, rtp(4))
        p.peer_data(TP_PEER2, TD_NO_DATA, b'')
        if tr == T_UDP:
            p.peer_data(TP_PEER2, TD_BAD_LENGTH, rtp(5))
        p.wrap(TP_PEER1, rtp(6)).wrap(TP_PEER2, rtp(7)).wrap(TP_STRANGER, rtp(8))
        p.advance(250000).op(T_POLL).response(0).response(1)
        p.advance(300000).op(T_POLL).response(0, 0, 438, pick=0x20).op(T_POLL).response(0)
        p.op(T_REMOVE, TP_PEER1).peer_data(TP_PEER1, TD_DATA, rtp(9))
        p.op(T_CLOSE).op(T_POLL).response(0)
        s['turn-%s-lifecycle' % name] = p.b

        # real coturn answers, given our transaction IDs and signed again
        cap = captures.get(name, {})
        if cap:
            p = TurnProg(tr, 2)
            p.op(T_POLL).resigned(cap['allocate-401']).op(T_POLL)
            p.resigned(cap['allocate-ok'])
            p.op(T_PERMIT, TP_PEER1).op(T_POLL).resigned(cap['create-permission-ok'])
            p.raw(cap['data-indication'])
            p.op(T_BIND, TP_PEER1).op(T_POLL).resigned(cap['channel-bind-ok'])
            p.raw(cap['channel-data'])
            p.op(T_BIND, TP_PEER2).op(T_POLL).resigned(cap['channel-bind-400'])
            p.advance(560000).op(T_POLL).resigned(cap['refresh-438']).op(T_POLL)
            p.resigned(cap['refresh-ok'])
            p.op(T_PERMIT, TP_PEER2).op(T_POLL).resigned(cap['create-permission-401'])
            p.op(T_CLOSE).op(T_POLL).resigned(cap['refresh-0-ok'])
            s['turn-%s-coturn' % name] = p.b
            p = TurnProg(tr, 3)
            p.op(T_POLL).resigned(cap['allocate-401']).op(T_POLL).resigned(cap['allocate-437'])
            s['turn-%s-coturn-437' % name] = p.b
            # captured messages as they are (wrong TIDs): dropped
            p = TurnProg(tr, 4)
            for k in sorted(cap):
                p.raw(cap[k])
            s['turn-%s-coturn-raw' % name] = p.b

    # stream split into small pieces, and framing errors
    p = TurnProg(T_TCP, 5)
    p.op(T_POLL).response(0, 0, 401).op(T_POLL)
    if captures.get('tcp'):
        p.raw(captures['tcp']['data-indication'], sel=2 | (3 << 2))
    p.raw(bytes.fromhex('4000ffff') + bytes(64), sel=0)
    s['turn-tcp-bad-frame'] = p.b
    p = TurnProg(T_TCP | T_SMALL, 6)
    p.allocate().raw(bytes.fromhex('0117ffff2112a442') + bytes(12), sel=2)
    s['turn-tcp-oversized'] = p.b

    # sha-256 password algorithm, MESSAGE-INTEGRITY-SHA256, FINGERPRINT
    p = TurnProg(T_UDP | T_SOFTWARE, 7)
    p.allocate(sha256=True).op(T_PERMIT, TP_PEER1).op(T_POLL).response(0, TR_SHA256_KEY | TR_MI256 | TR_FP)
    s['turn-udp-sha256'] = p.b

    # ALTERNATE-SERVER redirect (allowed once), then from elsewhere
    p = TurnProg(T_UDP, 8)
    p.op(T_POLL).response(0, 0, 300).op(T_POLL).allocate()
    p.op(T_PERMIT, TP_PEER1).op(T_POLL).response(0).peer_data(TP_PEER1, TD_DATA, rtp(1))
    s['turn-udp-redirect'] = p.b
    p = TurnProg(T_UDP, 8)
    p.op(T_POLL).response(0, 0, 300).op(T_POLL).response(0, 0, 300, pick=0x10).op(T_POLL)
    s['turn-udp-redirect-twice'] = p.b

    # error answers, unsigned successes, wrong source, missing addresses
    p = TurnProg(T_UDP, 9)
    p.op(T_POLL).response(0, TR_NO_SIGN).response(0, TR_WRONG_SOURCE, 401).response(0, 0, 401)
    p.op(T_POLL).response(0, TR_NO_ADDRS).response(0, TR_NO_SIGN).response(0, 0, 486)
    s['turn-udp-refused'] = p.b
    for code in (437, 441, 508, 400):
        p = TurnProg(T_UDP, 10)
        p.op(T_POLL).response(0, 0, 401).op(T_POLL).response(0, 0, code)
        s['turn-udp-error-%d' % code] = p.b

    # IPv6 relayed family, dual allocation
    p = TurnProg(T_UDP | T_V6, 11)
    p.allocate().op(T_PERMIT, TP_PEER6).op(T_PERMIT, TP_PEER1).op(T_POLL).response(0)
    p.peer_data(TP_PEER6, TD_DATA, rtp(1))
    s['turn-udp-ipv6'] = p.b
    p = TurnProg(T_UDP | T_DUAL, 12)
    p.op(T_POLL).response(0, 0, 401).op(T_POLL).response(0, TR_DUAL)
    p.op(T_PERMIT, TP_PEER6).op(T_BIND, TP_PEER6).op(T_POLL).response(0).response(1)
    p.peer_data(TP_PEER6, TD_CHANNEL, rtp(1))
    s['turn-udp-dual'] = p.b

    # small tables: permissions and channels run out
    p = TurnProg(T_UDP | T_SMALL | T_LIFETIME60, 13)
    p.allocate()
    for peer in range(5):
        p.op(T_BIND, peer)
    p.op(T_POLL)
    for i in range(5):
        p.response(i)
    p.advance(50000).op(T_POLL).response(0).advance(70000)
    s['turn-udp-small-tables'] = p.b

    # nobody answers: retransmissions, then timeout
    p = TurnProg(T_UDP, 14)
    for _ in range(12):
        p.op(T_TO_EXPIRY).op(T_POLL)
    s['turn-udp-timeout'] = p.b
    p = TurnProg(T_TCP, 15)
    p.op(T_CONNECTION, 1).op(T_CONNECTION, 0).advance(40000)
    s['turn-tcp-connection-lost'] = p.b

    # TLS: whatever bytes the "server" sends go into the handshake
    p = TurnProg(T_TLS, 16)
    p.op(T_POLL).raw(bytes.fromhex('160303002a0200002603035c') + bytes(38))
    p.raw(bytes.fromhex('15030300020228'))
    s['turn-tls-garbage'] = p.b

    # freed from inside its on_state callback
    p = TurnProg(T_UDP | T_FREE, 17)
    p.allocate()
    s['turn-udp-free-on-ready'] = p.b

    # frame_length on edge cases
    p = TurnProg(T_UDP, 18)
    for frame in (b'', b'\x40', bytes.fromhex('40000000'), bytes.fromhex('4fff0004aabbccdd'),
                  bytes.fromhex('000100002112a442') + bytes(12), bytes.fromhex('0001ffff'),
                  bytes.fromhex('80000004')):
        p.op(T_FRAME_LENGTH, struct.pack('>H', 1500), len(frame), frame)
    p.op(T_FRAME_LENGTH, struct.pack('>H', 3), 4, bytes.fromhex('40000000'))
    s['turn-frame-length'] = p.b
    return s


def read_captures(path):
    caps = {}
    if not os.path.isdir(path):
        return caps
    for name in sorted(os.listdir(path)):
        transport, _, what = name.split('-', 2)
        with open(os.path.join(path, name), 'rb') as f:
            caps.setdefault(transport, {})[what] = f.read()
    return caps


# ---------------------------------------------------------------------------------------
# fuzz_dtls (opcodes: fuzz.h FUZZ_DTLS_OP_*)

D_START, D_RUN, D_INJECT, D_MUTATE, D_REPLAY, D_ADVANCE, D_CLOSE, D_KEYS, D_FINGERPRINT, \
    D_SETUP, D_SRTP = range(11)
D_A_SERVER, D_MTU256, D_WRONG_FP = 1, 8, 16
D_SRTP_PROFILE = 32  # x profile index 0..3


def record(ctype, epoch, seq, body):
    return struct.pack('>BHH', ctype, 0xfefd, epoch) + seq.to_bytes(6, 'big') + \
        struct.pack('>H', len(body)) + body


class DtlsProg(Prog):
    def __init__(self, options):
        self.b = bytearray([options])

    def inject(self, data, to=0):
        return self.op(D_INJECT, to, struct.pack('>H', len(data)), data)

    def mutate(self, idx, pos, x, cut=0):
        return self.op(D_MUTATE, idx, struct.pack('>H', pos), x, cut)

    def text(self, code, t, extra=None):
        t = t.encode() if isinstance(t, str) else t
        self.op(code, len(t), t)
        if extra is not None:
            self.b.append(extra)
        return self

    def srtp(self, kind, data, pos=0, x=0):
        self.op(D_SRTP, kind, struct.pack('>H', len(data)), data)
        if kind & 2:
            self.b += struct.pack('>HB', pos, x)
        return self


def handshake(p):
    return p.op(D_START, 1).op(D_START, 0).op(D_RUN, 15)


CHROME_FP = ('sha-256 6B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:'
             'C2:43:F0:A1:58:D0:A1:2C:19:08')
FIREFOX_FP = ('sha-256 A7:24:12:59:B5:5B:27:8D:7E:4F:2E:2F:6A:B2:40:9C:0B:1C:27:D3:2A:6C:'
              '66:5E:33:9D:27:39:7B:AC:60:F2')


def dtls_seeds():
    s = {}
    for name, opts in (('client', 0), ('server', D_A_SERVER)):
        # connect, export keys, then hostile records at the connected endpoint
        p = DtlsProg(opts)
        handshake(p).op(D_KEYS)
        p.inject(record(21, 0, 99, b'\x02\x28'))                # plaintext fatal alert
        p.inject(record(23, 1, 50, bytes(range(48))))             # app data, bad MAC
        p.inject(record(22, 0, 0, bytes.fromhex('01000020000000000000002000') + bytes(32)))
        p.inject(record(22, 1, 1000, bytes(64)))                  # encrypted handshake junk
        p.inject(record(20, 1, 7, b'\x01'))                      # ChangeCipherSpec again
        p.inject(b'\x17\xfe\xfd\x00\x01')                       # truncated header
        p.inject(b'')
        for i in range(8):
            p.mutate(i, 13 + i * 5, 1 << (i % 8))
            p.op(D_REPLAY, i)
        p.mutate(3, 0, 0, cut=10).op(D_RUN, 4).op(D_KEYS)
        p.op(D_ADVANCE, struct.pack('>H', 100)).op(D_KEYS)
        p.op(D_CLOSE, 1).op(D_RUN, 4)
        s['dtls-%s-connected' % name] = p.b

        # hostile bytes while the handshake runs
        p = DtlsProg(opts)
        p.op(D_START, 1).op(D_START, 0).op(D_RUN, 1)
        p.inject(record(22, 0, 1, bytes.fromhex('0e000000000100000000000000')), to=0)
        p.mutate(0, 25, 0xff).op(D_RUN, 1).mutate(1, 60, 0x10).op(D_RUN, 15).op(D_KEYS)
        s['dtls-%s-handshake-hostile' % name] = p.b

        # the peer expects another fingerprint: the handshake fails cleanly
        p = DtlsProg(opts | D_WRONG_FP)
        handshake(p).op(D_ADVANCE, struct.pack('>H', 3100)).op(D_RUN, 4)
        s['dtls-%s-wrong-fingerprint' % name] = p.b

    for i in range(4):
        p = DtlsProg((i << 1) | D_MTU256 | (D_A_SERVER if i & 1 else 0))
        handshake(p).op(D_KEYS)
        s['dtls-profiles-%d-mtu256' % i] = p.b

    # a stuck handshake: nobody answers, the timeout ends it
    p = DtlsProg(0)
    p.op(D_START, 0)
    for _ in range(4):
        p.op(D_ADVANCE, struct.pack('>H', 1000))
    p.op(D_ADVANCE, struct.pack('>H', 3000))
    s['dtls-handshake-timeout'] = p.b

    # a=fingerprint values: browsers, other hashes, spellings, and broken ones
    p = DtlsProg(0)
    for t in (CHROME_FP, FIREFOX_FP, CHROME_FP.lower(), 'SHA-256\t' + CHROME_FP[8:] + '  \r\n',
              'sha-1 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB',
              'sha-224 ' + ':'.join(['AB'] * 28), 'sha-384 ' + ':'.join(['0F'] * 48),
              'sha-512 ' + ':'.join(['e0'] * 64), 'md5 00:11', 'sha-256 ' + ':'.join(['AB'] * 31),
              'sha-256 AB:CD:', 'sha-256 ABCD', 'sha-256', '', ' sha-256 AB', 'sha-256 G0:' +
              ':'.join(['00'] * 31)):
        p.text(D_FINGERPRINT, t)
    for t in ('actpass', 'active', 'passive', 'holdconn', 'ACTPASS', 'Active', 'actpass\r\n',
              'act', '', 'passive ', 'actpassive'):
        for remote in range(4):
            p.text(D_SETUP, t, remote)
    s['dtls-sdp-attributes'] = p.b

    # SRTP/SRTCP with fixed keys: round trips, a flipped bit, a replay, raw packets
    for prof in range(4):
        p = DtlsProg(prof * D_SRTP_PROFILE)
        pkt = rtp(1, 160)
        p.srtp(2, pkt).srtp(2, rtp(2, 160), pos=20, x=1).srtp(2 | 4, rtp(3, 160), pos=30, x=0x80)
        p.srtp(2 | 4, rtp(4, 20), pos=1, x=0x01).srtp(2 | 4, rtp(5, 20), pos=200, x=0x40)
        p.srtp(2, pkt)  # the same sequence number again
        rtcp_sr = bytes.fromhex('80c80006') + struct.pack('>I', 0x1234) + bytes(20)
        p.srtp(3, rtcp_sr).srtp(3 | 4, rtcp_sr, pos=4, x=0xff).srtp(3 | 4, rtcp_sr, pos=30, x=1)
        p.srtp(0, rtp(7, 40) + bytes(10)).srtp(1, rtcp_sr + bytes(14)).srtp(0, b'\x80')
        p.srtp(0, b'').srtp(1, bytes.fromhex('80c8'))
        s['dtls-srtp-profile-%d' % prof] = p.b
    return s


# ---------------------------------------------------------------------------------------
# fuzz_sdp: whole SDP blobs as real peers write them

FP256 = ('sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:3F:82:18:3B:54:'
         '02:12:DF:3E:5D:49:6B')

SDPS = {
    # firn-peer --offer (the signaling contract in DESIGN.md)
    'firn-peer-offer': """v=0
o=- 4962303333179871722 1 IN IP4 10.0.0.1
s=-
t=0 0
m=audio 5000 RTP/SAVPF 0
c=IN IP4 10.0.0.1
a=mid:0
a=sendrecv
a=rtcp-mux
a=rtpmap:0 PCMU/8000
a=ptime:20
a=ice-ufrag:BpQc
a=ice-pwd:tKIsQPlKDp3zYE4HjXNXqNY0
a=fingerprint:%s
a=setup:actpass
a=candidate:1 1 udp 2130706431 10.0.0.1 5000 typ host
a=candidate:2 1 udp 1694498815 198.51.100.7 6000 typ srflx raddr 10.0.0.1 rport 5000
a=candidate:3 1 udp 16777215 203.0.113.1 49152 typ relay raddr 198.51.100.7 rport 6000
a=candidate:4 1 tcp 1518280447 10.0.0.1 5010 typ host tcptype passive
a=candidate:5 1 tcp 1518214911 10.0.0.1 9 typ host tcptype active
a=end-of-candidates
""" % FP256,
    # firn-peer --answer --lite
    'firn-peer-answer-lite': """v=0
o=- 1 1 IN IP6 2001:db8::2
s=-
t=0 0
a=ice-lite
m=audio 6000 RTP/SAVPF 0
c=IN IP6 2001:db8::2
a=mid:0
a=sendrecv
a=rtcp-mux
a=rtpmap:0 PCMU/8000
a=ptime:20
a=ice-ufrag:x9Kq
a=ice-pwd:Zm9vYmFyYmF6cXV4cXV1eDEyMw
a=fingerprint:%s
a=setup:active
a=candidate:1 1 udp 2130706431 2001:db8::2 6000 typ host
a=end-of-candidates
""" % FP256,
    # Chrome (audio only), mDNS host candidate, BUNDLE, extmap, opus first
    'chrome-offer': """v=0
o=- 3891234650437584213 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0
a=extmap-allow-mixed
a=msid-semantic: WMS 6b1e3b2c-8d2b-4b6e-a3c5-6c4b5a1d9e0f
m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=candidate:1467250027 1 udp 2122260223 192.168.1.20 56143 typ host generation 0 network-id 1
a=candidate:2751411232 1 udp 2122194687 3c1f9b1e-4f0e-4b43-9d57-2b6b0a7f1c55.local 56144 typ host generation 0
a=candidate:842163049 1 udp 1686052607 203.0.113.44 56143 typ srflx raddr 192.168.1.20 rport 56143 generation 0 network-id 1
a=candidate:1467250027 2 udp 2122260222 192.168.1.20 56145 typ host generation 0 network-id 1
a=candidate:435653019 1 tcp 1518280447 192.168.1.20 9 typ host tcptype active generation 0 network-id 1
a=ice-ufrag:EsAw
a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1
a=ice-options:trickle
a=fingerprint:sha-256 6B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08
a=setup:actpass
a=mid:0
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid
a=sendrecv
a=msid:6b1e3b2c-8d2b-4b6e-a3c5-6c4b5a1d9e0f 0f9c1a7e-2d44-4a3b-b7e1-6a4c2b9d8e11
a=rtcp-mux
a=rtpmap:111 opus/48000/2
a=rtcp-fb:111 transport-cc
a=fmtp:111 minptime=10;useinbandfec=1
a=rtpmap:63 red/48000/2
a=fmtp:63 111/111
a=rtpmap:9 G722/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:13 CN/8000
a=rtpmap:110 telephone-event/48000
a=rtpmap:126 telephone-event/8000
a=ssrc:3735928559 cname:Ks9f2jKxq8Xq0Vg3
a=ssrc:3735928559 msid:6b1e3b2c-8d2b-4b6e-a3c5-6c4b5a1d9e0f 0f9c1a7e-2d44-4a3b-b7e1-6a4c2b9d8e11
""",
    # Firefox (session-level fingerprint and ice-options, sha-256, two m= sections)
    'firefox-offer': """v=0
o=mozilla...THIS_IS_SDPARTA-99.0 7056316564404011283 0 IN IP4 0.0.0.0
s=-
t=0 0
a=fingerprint:sha-256 A7:24:12:59:B5:5B:27:8D:7E:4F:2E:2F:6A:B2:40:9C:0B:1C:27:D3:2A:6C:66:5E:33:9D:27:39:7B:AC:60:F2
a=group:BUNDLE 0 1
a=ice-options:trickle
a=msid-semantic:WMS *
m=audio 54609 UDP/TLS/RTP/SAVPF 109 9 0 8 101
c=IN IP4 198.51.100.23
a=candidate:0 1 UDP 2122252543 10.0.2.15 54609 typ host
a=candidate:2 1 TCP 2105524479 10.0.2.15 9 typ host tcptype active
a=candidate:1 1 UDP 1686052863 198.51.100.23 54609 typ srflx raddr 10.0.2.15 rport 54609
a=sendrecv
a=end-of-candidates
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level
a=fmtp:109 maxplaybackrate=48000;stereo=1;useinbandfec=1
a=fmtp:101 0-15
a=ice-pwd:5b6f1bc1b8a5f7e1dbd7ec6f4f3c9d2e
a=ice-ufrag:3c4b9a1f
a=mid:0
a=msid:{5a3c1d2e-0f9b-4c7a-8e6d-1b2c3d4e5f60} {7e8f9a0b-1c2d-3e4f-5a6b-7c8d9e0f1a2b}
a=rtcp-mux
a=rtpmap:109 opus/48000/2
a=rtpmap:9 G722/8000/1
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=setup:actpass
a=ssrc:2387450871 cname:{0c6a1b2d-3e4f-5a6b-7c8d-9e0f1a2b3c4d}
m=video 0 UDP/TLS/RTP/SAVPF 120
c=IN IP4 0.0.0.0
a=inactive
a=mid:1
a=rtpmap:120 VP8/90000
""",
    # Safari answer with an IPv6 candidate and sha-256 in lower case
    'safari-answer': """v=0
o=- 8471734632164381829 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0
a=msid-semantic: WMS
m=audio 9 UDP/TLS/RTP/SAVPF 0
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=candidate:3582315458 1 udp 2122262783 2001:db8:1::44 61533 typ host generation 0 network-cost 10
a=candidate:1001316162 1 udp 2122194687 172.16.0.4 56122 typ host generation 0 network-cost 10
a=ice-ufrag:OoRr
a=ice-pwd:NxgqCmuQAvcYvTrsbAyHXlHV
a=ice-options:trickle
a=fingerprint:sha-256 c5:80:1d:2b:84:54:4b:29:0b:ce:1a:aa:52:56:42:fc:6e:49:5c:0f:9e:3a:88:a8:91:30:61:f0:c6:87:0a:5d
a=setup:active
a=mid:0
a=recvonly
a=rtcp-mux
a=rtpmap:0 PCMU/8000
""",
    # aiortc (bare candidate values are not what it writes; it writes full lines)
    'aiortc-answer': """v=0
o=- 3919812760 3919812760 IN IP4 0.0.0.0
s=-
t=0 0
a=group:BUNDLE 0
a=msid-semantic:WMS *
m=audio 41000 UDP/TLS/RTP/SAVPF 0
c=IN IP4 127.0.0.1
a=sendrecv
a=mid:0
a=msid:2f0c8b2a-5b6d-4f6e-9c1a-0b7e3d2a1c4f 8d9e0f1a-2b3c-4d5e-6f7a-8b9c0d1e2f3a
a=rtcp:9 IN IP4 0.0.0.0
a=rtcp-mux
a=ssrc:1512512251 cname:3f2a1b0c-9d8e-7f6a-5b4c-3d2e1f0a9b8c
a=rtpmap:0 PCMU/8000
a=candidate:0f5d0c7b0a3e4c9a8b7f6e5d4c3b2a19 1 udp 2130706431 127.0.0.1 41000 typ host
a=end-of-candidates
a=ice-ufrag:T3pR
a=ice-pwd:hX5cJvGz3mLqW9bK2rN7pYt4
a=fingerprint:sha-256 0B:8C:3D:FF:10:2A:94:6E:71:44:C9:1E:55:08:A6:3B:D2:7F:0E:C1:99:5A:2B:83:6F:14:E7:3C:90:5D:A8:21
a=fingerprint:sha-384 11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00
a=setup:active
""",
    # libnice-style ICE-only peer, RTP/AVP, LF line ends, session-level c=
    'libnice-ice-only': """v=0
o=- 0 0 IN IP4 192.0.2.33
s=ICE
c=IN IP4 192.0.2.33
t=0 0
m=audio 47000 RTP/AVP 0 8
a=ice-ufrag:Gq8T
a=ice-pwd:v1vV9m7Bz1VYxLfUcZZ4Kq
a=candidate:1 1 UDP 2013266431 192.0.2.33 47000 typ host
a=candidate:2 1 UDP 1677721855 198.51.100.90 47000 typ srflx raddr 192.0.2.33 rport 47000
a=candidate:1 2 UDP 2013266430 192.0.2.33 47001 typ host
""",
    # a SIP softphone's plain RTP offer (no ICE): must be refused with a reason
    'asterisk-no-ice': """v=0
o=root 1821432019 1821432019 IN IP4 192.0.2.50
s=Asterisk PBX 18.10.0
c=IN IP4 192.0.2.50
t=0 0
m=audio 17430 RTP/AVP 0 8 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a=maxptime:150
a=sendrecv
""",
    # Janus (ICE-lite SFU) answer
    'janus-lite-answer': """v=0
o=- 1658839276423017 1 IN IP4 203.0.113.80
s=VideoRoom 1234
t=0 0
a=group:BUNDLE 0
a=ice-lite
a=fingerprint:sha-256 D2:B9:31:8F:DF:24:D8:0E:ED:D2:EF:25:9E:AF:6F:B8:34:AE:53:9C:E6:F3:8F:F2:64:15:FA:E8:7F:53:2D:38
a=msid-semantic: WMS janus
m=audio 9 UDP/TLS/RTP/SAVPF 0
c=IN IP4 203.0.113.80
a=sendonly
a=mid:0
a=rtcp-mux
a=ice-ufrag:Y1pW
a=ice-pwd:4kB7Yv1mQ0tLr9Zc3XwN8s
a=ice-options:trickle
a=setup:passive
a=rtpmap:0 PCMU/8000
a=candidate:1 1 udp 2015363327 203.0.113.80 20002 typ host
a=end-of-candidates
""",
    # broken in the ways that matter
    'bad-no-v': """o=- 1 1 IN IP4 10.0.0.1
s=-
m=audio 5000 RTP/SAVPF 0
c=IN IP4 10.0.0.1
a=ice-ufrag:BpQc
a=ice-pwd:tKIsQPlKDp3zYE4HjXNXqNY0
""",
    'bad-short-pwd': """v=0
o=- 1 1 IN IP4 10.0.0.1
s=-
m=audio 5000 RTP/SAVPF 0
c=IN IP4 10.0.0.1
a=ice-ufrag:BpQc
a=ice-pwd:short
""",
    'bad-holdconn-fingerprint': """v=0
o=- 1 1 IN IP4 10.0.0.1
s=-
m=audio 5000 RTP/SAVPF 0
c=IN IP4 10.0.0.1
a=ice-ufrag:BpQc
a=ice-pwd:tKIsQPlKDp3zYE4HjXNXqNY0
a=fingerprint:sha-256 AB:CD
a=setup:holdconn
""",
    'bad-port': """v=0
o=- 1 1 IN IP4 10.0.0.1
s=-
m=audio 70000 RTP/SAVPF 0
c=IN IP4 10.0.0.1
a=ice-ufrag:BpQc
a=ice-pwd:tKIsQPlKDp3zYE4HjXNXqNY0
a=setup:holdconn
""",
    'bad-c-line': """v=0
s=-
m=audio 5000 RTP/SAVPF 0
c=IN IP4 host.example.com
a=ice-ufrag:BpQc
a=ice-pwd:tKIsQPlKDp3zYE4HjXNXqNY0
""",
}


def sdp_seeds():
    s = {}
    for name, text in SDPS.items():
        crlf = text.replace('\n', '\r\n')
        s['sdp-' + name] = crlf.encode()
    s['sdp-libnice-ice-only'] = SDPS['libnice-ice-only'].encode()  # bare LF, as some write it
    # more candidates than a description holds
    many = SDPS['firn-peer-offer'].replace('a=end-of-candidates\n', ''.join(
        'a=candidate:%d 1 udp %d 10.0.%d.%d %d typ host\n' % (i, 2130706431 - i, i // 200, i % 200,
                                                              5000 + i) for i in range(40)))
    s['sdp-many-candidates'] = many.replace('\n', '\r\n').encode()
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
    here = os.path.dirname(os.path.abspath(__file__))
    captures = read_captures(os.path.join(here, 'captures', 'coturn'))
    turn = turn_seeds(captures)
    # the captured coturn messages themselves, as raw datagrams for a fresh client
    for transport, msgs in captures.items():
        for what, data in msgs.items():
            p = TurnProg(T_UDP if transport == 'udp' else T_TCP, 20)
            turn['coturn-%s-%s' % (transport, what)] = p.op(T_POLL).raw(data).b
    write(os.path.join(out, 'turn'), turn)
    write(os.path.join(out, 'dtls'), dtls_seeds())
    write(os.path.join(out, 'sdp'), sdp_seeds())


if __name__ == '__main__':
    main()
