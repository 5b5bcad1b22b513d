/* Media benchmark: firn's SRTP media path and DTLS-SRTP handshake beside their ceilings,
 * measured in the same run.
 *
 * 1. Throughput, send + receive on one core, 172-byte RTP (12-byte header + 160 bytes of
 *    PCMU), over real UDP sockets on 127.0.0.1:
 *      firn:    firn_session_send_rtp -> firn_session_poll_transmit -> sendto ->
 *               recvfrom -> firn_session_handle_datagram -> on_media
 *      ceiling: srtp_protect -> sendto -> recvfrom -> srtp_unprotect (raw libsrtp2)
 *    for SRTP_AES128_CM_SHA1_80 and SRTP_AEAD_AES_128_GCM. Both loops send a batch of 16
 *    and then receive it (recvfrom: a receiver must know the source); 21 short runs
 *    alternate firn/ceiling and the figure is the median of the per-pair ratios, so load
 *    from elsewhere on the machine hits both alike. Rates are packets per CPU-second of the
 *    one thread (user + system time), and the process is pinned to one CPU.
 * 2. DTLS handshake cost: two firn_dtls endpoints in memory (create, handshake, verify the
 *    fingerprint, export SRTP keys, free) beside two raw OpenSSL SSL objects over memory
 *    BIOs doing the same (a fresh SSL_CTX per endpoint, ECDSA P-256 certificates, ECDHE,
 *    use_srtp, peer certificate required and its SHA-256 digest compared, keys exported).
 *    Medians of 9 runs of 50 handshakes.
 * 3. Time from start to secure for a firn pair on loopback with the libuv runtime
 *    (firn_uv_session_new x2, gather on 127.0.0.1, descriptions exchanged in process), at
 *    Ta 50 ms (the default) and 5 ms, beside an aiortc pair in the same run (two
 *    tests/integration/aiortc/aiortc_peer.py processes through the interop harness; run
 *    from the source root or set FIRN_SOURCE_ROOT).
 *
 * libsrtp2 does not report its crypto backend; this program looks at which crypto libraries
 * are mapped into the process (Debian's libsrtp2 links NSS). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <srtp2/srtp.h>

#include "dtls/cert_impl.h"
#include "dtls/dtls.h"
#include "firn/media.h"
#include "firn/uv.h"

#define RTP_LEN 172
#define BATCH 16

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* CPU time of this thread (user + system): what "on one core" costs, and steadier than the
 * wall clock when other work shares the machine. */
static uint64_t cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}
static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_d);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void die(const char *what) {
  fprintf(stderr, "bench_media: %s\n", what);
  exit(1);
}

/* ---------------------------------------------------------------------------------------- */
/* sockets                                                                                   */

static int udp_socket(firn_addr *bound) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  if (fd < 0) die("socket");
  int big = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) die("bind");
  socklen_t len = sizeof sa;
  getsockname(fd, (struct sockaddr *)&sa, &len);
  uint8_t ip[4] = {127, 0, 0, 1};
  firn_addr_set_ipv4(bound, ip, ntohs(sa.sin_port));
  return fd;
}

static void to_sa(const firn_addr *a, struct sockaddr_in *sa) {
  memset(sa, 0, sizeof *sa);
  sa->sin_family = AF_INET;
  sa->sin_port = htons(a->port);
  memcpy(&sa->sin_addr, a->addr, 4);
}

static int wait_readable(int fd, int ms) {
  struct pollfd p = {fd, POLLIN, 0};
  return poll(&p, 1, ms) > 0;
}

/* ---------------------------------------------------------------------------------------- */
/* 1. throughput: a connected firn session pair over real sockets                            */

typedef struct side {
  firn_session *s;
  int fd;
  firn_addr addr;
  int secure;
  uint64_t rx;
} side;

static void ev_cb(void *user, firn_session *s, const firn_session_event *ev) {
  (void)s;
  side *sd = user;
  if (ev->type == FIRN_SESSION_EV_SECURE) sd->secure = 1;
  if (ev->type == FIRN_SESSION_EV_FAILED) {
    fprintf(stderr, "bench_media: session failed: %s (%s)\n", ev->message, firn_strerror(ev->error));
    exit(1);
  }
}

static void media_cb(void *user, firn_session *s, firn_media_kind k, unsigned c, const uint8_t *d, size_t n,
                     uint64_t now) {
  (void)s, (void)k, (void)c, (void)d, (void)n, (void)now;
  ((side *)user)->rx++;
}

static uint8_t txbuf[2048], rxbuf[2048];

static void side_flush(side *sd) {
  firn_path p;
  for (;;) {
    firn_ssize n = firn_session_poll_transmit(sd->s, now_ns(), txbuf, sizeof txbuf, &p);
    if (n < 0) break;
    struct sockaddr_in sa;
    to_sa(&p.remote, &sa);
    while (sendto(sd->fd, txbuf, (size_t)n, 0, (struct sockaddr *)&sa, sizeof sa) < 0 && errno == EAGAIN) {
    }
  }
}

/* Read and feed at most `max` datagrams (the ceiling loop likewise stops at its count). */
static unsigned side_recv(side *sd, unsigned max) {
  unsigned got = 0;
  while (got < max) {
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    ssize_t n = recvfrom(sd->fd, rxbuf, sizeof rxbuf, 0, (struct sockaddr *)&from, &fl);
    if (n < 0) return got;
    got++;
    firn_path p;
    memset(&p, 0, sizeof p);
    p.local = sd->addr;
    firn_addr_set_ipv4(&p.remote, (const uint8_t *)&from.sin_addr, ntohs(from.sin_port));
    firn_session_handle_datagram(sd->s, &p, rxbuf, (size_t)n, now_ns());
  }
  return got;
}

static void side_timers(side *sd) {
  uint64_t t = now_ns();
  if (firn_session_expiry(sd->s) <= t) firn_session_handle_expiry(sd->s, t);
}

static void pair_connect(side sd[2], firn_srtp_profile prof) {
  for (int i = 0; i < 2; i++) {
    memset(&sd[i], 0, sizeof sd[i]);
    sd[i].fd = udp_socket(&sd[i].addr);
    firn_session_settings s;
    firn_session_settings_default(&s);
    s.role = i == 0 ? FIRN_SESSION_OFFERER : FIRN_SESSION_ANSWERER;
    s.profiles[0] = prof;
    s.num_profiles = 1;
    s.tx_queue = 256;
    s.callbacks.on_event = ev_cb;
    s.callbacks.on_media = media_cb;
    s.user = &sd[i];
    if (firn_session_new(&sd[i].s, &s) < 0) die("session_new");
    firn_local_address la;
    memset(&la, 0, sizeof la);
    la.addr = sd[i].addr;
    la.transport = FIRN_TRANSPORT_UDP;
    la.ifname = "lo";
    if (firn_agent_add_local_address(firn_session_agent(sd[i].s), 0, 1, &la, now_ns()) < 0) die("add address");
    firn_session_gather(sd[i].s, now_ns());
  }
  firn_media_desc d;
  for (int i = 0; i < 2; i++) {
    if (firn_session_get_local_description(sd[i].s, &d) < 0) die("local description");
    if (firn_session_set_remote_description(sd[1 - i].s, &d, now_ns()) < 0) die("remote description");
  }
  uint64_t deadline = now_ns() + 10 * FIRN_NS_PER_S;
  while (!(sd[0].secure && sd[1].secure)) {
    if (now_ns() > deadline) die("pair did not become secure within 10 s");
    for (int i = 0; i < 2; i++) {
      side_flush(&sd[i]);
      side_recv(&sd[i], 64);
      side_timers(&sd[i]);
      side_flush(&sd[i]);
    }
    struct pollfd p[2] = {{sd[0].fd, POLLIN, 0}, {sd[1].fd, POLLIN, 0}};
    poll(p, 2, 1);
  }
}

static void pair_free(side sd[2]) {
  for (int i = 0; i < 2; i++) {
    firn_session_free(sd[i].s);
    close(sd[i].fd);
  }
}

static void make_rtp(uint8_t *p, uint16_t seq) {
  memset(p, 0, 12);
  p[0] = 0x80;
  p[2] = (uint8_t)(seq >> 8);
  p[3] = (uint8_t)seq;
  p[8] = 0x12;
  p[11] = 0x34;
  for (int i = 12; i < RTP_LEN; i++) p[i] = (uint8_t)(i + seq);
}

/* packets per second A -> B through the API */
static double run_firn(side sd[2], unsigned packets, uint16_t *seq) {
  uint8_t rtp[RTP_LEN];
  uint64_t rx0 = sd[1].rx, t0 = cpu_ns();
  for (unsigned done = 0; done < packets; done += BATCH) {
    for (int k = 0; k < BATCH; k++) {
      make_rtp(rtp, (*seq)++);
      if (firn_session_send_rtp(sd[0].s, rtp, sizeof rtp, now_ns()) < 0) die("send_rtp");
    }
    side_flush(&sd[0]);
    uint64_t want = rx0 + done + BATCH;
    while (sd[1].rx < want) {
      if (side_recv(&sd[1], (unsigned)(want - sd[1].rx)) == 0 && !wait_readable(sd[1].fd, 1000))
        die("firn: packets lost on loopback");
    }
    side_timers(&sd[0]);
    side_timers(&sd[1]);
    side_flush(&sd[1]); /* consent responses and the like */
  }
  double s = (double)(cpu_ns() - t0) / 1e9;
  return packets / s;
}

/* the ceiling: raw libsrtp2 + raw UDP sockets, the same loop */
static double run_raw(srtp_t tx, srtp_t rx, int fd_tx, int fd_rx, const firn_addr *to, unsigned packets,
                      uint16_t *seq) {
  struct sockaddr_in sa;
  to_sa(to, &sa);
  uint8_t buf[2048];
  uint64_t t0 = cpu_ns();
  for (unsigned done = 0; done < packets; done += BATCH) {
    for (int k = 0; k < BATCH; k++) {
      make_rtp(buf, (*seq)++);
      int len = RTP_LEN;
      if (srtp_protect(tx, buf, &len) != srtp_err_status_ok) die("srtp_protect");
      while (sendto(fd_tx, buf, (size_t)len, 0, (struct sockaddr *)&sa, sizeof sa) < 0 && errno == EAGAIN) {
      }
    }
    for (int got = 0; got < BATCH;) {
      struct sockaddr_in from; /* a receiver must know where a packet came from */
      socklen_t fl = sizeof from;
      ssize_t n = recvfrom(fd_rx, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
      if (n < 0) {
        if (!wait_readable(fd_rx, 1000)) die("raw: packets lost on loopback");
        continue;
      }
      int len = (int)n;
      if (srtp_unprotect(rx, buf, &len) != srtp_err_status_ok) die("srtp_unprotect");
      got++;
    }
  }
  double s = (double)(cpu_ns() - t0) / 1e9;
  return packets / s;
}

static void raw_pair(firn_srtp_profile prof, srtp_t *tx, srtp_t *rx) {
  uint8_t key[46];
  for (size_t i = 0; i < sizeof key; i++) key[i] = (uint8_t)(i * 13 + 1);
  srtp_policy_t p;
  for (int dir = 0; dir < 2; dir++) {
    memset(&p, 0, sizeof p);
    if (prof == FIRN_SRTP_AES128_CM_SHA1_80) {
      srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p.rtp);
      srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p.rtcp);
    } else {
      srtp_crypto_policy_set_aes_gcm_128_16_auth(&p.rtp);
      srtp_crypto_policy_set_aes_gcm_128_16_auth(&p.rtcp);
    }
    p.ssrc.type = dir == 0 ? ssrc_any_outbound : ssrc_any_inbound;
    p.key = key;
    p.window_size = 1024;
    if (srtp_create(dir == 0 ? tx : rx, &p) != srtp_err_status_ok) die("srtp_create");
  }
}

static void bench_throughput(firn_srtp_profile prof) {
  /* short runs, firn and ceiling alternating, so load from elsewhere on the machine hits
   * both alike; the figure is the median of the per-pair ratios */
  enum { runs = 21 };
  const unsigned packets = 20000;
  double f[runs], r[runs], ratio[runs];
  side sd[2];
  pair_connect(sd, prof);
  if (firn_session_srtp_profile(sd[0].s) != prof) die("unexpected profile");
  srtp_t tx, rx;
  raw_pair(prof, &tx, &rx);
  firn_addr a, b;
  int fa = udp_socket(&a), fb = udp_socket(&b);
  uint16_t seq_f = 1, seq_r = 1;
  run_firn(sd, 20000, &seq_f); /* warm-up */
  run_raw(tx, rx, fa, fb, &b, 20000, &seq_r);
  for (int i = 0; i < runs; i++) {
    if (i % 2) {
      r[i] = run_raw(tx, rx, fa, fb, &b, packets, &seq_r);
      f[i] = run_firn(sd, packets, &seq_f);
    } else {
      f[i] = run_firn(sd, packets, &seq_f);
      r[i] = run_raw(tx, rx, fa, fb, &b, packets, &seq_r);
    }
    ratio[i] = f[i] / r[i];
  }
  firn_session_stats st;
  firn_session_get_stats(sd[1].s, &st);
  if (st.srtp_auth_failures || st.srtp_replays || st.srtp_other_failures) die("SRTP failures in the firn run");
  double mf = median(f, runs), mr = median(r, runs), mq = median(ratio, runs);
  double lo = ratio[runs / 4], hi = ratio[runs - 1 - runs / 4]; /* sorted by median() */
  printf("  %-24s firn %9.0f pkt/s (%6.1f Mbit/s of RTP)  ceiling %9.0f pkt/s  firn/ceiling %5.1f %% "
         "(interquartile %.1f..%.1f %%)\n",
         firn_srtp_profile_name(prof), mf, mf * RTP_LEN * 8 / 1e6, mr, 100.0 * mq, 100.0 * lo, 100.0 * hi);
  srtp_dealloc(tx);
  srtp_dealloc(rx);
  close(fa);
  close(fb);
  pair_free(sd);
}

/* ---------------------------------------------------------------------------------------- */
/* 2. DTLS handshake                                                                         */

static firn_dtls_cert *certs[2];

static void firn_handshake(void) {
  firn_dtls *d[2];
  for (int i = 0; i < 2; i++) {
    firn_dtls_config c;
    firn_dtls_config_default(&c);
    c.role = i == 0 ? FIRN_DTLS_CLIENT : FIRN_DTLS_SERVER;
    c.cert = certs[i];
    firn_dtls_cert_get_fingerprint(certs[1 - i], FIRN_FP_SHA256, &c.remote_fingerprint);
    if (firn_dtls_new(&d[i], NULL, &c) < 0) die("firn_dtls_new");
  }
  uint64_t t = 1;
  firn_dtls_start(d[0], t);
  firn_dtls_start(d[1], t);
  uint8_t buf[2048];
  for (int guard = 0; guard < 100; guard++) {
    int moved = 0;
    for (int i = 0; i < 2; i++) {
      firn_ssize n;
      while ((n = firn_dtls_poll_transmit(d[i], buf, sizeof buf)) > 0) {
        firn_dtls_handle_datagram(d[1 - i], buf, (size_t)n, t);
        moved++;
      }
    }
    if (!moved) break;
  }
  for (int i = 0; i < 2; i++) {
    if (firn_dtls_get_state(d[i]) != FIRN_DTLS_CONNECTED) die("firn handshake did not complete");
    firn_srtp_keys k;
    if (firn_dtls_export_srtp_keys(d[i], &k) < 0) die("export");
    firn_srtp_keys_wipe(&k);
    firn_dtls_free(d[i]);
  }
}

static int raw_verify(X509_STORE_CTX *ctx, void *arg) {
  (void)ctx, (void)arg;
  return 1; /* the certificate is checked by digest after the handshake, as DTLS-SRTP does */
}

static SSL *raw_endpoint(int i, BIO **in, BIO **out) {
  SSL_CTX *ctx = SSL_CTX_new(DTLS_method());
  SSL_CTX_set_min_proto_version(ctx, DTLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx, DTLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_QUERY_MTU | SSL_OP_NO_TICKET);
  SSL_CTX_set_cipher_list(ctx, "ECDHE-ECDSA-AES128-GCM-SHA256");
  SSL_CTX_set1_groups_list(ctx, "X25519:P-256");
  SSL_CTX_use_certificate(ctx, certs[i]->x509);
  SSL_CTX_use_PrivateKey(ctx, certs[i]->key);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
  SSL_CTX_set_cert_verify_callback(ctx, raw_verify, NULL);
  SSL_CTX_set_tlsext_use_srtp(ctx, "SRTP_AEAD_AES_256_GCM:SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80");
  SSL *ssl = SSL_new(ctx);
  SSL_CTX_free(ctx); /* the SSL keeps its reference */
  *in = BIO_new(BIO_s_mem());
  *out = BIO_new(BIO_s_mem());
  BIO_set_mem_eof_return(*in, -1);
  BIO_set_mem_eof_return(*out, -1);
  SSL_set_bio(ssl, *in, *out);
  SSL_set_mtu(ssl, 1200);
  DTLS_set_link_mtu(ssl, 1200);
  if (i == 0) SSL_set_connect_state(ssl);
  else SSL_set_accept_state(ssl);
  return ssl;
}

static void raw_handshake(void) {
  BIO *in[2], *out[2];
  SSL *s[2] = {raw_endpoint(0, &in[0], &out[0]), raw_endpoint(1, &in[1], &out[1])};
  uint8_t buf[4096];
  int done[2] = {0, 0};
  for (int guard = 0; guard < 100 && !(done[0] && done[1]); guard++) {
    for (int i = 0; i < 2; i++) {
      if (!done[i]) {
        int r = SSL_do_handshake(s[i]);
        if (r == 1) done[i] = 1;
        else if (SSL_get_error(s[i], r) != SSL_ERROR_WANT_READ) die("raw handshake failed");
      }
      int n;
      while ((n = BIO_read(out[i], buf, sizeof buf)) > 0) BIO_write(in[1 - i], buf, n);
    }
  }
  if (!done[0] || !done[1]) die("raw handshake did not complete");
  for (int i = 0; i < 2; i++) {
    X509 *peer = SSL_get0_peer_certificate(s[i]);
    uint8_t md[32], want[32];
    unsigned ml = 0, wl = 0;
    X509_digest(peer, EVP_sha256(), md, &ml);
    X509_digest(certs[1 - i]->x509, EVP_sha256(), want, &wl);
    if (ml != 32 || memcmp(md, want, 32) != 0) die("raw fingerprint mismatch");
    uint8_t km[88];
    if (SSL_export_keying_material(s[i], km, sizeof km, "EXTRACTOR-dtls_srtp", 19, NULL, 0, 0) != 1)
      die("raw export");
    SSL_free(s[i]);
  }
}

static void bench_handshake(void) {
  if (firn_dtls_cert_generate(&certs[0], NULL, NULL, NULL) < 0 || firn_dtls_cert_generate(&certs[1], NULL, NULL, NULL) < 0)
    die("cert");
  const int runs = 9, per = 50;
  double f[9], r[9];
  firn_handshake();
  raw_handshake();
  for (int k = 0; k < runs; k++) {
    uint64_t t0 = cpu_ns();
    for (int i = 0; i < per; i++) firn_handshake();
    f[k] = (double)(cpu_ns() - t0) / per / 1e6;
    t0 = cpu_ns();
    for (int i = 0; i < per; i++) raw_handshake();
    r[k] = (double)(cpu_ns() - t0) / per / 1e6;
  }
  double mf = median(f, runs), mr = median(r, runs);
  printf("  firn_dtls pair  %.3f ms per handshake (both sides: create, handshake, verify, export, free)\n", mf);
  printf("  raw OpenSSL     %.3f ms per handshake (same work, memory BIOs)\n", mr);
  printf("  ratio           %.2fx the raw handshake (target <= 1.10x)\n", mf / mr);
  firn_dtls_cert_free(certs[0]);
  firn_dtls_cert_free(certs[1]);
}

/* ---------------------------------------------------------------------------------------- */
/* 3. start to secure with the libuv runtime                                                  */

typedef struct uvpeer {
  firn_uv_agent *ua;
  int gathered, secure;
  struct uvcall *call;
} uvpeer;

typedef struct uvcall {
  uvpeer p[2];
  uint64_t t0, t_remote, t_secure;
  int exchanged, closed;
  uv_timer_t guard;
} uvcall;

static void uv_try_exchange(uvcall *c) {
  if (c->exchanged || !c->p[0].gathered || !c->p[1].gathered) return;
  c->exchanged = 1;
  c->t_remote = firn_uv_now();
  firn_media_desc d;
  firn_session_get_local_description(firn_uv_agent_session(c->p[0].ua), &d);
  firn_uv_session_set_remote_description(c->p[1].ua, &d);
  firn_session_get_local_description(firn_uv_agent_session(c->p[1].ua), &d);
  firn_uv_session_set_remote_description(c->p[0].ua, &d);
}

static void uv_gathered(void *user, unsigned stream) {
  (void)stream;
  uvpeer *p = user;
  p->gathered = 1;
  uv_try_exchange(p->call);
}

static void uv_finish(uvcall *c) {
  if (c->closed) return;
  c->closed = 1;
  uv_close((uv_handle_t *)&c->guard, NULL);
  firn_uv_agent_close(c->p[0].ua, NULL, NULL);
  firn_uv_agent_close(c->p[1].ua, NULL, NULL);
}

static void uv_event(void *user, firn_session *s, const firn_session_event *ev) {
  (void)s;
  uvpeer *p = user;
  if (ev->type == FIRN_SESSION_EV_SECURE) {
    p->secure = 1;
    if (p->call->p[0].secure && p->call->p[1].secure && !p->call->t_secure) {
      p->call->t_secure = firn_uv_now();
      uv_finish(p->call);
    }
  }
  if (ev->type == FIRN_SESSION_EV_FAILED) uv_finish(p->call);
}

static void uv_guard(uv_timer_t *t) { uv_finish(t->data); }

static double uv_start_to_secure(uint64_t ta_ms, double *remote_to_secure_ms) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  uvcall c;
  memset(&c, 0, sizeof c);
  uv_timer_init(&loop, &c.guard);
  c.guard.data = &c;
  uv_timer_start(&c.guard, uv_guard, 10000, 0);
  const char *ips[] = {"127.0.0.1"};
  c.t0 = firn_uv_now();
  for (int i = 0; i < 2; i++) {
    c.p[i].call = &c;
    firn_uv_settings us;
    firn_uv_settings_default(&us);
    us.ips = ips;
    us.n_ips = 1;
    us.agent.ta_ns = ta_ms * FIRN_NS_PER_MS;
    us.agent.callbacks.on_gathering_done = uv_gathered;
    us.agent.user = &c.p[i];
    firn_session_settings ms;
    firn_session_settings_default(&ms);
    ms.role = i == 0 ? FIRN_SESSION_OFFERER : FIRN_SESSION_ANSWERER;
    ms.callbacks.on_event = uv_event;
    ms.user = &c.p[i];
    if (firn_uv_session_new(&c.p[i].ua, &loop, &us, &ms) < 0) die("firn_uv_session_new");
  }
  firn_uv_agent_gather(c.p[0].ua);
  firn_uv_agent_gather(c.p[1].ua);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  if (!c.t_secure) die("loopback pair did not become secure within 10 s");
  if (remote_to_secure_ms) *remote_to_secure_ms = (double)(c.t_secure - c.t_remote) / 1e6;
  return (double)(c.t_secure - c.t0) / 1e6;
}

static void bench_start_to_secure(void) {
  const uint64_t tas[2] = {50, 5};
  for (int k = 0; k < 2; k++) {
    double v[7], rs[7];
    for (int i = 0; i < 7; i++) v[i] = uv_start_to_secure(tas[k], &rs[i]);
    double lo = v[0], hi = v[0];
    for (int i = 1; i < 7; i++) {
      if (v[i] < lo) lo = v[i];
      if (v[i] > hi) hi = v[i];
    }
    printf("  Ta %2llu ms: median %.1f ms (min %.1f, max %.1f) from creating both sessions to both SECURE;"
           " %.1f ms from the descriptions to both SECURE\n",
           (unsigned long long)tas[k], median(v, 7), lo, hi, median(rs, 7));
  }
}

/* The same on an aiortc pair (Debian python3-aiortc 1.4, aioice), in the same run: two
 * tests/integration/aiortc/aiortc_peer.py processes cross-wired by the interop harness; each
 * reports connect_ms from starting ICE with the remote description to DTLS-SRTP done, and a
 * run counts the later of the two. Skipped when aiortc or the scripts are not there. */
static void bench_aiortc_pair(void) {
  const char *root = getenv("FIRN_SOURCE_ROOT");
  if (!root) root = ".";
  char cw[1024], peer[1024];
  snprintf(cw, sizeof cw, "%s/tests/integration/harness/crosswire.py", root);
  snprintf(peer, sizeof peer, "%s/tests/integration/aiortc/aiortc_peer.py", root);
  if (access(cw, R_OK) != 0 || access(peer, R_OK) != 0 ||
      system("/usr/bin/python3 -c 'import aiortc' >/dev/null 2>&1") != 0) {
    printf("  aiortc pair: skipped (python3-aiortc or %s not found; run from the source root)\n", cw);
    return;
  }
  enum { runs = 5 };
  double v[runs];
  int n = 0;
  for (int i = 0; i < runs; i++) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 '%s' --quiet --packets 3 --timeout 30 "
             "--a \"/usr/bin/python3 '%s' --offer --ip 127.0.0.1 --packets 3\" "
             "--b \"/usr/bin/python3 '%s' --answer --ip 127.0.0.1 --packets 3\" 2>&1",
             cw, peer, peer);
    FILE *f = popen(cmd, "r");
    if (!f) break;
    char line[4096];
    double worst = -1;
    int sides = 0;
    while (fgets(line, sizeof line, f)) {
      const char *k = strstr(line, "\"connect_ms\": ");
      if ((line[0] == 'A' || line[0] == 'B') && line[1] == ':' && k) {
        double ms = atof(k + strlen("\"connect_ms\": "));
        if (ms > worst) worst = ms;
        sides++;
      }
    }
    if (pclose(f) == 0 && sides == 2) v[n++] = worst;
  }
  if (n == 0) {
    printf("  aiortc pair: no successful run\n");
    return;
  }
  printf("  aiortc pair: median %.1f ms from the descriptions to both DTLS-SRTP done (%d of %d runs)\n",
         median(v, n), n, runs);
}

/* ---------------------------------------------------------------------------------------- */

static const char *crypto_backend(void) {
  static char out[256];
  FILE *f = fopen("/proc/self/maps", "r");
  int nss = 0, libcrypto = 0, gcrypt = 0;
  char line[512];
  while (f && fgets(line, sizeof line, f)) {
    if (strstr(line, "libnss3") || strstr(line, "libfreebl") || strstr(line, "libsoftokn")) nss = 1;
    if (strstr(line, "libcrypto.so")) libcrypto = 1;
    if (strstr(line, "libgcrypt")) gcrypt = 1;
  }
  if (f) fclose(f);
  snprintf(out, sizeof out, "%s%s%s", nss ? "NSS (libnss3 mapped: Debian's libsrtp2 build)" : "",
           !nss && gcrypt ? "libgcrypt" : "", !nss && !gcrypt ? (libcrypto ? "OpenSSL or built-in" : "built-in") : "");
  return out;
}

int main(int argc, char **argv) {
  int only_tp = argc > 1 && !strcmp(argv[1], "--throughput");
  if (argc > 2 && !strcmp(argv[1], "--connect")) { /* connect/free loop, a robustness check */
    int n = atoi(argv[2]);
    for (int i = 0; i < n; i++) {
      side sd[2];
      pair_connect(sd, i % 2 ? FIRN_SRTP_AEAD_AES_128_GCM : FIRN_SRTP_AES128_CM_SHA1_80);
      pair_free(sd);
    }
    printf("%d connections\n", n);
    return 0;
  }
  if (firn_srtp_global_init() < 0) die("srtp_init");
  printf("bench_media: %s; OpenSSL %s\n", firn_srtp_version(), OpenSSL_version(OPENSSL_VERSION));
  printf("SRTP crypto backend (both the firn and the ceiling figures): %s\n", crypto_backend());
  printf("DTLS: OpenSSL for both figures\n\n");
  /* one core: the process is pinned to the CPU it starts on */
  cpu_set_t set, all;
  sched_getaffinity(0, sizeof all, &all);
  CPU_ZERO(&set);
  int cpu = sched_getcpu();
  CPU_SET(cpu < 0 ? 0 : cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) == 0) printf("pinned to CPU %d\n", cpu < 0 ? 0 : cpu);
  printf("== SRTP throughput, send + receive on one core, %d-byte RTP over UDP on 127.0.0.1 "
         "(packets per CPU-second of this thread, user + system; 21 alternating runs of 20000 each)\n", RTP_LEN);
  if (!only_tp) bench_throughput(FIRN_SRTP_AES128_CM_SHA1_80);
  bench_throughput(FIRN_SRTP_AEAD_AES_128_GCM);
  printf("   (target: >= 90 %% of the ceiling)\n\n");
  sched_setaffinity(0, sizeof all, &all); /* the peers below get every CPU again */
  if (only_tp) return 0;
  printf("== DTLS-SRTP handshake cost, in memory, one core (CPU time; median of 9 runs of 50)\n");
  bench_handshake();
  printf("\n== Start to secure on 127.0.0.1: a firn pair with the libuv runtime (median of 7), and an aiortc pair\n");
  bench_start_to_secure();
  bench_aiortc_pair();
  return 0;
}
