/* firn-peer: one side of a two-party SRTP call, following DESIGN.md's signaling contract.
 *
 *   firn-peer --offer  [options]   prints its SDP, a '.' line, then reads the answer
 *   firn-peer --answer [options]   reads the offer, then prints its SDP and a '.' line
 *
 * Once DTLS-SRTP is up (with --no-dtls: once ICE is connected) each side sends N PCMU
 * packets 20 ms apart with a deterministic payload, verifies every packet it receives, stops
 * when it has them all or after 3 s without traffic, and prints one JSON line. stdout holds
 * only the SDP, the '.' line and the JSON line; everything else goes to stderr.
 * Exit status: 0 success, 1 call failure, 2 setup or SDP error. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "firn/common.h"
#include "firn/dtls.h"
#include "firn/ice.h"
#include "firn/media.h"
#include "firn/uv.h"

#define MAX_IPS 16
#define MAX_SERVERS 8
#define SDP_MAX 16384
#define PAYLOAD 160
#define SILENCE_NS (3 * FIRN_NS_PER_S)

typedef struct peer {
  /* options */
  int offer;
  const char *ips[MAX_IPS];
  size_t n_ips;
  const char *stun[MAX_SERVERS], *turn[MAX_SERVERS];
  int n_stun, n_turn;
  const char *turn_user, *turn_pass, *turn_ca;
  int turn_insecure, relay_only, tcp, tcp_only, lite, no_dtls, verbose, no_verify;
  unsigned ta_ms;
  unsigned packets;
  double timeout_s;
  const char *wav_in, *wav_out;

  uv_loop_t *loop;
  firn_uv_agent *ua;
  uv_pipe_t in_pipe;
  uv_tty_t in_tty;
  uv_stream_t *in;
  uv_timer_t send_timer, tick;
  int in_open;

  /* signaling */
  char line[4096];
  size_t line_len;
  char remote_sdp[SDP_MAX];
  size_t remote_len;
  int remote_done, remote_applied, gathered, sdp_printed;

  /* call */
  uint64_t start_ns, remote_at_ns, ready_at_ns, last_rx_ns;
  int media_ready, finished, exit_code;
  int secure, failed;
  int fail_error;
  const char *fail_msg;
  unsigned sent;
  uint32_t ssrc;
  uint16_t seq0;
  uint32_t ts0;

  /* receive verification */
  uint8_t *got;          /* per packet index: received */
  uint8_t *rx_payload;   /* packets * 160 bytes, for --wav-out */
  unsigned received, bad;
  int have_first;
  uint32_t r_ssrc;
  uint16_t r_seq_first;
  uint32_t r_ts_first;
  unsigned r_n_first;

  /* --wav-in samples, already mu-law */
  uint8_t *wav_ulaw;
  size_t wav_len;
} peer;

static peer P;

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("firn-peer: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

static void finish(int code);

/* ---------------------------------------------------------------------------------------- */
/* G.711 mu-law (ITU-T G.711), by hand: no dependency provides it                            */

static uint8_t ulaw_encode(int16_t pcm) {
  const int bias = 0x84, clip = 32635;
  int sign = pcm < 0 ? 0x80 : 0;
  int v = pcm < 0 ? -(int)pcm : pcm;
  if (v > clip) v = clip;
  v += bias;
  int exp = 7;
  for (int mask = 0x4000; (v & mask) == 0 && exp > 0; exp--, mask >>= 1) {
  }
  int mant = (v >> (exp + 3)) & 0x0f;
  return (uint8_t)~(sign | (exp << 4) | mant);
}

static int16_t ulaw_decode(uint8_t u) {
  u = (uint8_t)~u;
  int exp = (u >> 4) & 7, mant = u & 0x0f;
  int v = (((mant << 3) + 0x84) << exp) - 0x84;
  return (int16_t)((u & 0x80) ? -v : v);
}

/* ---------------------------------------------------------------------------------------- */
/* WAV (RIFF, PCM 16-bit mono 8 kHz)                                                          */

static uint32_t rd32(const uint8_t *p) { return p[0] | (p[1] << 8) | (p[2] << 16) | ((uint32_t)p[3] << 24); }
static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static int load_wav(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    logf_("cannot open %s", path);
    return -1;
  }
  uint8_t hdr[12];
  int ok = fread(hdr, 1, 12, f) == 12 && !memcmp(hdr, "RIFF", 4) && !memcmp(hdr + 8, "WAVE", 4);
  int fmt_ok = 0;
  while (ok) {
    uint8_t ch[8];
    if (fread(ch, 1, 8, f) != 8) { ok = 0; break; }
    uint32_t len = rd32(ch + 4);
    if (!memcmp(ch, "fmt ", 4)) {
      uint8_t fmt[16];
      if (len < 16 || fread(fmt, 1, 16, f) != 16) { ok = 0; break; }
      fmt_ok = rd16(fmt) == 1 && rd16(fmt + 2) == 1 && rd32(fmt + 4) == 8000 && rd16(fmt + 14) == 16;
      if (fseek(f, (long)(len - 16 + (len & 1)), SEEK_CUR) != 0) ok = 0;
    } else if (!memcmp(ch, "data", 4)) {
      if (!fmt_ok || len > 64u * 1024 * 1024) { ok = 0; break; }
      size_t n = len / 2;
      uint8_t *pcm = malloc(len ? len : 1);
      P.wav_ulaw = malloc(n ? n : 1);
      if (!pcm || !P.wav_ulaw || fread(pcm, 1, n * 2, f) != n * 2) { free(pcm); ok = 0; break; }
      for (size_t i = 0; i < n; i++) P.wav_ulaw[i] = ulaw_encode((int16_t)rd16(pcm + 2 * i));
      P.wav_len = n;
      free(pcm);
      fclose(f);
      return 0;
    } else if (fseek(f, (long)(len + (len & 1)), SEEK_CUR) != 0) {
      ok = 0;
    }
  }
  fclose(f);
  logf_("%s is not an 8 kHz mono 16-bit PCM WAV file", path);
  return -1;
}

static void wr32(FILE *f, uint32_t v) {
  uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
  fwrite(b, 1, 4, f);
}
static void wr16(FILE *f, uint16_t v) {
  uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
  fwrite(b, 1, 2, f);
}

static int save_wav(const char *path) {
  FILE *f = fopen(path, "wb");
  if (!f) {
    logf_("cannot create %s", path);
    return -1;
  }
  uint32_t samples = P.packets * PAYLOAD, data = samples * 2;
  fwrite("RIFF", 1, 4, f);
  wr32(f, 36 + data);
  fwrite("WAVEfmt ", 1, 8, f);
  wr32(f, 16);
  wr16(f, 1);
  wr16(f, 1);
  wr32(f, 8000);
  wr32(f, 16000);
  wr16(f, 2);
  wr16(f, 16);
  fwrite("data", 1, 4, f);
  wr32(f, data);
  for (uint32_t i = 0; i < samples; i++) {
    /* missing packets are silence (mu-law 0xff) */
    uint8_t u = P.got[i / PAYLOAD] ? P.rx_payload[i] : 0xff;
    wr16(f, (uint16_t)ulaw_decode(u));
  }
  int rc = ferror(f) ? -1 : 0;
  fclose(f);
  return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* media                                                                                     */

static uint8_t pattern(unsigned n, unsigned i) { return (uint8_t)((n * 7 + i) & 0xff); }

static void send_tick(uv_timer_t *t) {
  (void)t;
  if (P.finished || P.sent >= P.packets) {
    uv_timer_stop(&P.send_timer);
    return;
  }
  unsigned n = P.sent;
  uint8_t pkt[12 + PAYLOAD];
  uint16_t seq = (uint16_t)(P.seq0 + n);
  uint32_t ts = P.ts0 + 160u * n;
  pkt[0] = 0x80;
  pkt[1] = (uint8_t)((n == 0 ? 0x80 : 0) | 0);
  pkt[2] = (uint8_t)(seq >> 8);
  pkt[3] = (uint8_t)seq;
  pkt[4] = (uint8_t)(ts >> 24);
  pkt[5] = (uint8_t)(ts >> 16);
  pkt[6] = (uint8_t)(ts >> 8);
  pkt[7] = (uint8_t)ts;
  pkt[8] = (uint8_t)(P.ssrc >> 24);
  pkt[9] = (uint8_t)(P.ssrc >> 16);
  pkt[10] = (uint8_t)(P.ssrc >> 8);
  pkt[11] = (uint8_t)P.ssrc;
  for (unsigned i = 0; i < PAYLOAD; i++) {
    if (P.wav_ulaw) {
      size_t k = (size_t)n * PAYLOAD + i;
      pkt[12 + i] = k < P.wav_len ? P.wav_ulaw[k] : 0xff;
    } else {
      pkt[12 + i] = pattern(n, i);
    }
  }
  int rc = firn_uv_session_send_rtp(P.ua, pkt, sizeof pkt);
  if (rc < 0) {
    logf_("send of packet %u failed: %s", n, firn_strerror(rc));
    if (rc == FIRN_ERR_CLOSED) return;
  } else {
    P.sent++;
  }
  if (P.sent >= P.packets) {
    uv_timer_stop(&P.send_timer);
    if (P.verbose) logf_("sent all %u packets", P.packets);
    /* everything already arrived: done now, not after the 3 s silence timer */
    if (P.received == P.packets) finish(0);
  }
}

static void start_media(void) {
  if (P.media_ready) return;
  P.media_ready = 1;
  P.ready_at_ns = firn_uv_now();
  P.last_rx_ns = P.ready_at_ns;
  logf_("%s after %.1f ms; sending %u packets", P.no_dtls ? "ICE connected" : "secure",
        (double)(P.ready_at_ns - P.remote_at_ns) / 1e6, P.packets);
  uv_timer_start(&P.send_timer, send_tick, 0, 20);
}

static inline int seq_diff(uint16_t a, uint16_t b) { return (int16_t)(uint16_t)(a - b); }

static void on_media(void *user, firn_session *s, firn_media_kind kind, unsigned comp, const uint8_t *d,
                     size_t len, uint64_t now) {
  (void)user;
  (void)s;
  (void)comp;
  if (kind != FIRN_MEDIA_RTP || P.finished) return;
  P.last_rx_ns = now;
  if (len < 12 || (d[0] >> 6) != 2) { P.bad++; return; }
  size_t hl = 12 + 4u * (d[0] & 0x0f);
  if ((d[0] & 0x10) && len >= hl + 4) hl += 4 + 4u * (size_t)((d[hl + 2] << 8) | d[hl + 3]);
  size_t plen = len >= hl ? len - hl : 0;
  if ((d[0] & 0x20) && plen > 0) plen -= d[len - 1] <= plen ? d[len - 1] : plen;
  uint16_t seq = (uint16_t)((d[2] << 8) | d[3]);
  uint32_t ts = ((uint32_t)d[4] << 24) | ((uint32_t)d[5] << 16) | ((uint32_t)d[6] << 8) | d[7];
  uint32_t ssrc = ((uint32_t)d[8] << 24) | ((uint32_t)d[9] << 16) | ((uint32_t)d[10] << 8) | d[11];
  if ((d[1] & 0x7f) != 0 || plen != PAYLOAD || len < hl + PAYLOAD) { P.bad++; return; }
  const uint8_t *pl = d + hl;
  if (!P.have_first) {
    /* byte 0 of packet n is 7n mod 256 and 7 is invertible mod 256 (7 * 183 = 1281) */
    P.have_first = 1;
    P.r_ssrc = ssrc;
    P.r_seq_first = seq;
    P.r_ts_first = ts;
    P.r_n_first = P.no_verify ? 0 : (unsigned)((pl[0] * 183u) & 0xff);
  }
  if (ssrc != P.r_ssrc) { P.bad++; return; }
  long n = (long)P.r_n_first + seq_diff(seq, P.r_seq_first);
  if (n < 0 || n >= (long)P.packets) { P.bad++; return; }
  int ok = ts == P.r_ts_first + 160u * (uint32_t)(n - (long)P.r_n_first);
  ok = ok && ((d[1] & 0x80) != 0) == (n == 0);
  if (!P.no_verify)
    for (unsigned i = 0; i < PAYLOAD && ok; i++) ok = pl[i] == pattern((unsigned)n, i);
  if (!ok) {
    if (P.bad++ < 5) logf_("packet %ld failed verification", n);
    return;
  }
  if (P.got[n]) return; /* duplicate */
  P.got[n] = 1;
  memcpy(P.rx_payload + (size_t)n * PAYLOAD, pl, PAYLOAD);
  P.received++;
  if (P.received == P.packets && P.sent >= P.packets) finish(0);
}

static void on_event(void *user, firn_session *s, const firn_session_event *ev) {
  (void)user;
  (void)s;
  switch (ev->type) {
  case FIRN_SESSION_EV_CONNECTED:
    if (P.verbose) logf_("ICE connected after %.1f ms", (double)(firn_uv_now() - P.remote_at_ns) / 1e6);
    if (P.no_dtls) start_media();
    break;
  case FIRN_SESSION_EV_SECURE:
    P.secure = 1;
    logf_("DTLS-SRTP established: %s", firn_srtp_profile_name(ev->profile));
    start_media();
    break;
  case FIRN_SESSION_EV_PAIR_CHANGED:
    if (P.verbose) logf_("selected pair changed");
    break;
  case FIRN_SESSION_EV_FAILED:
    P.failed = 1;
    P.fail_error = ev->error;
    P.fail_msg = ev->message;
    logf_("call failed: %s (%s)", ev->message ? ev->message : "?", firn_strerror(ev->error));
    finish(1);
    break;
  case FIRN_SESSION_EV_CLOSED:
    if (!P.finished) {
      logf_("the peer closed the session");
      finish(P.received == P.packets && P.sent >= P.packets ? 0 : 1);
    }
    break;
  }
}

/* ---------------------------------------------------------------------------------------- */
/* summary and shutdown                                                                      */

static const char *transport_name(const firn_candidate *c) {
  if (c->transport != FIRN_TRANSPORT_TCP) return "udp";
  switch (c->tcptype) {
  case FIRN_TCP_ACTIVE: return "tcp-active";
  case FIRN_TCP_PASSIVE: return "tcp-passive";
  case FIRN_TCP_SO: return "tcp-so";
  default: return "tcp";
  }
}

static void describe(const firn_candidate *c, char *buf, size_t size) {
  char a[FIRN_ADDR_STRLEN];
  firn_addr x = c->addr;
  x.scope_id = 0;
  if (firn_addr_format(&x, 1, a, sizeof a) < 0) snprintf(a, sizeof a, "?");
  snprintf(buf, size, "%s/%s %s", firn_cand_type_name((firn_cand_type)c->type), transport_name(c), a);
}

static void print_json(void) {
  char pair[300] = "none";
  firn_candidate l, r;
  firn_agent *core = firn_uv_agent_core(P.ua);
  if (core && firn_agent_get_selected_pair(core, 0, 1, &l, &r, NULL) == 0) {
    char a[140], b[140];
    describe(&l, a, sizeof a);
    describe(&r, b, sizeof b);
    snprintf(pair, sizeof pair, "%s <-> %s", a, b);
  }
  firn_session *s = firn_uv_agent_session(P.ua);
  firn_session_stats st;
  memset(&st, 0, sizeof st);
  if (s) firn_session_get_stats(s, &st);
  firn_srtp_profile prof = s ? firn_session_srtp_profile(s) : FIRN_SRTP_NONE;
  const char *dtls = P.no_dtls ? "none" : P.secure ? "ok" : "failed";
  const char *ice_role = core ? (firn_agent_get_role(core) == FIRN_ICE_CONTROLLING ? "controlling" : "controlled") : "none";
  double connect_ms = P.media_ready ? (double)(P.ready_at_ns - P.remote_at_ns) / 1e6 : -1.0;
  int payload_ok = P.bad == 0 && P.received > 0;
  printf("{\"selected_pair\":\"%s\",\"dtls\":\"%s\",\"srtp_profile\":\"%s\",\"sent\":%u,\"received\":%u,"
         "\"payload_ok\":%s,\"connect_ms\":%.1f,\"role\":\"%s\",\"ice_role\":\"%s\",\"bad_packets\":%u,"
         "\"srtp_auth_failures\":%llu,\"srtp_replays\":%llu,\"dropped_not_selected\":%llu,"
         "\"dtls_datagrams_in\":%llu,\"error\":\"%s\"}\n",
         pair, dtls, firn_srtp_profile_name(prof) ? firn_srtp_profile_name(prof) : "none", P.sent, P.received,
         payload_ok ? "true" : "false", connect_ms, P.offer ? "offer" : "answer", ice_role, P.bad,
         (unsigned long long)st.srtp_auth_failures, (unsigned long long)st.srtp_replays,
         (unsigned long long)st.dropped_not_selected, (unsigned long long)st.dtls_datagrams_in,
         P.failed ? firn_strerror(P.fail_error) : P.exit_code ? "timeout or missing packets" : "");
  fflush(stdout);
}

static void close_cb(uv_handle_t *h) { (void)h; }

static void finish(int code) {
  if (P.finished) return;
  P.finished = 1;
  P.exit_code = code;
  if (code == 0 && !(P.bad == 0 && P.received == P.packets && P.sent >= P.packets)) P.exit_code = 1;
  if (P.ua) print_json();
  if (P.wav_out && P.got && save_wav(P.wav_out) < 0) logf_("cannot write %s", P.wav_out);
  uv_timer_stop(&P.send_timer);
  uv_timer_stop(&P.tick);
  if (!uv_is_closing((uv_handle_t *)&P.send_timer)) uv_close((uv_handle_t *)&P.send_timer, close_cb);
  if (!uv_is_closing((uv_handle_t *)&P.tick)) uv_close((uv_handle_t *)&P.tick, close_cb);
  if (P.in_open && P.in && !uv_is_closing((uv_handle_t *)P.in)) uv_close((uv_handle_t *)P.in, close_cb);
  P.in_open = 0;
  if (P.ua) firn_uv_agent_close(P.ua, NULL, NULL);
  P.ua = NULL;
}

static void tick_cb(uv_timer_t *t) {
  (void)t;
  uint64_t now = firn_uv_now();
  if (P.finished) return;
  if (P.timeout_s > 0 && now - P.start_ns > (uint64_t)(P.timeout_s * 1e9)) {
    logf_("timeout after %.1f s (sent %u, received %u)", P.timeout_s, P.sent, P.received);
    finish(1);
    return;
  }
  if (P.media_ready && P.sent >= P.packets && now - P.last_rx_ns > SILENCE_NS) {
    logf_("3 s without traffic: stopping with %u of %u packets", P.received, P.packets);
    finish(P.received == P.packets ? 0 : 1);
  }
}

/* ---------------------------------------------------------------------------------------- */
/* signaling                                                                                 */

static void print_local_sdp(void) {
  if (P.sdp_printed || P.finished) return;
  if (!P.gathered || (!P.offer && !P.remote_applied)) return;
  firn_session *s = firn_uv_agent_session(P.ua);
  firn_media_desc d;
  int rc = firn_session_get_local_description(s, &d);
  if (rc < 0) {
    logf_("no local description: %s (no usable local address?)", firn_strerror(rc));
    finish(2);
    return;
  }
  static char sdp[SDP_MAX];
  rc = firn_sdp_media_format(&d, sdp, sizeof sdp);
  if (rc < 0) {
    logf_("cannot format the local SDP: %s", firn_strerror(rc));
    finish(2);
    return;
  }
  fputs(sdp, stdout);
  fputs(".\r\n", stdout);
  fflush(stdout);
  P.sdp_printed = 1;
  if (P.verbose) logf_("local SDP printed (%zu candidates)", d.n_candidates);
}

static void apply_remote_sdp(void) {
  firn_media_desc d;
  const char *why = NULL;
  int rc = firn_sdp_media_parse(&d, P.remote_sdp, P.remote_len, &why);
  if (rc < 0) {
    logf_("bad remote SDP: %s", why ? why : firn_strerror(rc));
    finish(2);
    return;
  }
  if (d.payload_type != 0 || (d.encoding[0] && strcmp(d.encoding, "PCMU") != 0)) {
    logf_("bad remote SDP: PCMU/8000 (payload type 0) is not offered");
    finish(2);
    return;
  }
  if (d.n_candidates == 0) logf_("warning: the remote SDP has no usable candidate");
  P.remote_at_ns = firn_uv_now();
  rc = firn_uv_session_set_remote_description(P.ua, &d);
  if (rc < 0) {
    logf_("cannot use the remote SDP: %s", firn_strerror(rc));
    finish(2);
    return;
  }
  P.remote_applied = 1;
  if (P.verbose) logf_("remote SDP applied: %zu candidates (%u skipped)%s", d.n_candidates, d.skipped_candidates,
                       d.ice_lite ? ", ice-lite" : "");
  print_local_sdp();
}

/* One line of the remote SDP (without its LF). */
static void remote_line(char *l, size_t n) {
  if (n && l[n - 1] == '\r') n--;
  if (n == 1 && l[0] == '.') {
    P.remote_done = 1;
    if (P.in_open) uv_read_stop(P.in);
    apply_remote_sdp();
    return;
  }
  if (P.remote_len + n + 2 >= sizeof P.remote_sdp) {
    logf_("bad remote SDP: longer than %d bytes", SDP_MAX);
    finish(2);
    return;
  }
  memcpy(P.remote_sdp + P.remote_len, l, n);
  P.remote_len += n;
  P.remote_sdp[P.remote_len++] = '\r';
  P.remote_sdp[P.remote_len++] = '\n';
}

static void remote_bytes(const char *b, size_t n) {
  for (size_t i = 0; i < n && !P.remote_done && !P.finished; i++) {
    if (b[i] == '\n') {
      remote_line(P.line, P.line_len);
      P.line_len = 0;
    } else if (P.line_len < sizeof P.line - 1) {
      P.line[P.line_len++] = b[i];
    }
  }
}

static void in_alloc(uv_handle_t *h, size_t sz, uv_buf_t *buf) {
  (void)h;
  (void)sz;
  static char b[4096];
  buf->base = b;
  buf->len = sizeof b;
}

static void in_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  (void)s;
  if (n > 0) {
    remote_bytes(buf->base, (size_t)n);
  } else if (n < 0 && !P.remote_done && !P.finished) {
    logf_("stdin closed before the remote SDP's '.' line");
    finish(2);
  }
}

/* Start reading stdin: a pipe/FIFO or a terminal through libuv, a plain file at once. */
static int start_stdin(void) {
  uv_handle_type t = uv_guess_handle(0);
  if (t == UV_NAMED_PIPE) {
    if (uv_pipe_init(P.loop, &P.in_pipe, 0) < 0 || uv_pipe_open(&P.in_pipe, 0) < 0) return -1;
    P.in = (uv_stream_t *)&P.in_pipe;
  } else if (t == UV_TTY) {
    if (uv_tty_init(P.loop, &P.in_tty, 0, 1) < 0) return -1;
    P.in = (uv_stream_t *)&P.in_tty;
  } else {
    char b[4096];
    size_t n;
    while (!P.remote_done && !P.finished && (n = fread(b, 1, sizeof b, stdin)) > 0) remote_bytes(b, n);
    if (!P.remote_done && !P.finished) {
      logf_("stdin ended before the remote SDP's '.' line");
      finish(2);
    }
    return 0;
  }
  P.in_open = 1;
  return uv_read_start(P.in, in_alloc, in_read) < 0 ? -1 : 0;
}

static void on_gathering_done(void *user, unsigned stream) {
  (void)user;
  (void)stream;
  if (P.gathered) return;
  P.gathered = 1;
  print_local_sdp();
}

static void log_cb(void *user, firn_log_level lvl, const char *module, const char *msg) {
  (void)user;
  static const char *names[] = {"error", "warn", "info", "debug", "trace"};
  double t = (double)(firn_uv_now() - P.start_ns) / 1e6;
  fprintf(stderr, "[%9.3f ms] %s %s: %s\n", t, names[lvl <= FIRN_LOG_TRACE ? lvl : 0], module, msg);
}

/* ---------------------------------------------------------------------------------------- */
/* options                                                                                   */

static void usage(FILE *f) {
  fprintf(f,
          "usage: firn-peer --offer|--answer [options]\n"
          "  --ip ADDR          gather host candidates only on ADDR (repeatable; 127.0.0.1 allowed)\n"
          "  --stun URI         STUN server, e.g. stun:192.0.2.1:3478 (repeatable)\n"
          "  --turn URI         TURN server, turn:HOST:PORT?transport=udp|tcp or turns:HOST:PORT\n"
          "  --turn-user U, --turn-pass P, --turn-ca FILE, --turn-insecure\n"
          "  --relay-only       use relay candidates only\n"
          "  --tcp              add ICE-TCP candidates;  --tcp-only  ICE-TCP only\n"
          "  --lite             be an ICE-lite agent\n"
          "  --ta MS            check pacing (default 50)\n"
          "  --no-dtls          plain RTP once ICE is connected (ICE-only peers)\n"
          "  --packets N        packets to send and expect (default 250)\n"
          "  --timeout S        give up after S seconds (default 30)\n"
          "  --wav-in FILE      send this 8 kHz mono 16-bit WAV as PCMU (the peer then needs --no-verify)\n"
          "  --wav-out FILE     record what arrives as an 8 kHz mono 16-bit WAV\n"
          "  --no-verify        accept any payload (for a peer sending --wav-in)\n"
          "  -v                 trace to stderr\n");
}

enum {
  O_OFFER = 256, O_ANSWER, O_IP, O_STUN, O_TURN, O_TURN_USER, O_TURN_PASS, O_TURN_CA, O_TURN_INSECURE,
  O_RELAY_ONLY, O_TCP, O_TCP_ONLY, O_LITE, O_TA, O_NO_DTLS, O_PACKETS, O_TIMEOUT, O_WAV_IN, O_WAV_OUT,
  O_NO_VERIFY, O_HELP
};

static int parse_args(int argc, char **argv) {
  static const struct option opts[] = {
      {"offer", no_argument, 0, O_OFFER},           {"answer", no_argument, 0, O_ANSWER},
      {"ip", required_argument, 0, O_IP},           {"stun", required_argument, 0, O_STUN},
      {"turn", required_argument, 0, O_TURN},       {"turn-user", required_argument, 0, O_TURN_USER},
      {"turn-pass", required_argument, 0, O_TURN_PASS}, {"turn-ca", required_argument, 0, O_TURN_CA},
      {"turn-insecure", no_argument, 0, O_TURN_INSECURE}, {"relay-only", no_argument, 0, O_RELAY_ONLY},
      {"tcp", no_argument, 0, O_TCP},               {"tcp-only", no_argument, 0, O_TCP_ONLY},
      {"lite", no_argument, 0, O_LITE},             {"ta", required_argument, 0, O_TA},
      {"no-dtls", no_argument, 0, O_NO_DTLS},       {"packets", required_argument, 0, O_PACKETS},
      {"timeout", required_argument, 0, O_TIMEOUT}, {"wav-in", required_argument, 0, O_WAV_IN},
      {"wav-out", required_argument, 0, O_WAV_OUT}, {"no-verify", no_argument, 0, O_NO_VERIFY},
      {"help", no_argument, 0, O_HELP},             {0, 0, 0, 0}};
  int role = -1, c;
  char *end;
  while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
    switch (c) {
    case O_OFFER: role = 1; break;
    case O_ANSWER: role = 0; break;
    case O_IP:
      if (P.n_ips >= MAX_IPS) { logf_("too many --ip"); return -1; }
      P.ips[P.n_ips++] = optarg;
      break;
    case O_STUN:
      if (P.n_stun >= MAX_SERVERS) { logf_("too many --stun"); return -1; }
      P.stun[P.n_stun++] = optarg;
      break;
    case O_TURN:
      if (P.n_turn >= MAX_SERVERS) { logf_("too many --turn"); return -1; }
      P.turn[P.n_turn++] = optarg;
      break;
    case O_TURN_USER: P.turn_user = optarg; break;
    case O_TURN_PASS: P.turn_pass = optarg; break;
    case O_TURN_CA: P.turn_ca = optarg; break;
    case O_TURN_INSECURE: P.turn_insecure = 1; break;
    case O_RELAY_ONLY: P.relay_only = 1; break;
    case O_TCP: P.tcp = 1; break;
    case O_TCP_ONLY: P.tcp_only = 1; break;
    case O_LITE: P.lite = 1; break;
    case O_TA:
      P.ta_ms = (unsigned)strtoul(optarg, &end, 10);
      if (*end || P.ta_ms == 0 || P.ta_ms > 10000) { logf_("bad --ta %s", optarg); return -1; }
      break;
    case O_NO_DTLS: P.no_dtls = 1; break;
    case O_PACKETS:
      P.packets = (unsigned)strtoul(optarg, &end, 10);
      if (*end || P.packets == 0 || P.packets > 100000) { logf_("bad --packets %s", optarg); return -1; }
      break;
    case O_TIMEOUT:
      P.timeout_s = strtod(optarg, &end);
      if (*end || P.timeout_s <= 0) { logf_("bad --timeout %s", optarg); return -1; }
      break;
    case O_WAV_IN: P.wav_in = optarg; break;
    case O_WAV_OUT: P.wav_out = optarg; break;
    case O_NO_VERIFY: P.no_verify = 1; break;
    case 'v': P.verbose = 1; break;
    case 'h':
    case O_HELP: usage(stdout); exit(0);
    default: usage(stderr); return -1;
    }
  }
  if (optind < argc) { logf_("unexpected argument %s", argv[optind]); return -1; }
  if (role < 0) { logf_("say --offer or --answer"); usage(stderr); return -1; }
  P.offer = role;
  if (P.n_turn && (!P.turn_user || !P.turn_pass)) { logf_("--turn needs --turn-user and --turn-pass"); return -1; }
  if (P.relay_only && !P.n_turn) { logf_("--relay-only needs a --turn server"); return -1; }
  if (P.turn_ca && P.turn_insecure) { logf_("--turn-ca and --turn-insecure exclude each other"); return -1; }
  return 0;
}

/* ---------------------------------------------------------------------------------------- */

int main(int argc, char **argv) {
  P.packets = 250;
  P.timeout_s = 30;
  if (parse_args(argc, argv) < 0) return 2;
  if (P.wav_in && load_wav(P.wav_in) < 0) return 2;
  P.got = calloc(P.packets, 1);
  P.rx_payload = calloc(P.packets, PAYLOAD);
  if (!P.got || !P.rx_payload) return 2;
  uint8_t r[10];
  if (firn_random_default(NULL, r, sizeof r) < 0) return 2;
  P.ssrc = ((uint32_t)r[0] << 24) | ((uint32_t)r[1] << 16) | ((uint32_t)r[2] << 8) | r[3];
  P.seq0 = (uint16_t)((r[4] << 8) | r[5]);
  P.ts0 = ((uint32_t)r[6] << 24) | ((uint32_t)r[7] << 16) | ((uint32_t)r[8] << 8) | r[9];

  P.loop = uv_default_loop();
  P.start_ns = firn_uv_now();
  P.remote_at_ns = P.start_ns;

  firn_uv_settings us;
  firn_uv_settings_default(&us);
  if (P.n_ips) {
    us.ips = P.ips;
    us.n_ips = P.n_ips;
  }
  us.tls_ca_file = P.turn_ca;
  us.tls_insecure = P.turn_insecure;
  us.tcp = P.tcp || P.tcp_only;
  us.udp = !P.tcp_only;
  us.agent.lite = P.lite;
  us.agent.policy = P.relay_only ? FIRN_ICE_POLICY_RELAY : FIRN_ICE_POLICY_ALL;
  if (P.ta_ms) us.agent.ta_ns = (uint64_t)P.ta_ms * FIRN_NS_PER_MS;
  us.agent.log = log_cb;
  us.agent.log_level = P.verbose ? FIRN_LOG_TRACE : FIRN_LOG_WARN;
  us.agent.software = "firn-peer";
  us.agent.callbacks.on_gathering_done = on_gathering_done;

  firn_session_settings ms;
  firn_session_settings_default(&ms);
  ms.role = P.offer ? FIRN_SESSION_OFFERER : FIRN_SESSION_ANSWERER;
  ms.dtls = !P.no_dtls;
  ms.callbacks.on_event = on_event;
  ms.callbacks.on_media = on_media;

  uv_timer_init(P.loop, &P.send_timer); /* before anything that may call finish() */
  uv_timer_init(P.loop, &P.tick);
  int rc = firn_uv_session_new(&P.ua, P.loop, &us, &ms);
  if (rc < 0) {
    logf_("cannot start: %s%s", firn_strerror(rc), rc == FIRN_ERR_IO ? " (no usable local address)" : "");
    uv_run(P.loop, UV_RUN_DEFAULT); /* the runtime frees what it had opened */
    return 2;
  }
  for (int i = 0; i < P.n_stun; i++) {
    rc = firn_uv_agent_add_server(P.ua, P.stun[i], NULL, NULL);
    if (rc < 0) {
      logf_("bad --stun %s: %s", P.stun[i], firn_strerror(rc));
      finish(2);
      goto run;
    }
  }
  for (int i = 0; i < P.n_turn; i++) {
    rc = firn_uv_agent_add_server(P.ua, P.turn[i], P.turn_user, P.turn_pass);
    if (rc == FIRN_ERR_UNSUPPORTED) {
      logf_("--turn %s: TURN relays are not supported by this build of firn yet", P.turn[i]);
      finish(2);
      goto run;
    }
    if (rc < 0) {
      logf_("bad --turn %s: %s", P.turn[i], firn_strerror(rc));
      finish(2);
      goto run;
    }
  }
  uv_timer_start(&P.tick, tick_cb, 100, 100);
  rc = firn_uv_agent_gather(P.ua);
  if (rc < 0) {
    logf_("cannot gather: %s", firn_strerror(rc));
    finish(2);
    goto run;
  }
  if (!P.finished && start_stdin() < 0) {
    logf_("cannot read stdin");
    finish(2);
  }
run:
  uv_run(P.loop, UV_RUN_DEFAULT);
  uv_loop_close(P.loop);
  free(P.got);
  free(P.rx_payload);
  free(P.wav_ulaw);
  return P.exit_code;
}
