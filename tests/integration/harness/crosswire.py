#!/usr/bin/python3
"""Cross-wire two peers that speak firn-peer's signaling contract (DESIGN.md, "The example
peer's signaling contract") and check what they report.

    crosswire.py --a "CMD ..." --b "CMD ..." [--expect KEY=VALUE ...] [--expect-a ...]
                 [--expect-b ...] [--packets N] [--timeout S] [--mirror-pair] [--log-dir DIR]

A's stdout is piped into B's stdin and B's stdout into A's stdin, line by line, up to and
including each side's lone "." line (the offerer prints at once, the answerer after reading the
offer; the harness just forwards). What a peer prints after its "." is its result: the last line
that parses as a JSON object. stderr of both peers is shown live, prefixed with [A]/[B].

Expectations, checked against each side's JSON (plus the pseudo key "exit", the exit status):
  KEY=VALUE    equal; VALUE is read as JSON when it parses (250, true, "ok"), else as a string
  KEY!=VALUE   not equal
  KEY~REGEX    re.search on the value's string form (e.g. 'selected_pair~^host/udp .* host/udp')
--expect applies to both sides, --expect-a / --expect-b to one. Unless --no-default-expect is
given both sides must also have: exit=0, sent=N, received=N, payload_ok=true (N = --packets).
--mirror-pair: A's selected local address must be B's selected remote address and vice versa.
Unless --no-contract-check is given, each side's SDP is also checked against the contract (CRLF
lines, one m=audio RTP/SAVPF 0 line (RTP/AVP also accepted from a side without DTLS), ICE attributes, candidates and end-of-candidates, tcptype
on TCP candidates, a sha-256 fingerprint and a=setup actpass/active/passive when it does DTLS,
the answerer printing only after the offer's "." line); roles come from --offer / --answer.

The whole run is bounded by --timeout (default 60 s): on expiry both peers are killed (their
own process groups, by id) and the run fails loudly. Exit status: 0 all expectations held,
1 something failed, 77 (meson's "skipped") when a peer exits 77 and --allow-skip is given.
"""

import argparse
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time


class Side:
    def __init__(self, name, cmd):
        self.name = name
        self.cmd = cmd
        self.proc = None
        self.sdp = []            # lines up to (not including) the "." line
        self.after = []          # lines after the "." line
        self.dot_seen = False
        self.stderr = []
        self.result = None
        self.exit = None
        self.sdp_time = None      # when its "." line arrived (s since start)
        self.first_time = None    # when its first stdout line arrived
        self.no_crlf = 0          # SDP lines (and the "." line) not ending in CRLF


def pump(src, dst, t0, hold=0.0):
    """src's stdout -> dst's stdin up to src's '.' line; the rest is src's result. With hold > 0
    the SDP is delivered whole, hold seconds after src finished printing it (a slow signaling
    path: the answerer's checks then reach the offerer before its answer does)."""
    held = []
    for raw in iter(src.proc.stdout.readline, b""):
        line = raw.decode("utf-8", "replace")
        if src.first_time is None:
            src.first_time = time.monotonic() - t0
        if not src.dot_seen:
            if not raw.endswith(b"\r\n"):
                src.no_crlf += 1
            held.append(raw)
            stripped = line.rstrip("\n").rstrip("\r")
            if stripped == ".":
                src.dot_seen = True
                src.sdp_time = time.monotonic() - t0
                if hold > 0:
                    time.sleep(hold)
            else:
                src.sdp.append(stripped)
            if hold <= 0 or src.dot_seen:
                try:
                    for r in held:
                        dst.proc.stdin.write(r)
                    dst.proc.stdin.flush()
                except (BrokenPipeError, OSError, ValueError):
                    pass
                held = []
        else:
            src.after.append(line.rstrip("\r\n"))
    if not src.dot_seen:
        # src ended without a complete SDP: give dst EOF so it fails fast instead of waiting.
        try:
            dst.proc.stdin.close()
        except OSError:
            pass


def tee_stderr(side, echo):
    for raw in iter(side.proc.stderr.readline, b""):
        line = raw.decode("utf-8", "replace").rstrip("\n")
        side.stderr.append(line)
        if echo:
            sys.stderr.write("[%s] %s\n" % (side.name, line))
            sys.stderr.flush()


def find_result(side):
    for line in reversed(side.after + side.sdp):
        s = line.strip()
        if s.startswith("{"):
            try:
                obj = json.loads(s)
            except ValueError:
                continue
            if isinstance(obj, dict):
                return obj
    return None


def parse_value(text):
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_expect(spec):
    m = re.match(r"^([A-Za-z0-9_.-]+)(!=|=|~)(.*)$", spec)
    if not m:
        raise SystemExit("crosswire: bad expectation %r (KEY=VALUE, KEY!=VALUE, KEY~REGEX)" % spec)
    return m.group(1), m.group(2), m.group(3)


def lookup(side, key):
    if key == "exit":
        return True, side.exit
    obj = side.result or {}
    cur = obj
    for part in key.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            return False, None
    return True, cur


def check(side, key, op, text):
    present, value = lookup(side, key)
    if op == "~":
        ok = present and value is not None and re.search(text, value if isinstance(value, str)
                                                          else json.dumps(value)) is not None
    else:
        want = parse_value(text)
        equal = present and ((value == want and isinstance(value, bool) == isinstance(want, bool))
                             or (isinstance(value, str) and value == text))
        ok = equal if op == "=" else not equal
    shown = json.dumps(value) if present else "<missing>"
    return ok, "%s: %s %s %s (got %s)" % (side.name, key, op, text, shown)


def contract_checks(side, other, offerer, dtls):
    """The SDP rules of DESIGN.md's signaling contract that a reader can check from outside."""
    out = []
    sdp = side.sdp
    n = side.name

    def add(ok, text):
        out.append((ok, "%s: contract: %s" % (n, text)))
    if not side.dot_seen:
        add(False, "SDP ends with a line holding only '.'")
        return out
    add(side.no_crlf == 0, "SDP lines end with CRLF (%d without)" % side.no_crlf)
    add(bool(sdp) and sdp[0] == "v=0", "starts with v=0")
    for prefix in ("o=", "s=-", "t=0 0", "c=IN IP"):
        add(any(l.startswith(prefix) for l in sdp), "has a %s line" % prefix)
    m = [l for l in sdp if l.startswith("m=")]
    # With DTLS the profile is RTP/SAVPF; a --no-dtls side sends plain RTP and may say so.
    proto = "RTP/SAVPF" if dtls else "(RTP/SAVPF|RTP/AVPF|RTP/AVP)"
    add(len(m) == 1 and re.match(r"^m=audio \d+ %s 0$" % proto, m[0]) is not None,
        "one 'm=audio <port> %s 0' line (got %r)" % (proto, m))
    for attr in ("a=mid:0", "a=sendrecv", "a=rtcp-mux", "a=rtpmap:0 PCMU/8000", "a=ptime:20",
                 "a=end-of-candidates"):
        add(attr in sdp, "has %s" % attr)
    for attr in ("a=ice-ufrag:", "a=ice-pwd:", "a=candidate:"):
        add(any(l.startswith(attr) for l in sdp), "has %s" % attr)
    tcp_bad = [l for l in sdp if l.startswith("a=candidate:") and
               len(l.split()) > 2 and l.split()[2].lower() == "tcp" and " tcptype " not in l]
    add(not tcp_bad, "tcptype on every TCP candidate")
    if dtls:
        add(any(re.match(r"^a=fingerprint:sha-256 ([0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$", l)
                for l in sdp), "has a=fingerprint:sha-256 with 32 bytes")
        want = ("actpass",) if offerer else ("active", "passive")
        setups = [l[len("a=setup:"):] for l in sdp if l.startswith("a=setup:")]
        add(len(setups) == 1 and setups[0] in want, "a=setup is %s (got %r)" % ("/".join(want), setups))
    if "--lite" in side.cmd:
        mline = next((i for i, l in enumerate(sdp) if l.startswith("m=")), len(sdp))
        add("a=ice-lite" in sdp[:mline], "a --lite peer says a=ice-lite at session level")
    if not offerer and other.sdp_time is not None:
        add(side.first_time is not None and side.first_time >= other.sdp_time,
            "the answerer prints only after reading the offer")
    return out


PAIR_RE = re.compile(r"^\S+/\S+ (\S+) <-> \S+/\S+ (\S+)$")


def mirror_check(a, b):
    pa = PAIR_RE.match(str((a.result or {}).get("selected_pair")))
    pb = PAIR_RE.match(str((b.result or {}).get("selected_pair")))
    if not pa or not pb:
        return False, "mirror: selected_pair missing or unparsable (A %r, B %r)" % (
            (a.result or {}).get("selected_pair"), (b.result or {}).get("selected_pair"))
    ok = pa.group(1) == pb.group(2) and pa.group(2) == pb.group(1)
    return ok, "mirror: A %s <-> %s, B %s <-> %s" % (pa.group(1), pa.group(2), pb.group(1),
                                                     pb.group(2))


def kill(side):
    p = side.proc
    if p is None or p.poll() is not None:
        return
    for sig, grace in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(p.pid, sig)   # the group this harness created for this peer
        except ProcessLookupError:
            return
        try:
            p.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def main():
    sys.stdout.reconfigure(line_buffering=True)  # keep our lines in order with the peers' stderr
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--a", required=True, help="command of peer A (normally the offerer)")
    ap.add_argument("--b", required=True, help="command of peer B (normally the answerer)")
    ap.add_argument("--name-a", default="A")
    ap.add_argument("--name-b", default="B")
    ap.add_argument("--expect", action="append", default=[])
    ap.add_argument("--expect-a", action="append", default=[])
    ap.add_argument("--expect-b", action="append", default=[])
    ap.add_argument("--packets", type=int, default=250)
    ap.add_argument("--no-default-expect", action="store_true")
    ap.add_argument("--mirror-pair", action="store_true")
    ap.add_argument("--no-contract-check", action="store_true",
                    help="do not check the SDP against the contract (roles from --offer/--answer)")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--hold-b", type=float, default=0.0, metavar="S",
                    help="deliver B's SDP to A S seconds after B printed it")
    ap.add_argument("--allow-skip", action="store_true",
                    help="exit 77 when a peer exits 77 (a dependency is missing)")
    ap.add_argument("--quiet", action="store_true", help="do not echo the peers' stderr live")
    ap.add_argument("--log-dir", help="also write each side's stdout/stderr there")
    args = ap.parse_args()

    a = Side(args.name_a, shlex.split(args.a))
    b = Side(args.name_b, shlex.split(args.b))
    exp = []
    if not args.no_default_expect:
        for side in (a, b):
            for spec in ("exit=0", "sent=%d" % args.packets, "received=%d" % args.packets,
                         "payload_ok=true"):
                exp.append((side, ) + parse_expect(spec))
    for spec in args.expect:
        for side in (a, b):
            exp.append((side, ) + parse_expect(spec))
    exp += [(a, ) + parse_expect(s) for s in args.expect_a]
    exp += [(b, ) + parse_expect(s) for s in args.expect_b]

    print("crosswire: A = %s" % shlex.join(a.cmd), flush=True)
    print("crosswire: B = %s" % shlex.join(b.cmd), flush=True)
    t0 = time.monotonic()
    for side in (a, b):
        try:
            side.proc = subprocess.Popen(side.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, start_new_session=True)
        except OSError as exc:
            print("crosswire: FAIL: cannot start %s (%s): %s" % (side.name, side.cmd[0], exc))
            kill(a)
            kill(b)
            return 1
    threads = [threading.Thread(target=pump, args=(a, b, t0), daemon=True),
               threading.Thread(target=pump, args=(b, a, t0, args.hold_b), daemon=True),
               threading.Thread(target=tee_stderr, args=(a, not args.quiet), daemon=True),
               threading.Thread(target=tee_stderr, args=(b, not args.quiet), daemon=True)]
    for t in threads:
        t.start()

    deadline = t0 + args.timeout
    timed_out = False
    for side in (a, b):
        left = deadline - time.monotonic()
        try:
            side.proc.wait(timeout=max(left, 0.01))
        except subprocess.TimeoutExpired:
            timed_out = True
            break
    if timed_out:
        print("crosswire: FAIL: overall timeout of %.0f s; killing %s" % (
            args.timeout, ", ".join(s.name for s in (a, b) if s.proc.poll() is None)), flush=True)
    kill(a)
    kill(b)
    for t in threads:
        t.join(timeout=5)
    elapsed = time.monotonic() - t0
    for side in (a, b):
        side.exit = side.proc.returncode
        side.result = find_result(side)
        try:
            side.proc.stdin.close()
        except OSError:
            pass

    if args.log_dir:
        os.makedirs(args.log_dir, exist_ok=True)
        for side in (a, b):
            with open(os.path.join(args.log_dir, side.name + ".stdout"), "w") as f:
                f.write("\n".join(side.sdp + (["."] if side.dot_seen else []) + side.after) + "\n")
            with open(os.path.join(args.log_dir, side.name + ".stderr"), "w") as f:
                f.write("\n".join(side.stderr) + "\n")

    for side in (a, b):
        print("--- %s SDP (%s) ---" % (side.name, "complete" if side.dot_seen else "NO '.' LINE"))
        for line in side.sdp:
            print("  " + line)
    for side in (a, b):
        print("%s: exit %s, result %s" % (side.name, side.exit, json.dumps(side.result)))
        extra = [l for l in side.after if l.strip() and not l.strip().startswith("{")]
        if extra:
            print("%s: unexpected stdout after '.': %r" % (side.name, extra[:5]))

    if args.allow_skip and 77 in (a.exit, b.exit) and not timed_out:
        print("crosswire: SKIP: a peer reported a missing dependency (exit 77)")
        return 77

    failures = 0
    if timed_out:
        failures += 1
    for side in (a, b):
        if side.result is None:
            print("FAIL %s: no JSON result line on stdout" % side.name)
            failures += 1
    checks = [check(*e) for e in exp]
    if args.mirror_pair:
        checks.append(mirror_check(a, b))
    if not args.no_contract_check:
        for side, other in ((a, b), (b, a)):
            offerer = "--offer" in side.cmd
            if not offerer and "--answer" not in side.cmd:
                continue
            dtls = (side.result or {}).get("dtls") not in ("none", None) or \
                any(l.startswith("a=fingerprint:") for l in side.sdp)
            checks += contract_checks(side, other, offerer, dtls)
    for ok, text in checks:
        print("%s %s" % ("ok  " if ok else "FAIL", text))
        failures += 0 if ok else 1
    print("crosswire: %s in %.1f s" % ("PASS" if failures == 0 else
                                       "FAIL (%d problems)" % failures, elapsed), flush=True)
    if failures and args.quiet:
        for side in (a, b):
            print("--- last stderr lines of %s ---" % side.name)
            for line in side.stderr[-60:]:
                print("  " + line)
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
