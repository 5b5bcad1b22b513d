/* The libuv runtime: sockets, interfaces, DNS and one timer around a sans-I/O firn agent.
 *
 * Flow: every libuv event (datagram, TCP bytes, timer, DNS answer) takes one `now` from
 * uv_hrtime(), feeds the core, then flush(): drain poll_transmit() onto the sockets and
 * re-arm the single timer at the core's expiry. The core may call back into the
 * application from inside those calls; if the application closes the agent there, the
 * core is destroyed (deferred by the core itself) and `ua->core` becomes NULL, which every
 * path below checks after calling into the core. */
#include "firn/uv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/log.h"
#include "uv/uv_internal.h"

#define RX_BUF_SIZE 65536
#define TX_BUF_SIZE 65536
#define MAX_SERVERS 16

typedef struct uv_sock {
  uv_udp_t h;
  struct firn_uv_agent *ua;
  firn_addr bound;
  struct uv_sock *next;
} uv_sock;

typedef struct uv_listener {
  uv_tcp_t h;
  struct firn_uv_agent *ua;
  firn_addr bound;
  struct uv_listener *next;
} uv_listener;

typedef struct uv_conn {
  uv_tcp_t h;
  uv_connect_t connect_req;
  struct firn_uv_agent *ua;
  uint32_t conn;      /* the core's handle */
  int connected;
  int closing;
  struct uv_conn *next;
} uv_conn;

typedef struct dns_req {
  uv_getaddrinfo_t req;
  struct firn_uv_agent *ua;
  firn_server_uri uri;
  char *username, *password;
} dns_req;

struct firn_uv_agent {
  uv_loop_t *loop;
  firn_agent *core;
  firn_session *sess;         /* set when the runtime drives a media session around `core` */
  firn_uv_settings settings;
  firn_agent_callbacks app_cb;
  void *app_user;
  firn_allocator alloc;
  firn_logger log;
  uv_timer_t timer;
  uv_sock *socks;
  uv_listener *listeners;
  uv_conn *conns;
  unsigned pending_dns;
  int gather_requested;
  int gather_started;
  int closing;
  int in_close;
  int quiet_close;            /* close without telling the core (a constructor failed) */
  unsigned open_handles;      /* handles not yet closed (timer, sockets, conns, listeners) */
  void (*close_cb)(void *arg);
  void *close_arg;
  /* copies of the settings' string lists and TLS trust settings */
  char **ips, **allow, **deny;
  char *tls_ca_file, *tls_ca_dir;
};

/* Datagram buffers, one set per thread and shared by every agent on that thread's loop:
 * libuv hands a received datagram to the read callback synchronously, the core consumes it
 * before returning, and nothing keeps pointers into these buffers. Keeping them out of the
 * agent saves 128 KiB of heap and RSS per agent. t_tx holds one datagram from poll_transmit
 * between the poll and the send; t_tx_app serves firn_uv_agent_send(), which an
 * application may call from a callback while a flush is running. */
static _Thread_local uint8_t t_rx[RX_BUF_SIZE];
static _Thread_local uint8_t t_tx[TX_BUF_SIZE];
static _Thread_local uint8_t t_tx_app[TX_BUF_SIZE];
static _Thread_local int t_flushing; /* a flush() is running on this thread */

uint64_t firn_uv_now(void) { return uv_hrtime(); }

void firn_uv_settings_default(firn_uv_settings *s) {
  memset(s, 0, sizeof *s);
  s->size = sizeof *s;
  firn_agent_settings_default(&s->agent);
  s->ipv4 = 1;
  s->ipv6 = 1;
  s->udp = 1;
}

static void flush(firn_uv_agent *ua);
static void maybe_free(firn_uv_agent *ua);

/* The core entry points, through the session when there is one (so the session sees every
 * input and may defer its own destruction from inside callbacks). */
static int core_datagram(firn_uv_agent *ua, const firn_path *p, const uint8_t *d, size_t n, uint64_t now) {
  return ua->sess ? firn_session_handle_datagram(ua->sess, p, d, n, now)
                  : firn_agent_handle_datagram(ua->core, p, d, n, now);
}
static int core_stream(firn_uv_agent *ua, uint32_t conn, const uint8_t *d, size_t n, uint64_t now) {
  return ua->sess ? firn_session_handle_stream(ua->sess, conn, d, n, now)
                  : firn_agent_handle_stream(ua->core, conn, d, n, now);
}
static int core_tcp_connected(firn_uv_agent *ua, uint32_t conn, int ok, uint64_t now) {
  return ua->sess ? firn_session_tcp_connected(ua->sess, conn, ok, now)
                  : firn_agent_tcp_connected(ua->core, conn, ok, now);
}
static int core_tcp_accepted(firn_uv_agent *ua, const firn_addr *l, const firn_addr *r, uint32_t *conn,
                             uint64_t now) {
  return ua->sess ? firn_session_tcp_accepted(ua->sess, l, r, conn, now)
                  : firn_agent_tcp_accepted(ua->core, l, r, conn, now);
}
static int core_tcp_closed(firn_uv_agent *ua, uint32_t conn, uint64_t now) {
  return ua->sess ? firn_session_tcp_closed(ua->sess, conn, now) : firn_agent_tcp_closed(ua->core, conn, now);
}
static firn_ssize core_poll(firn_uv_agent *ua, uint64_t now, uint8_t *buf, size_t cap, firn_path *p) {
  return ua->sess ? firn_session_poll_transmit(ua->sess, now, buf, cap, p)
                  : firn_agent_poll_transmit(ua->core, now, buf, cap, p);
}
static uint64_t core_expiry(firn_uv_agent *ua) {
  return ua->sess ? firn_session_expiry(ua->sess) : firn_agent_expiry(ua->core);
}
static int core_handle_expiry(firn_uv_agent *ua, uint64_t now) {
  return ua->sess ? firn_session_handle_expiry(ua->sess, now) : firn_agent_handle_expiry(ua->core, now);
}
static int core_gather(firn_uv_agent *ua, uint64_t now) {
  return ua->sess ? firn_session_gather(ua->sess, now) : firn_agent_gather(ua->core, now);
}

/* ---------------------------------------------------------------------------------------- */
/* callbacks from the core, forwarded to the application                                     */

static void cb_candidate(void *user, unsigned stream, const firn_candidate *c) {
  firn_uv_agent *ua = user;
  if (ua->app_cb.on_candidate) ua->app_cb.on_candidate(ua->app_user, stream, c);
}
static void cb_gathering_done(void *user, unsigned stream) {
  firn_uv_agent *ua = user;
  if (ua->app_cb.on_gathering_done) ua->app_cb.on_gathering_done(ua->app_user, stream);
}
static void cb_state(void *user, unsigned stream, firn_ice_state st) {
  firn_uv_agent *ua = user;
  if (ua->app_cb.on_state) ua->app_cb.on_state(ua->app_user, stream, st);
}
static void cb_selected(void *user, unsigned stream, unsigned comp, const firn_candidate *l,
                        const firn_candidate *r) {
  firn_uv_agent *ua = user;
  if (ua->app_cb.on_selected_pair) ua->app_cb.on_selected_pair(ua->app_user, stream, comp, l, r);
}
static void cb_data(void *user, unsigned stream, unsigned comp, const uint8_t *d, size_t n,
                    const firn_path *p, uint64_t now) {
  firn_uv_agent *ua = user;
  if (ua->app_cb.on_data) ua->app_cb.on_data(ua->app_user, stream, comp, d, n, p, now);
}

/* ---------------------------------------------------------------------------------------- */
/* TCP (ICE-TCP): connections the core asks for, and accepted ones                           */

static uv_conn *find_conn(firn_uv_agent *ua, uint32_t id) {
  for (uv_conn *c = ua->conns; c; c = c->next)
    if (c->conn == id && !c->closing) return c;
  return NULL;
}

static void on_handle_closed(uv_handle_t *h) {
  firn_uv_agent *ua = h->data;
  ua->open_handles--;
  maybe_free(ua);
}

static void conn_closed(uv_handle_t *h) {
  uv_conn *c = (uv_conn *)h;
  firn_uv_agent *ua = c->ua;
  for (uv_conn **pp = &ua->conns; *pp; pp = &(*pp)->next)
    if (*pp == c) { *pp = c->next; break; }
  firn_free(&ua->alloc, c);
  ua->open_handles--;
  maybe_free(ua);
}

static void conn_close(uv_conn *c, int tell_core) {
  if (c->closing) return;
  c->closing = 1;
  firn_uv_agent *ua = c->ua;
  if (tell_core && ua->core) {
    core_tcp_closed(ua, c->conn, firn_uv_now());
  }
  uv_close((uv_handle_t *)&c->h, conn_closed);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  (void)h;
  buf->base = (char *)t_rx;
  buf->len = sizeof t_rx;
}

static void conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  uv_conn *c = (uv_conn *)s;
  firn_uv_agent *ua = c->ua;
  if (nread > 0 && ua->core) {
    core_stream(ua, c->conn, (const uint8_t *)buf->base, (size_t)nread, firn_uv_now());
    flush(ua);
  } else if (nread < 0) {
    firn_log(&ua->log, FIRN_LOG_DEBUG, "uv", "tcp conn %u closed: %s", c->conn, uv_strerror((int)nread));
    conn_close(c, 1);
    flush(ua);
  }
}

static void conn_connected(uv_connect_t *req, int status) {
  uv_conn *c = req->data;
  firn_uv_agent *ua = c->ua;
  if (c->closing) return;
  if (status < 0) {
    firn_log(&ua->log, FIRN_LOG_DEBUG, "uv", "tcp connect %u failed: %s", c->conn, uv_strerror(status));
    if (ua->core) core_tcp_connected(ua, c->conn, 0, firn_uv_now());
    conn_close(c, 0);
    flush(ua);
    return;
  }
  c->connected = 1;
  uv_read_start((uv_stream_t *)&c->h, alloc_cb, conn_read);
  if (ua->core) core_tcp_connected(ua, c->conn, 1, firn_uv_now());
  flush(ua);
}

static uv_conn *conn_new(firn_uv_agent *ua) {
  uv_conn *c = firn_calloc(&ua->alloc, 1, sizeof *c);
  if (!c) return NULL;
  c->ua = ua;
  if (uv_tcp_init(ua->loop, &c->h) < 0) {
    firn_free(&ua->alloc, c);
    return NULL;
  }
  c->h.data = ua;
  ua->open_handles++;
  c->next = ua->conns;
  ua->conns = c;
  return c;
}

static void cb_tcp_connect(void *user, const firn_path *p) {
  firn_uv_agent *ua = user;
  uv_conn *c = conn_new(ua);
  int rc = c ? 0 : UV_ENOMEM;
  if (c) {
    c->conn = p->conn;
    struct sockaddr_storage local, remote;
    firn_addr l = p->local;
    l.port = 0; /* active candidates connect from an ephemeral port (RFC 6544 4.5) */
    firn_uv_to_sockaddr(&l, &local);
    firn_uv_to_sockaddr(&p->remote, &remote);
    rc = uv_tcp_bind(&c->h, (struct sockaddr *)&local, 0);
    if (rc == 0) {
      c->connect_req.data = c;
      rc = uv_tcp_connect(&c->connect_req, &c->h, (struct sockaddr *)&remote, conn_connected);
    }
    if (rc < 0) conn_close(c, 0);
  }
  if (rc < 0) {
    firn_log(&ua->log, FIRN_LOG_DEBUG, "uv", "tcp connect request failed: %s", uv_strerror(rc));
    /* tell the core asynchronously would be nicer; it tolerates a synchronous failure */
    if (ua->core) core_tcp_connected(ua, p->conn, 0, firn_uv_now());
  }
}

static void cb_tcp_close(void *user, uint32_t conn) {
  firn_uv_agent *ua = user;
  uv_conn *c = find_conn(ua, conn);
  if (c) conn_close(c, 0);
}

static void on_accept(uv_stream_t *server, int status) {
  uv_listener *l = (uv_listener *)server;
  firn_uv_agent *ua = l->ua;
  if (status < 0 || ua->closing) return;
  uv_conn *c = conn_new(ua);
  if (!c) return;
  if (uv_accept(server, (uv_stream_t *)&c->h) < 0) {
    conn_close(c, 0);
    return;
  }
  struct sockaddr_storage ss;
  int len = sizeof ss;
  firn_addr remote;
  if (uv_tcp_getpeername(&c->h, (struct sockaddr *)&ss, &len) < 0 ||
      firn_uv_from_sockaddr(&remote, (struct sockaddr *)&ss) < 0 || !ua->core ||
      core_tcp_accepted(ua, &l->bound, &remote, &c->conn, firn_uv_now()) < 0) {
    conn_close(c, 0);
    return;
  }
  c->connected = 1;
  uv_read_start((uv_stream_t *)&c->h, alloc_cb, conn_read);
  flush(ua);
}

/* ---------------------------------------------------------------------------------------- */
/* sending                                                                                   */

typedef struct send_req {
  union { uv_udp_send_t udp; uv_write_t tcp; } r;
  firn_allocator alloc;
  uint8_t data[];
} send_req;

static void udp_sent(uv_udp_send_t *r, int status) {
  (void)status;
  send_req *sr = (send_req *)r;
  firn_allocator a = sr->alloc;
  firn_free(&a, sr);
}
static void tcp_written(uv_write_t *r, int status) {
  (void)status;
  send_req *sr = (send_req *)r;
  firn_allocator a = sr->alloc;
  firn_free(&a, sr);
}

static uv_sock *find_sock(firn_uv_agent *ua, const firn_addr *local) {
  for (uv_sock *s = ua->socks; s; s = s->next)
    if (firn_addr_equal(&s->bound, local)) return s;
  return NULL;
}

static int send_path(firn_uv_agent *ua, const firn_path *p, const uint8_t *data, size_t len) {
  if (p->transport == FIRN_TRANSPORT_UDP) {
    uv_sock *s = find_sock(ua, &p->local);
    if (!s) return FIRN_ERR_NOT_FOUND;
    struct sockaddr_storage ss;
    if (!firn_uv_to_sockaddr(&p->remote, &ss)) return FIRN_ERR_INVALID_ARG;
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    int rc = uv_udp_try_send(&s->h, &b, 1, (struct sockaddr *)&ss);
    if (rc >= 0) return FIRN_OK;
    if (rc != UV_EAGAIN) {
      firn_log(&ua->log, FIRN_LOG_DEBUG, "uv", "udp send failed: %s", uv_strerror(rc));
      return FIRN_ERR_IO;
    }
    send_req *sr = firn_malloc(&ua->alloc, sizeof *sr + len);
    if (!sr) return FIRN_ERR_NOMEM;
    sr->alloc = ua->alloc;
    memcpy(sr->data, data, len);
    b = uv_buf_init((char *)sr->data, (unsigned)len);
    rc = uv_udp_send(&sr->r.udp, &s->h, &b, 1, (struct sockaddr *)&ss, udp_sent);
    if (rc < 0) {
      firn_free(&ua->alloc, sr);
      return FIRN_ERR_IO;
    }
    return FIRN_OK;
  }
  uv_conn *c = find_conn(ua, p->conn);
  if (!c || !c->connected) return FIRN_ERR_NOT_FOUND;
  send_req *sr = firn_malloc(&ua->alloc, sizeof *sr + len);
  if (!sr) return FIRN_ERR_NOMEM;
  sr->alloc = ua->alloc;
  memcpy(sr->data, data, len);
  uv_buf_t b = uv_buf_init((char *)sr->data, (unsigned)len);
  int rc = uv_write(&sr->r.tcp, (uv_stream_t *)&c->h, &b, 1, tcp_written);
  if (rc < 0) {
    firn_free(&ua->alloc, sr);
    return FIRN_ERR_IO;
  }
  return FIRN_OK;
}

static void on_timer(uv_timer_t *t) {
  firn_uv_agent *ua = t->data;
  if (!ua->core) return;
  core_handle_expiry(ua, firn_uv_now());
  flush(ua);
}

static void flush(firn_uv_agent *ua) {
  if (!ua->core || ua->closing) return;
  if (t_flushing) {
    /* Called from a callback inside another flush's poll: t_tx may hold that flush's
     * datagram. Flush on the next loop iteration instead (the timer runs flush()). */
    uv_timer_start(&ua->timer, on_timer, 0, 0);
    return;
  }
  uint64_t now = firn_uv_now();
  t_flushing = 1;
  for (int guard = 0; guard < 100000; guard++) {
    firn_path p;
    firn_ssize n = core_poll(ua, now, t_tx, sizeof t_tx, &p);
    if (n < 0) break;
    send_path(ua, &p, t_tx, (size_t)n);
    if (!ua->core) break;
  }
  t_flushing = 0;
  if (!ua->core) return;
  uint64_t exp = core_expiry(ua);
  if (exp == FIRN_TIME_NEVER) {
    uv_timer_stop(&ua->timer);
    return;
  }
  uint64_t delay_ms = exp <= now ? 0 : (exp - now + FIRN_NS_PER_MS - 1) / FIRN_NS_PER_MS;
  uv_update_time(ua->loop);
  uv_timer_start(&ua->timer, on_timer, delay_ms, 0);
}

void firn_uv_agent_update(firn_uv_agent *ua) {
  if (ua) flush(ua);
}

/* ---------------------------------------------------------------------------------------- */
/* UDP sockets                                                                               */

static void udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                     unsigned flags) {
  uv_sock *s = (uv_sock *)h;
  firn_uv_agent *ua = s->ua;
  if (nread <= 0 || !addr || !ua->core) return;
  if (flags & UV_UDP_PARTIAL) return; /* truncated: drop */
  firn_path p;
  memset(&p, 0, sizeof p);
  p.local = s->bound;
  if (firn_uv_from_sockaddr(&p.remote, addr) < 0) return;
  p.transport = FIRN_TRANSPORT_UDP;
  core_datagram(ua, &p, (const uint8_t *)buf->base, (size_t)nread, firn_uv_now());
  flush(ua);
}

static int bind_udp(firn_uv_agent *ua, const firn_addr *ip, uv_sock **out) {
  uv_sock *s = firn_calloc(&ua->alloc, 1, sizeof *s);
  if (!s) return FIRN_ERR_NOMEM;
  s->ua = ua;
  int rc = uv_udp_init(ua->loop, &s->h);
  if (rc < 0) {
    firn_free(&ua->alloc, s);
    return FIRN_ERR_IO;
  }
  s->h.data = ua;
  ua->open_handles++;
  s->next = ua->socks;
  ua->socks = s;
  firn_addr a = *ip;
  unsigned flags = ip->family == FIRN_AF_INET6 ? UV_UDP_IPV6ONLY : 0;
  uint16_t lo = ua->settings.port_min, hi = ua->settings.port_max;
  rc = UV_EADDRINUSE;
  if (lo && hi >= lo) {
    for (uint32_t port = lo; port <= hi && rc < 0; port++) {
      a.port = (uint16_t)port;
      struct sockaddr_storage ss;
      firn_uv_to_sockaddr(&a, &ss);
      rc = uv_udp_bind(&s->h, (struct sockaddr *)&ss, flags);
    }
  } else {
    a.port = 0;
    struct sockaddr_storage ss;
    firn_uv_to_sockaddr(&a, &ss);
    rc = uv_udp_bind(&s->h, (struct sockaddr *)&ss, flags);
  }
  if (rc < 0) {
    firn_log(&ua->log, FIRN_LOG_WARN, "uv", "cannot bind UDP socket: %s", uv_strerror(rc));
    return FIRN_ERR_IO; /* the handle stays in the list and is closed with the agent */
  }
  struct sockaddr_storage ss;
  int len = sizeof ss;
  uv_udp_getsockname(&s->h, (struct sockaddr *)&ss, &len);
  firn_uv_from_sockaddr(&s->bound, (struct sockaddr *)&ss);
  s->bound.scope_id = ip->scope_id;
  rc = uv_udp_recv_start(&s->h, alloc_cb, udp_recv);
  if (rc < 0) return FIRN_ERR_IO;
  *out = s;
  return FIRN_OK;
}

static int bind_tcp_listener(firn_uv_agent *ua, const firn_addr *ip, uv_listener **out) {
  uv_listener *l = firn_calloc(&ua->alloc, 1, sizeof *l);
  if (!l) return FIRN_ERR_NOMEM;
  l->ua = ua;
  if (uv_tcp_init(ua->loop, &l->h) < 0) {
    firn_free(&ua->alloc, l);
    return FIRN_ERR_IO;
  }
  l->h.data = ua;
  ua->open_handles++;
  l->next = ua->listeners;
  ua->listeners = l;
  firn_addr a = *ip;
  a.port = 0;
  struct sockaddr_storage ss;
  firn_uv_to_sockaddr(&a, &ss);
  int rc = uv_tcp_bind(&l->h, (struct sockaddr *)&ss, ip->family == FIRN_AF_INET6 ? UV_TCP_IPV6ONLY : 0);
  if (rc == 0) rc = uv_listen((uv_stream_t *)&l->h, 16, on_accept);
  if (rc < 0) {
    firn_log(&ua->log, FIRN_LOG_WARN, "uv", "cannot listen on TCP: %s", uv_strerror(rc));
    return FIRN_ERR_IO;
  }
  int len = sizeof ss;
  uv_tcp_getsockname(&l->h, (struct sockaddr *)&ss, &len);
  firn_uv_from_sockaddr(&l->bound, (struct sockaddr *)&ss);
  l->bound.scope_id = ip->scope_id;
  *out = l;
  return FIRN_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* interfaces                                                                                */

static int in_list(char **list, const char *name) {
  if (!list) return 0;
  for (size_t i = 0; list[i]; i++)
    if (name && !strcmp(list[i], name)) return 1;
  return 0;
}

typedef struct local_ip {
  firn_addr addr;
  char ifname[64];
  uint32_t ifindex;
} local_ip;

/* The addresses to gather on, into `out` (at most `max`); returns the count or an error. */
static int select_addresses(firn_uv_agent *ua, local_ip *out, int max) {
  uv_interface_address_t *ifs = NULL;
  int n_ifs = 0;
  if (uv_interface_addresses(&ifs, &n_ifs) < 0) n_ifs = 0;
  int n = 0;
  if (ua->ips) {
    for (size_t i = 0; ua->ips[i] && n < max; i++) {
      firn_addr want;
      if (firn_addr_parse(&want, ua->ips[i], 0) < 0) continue;
      local_ip *li = &out[n];
      memset(li, 0, sizeof *li);
      li->addr = want;
      for (int k = 0; k < n_ifs; k++) {
        firn_addr a;
        if (firn_uv_from_sockaddr(&a, (struct sockaddr *)&ifs[k].address.address4) < 0) continue;
        if (firn_addr_equal_ip(&a, &want)) {
          snprintf(li->ifname, sizeof li->ifname, "%s", ifs[k].name);
          if (a.family == FIRN_AF_INET6 && firn_addr_is_link_local(&a) && !li->addr.scope_id)
            li->addr.scope_id = a.scope_id;
          break;
        }
      }
      n++;
    }
  } else {
    for (int k = 0; k < n_ifs && n < max; k++) {
      firn_addr a;
      if (firn_uv_from_sockaddr(&a, (struct sockaddr *)&ifs[k].address.address4) < 0) continue;
      if (ifs[k].is_internal && !ua->settings.include_loopback) continue;
      if (a.family == FIRN_AF_INET && !ua->settings.ipv4) continue;
      if (a.family == FIRN_AF_INET6 && !ua->settings.ipv6) continue;
      if (firn_addr_is_link_local(&a) && a.family == FIRN_AF_INET6 && !ua->settings.include_link_local)
        continue;
      if (firn_addr_is_v4mapped(&a)) continue;
      if (ua->allow && !in_list(ua->allow, ifs[k].name)) continue;
      if (in_list(ua->deny, ifs[k].name)) continue;
      local_ip *li = &out[n];
      memset(li, 0, sizeof *li);
      li->addr = a;
      li->addr.port = 0;
      snprintf(li->ifname, sizeof li->ifname, "%s", ifs[k].name);
      n++;
    }
  }
  if (ifs) uv_free_interface_addresses(ifs, n_ifs);
  return n;
}

/* Bind the sockets of an existing stream's components and add them to the core. */
static int bind_stream(firn_uv_agent *ua, unsigned sid, unsigned components) {
  local_ip ips[32];
  int n = select_addresses(ua, ips, 32);
  int added = 0;
  uint64_t now = firn_uv_now();
  for (int i = 0; i < n; i++) {
    for (unsigned comp = 1; comp <= components; comp++) {
      firn_local_address la;
      memset(&la, 0, sizeof la);
      la.ifname = ips[i].ifname[0] ? ips[i].ifname : NULL;
      la.ifindex = ips[i].ifindex;
      if (ua->settings.udp) {
        uv_sock *s = NULL;
        if (bind_udp(ua, &ips[i].addr, &s) == FIRN_OK) {
          la.addr = s->bound;
          la.transport = FIRN_TRANSPORT_UDP;
          if (firn_agent_add_local_address(ua->core, sid, comp, &la, now) == FIRN_OK) added++;
          if (!ua->core) return FIRN_ERR_CLOSED;
        }
      }
      if (ua->settings.tcp) {
        uv_listener *l = NULL;
        if (bind_tcp_listener(ua, &ips[i].addr, &l) == FIRN_OK) {
          la.addr = l->bound;
          la.transport = FIRN_TRANSPORT_TCP;
          if (firn_agent_add_local_address(ua->core, sid, comp, &la, now) == FIRN_OK) added++;
          if (!ua->core) return FIRN_ERR_CLOSED;
        }
      }
    }
  }
  return added ? FIRN_OK : FIRN_ERR_IO;
}

int firn_uv_agent_add_stream(firn_uv_agent *ua, unsigned components, unsigned *stream) {
  if (!ua || !ua->core || ua->closing) return FIRN_ERR_INVALID_ARG;
  if (ua->sess) return FIRN_ERR_STATE; /* a session has its one stream */
  unsigned sid;
  int rc = firn_agent_add_stream(ua->core, components, &sid);
  if (rc < 0) return rc;
  rc = bind_stream(ua, sid, components);
  if (rc == FIRN_ERR_CLOSED) return rc;
  if (stream) *stream = sid;
  flush(ua);
  return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* servers and DNS                                                                           */

static char *dupstr(firn_uv_agent *ua, const char *s) {
  if (!s) return NULL;
  return firn_memdup(&ua->alloc, s, strlen(s) + 1);
}

static void start_gather_if_ready(firn_uv_agent *ua) {
  if (!ua->core || !ua->gather_requested || ua->gather_started || ua->pending_dns) return;
  ua->gather_started = 1;
  core_gather(ua, firn_uv_now());
  flush(ua);
}

static int add_resolved(firn_uv_agent *ua, const firn_server_uri *uri, const firn_addr *a,
                        const char *user, const char *pass) {
  firn_ice_server srv;
  memset(&srv, 0, sizeof srv);
  srv.addr = *a;
  srv.addr.port = uri->port;
  srv.transport = uri->transport;
  srv.turn = uri->turn;
  srv.username = user;
  srv.password = pass;
  srv.server_name = uri->host;
  srv.tls_ca_file = ua->tls_ca_file;
  srv.tls_ca_dir = ua->tls_ca_dir;
  srv.tls_insecure = ua->settings.tls_insecure;
  int rc = firn_agent_add_server(ua->core, &srv);
  if (rc < 0)
    firn_log(&ua->log, FIRN_LOG_WARN, "uv", "server %s not added: %s", uri->host, firn_strerror(rc));
  return rc;
}

static void dns_done(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  dns_req *d = (dns_req *)req;
  firn_uv_agent *ua = d->ua;
  ua->pending_dns--;
  if (status < 0) {
    if (status != UV_ECANCELED)
      firn_log(&ua->log, FIRN_LOG_WARN, "uv", "cannot resolve %s: %s", d->uri.host, uv_strerror(status));
  } else if (ua->core && !ua->closing) {
    int have4 = 0, have6 = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
      firn_addr a;
      if (firn_uv_from_sockaddr(&a, ai->ai_addr) < 0) continue;
      if ((a.family == FIRN_AF_INET && have4) || (a.family == FIRN_AF_INET6 && have6)) continue;
      if (a.family == FIRN_AF_INET) have4 = 1; else have6 = 1;
      add_resolved(ua, &d->uri, &a, d->username, d->password);
    }
  }
  if (res) uv_freeaddrinfo(res);
  if (d->password) firn_wipe(d->password, strlen(d->password));
  firn_free(&ua->alloc, d->username);
  firn_free(&ua->alloc, d->password);
  firn_free(&ua->alloc, d);
  if (ua->closing) maybe_free(ua);
  else start_gather_if_ready(ua);
}

int firn_uv_agent_add_server(firn_uv_agent *ua, const char *uri, const char *username,
                             const char *password) {
  if (!ua || !ua->core || ua->closing || !uri) return FIRN_ERR_INVALID_ARG;
  if (ua->gather_started) return FIRN_ERR_STATE;
  firn_server_uri u;
  int rc = firn_server_uri_parse(&u, uri);
  if (rc < 0) return rc;
  if (u.turn && (!username || !password)) return FIRN_ERR_INVALID_ARG;
  firn_addr a;
  if (firn_addr_parse(&a, u.host, u.port) == FIRN_OK) {
    return add_resolved(ua, &u, &a, username, password); /* e.g. FIRN_ERR_UNSUPPORTED */
  }
  dns_req *d = firn_calloc(&ua->alloc, 1, sizeof *d);
  if (!d) return FIRN_ERR_NOMEM;
  d->ua = ua;
  d->uri = u;
  d->username = dupstr(ua, username);
  d->password = dupstr(ua, password);
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = u.transport == FIRN_TRANSPORT_UDP ? SOCK_DGRAM : SOCK_STREAM;
  rc = uv_getaddrinfo(ua->loop, &d->req, dns_done, u.host, NULL, &hints);
  if (rc < 0) {
    firn_free(&ua->alloc, d->username);
    firn_free(&ua->alloc, d->password);
    firn_free(&ua->alloc, d);
    return FIRN_ERR_IO;
  }
  ua->pending_dns++;
  return FIRN_OK;
}

int firn_uv_agent_gather(firn_uv_agent *ua) {
  if (!ua || !ua->core || ua->closing) return FIRN_ERR_INVALID_ARG;
  ua->gather_requested = 1;
  start_gather_if_ready(ua);
  return FIRN_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* wrappers                                                                                  */

int firn_uv_agent_set_remote_credentials(firn_uv_agent *ua, unsigned stream, const char *ufrag,
                                         const char *pwd) {
  if (!ua || !ua->core) return FIRN_ERR_INVALID_ARG;
  int rc = firn_agent_set_remote_credentials(ua->core, stream, ufrag, pwd, firn_uv_now());
  flush(ua);
  return rc;
}

int firn_uv_agent_add_remote_candidate(firn_uv_agent *ua, unsigned stream, const char *line) {
  if (!ua || !ua->core || !line) return FIRN_ERR_INVALID_ARG;
  firn_candidate c;
  int rc = firn_candidate_parse(&c, line, strlen(line));
  if (rc < 0) return rc;
  rc = firn_agent_add_remote_candidate(ua->core, stream, &c, firn_uv_now());
  flush(ua);
  return rc;
}

int firn_uv_agent_end_of_remote_candidates(firn_uv_agent *ua, unsigned stream) {
  if (!ua || !ua->core) return FIRN_ERR_INVALID_ARG;
  int rc = firn_agent_end_of_remote_candidates(ua->core, stream, firn_uv_now());
  flush(ua);
  return rc;
}

int firn_uv_agent_restart(firn_uv_agent *ua, unsigned stream) {
  if (!ua || !ua->core) return FIRN_ERR_INVALID_ARG;
  int rc = firn_agent_restart(ua->core, stream, firn_uv_now());
  flush(ua);
  return rc;
}

int firn_uv_agent_send(firn_uv_agent *ua, unsigned stream, unsigned component, const uint8_t *data,
                       size_t len) {
  if (!ua || !ua->core || ua->closing) return FIRN_ERR_CLOSED;
  firn_path p;
  firn_ssize n = firn_agent_write_data(ua->core, stream, component, data, len, t_tx_app, sizeof t_tx_app,
                                       &p, firn_uv_now());
  if (n < 0) return (int)n;
  return send_path(ua, &p, t_tx_app, (size_t)n);
}

firn_agent *firn_uv_agent_core(firn_uv_agent *ua) { return ua ? ua->core : NULL; }
uv_loop_t *firn_uv_agent_loop(firn_uv_agent *ua) { return ua ? ua->loop : NULL; }

/* ---------------------------------------------------------------------------------------- */
/* lifecycle                                                                                 */

static char **copy_list(firn_uv_agent *ua, const char *const *list, size_t n, int *err) {
  if (!list || !n) return NULL;
  char **out = firn_calloc(&ua->alloc, n + 1, sizeof *out);
  if (!out) { *err = FIRN_ERR_NOMEM; return NULL; }
  for (size_t i = 0; i < n; i++) {
    out[i] = dupstr(ua, list[i]);
    if (!out[i]) { *err = FIRN_ERR_NOMEM; break; }
  }
  return out;
}

static void free_list(firn_uv_agent *ua, char **list) {
  if (!list) return;
  for (size_t i = 0; list[i]; i++) firn_free(&ua->alloc, list[i]);
  firn_free(&ua->alloc, list);
}

static int uv_new(firn_uv_agent **out, uv_loop_t *loop, const firn_uv_settings *s,
                  const firn_session_settings *ms) {
  if (!out || !loop || !s || s->size < sizeof(firn_uv_settings)) return FIRN_ERR_INVALID_ARG;
  if (ms && ms->size < sizeof(firn_session_settings)) return FIRN_ERR_INVALID_ARG;
  firn_allocator alloc;
  firn_alloc_init(&alloc, s->agent.alloc);
  firn_uv_agent *ua = firn_calloc(&alloc, 1, sizeof *ua);
  if (!ua) return FIRN_ERR_NOMEM;
  ua->alloc = alloc;
  ua->loop = loop;
  ua->settings = *s;
  ua->settings.ips = NULL;
  ua->settings.allow_ifnames = NULL;
  ua->settings.deny_ifnames = NULL;
  ua->settings.tls_ca_file = NULL;
  ua->settings.tls_ca_dir = NULL;
  ua->app_cb = s->agent.callbacks;
  ua->app_user = s->agent.user;
  ua->log.fn = s->agent.log;
  ua->log.user = s->agent.log_user;
  ua->log.level = s->agent.log_level;
  int err = FIRN_OK;
  ua->ips = copy_list(ua, s->ips, s->n_ips, &err);
  ua->allow = copy_list(ua, s->allow_ifnames, s->n_allow_ifnames, &err);
  ua->deny = copy_list(ua, s->deny_ifnames, s->n_deny_ifnames, &err);
  if (err < 0) goto fail;
  if ((s->tls_ca_file && !(ua->tls_ca_file = dupstr(ua, s->tls_ca_file))) ||
      (s->tls_ca_dir && !(ua->tls_ca_dir = dupstr(ua, s->tls_ca_dir)))) {
    err = FIRN_ERR_NOMEM;
    goto fail;
  }

  firn_agent_settings as = s->agent;
  memset(&as.callbacks, 0, sizeof as.callbacks);
  as.callbacks.size = sizeof as.callbacks;
  as.callbacks.on_candidate = cb_candidate;
  as.callbacks.on_gathering_done = cb_gathering_done;
  as.callbacks.on_state = cb_state;
  as.callbacks.on_selected_pair = cb_selected;
  as.callbacks.on_data = cb_data;
  as.callbacks.on_tcp_connect = cb_tcp_connect;
  as.callbacks.on_tcp_close = cb_tcp_close;
  as.user = ua;
  if (ms) {
    firn_session_settings ss = *ms;
    ss.agent = as;
    err = firn_session_new(&ua->sess, &ss);
    if (err < 0) goto fail;
    ua->core = firn_session_agent(ua->sess);
  } else {
    err = firn_agent_new(&ua->core, &as);
    if (err < 0) goto fail;
  }
  if (uv_timer_init(loop, &ua->timer) < 0) {
    if (ua->sess) firn_session_free(ua->sess);
    else firn_agent_free(ua->core);
    err = FIRN_ERR_IO;
    goto fail;
  }
  ua->timer.data = ua;
  ua->open_handles = 1;
  *out = ua;
  return FIRN_OK;
fail:
  firn_free(&alloc, ua->tls_ca_file);
  firn_free(&alloc, ua->tls_ca_dir);
  free_list(ua, ua->ips);
  free_list(ua, ua->allow);
  free_list(ua, ua->deny);
  firn_free(&alloc, ua);
  return err;
}

int firn_uv_agent_new(firn_uv_agent **out, uv_loop_t *loop, const firn_uv_settings *s) {
  return uv_new(out, loop, s, NULL);
}

int firn_uv_session_new(firn_uv_agent **out, uv_loop_t *loop, const firn_uv_settings *s,
                        const firn_session_settings *ms) {
  if (!ms) return FIRN_ERR_INVALID_ARG;
  int rc = uv_new(out, loop, s, ms);
  if (rc < 0) return rc;
  firn_uv_agent *ua = *out;
  rc = bind_stream(ua, firn_session_stream(ua->sess), 1);
  if (rc < 0) {
    /* Nothing has run yet (no gathering, nothing sent): close without the session's close,
     * which would report CLOSED to the application from inside a constructor that fails.
     * The loop frees the handles. */
    *out = NULL;
    ua->quiet_close = 1;
    firn_uv_agent_close(ua, NULL, NULL);
    return rc;
  }
  flush(ua);
  return FIRN_OK;
}

firn_session *firn_uv_agent_session(firn_uv_agent *ua) { return ua ? ua->sess : NULL; }

int firn_uv_session_set_remote_description(firn_uv_agent *ua, const firn_media_desc *d) {
  if (!ua || !ua->sess || ua->closing) return FIRN_ERR_INVALID_ARG;
  int rc = firn_session_set_remote_description(ua->sess, d, firn_uv_now());
  flush(ua);
  return rc;
}

static int uv_send_media(firn_uv_agent *ua, int rtcp, const uint8_t *data, size_t len) {
  if (!ua || ua->closing || !ua->sess) return FIRN_ERR_CLOSED;
  uint64_t now = firn_uv_now();
  int rc = rtcp ? firn_session_send_rtcp(ua->sess, data, len, now) : firn_session_send_rtp(ua->sess, data, len, now);
  if (rc == FIRN_ERR_LIMIT) { /* drain and try once more */
    flush(ua);
    if (!ua->sess) return FIRN_ERR_CLOSED;
    rc = rtcp ? firn_session_send_rtcp(ua->sess, data, len, now) : firn_session_send_rtp(ua->sess, data, len, now);
  }
  flush(ua);
  return rc;
}

int firn_uv_session_send_rtp(firn_uv_agent *ua, const uint8_t *rtp, size_t len) {
  return uv_send_media(ua, 0, rtp, len);
}

int firn_uv_session_send_rtcp(firn_uv_agent *ua, const uint8_t *rtcp, size_t len) {
  return uv_send_media(ua, 1, rtcp, len);
}

static void maybe_free(firn_uv_agent *ua) {
  if (!ua->closing || ua->open_handles || ua->pending_dns) return;
  void (*cb)(void *) = ua->close_cb;
  void *arg = ua->close_arg;
  free_list(ua, ua->ips);
  free_list(ua, ua->allow);
  free_list(ua, ua->deny);
  firn_free(&ua->alloc, ua->tls_ca_file);
  firn_free(&ua->alloc, ua->tls_ca_dir);
  while (ua->socks) {
    uv_sock *s = ua->socks;
    ua->socks = s->next;
    firn_free(&ua->alloc, s);
  }
  while (ua->listeners) {
    uv_listener *l = ua->listeners;
    ua->listeners = l->next;
    firn_free(&ua->alloc, l);
  }
  firn_allocator a = ua->alloc;
  firn_free(&a, ua);
  if (cb) cb(arg);
}

void firn_uv_agent_close(firn_uv_agent *ua, void (*cb)(void *arg), void *arg) {
  if (!ua || ua->closing || ua->in_close) return;
  ua->in_close = 1; /* the session's CLOSED event may call us again */
  if (ua->quiet_close) {
    /* nothing to tell anyone: no callback may fire */
  } else if (ua->sess && ua->core) {
    /* close_notify and the agent's close go out before the sockets close */
    firn_session_close(ua->sess, firn_uv_now());
    flush(ua);
  } else if (ua->core) {
    /* a bare agent: TURN deallocations and ICE-TCP closes go out before the sockets close */
    firn_agent_close(ua->core, firn_uv_now());
    flush(ua);
  }
  ua->closing = 1;
  ua->close_cb = cb;
  ua->close_arg = arg;
  if (ua->sess) {
    firn_session *sess = ua->sess;
    ua->sess = NULL;
    ua->core = NULL;
    firn_session_destroy(sess); /* deferred by the session when we are inside its callback */
  } else if (ua->core) {
    firn_agent *core = ua->core;
    ua->core = NULL;
    firn_agent_destroy(core); /* deferred by the core when we are inside its callback */
  }
  uv_close((uv_handle_t *)&ua->timer, on_handle_closed);
  for (uv_sock *s = ua->socks; s; s = s->next) uv_close((uv_handle_t *)&s->h, on_handle_closed);
  for (uv_listener *l = ua->listeners; l; l = l->next) uv_close((uv_handle_t *)&l->h, on_handle_closed);
  for (uv_conn *c = ua->conns; c; c = c->next) {
    if (!c->closing) {
      c->closing = 1;
      uv_close((uv_handle_t *)&c->h, conn_closed);
    }
  }
  /* pending DNS requests finish (or are cancelled) and then maybe_free() runs */
}
