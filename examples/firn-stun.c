/* firn-stun: ask a STUN server for our public (mapped) address, or a TURN server for a relayed
 * address, with firn's sans-I/O STUN client driven by libuv.
 *
 *   firn-stun [-v] stun:HOST[:PORT]
 *   firn-stun [-v] --allocate --user USER --pass PASS turn:HOST[:PORT]
 *
 * HOST is a name or an address ([v6] in brackets); PORT defaults to 3478. A Binding request
 * prints the mapped address. --allocate sends a TURN Allocate (REQUESTED-TRANSPORT UDP) with
 * long-term credentials through the server's 401 challenge, prints the relayed and mapped
 * addresses and the lifetime, then releases the allocation with Refresh(LIFETIME 0).
 * Results go to stdout as "key value" lines; diagnostics to stderr.
 * Exit status: 0 success, 1 failure (timeout, error response, rejected credentials), 2 usage.
 *
 * The shape is the one every firn runtime uses: after each event (datagram, timer) call
 * handle_expiry(now), send every datagram poll_transmit() hands out, and arm one timer for
 * expiry(). `now` is uv_hrtime(), taken once per event. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "firn/stun.h"

typedef struct app {
  uv_loop_t *loop;
  uv_udp_t udp;
  uv_timer_t timer;
  uv_getaddrinfo_t resolver;
  firn_stun_client *client;
  firn_stun_auth *auth;
  firn_addr server;
  int allocate;
  int verbose;
  int exit_code;
  int stage;           /* 0 Binding/Allocate, 1 Refresh(0) */
  const char *host;
  char port[8];
} app;

static void usage(void) {
  fprintf(stderr,
          "usage: firn-stun [-v] stun:HOST[:PORT]\n"
          "       firn-stun [-v] --allocate --user USER --pass PASS turn:HOST[:PORT]\n");
  exit(2);
}

static void to_firn(const struct sockaddr *sa, firn_addr *a) {
  memset(a, 0, sizeof *a);
  if (sa->sa_family == AF_INET) {
    struct sockaddr_in s;
    memcpy(&s, sa, sizeof s);
    firn_addr_set_ipv4(a, (const uint8_t *)&s.sin_addr, ntohs(s.sin_port));
  } else if (sa->sa_family == AF_INET6) {
    struct sockaddr_in6 s;
    memcpy(&s, sa, sizeof s);
    firn_addr_set_ipv6(a, s.sin6_addr.s6_addr, ntohs(s.sin6_port));
    a->scope_id = s.sin6_scope_id;
  }
}

static void to_sockaddr(const firn_addr *a, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof *ss);
  if (a->family == FIRN_AF_INET) {
    struct sockaddr_in s;
    memset(&s, 0, sizeof s);
    s.sin_family = AF_INET;
    s.sin_port = htons(a->port);
    memcpy(&s.sin_addr, a->addr, 4);
    memcpy(ss, &s, sizeof s);
  } else {
    struct sockaddr_in6 s;
    memset(&s, 0, sizeof s);
    s.sin6_family = AF_INET6;
    s.sin6_port = htons(a->port);
    s.sin6_scope_id = a->scope_id;
    memcpy(&s.sin6_addr, a->addr, 16);
    memcpy(ss, &s, sizeof s);
  }
}

static void print_addr(const char *key, const firn_addr *a) {
  char s[FIRN_ADDR_STRLEN];
  firn_addr_format(a, 1, s, sizeof s);
  printf("%-8s %s\n", key, s);
}

static void finish(app *a, int code) {
  a->exit_code = code;
  uv_close((uv_handle_t *)&a->udp, NULL);
  uv_close((uv_handle_t *)&a->timer, NULL);
}

static void pump(app *a);

static void on_timer(uv_timer_t *t) { pump(t->data); }

static void pump(app *a) {
  uint64_t now = uv_hrtime();
  firn_stun_client_handle_expiry(a->client, now);
  if (uv_is_closing((uv_handle_t *)&a->udp)) return;
  uint8_t buf[1500];
  firn_addr dest;
  firn_ssize n;
  while ((n = firn_stun_client_poll_transmit(a->client, now, buf, sizeof buf, &dest, NULL)) > 0) {
    struct sockaddr_storage ss;
    to_sockaddr(&dest, &ss);
    uv_buf_t b = uv_buf_init((char *)buf, (unsigned)n);
    int rc = uv_udp_try_send(&a->udp, &b, 1, (const struct sockaddr *)&ss);
    if (rc < 0 && a->verbose) fprintf(stderr, "firn-stun: send: %s\n", uv_strerror(rc));
  }
  uint64_t e = firn_stun_client_expiry(a->client);
  if (e == FIRN_TIME_NEVER) {
    uv_timer_stop(&a->timer);
  } else {
    uint64_t delay = e > now ? (e - now + FIRN_NS_PER_MS - 1) / FIRN_NS_PER_MS : 0;
    uv_timer_start(&a->timer, on_timer, delay, 0);
  }
}

static void start_request(app *a) {
  static const uint8_t transport_udp[8] = {0x00, 0x19, 0x00, 0x04, 17, 0, 0, 0};
  static const uint8_t lifetime_zero[8] = {0x00, 0x0d, 0x00, 0x04, 0, 0, 0, 0};
  firn_stun_request req;
  memset(&req, 0, sizeof req);
  req.dest = a->server;
  req.fingerprint = 1;
  if (!a->allocate) {
    req.method = FIRN_STUN_BINDING;
  } else if (a->stage == 0) {
    req.method = FIRN_STUN_ALLOCATE;
    req.long_term = a->auth;
    req.attrs = transport_udp;
    req.attrs_len = sizeof transport_udp;
  } else {
    req.method = FIRN_STUN_REFRESH;
    req.long_term = a->auth;
    req.attrs = lifetime_zero;
    req.attrs_len = sizeof lifetime_zero;
  }
  uint64_t id;
  int rc = firn_stun_client_start(a->client, &req, uv_hrtime(), &id);
  if (rc < 0) {
    fprintf(stderr, "firn-stun: %s\n", firn_strerror(rc));
    finish(a, 1);
  }
}

static void on_result(void *user, const firn_stun_result *r) {
  app *a = user;
  if (r->status != FIRN_OK) {
    fprintf(stderr, "firn-stun: %s", firn_strerror(r->status));
    if (r->error_code && r->response) {
      const char *reason = NULL;
      size_t len = 0;
      int code = 0;
      firn_stun_msg_get_error(r->response, &code, &reason, &len);
      fprintf(stderr, ": %d %.*s", r->error_code, (int)len, reason ? reason : "");
    } else if (r->error_code) {
      fprintf(stderr, ": %d", r->error_code);
    }
    fprintf(stderr, "\n");
    finish(a, 1);
    return;
  }
  if (a->stage == 0) {
    firn_addr m;
    uint32_t lifetime;
    print_addr("server", &a->server);
    if (a->allocate &&
        firn_stun_msg_get_xor_addr(r->response, FIRN_STUN_ATTR_XOR_RELAYED_ADDRESS, 0, &m) == FIRN_OK)
      print_addr("relayed", &m);
    if (firn_stun_msg_get_xor_addr(r->response, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, 0, &m) == FIRN_OK ||
        firn_stun_msg_get_addr(r->response, FIRN_STUN_ATTR_MAPPED_ADDRESS, &m) == FIRN_OK)
      print_addr("mapped", &m);
    else
      fprintf(stderr, "firn-stun: the response carries no mapped address\n");
    if (a->allocate && firn_stun_msg_get_u32(r->response, FIRN_STUN_ATTR_LIFETIME, &lifetime) == FIRN_OK)
      printf("%-8s %u s\n", "lifetime", lifetime);
    printf("%-8s %.1f ms (%u transmission%s)\n", "rtt", (double)r->rtt_ns / 1e6, r->transmissions,
           r->transmissions == 1 ? "" : "s");
    fflush(stdout);
    if (a->allocate) {
      a->stage = 1; /* release the allocation; safe to start from inside the callback */
      start_request(a);
      return;
    }
    finish(a, 0);
  } else {
    printf("%-8s yes\n", "released");
    finish(a, 0);
  }
}

static void on_log(void *user, firn_log_level level, const char *module, const char *msg) {
  (void)user;
  (void)level;
  fprintf(stderr, "[%s] %s\n", module, msg);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  static char slab[65536];
  *buf = uv_buf_init(slab, sizeof slab);
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *from,
                    unsigned flags) {
  (void)flags;
  app *a = h->data;
  if (nread <= 0 || !from) return;
  firn_addr src;
  to_firn(from, &src);
  int rc = firn_stun_client_handle_response(a->client, (const uint8_t *)buf->base, (size_t)nread, &src,
                                            uv_hrtime());
  if (rc < 0 && a->verbose) fprintf(stderr, "firn-stun: datagram dropped: %s\n", firn_strerror(rc));
  if (!uv_is_closing((uv_handle_t *)&a->udp)) pump(a);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  app *a = req->data;
  if (status < 0 || !res) {
    fprintf(stderr, "firn-stun: cannot resolve %s: %s\n", a->host, uv_strerror(status));
    a->exit_code = 1;
    uv_close((uv_handle_t *)&a->timer, NULL);
    return;
  }
  to_firn(res->ai_addr, &a->server);
  uv_freeaddrinfo(res);

  uv_udp_init(a->loop, &a->udp);
  a->udp.data = a;
  struct sockaddr_storage any;
  firn_addr wildcard;
  memset(&wildcard, 0, sizeof wildcard);
  wildcard.family = a->server.family;
  to_sockaddr(&wildcard, &any);
  int rc = uv_udp_bind(&a->udp, (const struct sockaddr *)&any, 0);
  if (rc == 0) rc = uv_udp_recv_start(&a->udp, on_alloc, on_recv);
  if (rc < 0) {
    fprintf(stderr, "firn-stun: socket: %s\n", uv_strerror(rc));
    finish(a, 1);
    return;
  }
  start_request(a);
  if (!uv_is_closing((uv_handle_t *)&a->udp)) pump(a);
}

/* "stun:HOST[:PORT]" / "turn:..." / "turns:..." (RFC 7064/7065); a query part is ignored. */
static void parse_uri(app *a, char *uri) {
  char *p = uri;
  if (strncmp(p, "stun:", 5) == 0) p += 5;
  else if (strncmp(p, "stuns:", 6) == 0 || strncmp(p, "turns:", 6) == 0) {
    fprintf(stderr, "firn-stun: TLS is not supported yet\n");
    exit(2);
  } else if (strncmp(p, "turn:", 5) == 0) p += 5;
  else usage();
  char *q = strchr(p, '?');
  if (q) *q = 0;
  const char *port = "3478";
  if (*p == '[') {
    char *end = strchr(p, ']');
    if (!end) usage();
    *end = 0;
    a->host = p + 1;
    if (end[1] == ':') port = end + 2;
    else if (end[1]) usage();
  } else {
    char *colon = strrchr(p, ':');
    if (colon) {
      *colon = 0;
      port = colon + 1;
    }
    a->host = p;
  }
  char *endp;
  long v = strtol(port, &endp, 10);
  if (!*a->host || *endp || v <= 0 || v > 65535) usage();
  snprintf(a->port, sizeof a->port, "%ld", v);
}

int main(int argc, char **argv) {
  app a;
  memset(&a, 0, sizeof a);
  const char *user = NULL, *pass = NULL;
  char *uri = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--user") == 0 && i + 1 < argc) user = argv[++i];
    else if (strcmp(argv[i], "--pass") == 0 && i + 1 < argc) pass = argv[++i];
    else if (strcmp(argv[i], "--allocate") == 0) a.allocate = 1;
    else if (strcmp(argv[i], "-v") == 0) a.verbose = 1;
    else if (argv[i][0] != '-' && !uri) uri = argv[i];
    else usage();
  }
  if (!uri || (!user) != (!pass)) usage();
  if (a.allocate && !user) {
    fprintf(stderr, "firn-stun: --allocate needs --user and --pass\n");
    return 2;
  }
  if (!a.allocate && user)
    fprintf(stderr, "firn-stun: note: Binding requests are sent without credentials; "
                    "--user/--pass are used with --allocate\n");
  parse_uri(&a, uri);

  firn_stun_client_settings s;
  firn_stun_client_settings_default(&s);
  s.software = "firn-stun";
  s.on_result = on_result;
  s.user = &a;
  if (a.verbose) {
    s.log = on_log;
    s.log_level = FIRN_LOG_TRACE;
  }
  int rc = firn_stun_client_new(&a.client, &s);
  if (rc == 0 && user) rc = firn_stun_auth_new(&a.auth, NULL, user, pass);
  if (rc < 0) {
    fprintf(stderr, "firn-stun: %s\n", firn_strerror(rc));
    return 1;
  }

  a.loop = uv_default_loop();
  uv_timer_init(a.loop, &a.timer);
  a.timer.data = &a;
  a.resolver.data = &a;
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  rc = uv_getaddrinfo(a.loop, &a.resolver, on_resolved, a.host, a.port, &hints);
  if (rc < 0) {
    fprintf(stderr, "firn-stun: cannot resolve %s: %s\n", a.host, uv_strerror(rc));
    uv_close((uv_handle_t *)&a.timer, NULL);
    a.exit_code = 1;
  }
  uv_run(a.loop, UV_RUN_DEFAULT);
  firn_stun_client_free(a.client);
  firn_stun_auth_free(a.auth);
  uv_loop_close(a.loop);
  return a.exit_code;
}
