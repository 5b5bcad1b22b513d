/*
 * libFuzzer target for the DTLS-SRTP layer (src/dtls/dtls.h): what a peer on the selected
 * pair can send to firn_dtls_handle_datagram() during and after a handshake, the SDP
 * parsers for a=fingerprint and a=setup, and SRTP/SRTCP unprotect of arbitrary packets.
 *
 * Each input is a program. Two endpoints run in-process with fixed certificates (below):
 * A, the endpoint under test, and B, a real peer. Operations exchange datagrams between
 * them (so A reaches CONNECTED), inject the fuzzer's bytes into A (or B), deliver mutated or
 * replayed copies of genuine records (so the bytes carry valid headers, epochs and
 * sequence numbers), move the clock, close, export keys, and parse fingerprint/setup text.
 * SRTP sessions with fixed keys protect and unprotect packets from the input.
 *
 * The DTLS layer cannot inject time into OpenSSL (see src/dtls/dtls.h): retransmissions
 * wait for the wall clock. The harness never drops a datagram, so handshakes complete
 * without retransmission and a run does not depend on real time; handshake randomness
 * (client/server random, ECDHE keys) comes from OpenSSL's CSPRNG, so a replay re-runs the
 * same program with different ciphertexts.
 *
 * Checked, besides ASan/UBSan/LSan:
 *   - states are enum values; FAILED has an error; CONNECTED has a negotiated profile
 *     among the configured ones and exportable keys that mirror the peer's;
 *   - arbitrary bytes, mutated records and replays delivered to a CONNECTED endpoint never
 *     make it FAILED (a forged record must not tear down a working session); only a genuine
 *     alert from the peer can close it;
 *   - poll_transmit output looks like DTLS (first byte 20..63);
 *   - fingerprint: parse -> format -> parse gives the same value, length matches the hash;
 *   - setup: parse -> name -> parse round trip; answer/role rules agree with RFC 5763;
 *   - SRTP: unprotect of arbitrary bytes fails or yields a plaintext no longer than the
 *     input; protect -> unprotect returns the plaintext; a mutated packet never
 *     authenticates (AES-CM with HMAC tags, GCM tags), a replay is refused;
 *   - every allocation through firn's allocator is freed.
 *
 * Program format (big-endian, past the end reads as zero):
 *   u8 options: bit 0 A is the DTLS server (else client), bits 1-2 profile set, bit 3 MTU
 *     256, bit 4 B expects the wrong fingerprint (the handshake must fail), bits 5-7
 *     SRTP profile for the fixed-key sessions
 *   operations: u8 opcode % FUZZ_DTLS_N_OPS (fuzz.h).
 */
#include "fuzz.h"
#include "fuzz_alloc.h"

#include "dtls/dtls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                              \
  do {                                                                                           \
    if (!(cond)) {                                                                               \
      fprintf(stderr, "fuzz_dtls: check failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);      \
      abort();                                                                                   \
    }                                                                                            \
  } while (0)

#define MAX_OPS 128
#define BUF_MAX 2048
#define LOG_MAX 32

/* Fixed identities (ECDSA P-256, self-signed, made for this harness; not secret). */
static const char CERT_A[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBhDCCASmgAwIBAgIUUGI8hycgosvgo6ESEZeW7Ysl4qgwCgYIKoZIzj0EAwIw\n"
    "FjEUMBIGA1UEAwwLZmlybi1mdXp6LWEwIBcNMjYxMTIxMDkwODQ0WhgPMjEyNjEw\n"
    "MjgwOTA4NDRaMBYxFDASBgNVBAMMC2Zpcm4tZnV6ei1hMFkwEwYHKoZIzj0CAQYI\n"
    "KoZIzj0DAQcDQgAEjVKfPAxRqseiDrVNvH4hnZdGA9omfplP8PbzMAB4kCs65mGa\n"
    "FIq60ZxXjajPcn9OEJoBp7c0qFvJ/8YqpuCOdKNTMFEwHQYDVR0OBBYEFJHs8yq/\n"
    "+NdkIZEnMt9fsFm6IVwhMB8GA1UdIwQYMBaAFJHs8yq/+NdkIZEnMt9fsFm6IVwh\n"
    "MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIhAPMG2FfaEvNAVJ/u\n"
    "EXMzuJX85UDSN7aIPca6rz5WKXUOAiEAtmYNPFej8qNMKzvg5z7CkOFHUMqeiIBs\n"
    "Z69r8ILLtXw=\n"
    "-----END CERTIFICATE-----\n";

static const char KEY_A[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg70S3JYO7bEB4far6\n"
    "0Nn3EFkgedqS+abMerRgrt0HP2ahRANCAASNUp88DFGqx6IOtU28fiGdl0YD2iZ+\n"
    "mU/w9vMwAHiQKzrmYZoUirrRnFeNqM9yf04QmgGntzSoW8n/xiqm4I50\n"
    "-----END PRIVATE KEY-----\n";

static const char CERT_B[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBgzCCASmgAwIBAgIUYRAtQjI17A0wntEKatk6l6C8CQIwCgYIKoZIzj0EAwIw\n"
    "FjEUMBIGA1UEAwwLZmlybi1mdXp6LWIwIBcNMjYxMTIxMDkwODQ0WhgPMjEyNjEw\n"
    "MjgwOTA4NDRaMBYxFDASBgNVBAMMC2Zpcm4tZnV6ei1iMFkwEwYHKoZIzj0CAQYI\n"
    "KoZIzj0DAQcDQgAE/zi2lDwHEHjLfxPIZwFtzZrGkL5IHW1l6gSmUWZp2IT3iZwq\n"
    "zScE3Coz2ZDUXrBSHoic+EATOe4ubEuJloK4X6NTMFEwHQYDVR0OBBYEFLTiRMZi\n"
    "AnsCvOHbXmXwl3cA8JnWMB8GA1UdIwQYMBaAFLTiRMZiAnsCvOHbXmXwl3cA8JnW\n"
    "MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIhAJlkyEEvtKnQz+Do\n"
    "o96wLOBIHkM9znge05tozQ3Jj9+1AiBwc/rN9TdwslXTkgKnxmzCr+VFXK7cLEge\n"
    "Fr1k+K9eOQ==\n"
    "-----END CERTIFICATE-----\n";

static const char KEY_B[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgVX14xaPPSyuzu1yH\n"
    "pnGbcCRzG5uak/RYCIcq/1SYMFahRANCAAT/OLaUPAcQeMt/E8hnAW3NmsaQvkgd\n"
    "bWXqBKZRZmnYhPeJnCrNJwTcKjPZkNResFIeiJz4QBM57i5sS4mWgrhf\n"
    "-----END PRIVATE KEY-----\n";

static firn_dtls_cert *g_cert[2];
static firn_fingerprint g_fp[2];

static void free_globals(void) {
  firn_dtls_cert_free(g_cert[0]);
  firn_dtls_cert_free(g_cert[1]);
}

static void init_globals(void) {
  static int done;
  if (done)
    return;
  done = 1;
  CHECK(firn_dtls_cert_from_pem(&g_cert[0], NULL, CERT_A, strlen(CERT_A), KEY_A, strlen(KEY_A)) == 0);
  CHECK(firn_dtls_cert_from_pem(&g_cert[1], NULL, CERT_B, strlen(CERT_B), KEY_B, strlen(KEY_B)) == 0);
  for (int i = 0; i < 2; i++)
    CHECK(firn_dtls_cert_get_fingerprint(g_cert[i], FIRN_FP_SHA256, &g_fp[i]) == 0);
  CHECK(firn_srtp_global_init() == 0);
  atexit(free_globals);
}

typedef struct reader {
  const uint8_t *p;
  size_t left;
} reader;

static uint8_t get8(reader *r) {
  if (!r->left)
    return 0;
  r->left--;
  return *r->p++;
}

static uint16_t get16(reader *r) {
  uint16_t hi = get8(r);
  return (uint16_t)((hi << 8) | get8(r));
}

static size_t get_bytes(reader *r, uint8_t *out, size_t len) {
  size_t n = len < r->left ? len : r->left;
  memcpy(out, r->p, n);
  r->p += n;
  r->left -= n;
  return n;
}

/* ---------------------------------------------------------------------------------------- */

typedef struct harness {
  firn_dtls *d[2]; /* 0: A, under test; 1: B, the peer */
  counting_alloc mem;
  firn_allocator alloc;
  uint64_t now;
  firn_srtp_profile profiles[FIRN_DTLS_MAX_PROFILES];
  size_t nprofiles;
  int connected_once[2];
  uint64_t delivered[2], pulled[2];
  int state_changes[2];
  /* genuine datagrams seen on the wire */
  uint8_t log[LOG_MAX][BUF_MAX];
  size_t log_len[LOG_MAX];
  int log_from[LOG_MAX];
  unsigned nlog;
} harness;

static void on_state(void *user, firn_dtls *d, firn_dtls_state st, int err) {
  harness *h = user;
  int i = d == h->d[1];
  CHECK(st <= FIRN_DTLS_CLOSED);
  h->state_changes[i]++;
  if (getenv("FUZZ_DTLS_TRACE"))
    fprintf(stderr, "  %c: state %d (%s)\n", i ? 'B' : 'A', (int)st, err ? firn_strerror(err) : "ok");
  if (st == FIRN_DTLS_FAILED)
    CHECK(err < 0);
  if (st == FIRN_DTLS_CONNECTED) {
    CHECK(err == 0);
    h->connected_once[i] = 1;
    firn_srtp_profile p = firn_dtls_srtp_profile(d);
    int known = 0;
    for (size_t k = 0; k < h->nprofiles; k++)
      known |= h->profiles[k] == p;
    CHECK(known);
  }
}

static void check_state(harness *h, int i) {
  firn_dtls *d = h->d[i];
  firn_dtls_state st = firn_dtls_get_state(d);
  CHECK(st <= FIRN_DTLS_CLOSED);
  int err = firn_dtls_error(d);
  if (st == FIRN_DTLS_FAILED)
    CHECK(err < 0);
  CHECK((st == FIRN_DTLS_CONNECTED) == (firn_dtls_srtp_profile(d) != FIRN_SRTP_NONE) ||
        st == FIRN_DTLS_CLOSED || st == FIRN_DTLS_FAILED);
  uint64_t e = firn_dtls_expiry(d);
  CHECK(e == FIRN_TIME_NEVER || e <= h->now + 3600 * FIRN_NS_PER_S);
}

/* Deliver to endpoint `to`; `forged` says the bytes are not a genuine datagram of the
 * peer's, so a CONNECTED endpoint must stay CONNECTED. */
static void deliver(harness *h, int to, const uint8_t *data, size_t len, int forged) {
  uint8_t *copy = malloc(len ? len : 1);
  CHECK(copy != NULL);
  memcpy(copy, data, len);
  firn_dtls_state before = firn_dtls_get_state(h->d[to]);
  h->delivered[to]++;
  int rc = firn_dtls_handle_datagram(h->d[to], copy, len, h->now);
  free(copy);
  CHECK(rc == 0 || rc == FIRN_ERR_INVALID_ARG || rc == FIRN_ERR_STATE ||
        rc == FIRN_ERR_DTLS_FINGERPRINT || rc == FIRN_ERR_DTLS_HANDSHAKE || rc == FIRN_ERR_NOMEM ||
        rc == FIRN_ERR_CLOSED);
  firn_dtls_state after = firn_dtls_get_state(h->d[to]);
  if (forged && before == FIRN_DTLS_CONNECTED) {
    if (after != FIRN_DTLS_CONNECTED)
      fprintf(stderr, "fuzz_dtls: forged datagram moved a connected endpoint to %d (%s)\n",
              (int)after, firn_strerror(firn_dtls_error(h->d[to])));
    CHECK(after == FIRN_DTLS_CONNECTED);
  }
  check_state(h, to);
}

/* Move everything queued from `from` to the other side; returns how many. */
static int flush(harness *h, int from) {
  static uint8_t buf[BUF_MAX];
  int moved = 0;
  for (int guard = 0; guard < 64; guard++) {
    firn_ssize n = firn_dtls_poll_transmit(h->d[from], buf, sizeof buf);
    if (n == FIRN_ERR_WOULDBLOCK)
      break;
    CHECK(n > 0);
    CHECK(buf[0] >= 20 && buf[0] <= 63);
    h->pulled[from]++;
    if (h->nlog < LOG_MAX) {
      memcpy(h->log[h->nlog], buf, (size_t)n);
      h->log_len[h->nlog] = (size_t)n;
      h->log_from[h->nlog++] = from;
    }
    deliver(h, 1 - from, buf, (size_t)n, 0);
    moved++;
  }
  return moved;
}

static void run(harness *h, int steps) {
  for (int i = 0; i < steps; i++)
    if (flush(h, 0) + flush(h, 1) == 0)
      break;
}

static void check_keys(harness *h) {
  if (firn_dtls_get_state(h->d[0]) != FIRN_DTLS_CONNECTED ||
      firn_dtls_get_state(h->d[1]) != FIRN_DTLS_CONNECTED)
    return;
  firn_srtp_keys ka, kb;
  CHECK(firn_dtls_export_srtp_keys(h->d[0], &ka) == 0);
  CHECK(firn_dtls_export_srtp_keys(h->d[1], &kb) == 0);
  CHECK(ka.profile == kb.profile);
  size_t kl = 0, sl = 0;
  CHECK(firn_srtp_profile_lengths(ka.profile, &kl, &sl) == 0);
  CHECK(memcmp(ka.local_key, kb.remote_key, kl) == 0 && memcmp(ka.remote_key, kb.local_key, kl) == 0);
  CHECK(memcmp(ka.local_salt, kb.remote_salt, sl) == 0);
  CHECK(memcmp(ka.remote_salt, kb.local_salt, sl) == 0);
  firn_srtp *s = NULL;
  CHECK(firn_srtp_new(&s, &h->alloc, &ka) == 0);
  firn_srtp_free(s);
  firn_srtp_keys_wipe(&ka);
  firn_srtp_keys_wipe(&kb);
}

/* ---------------------------------------------------------------------------------------- */
/* Text parsers                                                                              */

static void op_fingerprint(reader *r) {
  char text[256];
  size_t len = get_bytes(r, (uint8_t *)text, get8(r));
  char *copy = malloc(len ? len : 1);
  CHECK(copy != NULL);
  memcpy(copy, text, len);
  firn_fingerprint fp;
  int rc = firn_fingerprint_parse(&fp, copy, len);
  free(copy);
  CHECK(rc == 0 || rc == FIRN_ERR_INVALID_ARG || rc == FIRN_ERR_UNSUPPORTED || rc == FIRN_ERR_PARSE);
  if (rc != 0)
    return;
  CHECK(fp.len == firn_fingerprint_alg_len(fp.alg) && fp.len > 0);
  char out[FIRN_DTLS_FINGERPRINT_STRLEN];
  int n = firn_fingerprint_format(&fp, out, sizeof out);
  CHECK(n > 0 && (size_t)n < sizeof out && out[n] == 0);
  firn_fingerprint again;
  CHECK(firn_fingerprint_parse(&again, out, (size_t)n) == 0);
  CHECK(firn_fingerprint_equal(&fp, &again));
  /* too small buffers fail cleanly */
  CHECK(firn_fingerprint_format(&fp, out, (size_t)n) == FIRN_ERR_NOBUF);
  CHECK(firn_fingerprint_equal(&fp, &g_fp[0]) == (memcmp(fp.bytes, g_fp[0].bytes, 32) == 0 &&
                                                  fp.alg == FIRN_FP_SHA256));
}

static void op_setup(reader *r) {
  char text[64];
  size_t len = get_bytes(r, (uint8_t *)text, get8(r) % sizeof text);
  uint8_t remote_pick = get8(r);
  char *copy = malloc(len ? len : 1);
  CHECK(copy != NULL);
  memcpy(copy, text, len);
  firn_dtls_setup s;
  int rc = firn_dtls_setup_parse(copy, len, &s);
  free(copy);
  CHECK(rc == 0 || rc == FIRN_ERR_INVALID_ARG || rc == FIRN_ERR_PARSE);
  if (rc != 0)
    return;
  CHECK(s <= FIRN_SETUP_HOLDCONN);
  const char *name = firn_dtls_setup_name(s);
  CHECK(name != NULL);
  firn_dtls_setup again;
  CHECK(firn_dtls_setup_parse(name, strlen(name), &again) == 0 && again == s);
  firn_dtls_setup answer;
  rc = firn_dtls_setup_answer(s, &answer);
  if (s == FIRN_SETUP_HOLDCONN) {
    CHECK(rc == FIRN_ERR_UNSUPPORTED);
  } else {
    CHECK(rc == 0 && answer != FIRN_SETUP_ACTPASS && answer != s);
    /* offer s, answer `answer`: exactly one side is the client */
    firn_dtls_role ro, ra;
    CHECK(firn_dtls_role_from_setup(s, answer, &ro) == 0);
    CHECK(firn_dtls_role_from_setup(answer, s, &ra) == 0);
    CHECK(ro != ra);
  }
  firn_dtls_setup remote = (firn_dtls_setup)(remote_pick % 4);
  firn_dtls_role role;
  rc = firn_dtls_role_from_setup(s, remote, &role);
  CHECK(rc == 0 || rc == FIRN_ERR_PARSE || rc == FIRN_ERR_UNSUPPORTED);
  if (rc == 0) {
    firn_dtls_role other;
    CHECK(firn_dtls_role_from_setup(remote, s, &other) == 0 && other != role);
  }
}

/* ---------------------------------------------------------------------------------------- */
/* SRTP with fixed keys                                                                      */

static const firn_srtp_profile k_profiles[] = {FIRN_SRTP_AES128_CM_SHA1_80, FIRN_SRTP_AES128_CM_SHA1_32,
                                               FIRN_SRTP_AEAD_AES_128_GCM, FIRN_SRTP_AEAD_AES_256_GCM};

static void make_keys(firn_srtp_keys *k, firn_srtp_profile p, int flip) {
  memset(k, 0, sizeof *k);
  k->profile = p;
  for (int i = 0; i < FIRN_SRTP_MAX_KEY; i++) {
    k->local_key[i] = (uint8_t)(flip ? 0xa0 + i : 0x10 + i);
    k->remote_key[i] = (uint8_t)(flip ? 0x10 + i : 0xa0 + i);
  }
  for (int i = 0; i < FIRN_SRTP_MAX_SALT; i++) {
    k->local_salt[i] = (uint8_t)(flip ? 0xc0 + i : 0x50 + i);
    k->remote_salt[i] = (uint8_t)(flip ? 0x50 + i : 0xc0 + i);
  }
}

typedef struct srtp_pair {
  firn_srtp *tx, *rx;
} srtp_pair;

/* u8 kind (bit 0 RTCP, bit 1 protect first, bit 2 mutate), u16 len, bytes, [u16 pos, u8 xor] */
static void op_srtp(harness *h, srtp_pair *sp, reader *r) {
  uint8_t kind = get8(r);
  static uint8_t buf[BUF_MAX + FIRN_SRTP_MAX_TRAILER];
  size_t len = get_bytes(r, buf, get16(r) % BUF_MAX);
  int rtcp = kind & 1;
  (void)h;
  if (kind & 2) {
    uint16_t pos = get16(r);
    uint8_t x = get8(r);
    /* a well-formed header, then protect */
    if (rtcp) {
      if (len < 8)
        return;
      buf[0] = (uint8_t)(0x80 | (buf[0] & 0x1f));
      buf[1] = (uint8_t)(200 + (buf[1] % 5));
      size_t words = len / 4 - 1;
      buf[2] = (uint8_t)(words >> 8);
      buf[3] = (uint8_t)words;
      len = (words + 1) * 4;
    } else {
      if (len < 12)
        return;
      buf[0] = 0x80;
      buf[1] &= 0x7f;
      if (buf[1] >= 64 && buf[1] <= 95)
        buf[1] = 0;
    }
    uint8_t plain[BUF_MAX];
    memcpy(plain, buf, len);
    size_t plen = len, out_len = 0;
    int rc = rtcp ? firn_srtp_protect_rtcp(sp->tx, buf, len, sizeof buf, &out_len)
                  : firn_srtp_protect_rtp(sp->tx, buf, len, sizeof buf, &out_len);
    CHECK(rc == 0 || rc == FIRN_ERR_SRTP_REPLAY || rc == FIRN_ERR_SRTP);
    if (rc != 0)
      return;
    CHECK(out_len > len && out_len <= len + FIRN_SRTP_MAX_TRAILER);
    len = out_len;
    int mutated = 0;
    if ((kind & 4) && x) {
      buf[pos % len] ^= x;
      mutated = 1;
    }
    size_t dec = 0;
    rc = rtcp ? firn_srtp_unprotect_rtcp(sp->rx, buf, len, &dec)
              : firn_srtp_unprotect_rtp(sp->rx, buf, len, &dec);
    if (!mutated) {
      /* RTP replays are refused (the fuzzer can repeat a sequence number) */
      CHECK(rc == 0 || rc == FIRN_ERR_SRTP_REPLAY);
      if (rc == 0)
        CHECK(dec == plen && memcmp(buf, plain, plen) == 0);
    } else {
      /* a changed byte in the authenticated part never verifies; RTCP's E bit and index
       * are authenticated too. A flipped bit in the header's SSRC/sequence still fails the
       * tag. */
      if (rc == 0)
        fprintf(stderr, "fuzz_dtls: mutated SRTP%s packet (byte %u ^ 0x%02x) authenticated\n",
                rtcp ? "C" : "", (unsigned)(pos % len), x);
      CHECK(rc != 0);
    }
    return;
  }
  size_t dec = 0;
  int rc = rtcp ? firn_srtp_unprotect_rtcp(sp->rx, buf, len, &dec)
                : firn_srtp_unprotect_rtp(sp->rx, buf, len, &dec);
  CHECK(rc == 0 || rc == FIRN_ERR_SRTP_AUTH || rc == FIRN_ERR_SRTP_REPLAY || rc == FIRN_ERR_SRTP ||
        rc == FIRN_ERR_INVALID_ARG);
  if (rc == 0)
    CHECK(dec <= len);
}

/* ---------------------------------------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  init_globals();
  harness *h = calloc(1, sizeof *h);
  CHECK(h != NULL);
  reader r = {data, size};
  uint8_t options = get8(&r);
  fuzz_alloc_hooks(&h->alloc, &h->mem);
  h->now = 1000 * FIRN_NS_PER_S;

  static const firn_srtp_profile sets[4][4] = {
      {FIRN_SRTP_AEAD_AES_256_GCM, FIRN_SRTP_AEAD_AES_128_GCM, FIRN_SRTP_AES128_CM_SHA1_80,
       FIRN_SRTP_AES128_CM_SHA1_32},
      {FIRN_SRTP_AES128_CM_SHA1_80, FIRN_SRTP_NONE},
      {FIRN_SRTP_AES128_CM_SHA1_32, FIRN_SRTP_AEAD_AES_128_GCM, FIRN_SRTP_NONE},
      {FIRN_SRTP_AEAD_AES_128_GCM, FIRN_SRTP_NONE}};
  const firn_srtp_profile *set = sets[(options >> 1) & 3];
  for (size_t i = 0; i < 4 && set[i] != FIRN_SRTP_NONE; i++)
    h->profiles[h->nprofiles++] = set[i];

  for (int i = 0; i < 2; i++) {
    firn_dtls_config cfg;
    firn_dtls_config_default(&cfg);
    cfg.role = (i == 0) == ((options & 1) != 0) ? FIRN_DTLS_SERVER : FIRN_DTLS_CLIENT;
    cfg.cert = g_cert[i];
    cfg.remote_fingerprint = g_fp[1 - i];
    if (i == 1 && (options & 0x10))
      cfg.remote_fingerprint.bytes[0] ^= 1;
    if (i == 0) {
      memcpy(cfg.profiles, h->profiles, sizeof h->profiles);
      cfg.num_profiles = h->nprofiles;
    }
    if (options & 8)
      cfg.mtu = 256;
    cfg.callbacks.on_state = on_state;
    cfg.callbacks.user = h;
    CHECK(firn_dtls_new(&h->d[i], &h->alloc, &cfg) == 0);
  }
  srtp_pair sp = {NULL, NULL};
  firn_srtp_keys ktx, krx;
  firn_srtp_profile sprof = k_profiles[(options >> 5) % 4];
  make_keys(&ktx, sprof, 0);
  make_keys(&krx, sprof, 1);
  CHECK(firn_srtp_new(&sp.tx, &h->alloc, &ktx) == 0);
  CHECK(firn_srtp_new(&sp.rx, &h->alloc, &krx) == 0);

  for (int op = 0; op < MAX_OPS && r.left; op++) {
    switch (get8(&r) % FUZZ_DTLS_N_OPS) {
    case FUZZ_DTLS_OP_START: {
      int who = get8(&r) & 1;
      int rc = firn_dtls_start(h->d[who], h->now);
      CHECK(rc == 0 || rc == FIRN_ERR_STATE || rc == FIRN_ERR_DTLS_HANDSHAKE || rc == FIRN_ERR_NOMEM);
      break;
    }
    case FUZZ_DTLS_OP_RUN: run(h, 1 + get8(&r) % 16); break;
    case FUZZ_DTLS_OP_INJECT: {
      uint8_t sel = get8(&r);
      static uint8_t buf[BUF_MAX];
      size_t len = get_bytes(&r, buf, get16(&r) % BUF_MAX);
      deliver(h, sel & 1, buf, len, 1);
      break;
    }
    case FUZZ_DTLS_OP_MUTATE: { /* u8 log index|to, u16 pos, u8 xor, u8 truncate */
      uint8_t idx = get8(&r);
      uint16_t pos = get16(&r);
      uint8_t x = get8(&r), cut = get8(&r);
      if (!h->nlog)
        break;
      unsigned k = idx % h->nlog;
      static uint8_t buf[BUF_MAX];
      size_t len = h->log_len[k];
      memcpy(buf, h->log[k], len);
      if (x)
        buf[pos % len] ^= x;
      if (cut && cut < len)
        len -= cut;
      if (!x && !cut)
        buf[len - 1] ^= 0x80; /* always a change */
      deliver(h, 1 - h->log_from[k], buf, len, 1);
      break;
    }
    case FUZZ_DTLS_OP_REPLAY: { /* u8 log index: a genuine datagram again */
      uint8_t idx = get8(&r);
      if (!h->nlog)
        break;
      unsigned k = idx % h->nlog;
      deliver(h, 1 - h->log_from[k], h->log[k], h->log_len[k], 0);
      break;
    }
    case FUZZ_DTLS_OP_ADVANCE: {
      h->now += (uint64_t)get16(&r) * 10 * FIRN_NS_PER_MS;
      for (int i = 0; i < 2; i++) {
        int rc = firn_dtls_handle_expiry(h->d[i], h->now);
        CHECK(rc <= 0);
        check_state(h, i);
      }
      break;
    }
    case FUZZ_DTLS_OP_CLOSE: {
      int who = get8(&r) & 1;
      int rc = firn_dtls_close(h->d[who], h->now);
      CHECK(rc == 0 || rc == FIRN_ERR_STATE);
      break;
    }
    case FUZZ_DTLS_OP_KEYS: check_keys(h); break;
    case FUZZ_DTLS_OP_FINGERPRINT: op_fingerprint(&r); break;
    case FUZZ_DTLS_OP_SETUP: op_setup(&r); break;
    default: op_srtp(h, &sp, &r); break;
    }
    check_state(h, 0);
    check_state(h, 1);
  }
  for (int i = 0; i < 2; i++) {
    firn_dtls_stats st;
    firn_dtls_get_stats(h->d[i], &st);
    CHECK(st.datagrams_in <= h->delivered[i]);
    CHECK(st.datagrams_out >= h->pulled[i]);
  }
  firn_srtp_free(sp.tx);
  firn_srtp_free(sp.rx);
  firn_srtp_keys_wipe(&ktx);
  firn_srtp_keys_wipe(&krx);
  firn_dtls_free(h->d[0]);
  firn_dtls_free(h->d[1]);
  CHECK(h->mem.blocks == 0);
  free(h);
  return 0;
}
