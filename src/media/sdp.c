/* The whole-session SDP a softphone exchanges (RFC 8866 with the RFC 8839 ICE attributes,
 * RFC 8122 fingerprint and RFC 4145/5763 setup), built on the attribute helpers of
 * firn/sdp.h. The format is the one DESIGN.md's signaling contract lists, in its order. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "dtls/dtls.h"
#include "firn/media.h"
#include "firn/sdp.h"

void firn_media_desc_default(firn_media_desc *d) {
  if (!d) return;
  memset(d, 0, sizeof *d);
  snprintf(d->media, sizeof d->media, "audio");
  snprintf(d->proto, sizeof d->proto, "RTP/SAVPF");
  d->payload_type = 0;
  snprintf(d->encoding, sizeof d->encoding, "PCMU");
  d->clock_rate = 8000;
  d->ptime = 20;
  snprintf(d->mid, sizeof d->mid, "0");
  d->rtcp_mux = 1;
  d->session_version = 1;
}

const char *firn_media_setup_name(firn_media_setup setup) {
  switch (setup) {
  case FIRN_MEDIA_SETUP_ACTPASS: return "actpass";
  case FIRN_MEDIA_SETUP_ACTIVE: return "active";
  case FIRN_MEDIA_SETUP_PASSIVE: return "passive";
  default: return NULL;
  }
}

/* ---------------------------------------------------------------------------------------- */
/* format                                                                                    */

typedef struct out_buf {
  char *p;
  size_t size, len;
  int overflow;
} out_buf;

static void put(out_buf *o, const char *fmt, ...) FIRN_PRINTF(2, 3);

static void put(out_buf *o, const char *fmt, ...) {
  if (o->overflow) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(o->p + o->len, o->size - o->len, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= o->size - o->len) {
    o->overflow = 1;
    return;
  }
  o->len += (size_t)n;
}

/* token-ish strings we put on m= and a= lines: no spaces or control characters */
static int safe_token(const char *s) {
  if (!s || !*s) return 0;
  for (; *s; s++)
    if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 127) return 0;
  return 1;
}

int firn_sdp_media_format(const firn_media_desc *d, char *buf, size_t size) {
  if (!d || !buf || size == 0) return FIRN_ERR_INVALID_ARG;
  buf[0] = '\0';
  if (d->connection.family != FIRN_AF_INET && d->connection.family != FIRN_AF_INET6)
    return FIRN_ERR_INVALID_ARG;
  if (firn_ice_check_ufrag(d->ice_ufrag, strlen(d->ice_ufrag)) < 0 ||
      firn_ice_check_pwd(d->ice_pwd, strlen(d->ice_pwd)) < 0)
    return FIRN_ERR_INVALID_ARG;
  if (!safe_token(d->media) || !safe_token(d->proto) || !safe_token(d->encoding) || !safe_token(d->mid))
    return FIRN_ERR_INVALID_ARG;
  if (d->n_candidates > FIRN_MEDIA_MAX_CANDIDATES) return FIRN_ERR_INVALID_ARG;
  char addr[FIRN_ADDR_STRLEN];
  firn_addr a = d->connection;
  a.scope_id = 0; /* no zone in SDP */
  if (firn_addr_format(&a, 0, addr, sizeof addr) < 0) return FIRN_ERR_INVALID_ARG;
  const char *ipv = d->connection.family == FIRN_AF_INET6 ? "IP6" : "IP4";

  out_buf o = {buf, size, 0, 0};
  put(&o, "v=0\r\n");
  put(&o, "o=- %llu %llu IN %s %s\r\n", (unsigned long long)d->session_id,
      (unsigned long long)d->session_version, ipv, addr);
  put(&o, "s=-\r\n");
  put(&o, "t=0 0\r\n");
  if (d->ice_lite) put(&o, "a=ice-lite\r\n");
  put(&o, "m=%s %u %s %u\r\n", d->media, (unsigned)d->port, d->proto, (unsigned)d->payload_type);
  put(&o, "c=IN %s %s\r\n", ipv, addr);
  put(&o, "a=mid:%s\r\n", d->mid);
  put(&o, "a=sendrecv\r\n");
  if (d->rtcp_mux) put(&o, "a=rtcp-mux\r\n");
  put(&o, "a=rtpmap:%u %s/%u\r\n", (unsigned)d->payload_type, d->encoding, (unsigned)d->clock_rate);
  if (d->ptime) put(&o, "a=ptime:%u\r\n", d->ptime);
  put(&o, "a=ice-ufrag:%s\r\n", d->ice_ufrag);
  put(&o, "a=ice-pwd:%s\r\n", d->ice_pwd);
  if (d->fingerprint[0]) {
    firn_fingerprint fp;
    if (firn_fingerprint_parse(&fp, d->fingerprint, strlen(d->fingerprint)) < 0) return FIRN_ERR_INVALID_ARG;
    put(&o, "a=fingerprint:%s\r\n", d->fingerprint);
  }
  const char *setup = firn_media_setup_name(d->setup);
  if (setup) put(&o, "a=setup:%s\r\n", setup);
  for (size_t i = 0; i < d->n_candidates; i++) {
    char c[FIRN_CANDIDATE_STRLEN];
    if (firn_candidate_format(&d->candidates[i], c, sizeof c) < 0) return FIRN_ERR_INVALID_ARG;
    put(&o, "a=%s\r\n", c);
  }
  if (d->end_of_candidates) put(&o, "a=end-of-candidates\r\n");
  if (o.overflow) {
    buf[0] = '\0';
    return FIRN_ERR_NOBUF;
  }
  return (int)o.len;
}

/* ---------------------------------------------------------------------------------------- */
/* parse                                                                                     */

/* A token we keep as a C string: visible ASCII only (no NUL, controls, spaces or DEL). */
static int visible(const char *t, size_t n) {
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)t[i] <= ' ' || (unsigned char)t[i] >= 127) return 0;
  return n > 0;
}

static int tok_eq(const char *t, size_t n, const char *s) { return strlen(s) == n && !memcmp(t, s, n); }

/* A decimal number of at most 20 digits that fits `max`. */
static int parse_u64(const char *t, size_t n, uint64_t max, uint64_t *out) {
  if (n == 0 || n > 20) return -1;
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (t[i] < '0' || t[i] > '9') return -1;
    unsigned dgt = (unsigned)(t[i] - '0');
    if (v > (UINT64_MAX - dgt) / 10) return -1;
    v = v * 10 + dgt;
  }
  if (v > max) return -1;
  *out = v;
  return 0;
}

/* "IN IP4 <addr>" / "IN IP6 <addr>", exactly three tokens. */
static int parse_connection(const char *v, size_t n, firn_addr *out) {
  const char *pos = v, *end = v + n, *t[4];
  size_t tl[4];
  int k = 0;
  while (k < 4 && firn_sdp_next_token(&pos, end, &t[k], &tl[k]) == 1) k++;
  if (k != 3 || !tok_eq(t[0], tl[0], "IN")) return -1;
  int v6 = tok_eq(t[1], tl[1], "IP6");
  if (!v6 && !tok_eq(t[1], tl[1], "IP4")) return -1;
  char a[FIRN_ADDR_STRLEN];
  if (tl[2] >= sizeof a) return -1;
  memcpy(a, t[2], tl[2]);
  a[tl[2]] = '\0';
  if (strchr(a, '/') || strchr(a, '[')) return -1; /* multicast TTL, brackets */
  if (firn_addr_parse(out, a, 0) < 0) return -1;
  if ((out->family == FIRN_AF_INET6) != v6) return -1;
  return 0;
}

#define FAIL(why)                                                                           \
  do {                                                                                     \
    if (reason) *reason = (why);                                                           \
    return FIRN_ERR_PARSE;                                                                 \
  } while (0)

int firn_sdp_media_parse(firn_media_desc *d, const char *sdp, size_t len, const char **reason) {
  if (!d || (!sdp && len)) return FIRN_ERR_INVALID_ARG;
  firn_media_desc_default(d);
  d->rtcp_mux = 0;
  d->ptime = 0;
  d->session_version = 0;
  d->encoding[0] = '\0';
  d->clock_rate = 0;
  d->proto[0] = '\0';
  d->mid[0] = '\0';
  const char *pos = sdp, *end = sdp + len, *line;
  size_t ll;
  int section = 0; /* 0 session, 1 first m= section, 2 a later section (ignored) */
  int nlines = 0, have_m = 0;
  int have_c_session = 0, have_c_media = 0;
  firn_addr c_session, c_media;
  int fp_rank = 0; /* 2: sha-256 found, 1: another supported hash */
  int rc;
  while ((rc = firn_sdp_next_line(&pos, end, &line, &ll)) == 1) {
    if (ll == 0) continue; /* tolerate blank lines */
    nlines++;
    if (ll < 2 || line[1] != '=') FAIL("a line is not of the form <type>=<value>");
    if (memchr(line, '\0', ll)) FAIL("a line holds a NUL byte");
    const char *v = line + 2;
    size_t vn = ll - 2;
    char type = line[0];
    if (nlines == 1) {
      if (type != 'v' || !tok_eq(v, vn, "0")) FAIL("the SDP does not start with v=0");
      continue;
    }
    if (type == 'm') {
      if (section >= 1) {
        section = 2;
        continue;
      }
      section = 1;
      have_m = 1;
      const char *p = v, *e = v + vn, *t;
      size_t tn;
      uint64_t num;
      if (firn_sdp_next_token(&p, e, &t, &tn) != 1 || tn >= sizeof d->media || !visible(t, tn))
        FAIL("bad m= line: media");
      memcpy(d->media, t, tn);
      d->media[tn] = '\0';
      if (firn_sdp_next_token(&p, e, &t, &tn) != 1 || parse_u64(t, tn, 65535, &num) < 0)
        FAIL("bad m= line: port");
      d->port = (uint16_t)num;
      if (firn_sdp_next_token(&p, e, &t, &tn) != 1 || tn >= sizeof d->proto || !visible(t, tn))
        FAIL("bad m= line: proto");
      memcpy(d->proto, t, tn);
      d->proto[tn] = '\0';
      int nfmt = 0, have0 = 0;
      uint64_t first = 0;
      while (firn_sdp_next_token(&p, e, &t, &tn) == 1) {
        if (parse_u64(t, tn, 127, &num) < 0) FAIL("bad m= line: payload type");
        if (nfmt++ == 0) first = num;
        if (num == 0) have0 = 1;
      }
      if (nfmt == 0) FAIL("bad m= line: no payload type");
      d->payload_type = (uint8_t)(have0 ? 0 : first);
      continue;
    }
    if (section == 2) continue;
    if (type == 'o') {
      const char *p = v, *e = v + vn, *t[3];
      size_t tn[3];
      int k = 0;
      while (k < 3 && firn_sdp_next_token(&p, e, &t[k], &tn[k]) == 1) k++;
      if (k < 3) FAIL("bad o= line");
      uint64_t id, ver;
      if (parse_u64(t[1], tn[1], UINT64_MAX, &id) == 0) d->session_id = id;
      if (parse_u64(t[2], tn[2], UINT64_MAX, &ver) == 0) d->session_version = ver;
      continue;
    }
    if (type == 'c') {
      firn_addr a;
      if (parse_connection(v, vn, &a) < 0) FAIL("bad c= line (expected IN IP4|IP6 <address>)");
      if (section == 0) {
        c_session = a;
        have_c_session = 1;
      } else {
        c_media = a;
        have_c_media = 1;
      }
      continue;
    }
    if (type != 'a') continue;
    firn_sdp_attr attr;
    if (firn_sdp_attr_split(&attr, line, ll) < 0) FAIL("malformed a= line");
    const char *why = NULL;
    if (firn_sdp_attr_is(&attr, "ice-lite")) {
      if (section == 0) d->ice_lite = 1;
    } else if (firn_sdp_attr_is(&attr, "ice-ufrag")) {
      if (firn_sdp_parse_ice_ufrag(line, ll, d->ice_ufrag, sizeof d->ice_ufrag, &why) < 0)
        FAIL(why ? why : "bad a=ice-ufrag");
    } else if (firn_sdp_attr_is(&attr, "ice-pwd")) {
      if (firn_sdp_parse_ice_pwd(line, ll, d->ice_pwd, sizeof d->ice_pwd, &why) < 0)
        FAIL(why ? why : "bad a=ice-pwd");
    } else if (firn_sdp_attr_is(&attr, "fingerprint")) {
      if (!attr.value) FAIL("a=fingerprint without a value");
      firn_fingerprint fp;
      int frc = firn_fingerprint_parse(&fp, attr.value, attr.value_len);
      if (frc == FIRN_ERR_UNSUPPORTED) continue; /* an unknown hash: another line may do */
      if (frc < 0) FAIL("malformed a=fingerprint");
      int rank = fp.alg == FIRN_FP_SHA256 ? 2 : 1;
      if (rank > fp_rank && firn_fingerprint_format(&fp, d->fingerprint, sizeof d->fingerprint) > 0)
        fp_rank = rank;
    } else if (firn_sdp_attr_is(&attr, "setup")) {
      firn_dtls_setup st;
      if (!attr.value || firn_dtls_setup_parse(attr.value, attr.value_len, &st) < 0)
        FAIL("bad a=setup (expected actpass, active or passive)");
      if (st == FIRN_SETUP_HOLDCONN) FAIL("a=setup:holdconn is not supported");
      d->setup = st == FIRN_SETUP_ACTPASS  ? FIRN_MEDIA_SETUP_ACTPASS
                 : st == FIRN_SETUP_ACTIVE ? FIRN_MEDIA_SETUP_ACTIVE
                                           : FIRN_MEDIA_SETUP_PASSIVE;
    } else if (section == 1 && firn_sdp_attr_is(&attr, "mid")) {
      if (!attr.value || attr.value_len >= sizeof d->mid || !visible(attr.value, attr.value_len)) FAIL("bad a=mid");
      memcpy(d->mid, attr.value, attr.value_len);
      d->mid[attr.value_len] = '\0';
    } else if (section == 1 && firn_sdp_attr_is(&attr, "rtcp-mux")) {
      d->rtcp_mux = 1;
    } else if (section == 1 && firn_sdp_attr_is(&attr, "ptime")) {
      uint64_t num;
      if (attr.value && parse_u64(attr.value, attr.value_len, 10000, &num) == 0) d->ptime = (unsigned)num;
    } else if (section == 1 && firn_sdp_attr_is(&attr, "rtpmap")) {
      /* "<pt> <encoding>/<clock>[/<channels>]": only the chosen payload type matters */
      if (!attr.value) continue; /* "a=rtpmap" without a value: no end pointer from NULL */
      const char *p = attr.value, *e = attr.value + attr.value_len, *t;
      size_t tn;
      uint64_t pt, clock;
      if (firn_sdp_next_token(&p, e, &t, &tn) != 1 || parse_u64(t, tn, 127, &pt) < 0) continue;
      if (pt != d->payload_type || firn_sdp_next_token(&p, e, &t, &tn) != 1) continue;
      const char *slash = memchr(t, '/', tn);
      if (!slash || (size_t)(slash - t) >= sizeof d->encoding || !visible(t, (size_t)(slash - t)))
        FAIL("bad a=rtpmap");
      const char *cs = slash + 1, *ce = memchr(cs, '/', (size_t)(t + tn - cs));
      if (!ce) ce = t + tn;
      if (parse_u64(cs, (size_t)(ce - cs), UINT32_MAX, &clock) < 0) FAIL("bad a=rtpmap clock rate");
      memcpy(d->encoding, t, (size_t)(slash - t));
      d->encoding[slash - t] = '\0';
      d->clock_rate = (uint32_t)clock;
    } else if (section == 1 && firn_sdp_attr_is(&attr, "candidate")) {
      firn_candidate c;
      if (firn_candidate_parse_ex(&c, line, ll, NULL) < 0 || c.component != 1 ||
          d->n_candidates >= FIRN_MEDIA_MAX_CANDIDATES) {
        d->skipped_candidates++;
        continue;
      }
      d->candidates[d->n_candidates++] = c;
    } else if (section == 1 && firn_sdp_attr_is(&attr, "end-of-candidates")) {
      d->end_of_candidates = 1;
    }
  }
  if (rc < 0) return rc;
  if (nlines == 0) FAIL("empty SDP");
  if (!have_m) FAIL("no m= line");
  if (have_c_media) d->connection = c_media;
  else if (have_c_session) d->connection = c_session;
  else FAIL("missing c= line");
  if (!d->ice_ufrag[0]) FAIL("missing a=ice-ufrag");
  if (!d->ice_pwd[0]) FAIL("missing a=ice-pwd");
  if (!d->encoding[0]) {
    /* No a=rtpmap: the static payload types of RFC 3551 table 4 name their encoding. */
    static const struct { uint8_t pt; const char *name; uint32_t clock; } st[] = {
        {0, "PCMU", 8000}, {3, "GSM", 8000}, {4, "G723", 8000}, {8, "PCMA", 8000},
        {9, "G722", 8000}, {18, "G729", 8000}};
    for (size_t i = 0; i < sizeof st / sizeof st[0]; i++)
      if (st[i].pt == d->payload_type) {
        snprintf(d->encoding, sizeof d->encoding, "%s", st[i].name);
        d->clock_rate = st[i].clock;
      }
  }
  return FIRN_OK;
}
