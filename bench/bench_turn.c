/*
 * TURN benchmark: Allocate time (both round trips: the unauthenticated Allocate answered by
 * 401, then the signed Allocate answered by the success) against a local coturn, with firn's
 * TURN client and, in the same run, a minimal raw Allocate client as the anchor.
 *
 *   raw   hand-built requests over a plain blocking UDP socket: REQUESTED-TRANSPORT;
 *         then USERNAME, REALM, NONCE, MESSAGE-INTEGRITY (MD5 long-term key + HMAC-SHA1,
 *         OpenSSL) and FINGERPRINT; the 401 and the success are parsed by hand (attribute
 *         walk, no validation beyond what is needed to find REALM/NONCE and the class).
 *   firn  firn_turn over the same kind of blocking socket: start(), poll_transmit(), sendto,
 *         recv, handle_datagram(), until READY (the full codec: parse, FINGERPRINT, integrity
 *         check of the success, relayed/mapped/lifetime extraction).
 *
 * Each measurement uses a fresh socket (coturn keeps one allocation per 5-tuple) and the
 * timer covers exactly the two round trips plus the client work between them; creating the
 * object/socket and the deallocation afterwards (Refresh LIFETIME 0, so coturn does not fill
 * up) are outside it. Runs alternate raw/firn so both see the same server state. Prints the
 * median and 90th percentile of each, the ratio and the difference, and the median client
 * work (the total minus the time blocked waiting for coturn), which is what firn controls.
 *
 * Needs a running coturn: run it through the integration wrapper, which starts one on
 * 127.0.0.1 and exports FIRN_COTURN_*:
 *   tests/integration/turn/run.sh build-bench/bench/bench_turn scripts/coturn.sh
 * Options (environment): FIRN_BENCH_RUNS (default 40). scripts/coturn.sh gives coturn 100
 * relay ports and coturn does not hand a port out again right after a deallocation, so
 * warm-up plus runs of both clients must stay under 100 allocations per coturn start.
 */
#include "turn/turn.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static const char *env(const char *n) {
  const char *v = getenv(n);
  if (!v || !*v) {
    fprintf(stderr, "%s is not set. Run through the coturn wrapper:\n"
                    "  tests/integration/turn/run.sh <build>/bench/bench_turn scripts/coturn.sh\n", n);
    exit(2);
  }
  return v;
}

static struct sockaddr_in g_server;
static const char *g_user, *g_pass, *g_realm;

static int open_socket(firn_addr *local) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) return -1;
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || connect(fd, (struct sockaddr *)&g_server, sizeof g_server) < 0) {
    close(fd);
    return -1;
  }
  socklen_t l = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &l);
  if (local) firn_addr_set_ipv4(local, (const uint8_t *)&a.sin_addr, ntohs(a.sin_port));
  return fd;
}

/* Time spent blocked waiting for the server, so "client work" = total - waiting. */
static uint64_t g_wait;

static ssize_t recv_wait(int fd, uint8_t *buf, size_t cap, int timeout_ms) {
  uint64_t t0 = now_ns();
  struct pollfd p = {fd, POLLIN, 0};
  ssize_t n = poll(&p, 1, timeout_ms) <= 0 ? -1 : recv(fd, buf, cap, 0);
  g_wait += now_ns() - t0;
  return n;
}

/* ---------------------------------------------------------------------------------------- */
/* Raw client                                                                                */

static void put16(uint8_t *p, unsigned v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, v >> 16); put16(p + 2, v & 0xffff); }
static unsigned get16(const uint8_t *p) { return (unsigned)(p[0] << 8 | p[1]); }

static uint32_t crc_table[256];
static void crc_init(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    crc_table[i] = c;
  }
}
static uint32_t crc32(const uint8_t *p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  while (n--) c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

static size_t add_attr(uint8_t *m, size_t len, unsigned type, const void *v, size_t vlen) {
  put16(m + len, type);
  put16(m + len + 2, (unsigned)vlen);
  memcpy(m + len + 4, v, vlen);
  size_t padded = (vlen + 3) & ~(size_t)3;
  memset(m + len + 4 + vlen, 0, padded - vlen);
  len += 4 + padded;
  put16(m + 2, (unsigned)(len - 20));
  return len;
}

static size_t header(uint8_t *m, unsigned type) {
  put16(m, type);
  put16(m + 2, 0);
  put32(m + 4, 0x2112A442u);
  for (int i = 0; i < 12; i++) m[8 + i] = (uint8_t)rand();
  return 20;
}

/* Find an attribute in a received message (bounds-checked walk). */
static const uint8_t *find_attr(const uint8_t *m, size_t n, unsigned type, size_t *vlen) {
  size_t off = 20;
  while (off + 4 <= n) {
    unsigned t = get16(m + off), l = get16(m + off + 2);
    if (off + 4 + l > n) return NULL;
    if (t == type) {
      *vlen = l;
      return m + off + 4;
    }
    off += 4 + ((l + 3u) & ~3u);
  }
  return NULL;
}

static size_t sign_and_fp(uint8_t *m, size_t len, const uint8_t key[16]) {
  /* MESSAGE-INTEGRITY: length covers it, HMAC over everything before it */
  put16(m + 2, (unsigned)(len - 20 + 24));
  unsigned int mlen = 20;
  uint8_t mac[20];
  HMAC(EVP_sha1(), key, 16, m, len, mac, &mlen);
  len = add_attr(m, len, 0x0008, mac, 20);
  put16(m + 2, (unsigned)(len - 20 + 8));
  uint32_t fp = crc32(m, len) ^ 0x5354554Eu;
  uint8_t fpv[4];
  put32(fpv, fp);
  return add_attr(m, len, 0x8028, fpv, 4);
}

/* One raw allocation; returns the nanoseconds of the two round trips, 0 on failure. Leaves
 * the key, realm and nonce for the deallocation. */
static uint64_t raw_allocate(int fd, uint8_t key[16], char *nonce, size_t *nonce_len) {
  uint8_t m[1500], r[1500];
  static const uint8_t transport[4] = {17, 0, 0, 0};
  uint64_t t0 = now_ns();
  size_t len = header(m, 0x0003);
  len = add_attr(m, len, 0x0019, transport, 4);
  if (send(fd, m, len, 0) < 0) return 0;
  ssize_t n = recv_wait(fd, r, sizeof r, 1000);
  if (n < 20 || get16(r) != 0x0113) return 0;
  size_t realm_len = 0, nl = 0;
  const uint8_t *realm = find_attr(r, (size_t)n, 0x0014, &realm_len);
  const uint8_t *nv = find_attr(r, (size_t)n, 0x0015, &nl);
  if (!realm || !nv || nl > 256) return 0;
  memcpy(nonce, nv, nl);
  *nonce_len = nl;
  /* key = MD5(user:realm:pass) */
  char kin[600];
  int kl = snprintf(kin, sizeof kin, "%s:%.*s:%s", g_user, (int)realm_len, (const char *)realm, g_pass);
  unsigned int dl = 16;
  EVP_Digest(kin, (size_t)kl, key, &dl, EVP_md5(), NULL);
  len = header(m, 0x0003);
  len = add_attr(m, len, 0x0019, transport, 4);
  len = add_attr(m, len, 0x0006, g_user, strlen(g_user));
  len = add_attr(m, len, 0x0014, realm, realm_len);
  len = add_attr(m, len, 0x0015, nonce, nl);
  len = sign_and_fp(m, len, key);
  if (send(fd, m, len, 0) < 0) return 0;
  n = recv_wait(fd, r, sizeof r, 1000);
  if (n < 20 || get16(r) != 0x0103) {
    if (getenv("FIRN_BENCH_DEBUG")) fprintf(stderr, "raw: second answer type 0x%04x, %zd bytes\n", n >= 2 ? get16(r) : 0, n);
    return 0;
  }
  return now_ns() - t0;
}

static void raw_deallocate(int fd, const uint8_t key[16], const char *nonce, size_t nonce_len) {
  uint8_t m[1500], r[1500];
  static const uint8_t zero[4] = {0, 0, 0, 0};
  size_t len = header(m, 0x0004);
  len = add_attr(m, len, 0x000D, zero, 4);
  len = add_attr(m, len, 0x0006, g_user, strlen(g_user));
  len = add_attr(m, len, 0x0014, g_realm, strlen(g_realm));
  len = add_attr(m, len, 0x0015, nonce, nonce_len);
  len = sign_and_fp(m, len, key);
  if (send(fd, m, len, 0) >= 0) {
    ssize_t n = recv_wait(fd, r, sizeof r, 1000);
    if (getenv("FIRN_BENCH_DEBUG")) fprintf(stderr, "raw: deallocate answer type 0x%04x\n", n >= 2 ? get16(r) : 0);
  }
}

static uint64_t run_raw(uint64_t *work) {
  int fd = open_socket(NULL);
  if (fd < 0) return 0;
  uint8_t key[16];
  char nonce[256];
  size_t nl = 0;
  uint64_t w0 = g_wait;
  uint64_t t = raw_allocate(fd, key, nonce, &nl);
  *work = t ? t - (g_wait - w0) : 0;
  if (t) raw_deallocate(fd, key, nonce, nl);
  close(fd);
  return t;
}

/* ---------------------------------------------------------------------------------------- */
/* firn                                                                                      */

static int flush(firn_turn *t, int fd, uint64_t now) {
  uint8_t buf[1500];
  firn_ssize n;
  int sent = 0;
  while ((n = firn_turn_poll_transmit(t, now, buf, sizeof buf, NULL)) > 0) {
    if (send(fd, buf, (size_t)n, 0) < 0) return -1;
    sent++;
  }
  return sent;
}

static void drive_until(firn_turn *t, int fd, firn_turn_state want) {
  uint8_t buf[1500];
  while (firn_turn_get_state(t) < want) {
    ssize_t n = recv_wait(fd, buf, sizeof buf, 1000);
    if (n <= 0) return;
    firn_addr from;
    memset(&from, 0, sizeof from);
    firn_addr_set_ipv4(&from, (const uint8_t *)&g_server.sin_addr, ntohs(g_server.sin_port));
    uint64_t now = now_ns();
    firn_turn_handle_datagram(t, &from, buf, (size_t)n, now);
    flush(t, fd, now);
  }
}

static uint64_t run_firn(uint64_t *work) {
  firn_addr local;
  int fd = open_socket(&local);
  if (fd < 0) return 0;
  firn_turn_settings s;
  firn_turn_settings_default(&s);
  firn_addr_set_ipv4(&s.server, (const uint8_t *)&g_server.sin_addr, ntohs(g_server.sin_port));
  s.local = local;
  s.username = g_user;
  s.password = g_pass;
  firn_turn *t = NULL;
  uint64_t took = 0;
  if (firn_turn_new(&t, &s) == FIRN_OK) {
    uint64_t w0 = g_wait;
    uint64_t t0 = now_ns();
    if (firn_turn_start(t, t0) == FIRN_OK && flush(t, fd, t0) > 0) {
      drive_until(t, fd, FIRN_TURN_READY);
      if (firn_turn_get_state(t) == FIRN_TURN_READY) took = now_ns() - t0;
    }
    *work = took ? took - (g_wait - w0) : 0;
    if (took) {
      uint64_t now = now_ns();
      firn_turn_close(t, now);
      flush(t, fd, now);
      drive_until(t, fd, FIRN_TURN_CLOSED);
    }
  }
  firn_turn_free(t);
  close(fd);
  return took;
}

/* ---------------------------------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

int main(void) {
  crc_init();
  srand((unsigned)now_ns());
  memset(&g_server, 0, sizeof g_server);
  g_server.sin_family = AF_INET;
  g_server.sin_port = htons((uint16_t)atoi(env("FIRN_COTURN_PORT")));
  if (inet_pton(AF_INET, env("FIRN_COTURN_HOST"), &g_server.sin_addr) != 1) return 2;
  g_user = env("FIRN_COTURN_USER");
  g_pass = env("FIRN_COTURN_PASS");
  g_realm = env("FIRN_COTURN_REALM");
  int runs = getenv("FIRN_BENCH_RUNS") ? atoi(getenv("FIRN_BENCH_RUNS")) : 40;
  if (runs < 5) runs = 5;
  uint64_t *raw = calloc((size_t)runs, sizeof *raw), *fr = calloc((size_t)runs, sizeof *fr);
  uint64_t *rw = calloc((size_t)runs, sizeof *rw), *fw = calloc((size_t)runs, sizeof *fw);
  if (!raw || !fr || !rw || !fw) return 1;
  /* warm up both paths (page faults, OpenSSL lazy init, coturn's first allocation) */
  uint64_t dummy;
  for (int i = 0; i < 5; i++) {
    run_raw(&dummy);
    run_firn(&dummy);
  }
  int nr = 0, nf = 0, raw_failed = 0, firn_failed = 0;
  for (int i = 0; i < runs; i++) {
    uint64_t aw, bw;
    uint64_t a = run_raw(&aw), b = run_firn(&bw);
    if (a) {
      rw[nr] = aw;
      raw[nr++] = a;
    } else {
      raw_failed++;
    }
    if (b) {
      fw[nf] = bw;
      fr[nf++] = b;
    } else {
      firn_failed++;
    }
  }
  if (nr == 0 || nf == 0) {
    fprintf(stderr, "no successful allocations (raw %d, firn %d)\n", nr, nf);
    return 1;
  }
  qsort(raw, (size_t)nr, sizeof *raw, cmp_u64);
  qsort(fr, (size_t)nf, sizeof *fr, cmp_u64);
  qsort(rw, (size_t)nr, sizeof *rw, cmp_u64);
  qsort(fw, (size_t)nf, sizeof *fw, cmp_u64);
  double rm = (double)raw[nr / 2] / 1e3, fm = (double)fr[nf / 2] / 1e3;
  double r90 = (double)raw[nr * 9 / 10] / 1e3, f90 = (double)fr[nf * 9 / 10] / 1e3;
  printf("TURN Allocate (401 + signed Allocate, UDP, coturn on 127.0.0.1), %d runs each:\n", runs);
  printf("  raw client   median %8.1f us   p90 %8.1f us\n", rm, r90);
  printf("  firn_turn    median %8.1f us   p90 %8.1f us\n", fm, f90);
  printf("  ratio firn/raw %.2f, difference %+.1f us (target: within 100 us)\n", fm / rm, fm - rm);
  printf("  client work (total minus waiting for the server, incl. sends): raw median %.1f us, firn %.1f us\n",
         (double)rw[nr / 2] / 1e3, (double)fw[nf / 2] / 1e3);
  if (raw_failed || firn_failed)
    printf("  failed runs (no answer within 1 s, left out): raw %d, firn %d\n", raw_failed, firn_failed);
  free(raw);
  free(fr);
  free(rw);
  free(fw);
  return 0;
}
