#!/usr/bin/python3
"""A foreign WebRTC-style peer built on Debian's python3-aiortc / python3-aioice that speaks
firn-peer's signaling contract (see DESIGN.md, "The example peer's signaling contract").

    aiortc_peer.py --offer|--answer [--ip ADDR] [--no-dtls] [--bad-fingerprint] [--replay K]
                   [--tamper K] [--packets N] [--timeout S] [-v]

* Prints its SDP on stdout followed by a line holding only ".", reads the remote SDP from stdin
  up to such a line (the offerer prints first, the answerer after reading the offer).
* ICE with aioice (host candidates only: no STUN/TURN server is ever configured; --ip restricts
  gathering to that address, 127.0.0.1 included), then DTLS-SRTP with aiortc's RTCDtlsTransport
  (roles from a=setup, remote fingerprint checked by aiortc), unless --no-dtls (plain RTP on the
  ICE connection, "dtls":"none").
* Sends N (default 250) RTP packets 20 ms apart with the contract's header and payload, built
  here byte by byte and handed to aiortc's SRTP layer (RTCDtlsTransport._send_rtp); received
  packets are taken after SRTP unprotect (hook on RTCDtlsTransport._handle_rtp_data) and every
  one is verified.
* Prints one JSON line on stdout and exits 0 (success), 1 (failure) or 2 (setup / SDP error).
Everything else goes to stderr.

Always run with /usr/bin/python3 (Debian's interpreter, where python3-aiortc is installed).
"""

import argparse
import asyncio
import json
import os
import random
import struct
import sys
import time

EXIT_OK, EXIT_FAIL, EXIT_SETUP = 0, 1, 2
PAYLOAD_LEN = 160
TS_STEP = 160
INTERVAL = 0.020
SILENCE = 3.0


def log(msg):
    print("aiortc_peer: " + msg, file=sys.stderr, flush=True)


class SetupError(Exception):
    pass


try:
    import aioice
    import aioice.ice
    from aioice import Candidate
    import aiortc
    from aiortc.rtcdtlstransport import (RTCCertificate, RTCDtlsFingerprint,
                                         RTCDtlsParameters, RTCDtlsTransport)
    from aiortc.rtcicetransport import (RTCIceGatherer, RTCIceParameters,
                                        RTCIceTransport)
    IMPORT_ERROR = None
except ImportError as exc:  # reported in main() with the contract's setup exit code
    IMPORT_ERROR = exc


# ---------------------------------------------------------------- RTP (the contract's stream)

def payload_for(n):
    return bytes(((n * 7 + i) & 0xFF) for i in range(PAYLOAD_LEN))


def build_rtp(n, ssrc, seq0, ts0):
    b0 = 0x80                       # V=2, P=0, X=0, CC=0
    b1 = (0x80 if n == 0 else 0) | 0  # marker on the first packet, PT=0 (PCMU)
    hdr = struct.pack("!BBHII", b0, b1, (seq0 + n) & 0xFFFF, (ts0 + n * TS_STEP) & 0xFFFFFFFF,
                      ssrc)
    return hdr + payload_for(n)


class Verifier:
    """Checks every received RTP packet against the contract. The packet index n comes from the
    sequence number relative to a base learned from the first packet (whose index is recovered
    from its payload: byte 0 is 7n mod 256, and 183 is 7's inverse mod 256)."""

    def __init__(self, expected):
        self.expected = expected
        self.ssrc = None
        self.seq_base = None
        self.ts_base = None
        self.seen = set()
        self.bad = 0
        self.dups = 0
        self.first_error = None
        self.last_rx = None

    def fail(self, why):
        self.bad += 1
        if self.first_error is None:
            self.first_error = why
        log("bad packet: " + why)

    def packet(self, data):
        self.last_rx = time.monotonic()
        if len(data) < 12:
            return self.fail("short packet (%d bytes)" % len(data))
        b0, b1, seq, ts, ssrc = struct.unpack("!BBHII", data[:12])
        if b0 >> 6 != 2:
            return self.fail("version %d" % (b0 >> 6))
        if b0 & 0x3F:
            return self.fail("padding/extension/CSRC bits set (byte0=0x%02x)" % b0)
        if b1 & 0x7F != 0:
            return self.fail("payload type %d" % (b1 & 0x7F))
        payload = data[12:]
        if len(payload) != PAYLOAD_LEN:
            return self.fail("payload length %d" % len(payload))
        if self.ssrc is None:
            n0 = (payload[0] * 183) & 0xFF
            self.ssrc = ssrc
            self.seq_base = (seq - n0) & 0xFFFF
            self.ts_base = (ts - n0 * TS_STEP) & 0xFFFFFFFF
        if ssrc != self.ssrc:
            return self.fail("ssrc 0x%08x, expected 0x%08x" % (ssrc, self.ssrc))
        n = (seq - self.seq_base) & 0xFFFF
        if n >= self.expected:
            return self.fail("sequence %d gives index %d (>= %d)" % (seq, n, self.expected))
        if ts != (self.ts_base + n * TS_STEP) & 0xFFFFFFFF:
            return self.fail("packet %d: timestamp %d, expected %d" %
                             (n, ts, (self.ts_base + n * TS_STEP) & 0xFFFFFFFF))
        if bool(b1 & 0x80) != (n == 0):
            return self.fail("packet %d: marker %d" % (n, b1 >> 7))
        if payload != payload_for(n):
            return self.fail("packet %d: payload differs" % n)
        if n in self.seen:
            self.dups += 1
            return None
        self.seen.add(n)
        return None

    @property
    def received(self):
        return len(self.seen)

    @property
    def ok(self):
        return self.bad == 0 and self.received > 0


# ---------------------------------------------------------------- SDP

def read_sdp_block():
    """Reads stdin up to a line holding only '.', strips CR. Blocking: run in an executor."""
    lines = []
    while True:
        line = sys.stdin.readline()
        if line == "":
            raise SetupError("stdin closed before the remote SDP's '.' line")
        line = line.rstrip("\n").rstrip("\r")
        if line == ".":
            return lines
        lines.append(line)


def parse_remote_sdp(lines):
    r = {"candidates": [], "lite": False, "fingerprints": [], "setup": None, "ufrag": None,
         "pwd": None, "end": False, "media": 0}
    for line in lines:
        if line.startswith("m="):
            r["media"] += 1
            if r["media"] > 1:
                log("ignoring extra m= section: " + line)
            continue
        if r["media"] > 1 or not line.startswith("a="):
            continue
        attr = line[2:]
        name, _, value = attr.partition(":")
        if name == "ice-lite":
            r["lite"] = True
        elif name == "ice-ufrag":
            r["ufrag"] = value.strip()
        elif name == "ice-pwd":
            r["pwd"] = value.strip()
        elif name == "fingerprint":
            alg, _, fp = value.strip().partition(" ")
            r["fingerprints"].append((alg.lower(), fp.strip()))
        elif name == "setup":
            r["setup"] = value.strip()
        elif name == "candidate":
            try:
                r["candidates"].append(Candidate.from_sdp(value))
            except (ValueError, IndexError) as exc:
                raise SetupError("bad candidate line %r: %s" % (line, exc))
        elif name == "end-of-candidates":
            r["end"] = True
    if r["media"] < 1:
        raise SetupError("remote SDP has no m= line")
    if not r["ufrag"] or not r["pwd"]:
        raise SetupError("remote SDP lacks a=ice-ufrag / a=ice-pwd")
    return r


def local_sdp(ufrag, pwd, candidates, fingerprint, setup, lite=False):
    default = candidates[0] if candidates else None
    addr = default.host if default else "0.0.0.0"
    port = default.port if default else 9
    fam = "IP6" if ":" in addr else "IP4"
    out = [
        "v=0",
        "o=- %d 1 IN %s %s" % (random.getrandbits(62), fam, addr),
        "s=-",
        "t=0 0",
    ]
    if lite:
        out.append("a=ice-lite")
    out += [
        "m=audio %d %s 0" % (port, "RTP/SAVPF" if fingerprint is not None else "RTP/AVP"),
        "c=IN %s %s" % (fam, addr),
        "a=mid:0",
        "a=sendrecv",
        "a=rtcp-mux",
        "a=rtpmap:0 PCMU/8000",
        "a=ptime:20",
        "a=ice-ufrag:" + ufrag,
        "a=ice-pwd:" + pwd,
    ]
    if fingerprint is not None:
        out.append("a=fingerprint:sha-256 " + fingerprint)
        out.append("a=setup:" + setup)
    for c in candidates:
        out.append("a=candidate:" + c.to_sdp())
    out.append("a=end-of-candidates")
    return "\r\n".join(out) + "\r\n"


def print_sdp(text):
    sys.stdout.write(text)
    sys.stdout.write(".\r\n")
    sys.stdout.flush()


# ---------------------------------------------------------------- the call

def selected_srtp_profile(ssl_conn):
    """The use_srtp profile OpenSSL negotiated (pyOpenSSL has no wrapper for it)."""
    from OpenSSL import SSL
    prof = SSL._lib.SSL_get_selected_srtp_profile(ssl_conn._ssl)
    if prof == SSL._ffi.NULL:
        return None
    return SSL._ffi.string(prof.name).decode()


def start_reader(loop):
    """Reads the remote SDP block on a daemon thread (stdin is a blocking pipe) and returns a
    future for its lines; a daemon thread never holds up the exit."""
    import threading
    fut = loop.create_future()

    def work():
        try:
            lines = read_sdp_block()
        except BaseException as exc:  # noqa: BLE001 - handed to the loop
            loop.call_soon_threadsafe(lambda: fut.done() or fut.set_exception(exc))
            return
        loop.call_soon_threadsafe(lambda: fut.done() or fut.set_result(lines))
    threading.Thread(target=work, daemon=True).start()
    return fut

def describe(cand):
    t = cand.transport.lower()
    if t == "tcp":
        t = "tcp-" + (cand.tcptype or "?")
    host = "[%s]" % cand.host if ":" in cand.host else cand.host
    return "%s/%s %s:%d" % (cand.type, t, host, cand.port)


class SrtpCounter:
    """Wraps aiortc's inbound pylibsrtp session to count packets that fail to unprotect
    (aiortc itself only logs them at debug level)."""

    def __init__(self, session):
        self._s = session
        self.failures = 0

    def unprotect(self, data):
        try:
            return self._s.unprotect(data)
        except Exception:
            self.failures += 1
            raise

    def unprotect_rtcp(self, data):
        try:
            return self._s.unprotect_rtcp(data)
        except Exception:
            self.failures += 1
            raise


async def run(args, result):
    loop = asyncio.get_running_loop()
    offerer = args.role == "offer"

    # Host candidates on --ip only (aioice otherwise enumerates every interface and always
    # skips 127.0.0.1); no STUN or TURN server: RTCIceGatherer(iceServers=[]).
    if args.ip:
        ips = list(args.ip)
        aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: list(ips)
    gatherer = RTCIceGatherer(iceServers=[])
    conn = gatherer._connection
    assert conn.stun_server is None and conn.turn_server is None
    ice = RTCIceTransport(gatherer)
    cert = RTCCertificate.generateCertificate()
    dtls = None if args.no_dtls else RTCDtlsTransport(ice, [cert])

    remote = None
    if not offerer:
        lines = await start_reader(loop)
        remote = parse_remote_sdp(lines)

    # Roles: the offerer controls; a full agent facing an ICE-lite peer takes control. Set now,
    # before any check can arrive: aioice answers early checks with the role it has then (its
    # Connection starts controlled), and a wrong one means a needless 487 role conflict.
    conn.ice_controlling = offerer or remote["lite"]
    result["ice_role"] = "controlling" if conn.ice_controlling else "controlled"

    await gatherer.gather()
    cands = gatherer._connection.local_candidates
    if not cands:
        raise SetupError("no host candidate gathered (--ip %s)" % (args.ip,))
    params = gatherer.getLocalParameters()
    fp = None if dtls is None else dtls.getLocalParameters().fingerprints[0].value
    if fp is not None and args.bad_fingerprint:
        # Advertise a fingerprint that does not match the certificate we will present: the
        # remote peer must refuse the DTLS session and accept no media.
        first = int(fp[:2], 16) ^ 0xFF
        fp = "%02X%s" % (first, fp[2:])
        log("advertising a WRONG fingerprint (--bad-fingerprint)")
    if offerer:
        setup = "actpass"
    else:
        rs = (remote["setup"] or "actpass").lower()
        setup = {"actpass": "active", "active": "passive", "passive": "active"}.get(rs)
        if setup is None and dtls is not None:
            raise SetupError("remote a=setup:%s is not valid" % rs)
    print_sdp(local_sdp(params.usernameFragment, params.password, cands, fp, setup))

    if offerer:
        lines = await start_reader(loop)
        remote = parse_remote_sdp(lines)

    if dtls is not None:
        if not remote["fingerprints"]:
            raise SetupError("remote SDP has no a=fingerprint (DTLS-SRTP mode)")
        if offerer:
            rs = (remote["setup"] or "").lower()
            if rs == "active":
                dtls._set_role("server")
            elif rs == "passive":
                dtls._set_role("client")
            else:
                raise SetupError("answer has a=setup:%s, expected active or passive" % rs)
        else:
            dtls._set_role("client" if setup == "active" else "server")
        result["dtls_role"] = dtls._role

    if remote["lite"] and not conn.ice_controlling:
        conn.ice_controlling = True  # not reached: an offerer already controls
        result["ice_role"] = "controlling"

    for c in remote["candidates"]:
        if c.transport.lower() != "udp":
            log("skipping non-UDP remote candidate (aioice is UDP only): " + c.to_sdp())
            continue
        await conn.add_remote_candidate(c)
    await conn.add_remote_candidate(None)  # the contract's SDP carries every candidate

    t_start = time.monotonic()
    await ice.start(RTCIceParameters(usernameFragment=remote["ufrag"], password=remote["pwd"],
                                     iceLite=remote["lite"]))
    if ice.state != "completed":
        result["error"] = "ICE failed (state %s)" % ice.state
        return EXIT_FAIL
    pair = conn._nominated.get(1)
    if pair is not None:
        result["selected_pair"] = "%s <-> %s" % (describe(pair.local_candidate),
                                                 describe(pair.remote_candidate))
    log("ICE %s, selected %s" % (ice.state, result.get("selected_pair")))

    verifier = Verifier(args.packets)
    srtp_counter = None
    if dtls is not None:
        fps = [RTCDtlsFingerprint(algorithm=a, value=v) for a, v in remote["fingerprints"]]

        async def handle_rtp(data, arrival_time_ms):
            verifier.packet(data)
        dtls._handle_rtp_data = handle_rtp  # decrypted RTP, before aiortc's router

        await dtls.start(RTCDtlsParameters(fingerprints=fps))
        if dtls.state != "connected":
            result["dtls"] = "failed"
            result["error"] = "DTLS-SRTP failed (state %s; aiortc -v logs the reason)" % dtls.state
            return EXIT_FAIL
        result["dtls"] = "ok"
        result["srtp_profile"] = selected_srtp_profile(dtls.ssl)
        result["dtls_version"] = dtls.ssl.get_protocol_version_name()
        result["dtls_cipher"] = dtls.ssl.get_cipher_name()
        srtp_counter = SrtpCounter(dtls._rx_srtp)
        dtls._rx_srtp = srtp_counter

        hostile = {"replayed": 0, "tampered": 0}

        async def send(data):
            n = (struct.unpack("!H", data[2:4])[0] - seq0) & 0xFFFF
            protected = dtls._tx_srtp.protect(data)
            if n < args.tamper:
                # a forged copy first: one flipped payload bit, so its auth tag fails; it must be
                # dropped without touching the replay window, so the genuine packet still counts
                bad = bytearray(protected)
                bad[12 + (n % PAYLOAD_LEN)] ^= 0x01
                await dtls.transport._send(bytes(bad))
                hostile["tampered"] += 1
            await dtls.transport._send(protected)
            if n < args.replay:
                await dtls.transport._send(protected)  # the same SRTP packet again: a replay
                hostile["replayed"] += 1
        result["hostile"] = hostile
    else:
        result["dtls"] = "none"

        async def rx_plain():
            while True:
                data = await conn.recv()
                if data and 128 <= data[0] < 192:
                    verifier.packet(data)
        rx_task = asyncio.ensure_future(rx_plain())

        async def send(data):
            await conn.send(data)
    result["connect_ms"] = round((time.monotonic() - t_start) * 1000.0, 1)

    ssrc = random.getrandbits(32)
    seq0 = random.getrandbits(16)
    if (args.replay or args.tamper) and dtls is None:
        raise SetupError("--replay/--tamper need DTLS-SRTP")
    ts0 = random.getrandbits(32)
    t0 = loop.time()
    media_start = time.monotonic()
    sent = 0
    try:
        for n in range(args.packets):
            delay = t0 + n * INTERVAL - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await send(build_rtp(n, ssrc, seq0, ts0))
            sent += 1
    except ConnectionError as exc:
        log("send failed after %d packets: %s" % (sent, exc))
    result["sent"] = sent

    while verifier.received < args.packets:
        last = verifier.last_rx or media_start
        left = last + SILENCE - time.monotonic()
        if left <= 0:
            log("no traffic for %.0f s, stopping with %d/%d packets" %
                (SILENCE, verifier.received, args.packets))
            break
        await asyncio.sleep(min(left, 0.05))

    result["received"] = verifier.received
    result["payload_ok"] = verifier.ok
    if verifier.first_error:
        result["first_error"] = verifier.first_error
    result["bad_packets"] = verifier.bad
    result["duplicates"] = verifier.dups
    if srtp_counter is not None:
        result["srtp_unprotect_failures"] = srtp_counter.failures
    if dtls is not None:
        await dtls.stop()
    else:
        rx_task.cancel()
    await ice.stop()
    success = sent == args.packets and verifier.received == args.packets and verifier.ok
    return EXIT_OK if success else EXIT_FAIL


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--offer", dest="role", action="store_const", const="offer")
    g.add_argument("--answer", dest="role", action="store_const", const="answer")
    ap.add_argument("--ip", action="append", help="gather host candidates only on ADDR")
    ap.add_argument("--no-dtls", action="store_true", help="plain RTP once ICE is connected")
    ap.add_argument("--bad-fingerprint", action="store_true",
                    help="advertise a fingerprint that does not match our certificate")
    ap.add_argument("--replay", type=int, default=0, metavar="K",
                    help="send each of the first K SRTP packets twice (the copy is a replay)")
    ap.add_argument("--tamper", type=int, default=0, metavar="K",
                    help="precede each of the first K SRTP packets by a copy with a flipped bit")
    ap.add_argument("--packets", type=int, default=250)
    ap.add_argument("--timeout", type=float, default=30.0,
                    help="overall limit in seconds (default 30)")
    ap.add_argument("-v", "--verbose", action="store_true", help="aioice/aiortc debug log")
    args = ap.parse_args()

    result = {"peer": "aiortc", "role": args.role, "selected_pair": None,
              "dtls": "none" if args.no_dtls else "failed", "srtp_profile": None,
              "sent": 0, "received": 0, "payload_ok": False, "connect_ms": None}
    if IMPORT_ERROR is not None:
        log("cannot import aiortc/aioice (%s): install python3-aiortc and run with "
            "/usr/bin/python3" % IMPORT_ERROR)
        result["error"] = "aiortc not available"
        print(json.dumps(result), flush=True)
        return EXIT_SETUP
    result["aiortc_version"] = aiortc.__version__
    if args.verbose:
        import logging
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr,
                            format="%(asctime)s %(name)s %(message)s")

    async def bounded():
        return await asyncio.wait_for(run(args, result), timeout=args.timeout)

    try:
        rc = asyncio.run(bounded())
    except SetupError as exc:
        log("setup/SDP error: %s" % exc)
        result["error"] = str(exc)
        rc = EXIT_SETUP
    except asyncio.TimeoutError:
        log("overall timeout (%.0f s) reached" % args.timeout)
        result["error"] = "timeout"
        rc = EXIT_FAIL
    print(json.dumps(result), flush=True)
    sys.stderr.flush()
    # Do not wait for a possibly still blocked stdin reader thread.
    os._exit(rc)


if __name__ == "__main__":
    main()
