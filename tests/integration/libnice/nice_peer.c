/*
 * nice_peer: an ICE-only foreign peer on Debian's libnice that speaks firn-peer's signaling
 * contract (DESIGN.md, "The example peer's signaling contract") in its --no-dtls form.
 *
 *   nice_peer --offer|--answer [--ip ADDR]... [--lite] [--tcp] [--tcp-only]
 *             [--controlling|--controlled] [--aggressive] [--consent] [--ta MS]
 *             [--packets N] [--timeout S] [--no-dtls] [-v]
 *
 * - Prints its SDP (one m=audio line with RTP/AVP, ICE attributes and candidates; no
 *   a=fingerprint and no a=setup because there is no DTLS) followed by a line holding only ".", and reads the remote
 *   SDP from stdin up to such a line. The offerer prints at once, the answerer after the offer.
 * - ICE with libnice (RFC 5245 compatibility, regular nomination unless --aggressive; a lite
 *   agent with --lite; ICE-TCP candidates with --tcp). The offerer controls, except that a lite
 *   agent never controls and a full agent facing a lite peer always does; --controlling and
 *   --controlled override. Host candidates only: no STUN/TURN server, UPnP off; --ip restricts
 *   gathering to that address (127.0.0.1 allowed).
 * - Once the component is READY, sends N (250) plain RTP packets 20 ms apart with the contract's
 *   header and payload, verifies every RTP packet it receives, stops when it has them all or
 *   3 s pass without traffic, prints one JSON line ("dtls":"none") and exits 0/1/2.
 * --no-dtls is accepted (and implied) so command lines can be uniform with firn-peer's.
 */
#include <agent.h>
#include <glib.h>
#include <glib-object.h>
#include <gio/gio.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef NICE_PEER_LIBNICE_VERSION /* set by meson from pkg-config */
#define NICE_PEER_LIBNICE_VERSION "unknown"
#endif

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_SETUP = 2 };
#define PAYLOAD_LEN 160
#define TS_STEP 160
#define INTERVAL_US 20000
#define SILENCE_US 3000000
#define MAX_PACKETS 65536

typedef struct {
  /* options */
  bool offerer, lite, tcp, tcp_only, aggressive, consent, verbose;
  int force_role; /* 0 auto, 1 controlling, -1 controlled */
  guint ta_ms;
  int packets;
  double timeout_s;
  GPtrArray *ips;

  GMainLoop *loop;
  NiceAgent *agent;
  guint stream;
  int exit_code;
  bool finished;

  /* stdin */
  GIOChannel *in_ch;
  guint in_watch;
  GPtrArray *remote_lines;

  /* remote description */
  char *r_ufrag, *r_pwd;
  bool r_lite, r_fingerprint;
  GSList *r_cands;

  /* state */
  bool gathered, remote_applied, media_started, controlling;
  gint64 t_apply, t_ready, t_media, last_rx;
  char selected[256];
  char error[256];

  /* sending */
  uint32_t ssrc, ts0;
  uint16_t seq0;
  int sent, send_errors;

  /* receiving */
  bool have_base;
  uint32_t r_ssrc, r_ts_base;
  uint16_t r_seq_base;
  uint8_t *seen;
  int received, bad, dups, non_rtp;
  char first_error[160];
} Peer;

static Peer P;

static void say(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static void say(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("nice_peer: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  fflush(stderr);
}

/* GLib's default writer sends debug/info to stdout; stdout belongs to the contract. */
static void log_to_stderr(const gchar *domain, GLogLevelFlags level, const gchar *msg,
                          gpointer data) {
  (void)level;
  (void)data;
  fprintf(stderr, "%s: %s\n", domain ? domain : "glib", msg);
}

/* ------------------------------------------------------------------ RTP */

static void payload_for(int n, uint8_t *out) {
  for (int i = 0; i < PAYLOAD_LEN; i++) out[i] = (uint8_t)((n * 7 + i) & 0xff);
}

static void put16(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}
static uint32_t get16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }
static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void bad_packet(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static void bad_packet(const char *fmt, ...) {
  char buf[160];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  P.bad++;
  if (!P.first_error[0]) snprintf(P.first_error, sizeof P.first_error, "%s", buf);
  say("bad packet: %s", buf);
}

static void verify(const uint8_t *d, size_t len) {
  P.last_rx = g_get_monotonic_time();
  if (len < 12) { bad_packet("short packet (%zu bytes)", len); return; }
  if (d[0] >> 6 != 2) { bad_packet("version %d", d[0] >> 6); return; }
  if (d[0] & 0x3f) { bad_packet("padding/extension/CSRC bits (byte0 0x%02x)", d[0]); return; }
  if (d[1] & 0x7f) { bad_packet("payload type %d", d[1] & 0x7f); return; }
  if (len - 12 != PAYLOAD_LEN) { bad_packet("payload length %zu", len - 12); return; }
  uint32_t seq = get16(d + 2), ts = get32(d + 4), ssrc = get32(d + 8);
  const uint8_t *pl = d + 12;
  if (!P.have_base) {
    /* byte 0 of packet n is 7n mod 256; 183 is the inverse of 7 mod 256 */
    uint32_t n0 = (uint32_t)(pl[0] * 183u) & 0xff;
    P.have_base = true;
    P.r_ssrc = ssrc;
    P.r_seq_base = (uint16_t)(seq - n0);
    P.r_ts_base = ts - n0 * TS_STEP;
  }
  if (ssrc != P.r_ssrc) { bad_packet("ssrc 0x%08x, expected 0x%08x", ssrc, P.r_ssrc); return; }
  int n = (uint16_t)(seq - P.r_seq_base);
  if (n >= P.packets) { bad_packet("sequence %u gives index %d (>= %d)", seq, n, P.packets); return; }
  uint32_t want_ts = P.r_ts_base + (uint32_t)n * TS_STEP;
  if (ts != want_ts) { bad_packet("packet %d: timestamp %u, expected %u", n, ts, want_ts); return; }
  if (!!(d[1] & 0x80) != (n == 0)) { bad_packet("packet %d: marker %d", n, d[1] >> 7); return; }
  uint8_t want[PAYLOAD_LEN];
  payload_for(n, want);
  if (memcmp(pl, want, PAYLOAD_LEN) != 0) { bad_packet("packet %d: payload differs", n); return; }
  if (P.seen[n]) { P.dups++; return; }
  P.seen[n] = 1;
  P.received++;
}

/* ------------------------------------------------------------------ result */

static const char *type_name(NiceCandidateType t) {
  switch (t) {
  case NICE_CANDIDATE_TYPE_HOST: return "host";
  case NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE: return "srflx";
  case NICE_CANDIDATE_TYPE_PEER_REFLEXIVE: return "prflx";
  case NICE_CANDIDATE_TYPE_RELAYED: return "relay";
  }
  return "?";
}

static const char *transport_name(NiceCandidateTransport t) {
  switch (t) {
  case NICE_CANDIDATE_TRANSPORT_UDP: return "udp";
  case NICE_CANDIDATE_TRANSPORT_TCP_ACTIVE: return "tcp-active";
  case NICE_CANDIDATE_TRANSPORT_TCP_PASSIVE: return "tcp-passive";
  case NICE_CANDIDATE_TRANSPORT_TCP_SO: return "tcp-so";
  }
  return "?";
}

static void describe(const NiceCandidate *c, char *out, size_t outlen) {
  char ip[NICE_ADDRESS_STRING_LEN];
  nice_address_to_string(&c->addr, ip);
  bool v6 = nice_address_ip_version(&c->addr) == 6;
  snprintf(out, outlen, "%s/%s %s%s%s:%u", type_name(c->type), transport_name(c->transport),
           v6 ? "[" : "", ip, v6 ? "]" : "", nice_address_get_port(&c->addr));
}

static void json_string(GString *s, const char *v) {
  if (!v) { g_string_append(s, "null"); return; }
  g_string_append_c(s, '"');
  for (const char *p = v; *p; p++) {
    if (*p == '"' || *p == '\\') g_string_append_printf(s, "\\%c", *p);
    else if ((unsigned char)*p < 0x20) g_string_append_printf(s, "\\u%04x", *p);
    else g_string_append_c(s, *p);
  }
  g_string_append_c(s, '"');
}

static void finish(int code, const char *why) {
  if (P.finished) return;
  P.finished = true;
  if (why && !P.error[0]) snprintf(P.error, sizeof P.error, "%s", why);
  bool payload_ok = P.bad == 0 && P.received > 0;
  if (code == EXIT_OK && !(P.sent == P.packets && P.received == P.packets && payload_ok))
    code = EXIT_FAIL;
  GString *s = g_string_new("{\"peer\":\"libnice\",\"libnice_version\":");
  json_string(s, NICE_PEER_LIBNICE_VERSION);
  /* ice_role is the role this peer started with: libnice's "controlling-mode" property keeps
   * the configured role even after a 487 role conflict switched it (its -v log shows switches) */
  g_string_append_printf(s, ",\"role\":\"%s\",\"mode\":\"%s\",\"ice_role\":\"%s\"",
                         P.offerer ? "offer" : "answer", P.lite ? "lite" : "full",
                         P.controlling ? "controlling" : "controlled");
  g_string_append(s, ",\"selected_pair\":");
  json_string(s, P.selected[0] ? P.selected : NULL);
  g_string_append_printf(s, ",\"dtls\":\"none\",\"srtp_profile\":null,\"sent\":%d,"
                         "\"received\":%d,\"payload_ok\":%s,\"connect_ms\":",
                         P.sent, P.received, payload_ok ? "true" : "false");
  if (P.t_ready) g_string_append_printf(s, "%.1f", (double)(P.t_ready - P.t_apply) / 1000.0);
  else g_string_append(s, "null");
  g_string_append_printf(s, ",\"bad_packets\":%d,\"duplicates\":%d,\"non_rtp\":%d,"
                         "\"send_errors\":%d", P.bad, P.dups, P.non_rtp, P.send_errors);
  if (P.first_error[0]) { g_string_append(s, ",\"first_error\":"); json_string(s, P.first_error); }
  if (P.error[0]) { g_string_append(s, ",\"error\":"); json_string(s, P.error); }
  g_string_append(s, "}\n");
  fputs(s->str, stdout);
  fflush(stdout);
  g_string_free(s, TRUE);
  if (why) say("%s", why);
  P.exit_code = code;
  g_main_loop_quit(P.loop);
}

/* ------------------------------------------------------------------ SDP */

static gint by_priority_desc(gconstpointer a, gconstpointer b) {
  const NiceCandidate *x = a, *y = b;
  return x->priority < y->priority ? 1 : x->priority > y->priority ? -1 : 0;
}

static void print_local_sdp(void) {
  gchar *ufrag = NULL, *pwd = NULL;
  if (!nice_agent_get_local_credentials(P.agent, P.stream, &ufrag, &pwd)) {
    finish(EXIT_SETUP, "cannot read local ICE credentials");
    return;
  }
  GSList *cands = nice_agent_get_local_candidates(P.agent, P.stream, 1);
  cands = g_slist_sort(cands, by_priority_desc);
  if (!cands) {
    g_free(ufrag);
    g_free(pwd);
    finish(EXIT_SETUP, "no local candidate gathered (check --ip)");
    return;
  }
  /* default candidate: the best UDP one, else the best TCP passive one (port 9 otherwise) */
  const NiceCandidate *def = NULL;
  for (GSList *l = cands; l && !def; l = l->next)
    if (((NiceCandidate *)l->data)->transport == NICE_CANDIDATE_TRANSPORT_UDP) def = l->data;
  for (GSList *l = cands; l && !def; l = l->next)
    if (((NiceCandidate *)l->data)->transport == NICE_CANDIDATE_TRANSPORT_TCP_PASSIVE) def = l->data;
  if (!def) def = cands->data;
  char ip[NICE_ADDRESS_STRING_LEN];
  nice_address_to_string(&def->addr, ip);
  const char *fam = nice_address_ip_version(&def->addr) == 6 ? "IP6" : "IP4";
  unsigned port = def->transport == NICE_CANDIDATE_TRANSPORT_TCP_ACTIVE
                      ? 9u : nice_address_get_port(&def->addr);

  GString *s = g_string_new(NULL);
  g_string_append_printf(s, "v=0\r\no=- %" G_GUINT64_FORMAT " 1 IN %s %s\r\ns=-\r\nt=0 0\r\n",
                         ((guint64)g_random_int() << 31) ^ g_random_int(), fam, ip);
  if (P.lite) g_string_append(s, "a=ice-lite\r\n");
  /* plain RTP, no DTLS-SRTP: the RTP/AVP profile (firn-peer --no-dtls says the same) */
  g_string_append_printf(s, "m=audio %u RTP/AVP 0\r\nc=IN %s %s\r\n", port, fam, ip);
  g_string_append(s, "a=mid:0\r\na=sendrecv\r\na=rtcp-mux\r\na=rtpmap:0 PCMU/8000\r\n"
                     "a=ptime:20\r\n");
  g_string_append_printf(s, "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\n", ufrag, pwd);
  for (GSList *l = cands; l; l = l->next) {
    gchar *line = nice_agent_generate_local_candidate_sdp(P.agent, l->data);
    if (line) g_string_append_printf(s, "%s\r\n", line);
    g_free(line);
  }
  g_string_append(s, "a=end-of-candidates\r\n.\r\n");
  fputs(s->str, stdout);
  fflush(stdout);
  g_string_free(s, TRUE);
  g_slist_free_full(cands, (GDestroyNotify)nice_candidate_free);
  g_free(ufrag);
  g_free(pwd);
}

static bool parse_remote(void) {
  int media = 0;
  for (guint i = 0; i < P.remote_lines->len; i++) {
    const char *line = g_ptr_array_index(P.remote_lines, i);
    if (g_str_has_prefix(line, "m=")) {
      if (++media > 1) say("ignoring extra m= section: %s", line);
      continue;
    }
    if (media > 1 || !g_str_has_prefix(line, "a=")) continue;
    const char *a = line + 2;
    if (strcmp(a, "ice-lite") == 0) P.r_lite = true;
    else if (g_str_has_prefix(a, "ice-ufrag:")) { g_free(P.r_ufrag); P.r_ufrag = g_strstrip(g_strdup(a + 10)); }
    else if (g_str_has_prefix(a, "ice-pwd:")) { g_free(P.r_pwd); P.r_pwd = g_strstrip(g_strdup(a + 8)); }
    else if (g_str_has_prefix(a, "fingerprint:")) P.r_fingerprint = true;
    else if (g_str_has_prefix(a, "candidate:")) {
      NiceCandidate *c = nice_agent_parse_remote_candidate_sdp(P.agent, P.stream, line);
      if (!c) {
        say("SDP error: cannot parse candidate line: %s", line);
        return false;
      }
      bool is_tcp = c->transport != NICE_CANDIDATE_TRANSPORT_UDP;
      if ((is_tcp && !P.tcp) || (!is_tcp && P.tcp_only)) {
        say("skipping remote candidate (transport not enabled here): %s", line);
        nice_candidate_free(c);
        continue;
      }
      P.r_cands = g_slist_append(P.r_cands, c);
    }
  }
  if (media < 1) { say("SDP error: no m= line in the remote SDP"); return false; }
  if (!P.r_ufrag || !P.r_pwd) { say("SDP error: no a=ice-ufrag / a=ice-pwd"); return false; }
  if (!P.r_cands) { say("SDP error: no usable remote candidate"); return false; }
  if (P.r_fingerprint) say("remote offers DTLS (a=fingerprint); this peer is ICE-only, ignoring it");
  return true;
}

/* The role must be set before libnice starts its checks: afterwards it keeps the old role
 * ("role switch requested but conncheck already started") and a role conflict has to sort it
 * out. The offerer decides at start (it controls unless it is lite; a lite answer does not
 * change that), the answerer once it has read the offer, before it gathers. */
static void decide_role(void) {
  if (P.force_role) P.controlling = P.force_role > 0;
  else if (P.lite) P.controlling = false;          /* a lite agent never controls */
  else P.controlling = P.offerer || P.r_lite;     /* a full agent facing lite takes control */
  g_object_set(P.agent, "controlling-mode", P.controlling, NULL);
  gboolean now = !P.controlling;
  g_object_get(P.agent, "controlling-mode", &now, NULL);
  if (!now != !P.controlling) say("libnice did not take controlling-mode=%d", P.controlling);
}

static void apply_remote(void) {
  P.t_apply = g_get_monotonic_time();
  if (!nice_agent_set_remote_credentials(P.agent, P.stream, P.r_ufrag, P.r_pwd)) {
    finish(EXIT_SETUP, "remote ICE credentials rejected by libnice");
    return;
  }
  int n = nice_agent_set_remote_candidates(P.agent, P.stream, 1, P.r_cands);
  if (n < 1) {
    finish(EXIT_SETUP, "libnice accepted none of the remote candidates");
    return;
  }
  P.remote_applied = true;
  say("%s %s agent, %d remote candidate(s)%s", P.controlling ? "controlling" : "controlled",
      P.lite ? "lite" : "full", n, P.r_lite ? ", remote is ice-lite" : "");
}

/* ------------------------------------------------------------------ media */

static gboolean send_tick(gpointer data);
static void watch_stdin(void);

static void schedule_send(void) {
  gint64 due = P.t_media + (gint64)P.sent * INTERVAL_US;
  gint64 now = g_get_monotonic_time();
  guint ms = due > now ? (guint)((due - now + 999) / 1000) : 0;
  g_timeout_add(ms, send_tick, NULL);
}

static gboolean send_tick(gpointer data) {
  (void)data;
  if (P.finished) return G_SOURCE_REMOVE;
  gint64 now = g_get_monotonic_time();
  while (P.sent < P.packets && P.t_media + (gint64)P.sent * INTERVAL_US <= now) {
    uint8_t pkt[12 + PAYLOAD_LEN];
    int n = P.sent;
    pkt[0] = 0x80;
    pkt[1] = n == 0 ? 0x80 : 0x00;
    put16(pkt + 2, (uint16_t)(P.seq0 + n));
    put32(pkt + 4, P.ts0 + (uint32_t)n * TS_STEP);
    put32(pkt + 8, P.ssrc);
    payload_for(n, pkt + 12);
    gint r = nice_agent_send(P.agent, P.stream, 1, sizeof pkt, (const gchar *)pkt);
    if (r != (gint)sizeof pkt) {
      P.send_errors++;
      say("nice_agent_send returned %d for packet %d", r, n);
    }
    P.sent++;
  }
  if (P.sent < P.packets) schedule_send();
  return G_SOURCE_REMOVE;
}

static gboolean check_done(gpointer data) {
  (void)data;
  if (P.finished) return G_SOURCE_REMOVE;
  if (P.sent < P.packets) return G_SOURCE_CONTINUE;
  if (P.received >= P.packets) {
    finish(EXIT_OK, NULL);
    return G_SOURCE_REMOVE;
  }
  gint64 last = P.last_rx ? P.last_rx : P.t_media;
  if (g_get_monotonic_time() - last >= SILENCE_US) {
    char why[96];
    snprintf(why, sizeof why, "no traffic for 3 s, stopping with %d/%d packets", P.received,
             P.packets);
    finish(EXIT_FAIL, why);
    return G_SOURCE_REMOVE;
  }
  return G_SOURCE_CONTINUE;
}

static void start_media(void) {
  if (P.media_started) return;
  P.media_started = true;
  P.t_ready = g_get_monotonic_time();
  NiceCandidate *l = NULL, *r = NULL;
  if (nice_agent_get_selected_pair(P.agent, P.stream, 1, &l, &r) && l && r) {
    char a[120], b[120];
    describe(l, a, sizeof a);
    describe(r, b, sizeof b);
    snprintf(P.selected, sizeof P.selected, "%s <-> %s", a, b);
  }
  say("ICE ready after %.1f ms, selected %s", (double)(P.t_ready - P.t_apply) / 1000.0,
      P.selected[0] ? P.selected : "(unknown)");
  P.ssrc = g_random_int();
  P.seq0 = (uint16_t)g_random_int();
  P.ts0 = g_random_int();
  P.t_media = g_get_monotonic_time();
  send_tick(NULL);
  g_timeout_add(50, check_done, NULL);
}

/* ------------------------------------------------------------------ libnice callbacks */

static void on_recv(NiceAgent *agent, guint stream, guint comp, guint len, gchar *buf,
                    gpointer data) {
  (void)agent; (void)stream; (void)comp; (void)data;
  const uint8_t *d = (const uint8_t *)buf;
  if (P.finished) return;
  if (len >= 1 && d[0] >= 128 && d[0] < 192) {
    if (!P.media_started) say("RTP packet before READY (counted)");
    verify(d, len);
  } else {
    P.non_rtp++;
  }
}

static void on_gathering_done(NiceAgent *agent, guint stream, gpointer data) {
  (void)agent; (void)stream; (void)data;
  if (P.gathered) return;
  P.gathered = true;
  print_local_sdp();
  if (P.finished) return;
  if (P.offerer) watch_stdin();
  else apply_remote();
}

static void on_state(NiceAgent *agent, guint stream, guint comp, guint state, gpointer data) {
  (void)agent; (void)stream; (void)data;
  if (P.verbose) say("component %u state %s", comp, nice_component_state_to_string(state));
  if (state == NICE_COMPONENT_STATE_READY) start_media();
  else if (state == NICE_COMPONENT_STATE_FAILED && !P.media_started)
    finish(EXIT_FAIL, "ICE failed (libnice component state FAILED)");
  else if (state == NICE_COMPONENT_STATE_FAILED)
    say("component FAILED after media started (consent lost?)");
}

static void on_selected(NiceAgent *agent, guint stream, guint comp, NiceCandidate *l,
                        NiceCandidate *r, gpointer data) {
  (void)agent; (void)stream; (void)comp; (void)data;
  char a[120], b[120];
  describe(l, a, sizeof a);
  describe(r, b, sizeof b);
  snprintf(P.selected, sizeof P.selected, "%s <-> %s", a, b);
  say("selected pair %s", P.selected);
}

/* ------------------------------------------------------------------ stdin */

static gboolean on_stdin(GIOChannel *ch, GIOCondition cond, gpointer data);

static void watch_stdin(void) {
  P.in_watch = g_io_add_watch(P.in_ch, G_IO_IN | G_IO_HUP | G_IO_ERR, on_stdin, NULL);
}

static gboolean on_stdin(GIOChannel *ch, GIOCondition cond, gpointer data) {
  (void)cond; (void)data;
  for (;;) {
    gchar *line = NULL;
    gsize len = 0;
    GError *err = NULL;
    GIOStatus st = g_io_channel_read_line(ch, &line, &len, NULL, &err);
    if (st == G_IO_STATUS_AGAIN) return G_SOURCE_CONTINUE;
    if (st == G_IO_STATUS_EOF || st == G_IO_STATUS_ERROR) {
      if (err) { say("stdin: %s", err->message); g_error_free(err); }
      g_free(line);
      P.in_watch = 0;
      finish(EXIT_SETUP, "stdin closed before the remote SDP's '.' line");
      return G_SOURCE_REMOVE;
    }
    g_strchomp(line); /* strips \n and a trailing \r */
    if (strcmp(line, ".") == 0) {
      g_free(line);
      P.in_watch = 0;
      if (!parse_remote()) {
        finish(EXIT_SETUP, "remote SDP rejected");
        return G_SOURCE_REMOVE;
      }
      if (P.offerer) {
        apply_remote();
      } else {
        decide_role();
        if (!nice_agent_gather_candidates(P.agent, P.stream))
          finish(EXIT_SETUP, "nice_agent_gather_candidates failed");
      }
      return G_SOURCE_REMOVE;
    }
    g_ptr_array_add(P.remote_lines, line);
  }
}

static gboolean on_timeout(gpointer data) {
  (void)data;
  char why[96];
  snprintf(why, sizeof why, "overall timeout (%.0f s) reached", P.timeout_s);
  finish(EXIT_FAIL, why);
  return G_SOURCE_REMOVE;
}

/* ------------------------------------------------------------------ main */

static void usage(void) {
  fprintf(stderr,
          "usage: nice_peer --offer|--answer [--ip ADDR]... [--lite] [--tcp] [--tcp-only]\n"
          "                 [--controlling|--controlled] [--aggressive] [--consent] [--ta MS]\n"
          "                 [--packets N] [--timeout S] [--no-dtls] [-v]\n");
}

static void set_bool_prop(const char *name, gboolean v) {
  if (g_object_class_find_property(G_OBJECT_GET_CLASS(P.agent), name))
    g_object_set(P.agent, name, v, NULL);
  else if (P.verbose)
    say("libnice has no property %s", name);
}

int main(int argc, char **argv) {
  int role = 0;
  P.packets = 250;
  P.timeout_s = 30.0;
  P.ips = g_ptr_array_new();
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--offer")) role = 1;
    else if (!strcmp(a, "--answer")) role = 2;
    else if (!strcmp(a, "--ip") && v) { g_ptr_array_add(P.ips, (gpointer)v); i++; }
    else if (!strcmp(a, "--lite")) P.lite = true;
    else if (!strcmp(a, "--tcp")) P.tcp = true;
    else if (!strcmp(a, "--tcp-only")) P.tcp = P.tcp_only = true;
    else if (!strcmp(a, "--controlling")) P.force_role = 1;
    else if (!strcmp(a, "--controlled")) P.force_role = -1;
    else if (!strcmp(a, "--aggressive")) P.aggressive = true;
    else if (!strcmp(a, "--consent")) P.consent = true;
    else if (!strcmp(a, "--no-dtls")) { /* implied */ }
    else if (!strcmp(a, "--ta") && v) { P.ta_ms = (guint)atoi(v); i++; }
    else if (!strcmp(a, "--packets") && v) { P.packets = atoi(v); i++; }
    else if (!strcmp(a, "--timeout") && v) { P.timeout_s = atof(v); i++; }
    else if (!strcmp(a, "-v")) P.verbose = true;
    else { say("unknown or incomplete option %s", a); usage(); return EXIT_SETUP; }
  }
  if (!role || P.packets < 1 || P.packets > MAX_PACKETS || P.timeout_s <= 0) {
    usage();
    return EXIT_SETUP;
  }
  P.offerer = role == 1;

  g_log_writer_default_set_use_stderr(TRUE);
  g_log_set_default_handler(log_to_stderr, NULL);
  if (P.verbose) {
    g_setenv("G_MESSAGES_DEBUG", "libnice libnice-stun", TRUE);
    nice_debug_enable(TRUE);
  }

  P.loop = g_main_loop_new(NULL, FALSE);
  NiceAgentOption opts = NICE_AGENT_OPTION_NONE;
  if (!P.aggressive) opts |= NICE_AGENT_OPTION_REGULAR_NOMINATION;
  if (P.lite) opts |= NICE_AGENT_OPTION_LITE_MODE;
  if (P.consent) opts |= NICE_AGENT_OPTION_CONSENT_FRESHNESS;
  P.agent = nice_agent_new_full(g_main_loop_get_context(P.loop), NICE_COMPATIBILITY_RFC5245,
                                opts);
  if (!P.agent) { say("nice_agent_new_full failed"); return EXIT_SETUP; }
  set_bool_prop("upnp", FALSE);   /* no SSDP multicast from a loopback test */
  set_bool_prop("ice-udp", !P.tcp_only);
  set_bool_prop("ice-tcp", P.tcp);
  if (P.ta_ms) g_object_set(P.agent, "stun-pacing-timer", P.ta_ms, NULL);

  for (guint i = 0; i < P.ips->len; i++) {
    NiceAddress addr;
    nice_address_init(&addr);
    if (!nice_address_set_from_string(&addr, g_ptr_array_index(P.ips, i)) ||
        !nice_agent_add_local_address(P.agent, &addr)) {
      say("bad --ip %s", (const char *)g_ptr_array_index(P.ips, i));
      return EXIT_SETUP;
    }
  }
  P.stream = nice_agent_add_stream(P.agent, 1);
  if (!P.stream) { say("nice_agent_add_stream failed"); return EXIT_SETUP; }
  nice_agent_set_stream_name(P.agent, P.stream, "audio");
  nice_agent_attach_recv(P.agent, P.stream, 1, g_main_loop_get_context(P.loop), on_recv, NULL);
  g_signal_connect(P.agent, "candidate-gathering-done", G_CALLBACK(on_gathering_done), NULL);
  g_signal_connect(P.agent, "component-state-changed", G_CALLBACK(on_state), NULL);
  g_signal_connect(P.agent, "new-selected-pair-full", G_CALLBACK(on_selected), NULL);

  P.seen = g_malloc0((gsize)P.packets);
  P.remote_lines = g_ptr_array_new_with_free_func(g_free);
  P.in_ch = g_io_channel_unix_new(STDIN_FILENO);
  g_io_channel_set_encoding(P.in_ch, NULL, NULL);
  g_io_channel_set_flags(P.in_ch, G_IO_FLAG_NONBLOCK, NULL);

  g_timeout_add((guint)(P.timeout_s * 1000.0), on_timeout, NULL);
  if (P.offerer) {
    decide_role();
    if (!nice_agent_gather_candidates(P.agent, P.stream)) {
      say("nice_agent_gather_candidates failed");
      return EXIT_SETUP;
    }
  } else {
    watch_stdin();
  }
  g_main_loop_run(P.loop);

  if (P.in_watch) g_source_remove(P.in_watch);
  g_io_channel_unref(P.in_ch);
  g_slist_free_full(P.r_cands, (GDestroyNotify)nice_candidate_free);
  g_ptr_array_free(P.remote_lines, TRUE);
  g_ptr_array_free(P.ips, TRUE);
  g_free(P.r_ufrag);
  g_free(P.r_pwd);
  g_free(P.seen);
  g_object_unref(P.agent);
  g_main_loop_unref(P.loop);
  return P.exit_code;
}
