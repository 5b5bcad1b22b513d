/* Relay candidates (RFC 8445 5.1.1.2, RFC 8656): one TURN allocation (src/turn, sans-I/O)
 * per (UDP host base, TURN server), over UDP from the base's socket or over TCP/TLS through a
 * connection the agent asks the runtime for, exactly as for ICE-TCP (kind TCP_TURN).
 *
 * - The relay candidate is an ice_local of type RELAY whose base is itself; it is checked
 *   from like a host. Type preference 0; local preference by the transport to the server
 *   (UDP 3, TCP 2, TLS 1 in the top bits: relayed-UDP over relayed-TCP, RFC 8445 5.1.2.2).
 * - Out: firn_ice_send() with a relay candidate's address as `local` comes here: a
 *   permission for the peer is requested (idempotent) and the message is wrapped (Send
 *   indication, or ChannelData once the pair is selected and its channel bound), then queued
 *   to the server from the base (UDP) or on the connection (TCP/TLS).
 * - In: datagrams from the server's 5-tuple on a base (and every byte of a TURN connection)
 *   go to the TURN object first; what it unwraps comes back through on_data and enters the
 *   normal demultiplexing with path->local = the relayed address, path->remote = the peer.
 * - Gathering waits for every allocation to succeed or fail; a failure leaves gathering to
 *   complete without that relay and is logged with the reason.
 * - close() deallocates (Refresh LIFETIME 0); the agent keeps driving the TURN objects after
 *   close until they are done. */
#include "ice/agent_internal.h"

#include <stdio.h>
#include <string.h>

#include "turn/turn.h"

struct ice_relay {
  firn_turn *t;
  firn_agent *ag;
  unsigned stream;
  ice_local *base;          /* the UDP host candidate allocating (its socket, its address) */
  unsigned server;          /* index in ag->turns */
  uint8_t transport;        /* to the server: UDP, TCP or TLS */
  uint32_t conn;            /* TCP/TLS: the connection, 0 none */
  ice_local *cand;          /* the relay candidate once allocated */
  firn_addr server_addr;    /* current server (after a redirect) */
  uint8_t done;             /* gathering outcome known */
  uint8_t retry;            /* 437 over TCP/TLS: start again on a new connection (timers) */
  uint8_t retried;
};

static void server_name(const firn_agent *ag, const ice_relay *r, char *buf, size_t size) {
  char a[FIRN_ADDR_STRLEN];
  if (firn_addr_format(&r->server_addr, 1, a, sizeof a) < 0) snprintf(a, sizeof a, "?");
  static const char *names[] = {"udp", "tcp", "tls"};
  const char *tp = r->transport <= FIRN_TRANSPORT_TLS ? names[r->transport] : "?";
  (void)ag;
  snprintf(buf, size, "%s/%s", a, tp);
}

static void free_turn_server(firn_agent *ag, ice_turn_server *s) {
  char **strs[5] = {&s->username, &s->password, &s->server_name, &s->ca_file, &s->ca_dir};
  for (int i = 0; i < 5; i++) {
    if (*strs[i]) {
      firn_wipe(*strs[i], strlen(*strs[i]));
      firn_free(&ag->alloc, *strs[i]);
      *strs[i] = NULL;
    }
  }
}

int firn_ice_relay_add_server(firn_agent *ag, const firn_ice_server *srv) {
  if (!srv->username || !srv->password) return FIRN_ERR_INVALID_ARG;
  if (srv->transport != FIRN_TRANSPORT_UDP && srv->transport != FIRN_TRANSPORT_TCP &&
      srv->transport != FIRN_TRANSPORT_TLS)
    return FIRN_ERR_INVALID_ARG;
  if (ag->nturns >= ICE_MAX_SERVERS) return FIRN_ERR_LIMIT;
  if (!ag->turns) { /* most agents have none: not part of every agent's footprint */
    ag->turns = firn_calloc(&ag->alloc, ICE_MAX_SERVERS, sizeof *ag->turns);
    if (!ag->turns) return FIRN_ERR_NOMEM;
  }
  ice_turn_server *s = &ag->turns[ag->nturns];
  memset(s, 0, sizeof *s);
  s->addr = srv->addr;
  s->transport = srv->transport;
  s->insecure = srv->tls_insecure;
  s->username = firn_ice_strdup(ag, srv->username, strlen(srv->username));
  s->password = firn_ice_strdup(ag, srv->password, strlen(srv->password));
  if (srv->server_name) s->server_name = firn_ice_strdup(ag, srv->server_name, strlen(srv->server_name));
  if (srv->tls_ca_file) s->ca_file = firn_ice_strdup(ag, srv->tls_ca_file, strlen(srv->tls_ca_file));
  if (srv->tls_ca_dir) s->ca_dir = firn_ice_strdup(ag, srv->tls_ca_dir, strlen(srv->tls_ca_dir));
  if (!s->username || !s->password || (srv->server_name && !s->server_name) || (srv->tls_ca_file && !s->ca_file) ||
      (srv->tls_ca_dir && !s->ca_dir)) {
    free_turn_server(ag, s);
    return FIRN_ERR_NOMEM;
  }
  ag->nturns++;
  return FIRN_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* TURN callbacks                                                                              */

static void relay_ready(firn_agent *ag, ice_relay *r) {
  ice_stream *st = firn_ice_stream(ag, r->stream);
  firn_turn_info info;
  if (!st || firn_turn_get_info(r->t, &info) < 0 || info.nrelayed == 0) return;
  r->server_addr = info.server;
  if (r->cand) return; /* already announced (a refresh) */
  /* the allocation's XOR-MAPPED-ADDRESS is a server-reflexive candidate too (RFC 8445
   * 5.1.1.2), useful when no STUN server is configured; only over UDP, where it is the
   * mapping the base's socket has */
  if (ag->s.policy == FIRN_ICE_POLICY_ALL && r->transport == FIRN_TRANSPORT_UDP && info.mapped.family != FIRN_AF_NONE)
    firn_ice_add_srflx(ag, st, r->base, &info.mapped, &info.server);
  static const uint16_t tpref[] = {3, 2, 1}; /* UDP, TCP, TLS to the server */
  uint16_t pref = (uint16_t)((tpref[r->transport <= FIRN_TRANSPORT_TLS ? r->transport : 2] << 13) |
                             (r->base->local_pref & 0x1fff));
  firn_candidate c;
  memset(&c, 0, sizeof c);
  c.component = r->base->c.component;
  c.transport = FIRN_TRANSPORT_UDP; /* RFC 8656 relays UDP */
  c.type = FIRN_CAND_RELAY;
  c.addr = info.relayed[0];
  c.related = info.mapped.family != FIRN_AF_NONE ? info.mapped : r->base->c.addr;
  c.priority = firn_ice_priority(ICE_PREF_RELAY, pref, c.component);
  firn_ice_foundation(c.foundation, FIRN_CAND_RELAY, &r->base->c.addr, &ag->turns[r->server].addr, r->transport);
  ice_local *l = firn_ice_add_local(ag, st, &c, NULL, 1);
  char name[96];
  server_name(ag, r, name, sizeof name);
  if (!l) {
    ICE_LOG(ag, FIRN_LOG_WARN, "stream %u: relay candidate from %s dropped (limit or memory)", st->id, name);
    return;
  }
  l->local_pref = pref;
  l->vpn = r->base->vpn;
  r->cand = l;
  char a[FIRN_ADDR_STRLEN];
  (void)firn_addr_format(&c.addr, 1, a, sizeof a);
  ICE_LOG(ag, FIRN_LOG_INFO, "stream %u: relay candidate %s from TURN server %s", st->id, a, name);
  firn_ice_pair_local(ag, st, l);
}

static void relay_on_state(void *user, firn_turn *t, firn_turn_state state) {
  ice_relay *r = user;
  firn_agent *ag = r->ag;
  if (t != r->t) return; /* an object being replaced */
  ice_stream *st = firn_ice_stream(ag, r->stream);
  if (state == FIRN_TURN_READY) {
    relay_ready(ag, r);
  } else if (state == FIRN_TURN_FAILED) {
    firn_turn_info info;
    memset(&info, 0, sizeof info);
    (void)firn_turn_get_info(t, &info);
    char name[96];
    server_name(ag, r, name, sizeof name);
    if (info.failure == FIRN_TURN_FAIL_MISMATCH && r->transport != FIRN_TRANSPORT_UDP && !r->cand && !r->retried &&
        !ag->closed) {
      /* 437 (RFC 8656 7.2): the server still holds an allocation for this 5-tuple; a new
       * connection is a new 5-tuple. Over UDP that would take a new local port, which only the
       * runtime can bind. Done from the timers, outside this object's callback. */
      ICE_LOG(ag, FIRN_LOG_INFO, "stream %u: TURN server %s: allocation mismatch, retrying on a new connection",
              r->stream, name);
      r->retry = 1;
      return;
    }
    if (info.error_code)
      ICE_LOG(ag, FIRN_LOG_WARN, "stream %u: TURN server %s: %s (error %d)%s", r->stream, name,
              firn_turn_failure_name(info.failure), info.error_code,
              r->cand ? ": relay candidate lost" : ": no relay candidate");
    else
      ICE_LOG(ag, FIRN_LOG_WARN, "stream %u: TURN server %s: %s%s", r->stream, name,
              firn_turn_failure_name(info.failure), r->cand ? ": relay candidate lost" : ": no relay candidate");
  } else {
    return;
  }
  if (!r->done && st) {
    r->done = 1;
    firn_ice_gather_check_done(ag, st);
  }
}

static void relay_on_data(void *user, firn_turn *t, const firn_addr *peer, const uint8_t *data, size_t len,
                          uint64_t now) {
  (void)now;
  ice_relay *r = user;
  if (t != r->t) return;
  firn_agent *ag = r->ag;
  ice_stream *st = firn_ice_stream(ag, r->stream);
  if (!st || !r->cand || ag->closed) return;
  firn_path path;
  memset(&path, 0, sizeof path);
  path.local = r->cand->c.addr;
  path.remote = *peer;
  path.transport = FIRN_TRANSPORT_UDP;
  firn_ice_input(ag, st, r->cand, &path, data, len);
}

static void relay_on_connect(void *user, firn_turn *t, const firn_addr *server) {
  ice_relay *r = user;
  firn_agent *ag = r->ag;
  if (t != r->t) {
    (void)firn_turn_connected(t, 0, ag->now);
    return;
  }
  ice_tcp_conn *old = firn_ice_tcp_find(ag, r->conn);
  if (old) { /* a new server (ALTERNATE-SERVER): the old connection is done */
    old->relay = NULL;
    firn_ice_tcp_close(ag, old, 1);
  }
  r->conn = 0;
  ice_tcp_conn *c = firn_ice_tcp_new(ag, TCP_TURN, &r->base->c.addr, server, 1);
  if (!c) {
    (void)firn_turn_connected(t, 0, ag->now);
    return;
  }
  c->relay = r;
  c->stream = r->stream;
  c->authed = 1;
  r->conn = c->id;
}

static void relay_on_close_connection(void *user, firn_turn *t) {
  ice_relay *r = user;
  if (t != r->t) return; /* the replacement closed the old connection itself */
  ice_tcp_conn *c = firn_ice_tcp_find(r->ag, r->conn);
  r->conn = 0;
  if (!c) return;
  c->relay = NULL; /* no callback into the TURN object that asked */
  firn_ice_tcp_close(r->ag, c, 1);
}

/* ------------------------------------------------------------------------------------------ */
/* Gathering                                                                                   */

static int relay_turn_new(firn_agent *ag, ice_relay *r);

static int relay_start(firn_agent *ag, ice_stream *st, ice_local *base, unsigned server, uint64_t now) {
  if (ag->nrelay >= ICE_MAX_RELAYS) return FIRN_ERR_LIMIT;
  int rc = firn_ice_grow(ag, (void **)&ag->relays, &ag->caprelay, ag->nrelay + 1, sizeof *ag->relays);
  if (rc < 0) return rc;
  ice_relay *r = firn_calloc(&ag->alloc, 1, sizeof *r);
  if (!r) return FIRN_ERR_NOMEM;
  const ice_turn_server *srv = &ag->turns[server];
  r->ag = ag;
  r->stream = st->id;
  r->base = base;
  r->server = server;
  r->transport = srv->transport;
  r->server_addr = srv->addr;
  rc = relay_turn_new(ag, r);
  if (rc < 0) {
    firn_free(&ag->alloc, r);
    return rc;
  }
  ag->relays[ag->nrelay++] = r;
  rc = firn_turn_start(r->t, now);
  if (rc < 0) {
    r->done = 1;
    return rc;
  }
  return FIRN_OK;
}

static int relay_turn_new(firn_agent *ag, ice_relay *r) {
  const ice_turn_server *srv = &ag->turns[r->server];
  ice_local *base = r->base;
  firn_turn_settings ts;
  firn_turn_settings_default(&ts);
  ts.alloc = &ag->alloc;
  ts.random = firn_ice_random_fn; /* the agent's pool */
  ts.random_user = ag;
  ts.log = ag->log.fn;
  ts.log_user = ag->log.user;
  ts.log_level = ag->log.level;
  ts.server = srv->addr;
  ts.local = base->c.addr;
  ts.transport = (firn_transport)srv->transport;
  ts.username = srv->username;
  ts.password = srv->password;
  ts.family = (firn_family)base->c.addr.family;
  ts.software = ag->software;
  ts.rc = 6; /* gathering gives up on a silent server after ~16 s, like the STUN requests */
  ts.tls_ca_file = srv->ca_file;
  ts.tls_ca_dir = srv->ca_dir;
  ts.tls_server_name = srv->server_name;
  ts.tls_insecure = srv->insecure;
  ts.callbacks.size = sizeof ts.callbacks;
  ts.callbacks.on_state = relay_on_state;
  ts.callbacks.on_data = relay_on_data;
  ts.callbacks.on_connect = relay_on_connect;
  ts.callbacks.on_close_connection = relay_on_close_connection;
  ts.user = r;
  return firn_turn_new(&r->t, &ts);
}

/* Allocations for a stream: one per (UDP host base, TURN server of the base's family). The
 * host candidates need not be usable: with the relay policy they are bases only. */
void firn_ice_relay_gather(firn_agent *ag, ice_stream *st, uint64_t now) {
  if (ag->s.lite || !ag->nturns) return;
  unsigned nlocal = st->nlocal;
  for (unsigned i = 0; i < nlocal; i++) {
    ice_local *l = st->locals[i];
    if (l->base != l || l->c.type != FIRN_CAND_HOST || l->c.transport != FIRN_TRANSPORT_UDP) continue;
    if (firn_addr_is_link_local(&l->c.addr)) continue;
    for (unsigned s = 0; s < ag->nturns; s++) {
      if (ag->turns[s].addr.family != l->c.addr.family) continue;
      /* a loopback base reaches only a loopback server (tests), and only it does */
      if (!firn_addr_is_loopback(&l->c.addr) != !firn_addr_is_loopback(&ag->turns[s].addr)) continue;
      int rc = relay_start(ag, st, l, s, now);
      if (rc < 0) ICE_LOG(ag, FIRN_LOG_WARN, "stream %u: TURN allocation not started: %s", st->id, firn_strerror(rc));
    }
  }
}

int firn_ice_relay_pending(const firn_agent *ag, const ice_stream *st) {
  for (unsigned i = 0; i < ag->nrelay; i++)
    if (ag->relays[i]->stream == st->id && !ag->relays[i]->done) return 1;
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Data path                                                                                   */

ice_relay *firn_ice_relay_of(const firn_agent *ag, const firn_addr *relayed) {
  for (unsigned i = 0; i < ag->nrelay; i++) {
    ice_relay *r = ag->relays[i];
    if (r->cand && firn_addr_equal(&r->cand->c.addr, relayed)) return r;
  }
  return NULL;
}

/* Wrap for `peer` into `out`; `*path` gets where the result goes. */
static firn_ssize relay_wrap(firn_agent *ag, ice_relay *r, const firn_addr *peer, const uint8_t *data, size_t len,
                             uint8_t *out, size_t cap, firn_path *path) {
  int rc = firn_turn_permit(r->t, peer, ag->now);
  if (rc < 0) return rc;
  firn_ssize n = firn_turn_wrap(r->t, peer, data, len, out, cap);
  if (n < 0) return n;
  memset(path, 0, sizeof *path);
  path->local = r->base->c.addr;
  path->remote = r->server_addr;
  path->transport = FIRN_TRANSPORT_UDP;
  if (r->transport != FIRN_TRANSPORT_UDP) {
    if (!r->conn) return FIRN_ERR_STATE; /* no connection to the server (yet, or any more) */
    path->transport = FIRN_TRANSPORT_TCP;
    path->conn = r->conn;
  }
  return n;
}

static firn_ssize relay_poll_one(firn_agent *ag, ice_relay *r, uint64_t now, uint8_t *buf, size_t cap,
                                 firn_path *path);

/* Move what the TURN object has queued (a CreatePermission just asked for) into the outbox
 * ahead of a wrapped message, so the server sees the permission before the data. */
static void relay_drain(firn_agent *ag, ice_relay *r) {
  uint8_t buf[2048];
  firn_path path;
  for (int guard = 0; guard < 16; guard++) {
    firn_ssize n = relay_poll_one(ag, r, ag->now, buf, sizeof buf, &path);
    if (n < 0) return;
    /* counted in datagrams_sent when poll_transmit hands it out, like everything else */
    if (firn_ice_outbox(ag, &path, NULL, 0, buf, (size_t)n) < 0) return;
  }
}

int firn_ice_relay_send(firn_agent *ag, ice_relay *r, const firn_addr *peer, const uint8_t *data, size_t len) {
  uint8_t buf[ICE_MSG_MAX + 512];
  firn_path path;
  int rc = firn_turn_permit(r->t, peer, ag->now);
  if (rc < 0) return rc;
  relay_drain(ag, r);
  firn_ssize n = relay_wrap(ag, r, peer, data, len, buf, sizeof buf, &path);
  if (n < 0) {
    ICE_LOG(ag, FIRN_LOG_DEBUG, "relay: could not wrap for the peer: %s", firn_strerror((int)n));
    return (int)n;
  }
  return firn_ice_outbox(ag, &path, NULL, 0, buf, (size_t)n);
}

firn_ssize firn_ice_relay_write(firn_agent *ag, ice_relay *r, const firn_addr *peer, const uint8_t *data,
                                size_t len, uint8_t *out, size_t cap, firn_path *path) {
  /* the TURN client builds in place: copy first when the application wrapped in place */
  uint8_t *tmp = NULL;
  if (data && len && data < out + cap && out < data + len) {
    tmp = firn_malloc(&ag->alloc, len);
    if (!tmp) return FIRN_ERR_NOMEM;
    memcpy(tmp, data, len);
    data = tmp;
  }
  firn_ssize n = relay_wrap(ag, r, peer, data, len, out, cap, path);
  firn_free(&ag->alloc, tmp);
  return n;
}

/* A selected pair through a relay gets a channel (ChannelData from then on). */
void firn_ice_relay_selected(firn_agent *ag, const ice_pair *p) {
  ice_relay *r = firn_ice_relay_of(ag, &p->local->c.addr);
  if (!r || p->local->c.type != FIRN_CAND_RELAY) return;
  int rc = firn_turn_bind_channel(r->t, &p->remote->c.addr, ag->now, NULL);
  if (rc < 0) ICE_LOG(ag, FIRN_LOG_INFO, "relay: no channel for the selected pair (%s): Send indications", firn_strerror(rc));
}

/* A datagram on a base from a TURN server's address: 1 when the TURN object took it. */
int firn_ice_relay_datagram(firn_agent *ag, const firn_path *path, const uint8_t *data, size_t len) {
  for (unsigned i = 0; i < ag->nrelay; i++) {
    ice_relay *r = ag->relays[i];
    if (r->transport != FIRN_TRANSPORT_UDP || !firn_addr_equal(&r->base->c.addr, &path->local)) continue;
    firn_turn_info info; /* the server may have changed (ALTERNATE-SERVER) */
    if (firn_turn_get_info(r->t, &info) == 0) r->server_addr = info.server;
    if (!firn_addr_equal(&r->server_addr, &path->remote)) continue;
    if (firn_turn_handle_datagram(r->t, &path->remote, data, len, ag->now) == 0) return 1;
  }
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Connections (TURN over TCP/TLS)                                                             */

void firn_ice_relay_conn_connected(firn_agent *ag, ice_tcp_conn *c, int ok, uint64_t now) {
  ice_relay *r = c->relay;
  if (c->state == TCP_OPEN) {
    /* A second report for an open connection (a runtime that misbehaves): a failure means the
     * connection is gone, as a close would say; a success changes nothing. */
    if (!ok && r) {
      c->relay = NULL;
      firn_ice_tcp_close(ag, c, 1);
      firn_ice_relay_conn_closed(ag, r, now);
    }
    return;
  }
  if (ok) c->state = TCP_OPEN;
  if (!r) return;
  if (!ok) {
    c->relay = NULL;
    r->conn = 0;
    firn_ice_tcp_close(ag, c, 0);
  }
  (void)firn_turn_connected(r->t, ok, now);
}

void firn_ice_relay_conn_bytes(firn_agent *ag, ice_tcp_conn *c, const uint8_t *data, size_t len, uint64_t now) {
  (void)ag;
  if (c->relay) (void)firn_turn_handle_stream(c->relay->t, data, len, now);
}

void firn_ice_relay_conn_closed(firn_agent *ag, ice_relay *r, uint64_t now) {
  (void)ag;
  r->conn = 0;
  (void)firn_turn_connection_closed(r->t, now);
}

/* ------------------------------------------------------------------------------------------ */
/* Driving the TURN objects                                                                    */

static firn_ssize relay_poll_one(firn_agent *ag, ice_relay *r, uint64_t now, uint8_t *buf, size_t cap,
                                 firn_path *path) {
  for (;;) {
    firn_addr dest;
    firn_ssize n = firn_turn_poll_transmit(r->t, now, buf, cap, &dest);
    if (n < 0) return n;
    memset(path, 0, sizeof *path);
    path->local = r->base->c.addr;
    path->remote = r->transport == FIRN_TRANSPORT_UDP ? dest : r->server_addr;
    path->transport = r->transport == FIRN_TRANSPORT_UDP ? FIRN_TRANSPORT_UDP : FIRN_TRANSPORT_TCP;
    path->conn = r->transport == FIRN_TRANSPORT_UDP ? 0 : r->conn;
    if (path->transport == FIRN_TRANSPORT_TCP && !firn_ice_tcp_find(ag, path->conn)) continue; /* gone */
    return n;
  }
}

firn_ssize firn_ice_relay_poll(firn_agent *ag, uint64_t now, uint8_t *buf, size_t cap, firn_path *path) {
  for (unsigned k = 0; k < ag->nrelay; k++) {
    firn_ssize n = relay_poll_one(ag, ag->relays[k], now, buf, cap, path);
    if (n != FIRN_ERR_WOULDBLOCK) return n;
  }
  return FIRN_ERR_WOULDBLOCK;
}

uint64_t firn_ice_relay_expiry(const firn_agent *ag) {
  uint64_t e = FIRN_TIME_NEVER;
  for (unsigned i = 0; i < ag->nrelay; i++) {
    if (ag->relays[i]->retry && !ag->closed) return ag->now;
    uint64_t t = firn_turn_expiry(ag->relays[i]->t);
    if (t < e) e = t;
  }
  return e;
}

/* Start a relay's allocation again with a new TURN object (and connection). */
static void relay_restart(firn_agent *ag, ice_relay *r, uint64_t now) {
  r->retry = 0;
  r->retried = 1;
  ice_tcp_conn *c = firn_ice_tcp_find(ag, r->conn);
  r->conn = 0;
  if (c) {
    c->relay = NULL;
    firn_ice_tcp_close(ag, c, 1);
  }
  firn_turn *old = r->t;
  r->t = NULL;
  int rc = relay_turn_new(ag, r);
  if (rc < 0) {
    r->t = old; /* keep the failed one: every relay has an object */
  } else {
    firn_turn_free(old);
    rc = firn_turn_start(r->t, now);
  }
  if (rc < 0) {
    ICE_LOG(ag, FIRN_LOG_WARN, "stream %u: TURN allocation not restarted: %s", r->stream, firn_strerror(rc));
    if (!r->done) {
      r->done = 1;
      ice_stream *st = firn_ice_stream(ag, r->stream);
      if (st) firn_ice_gather_check_done(ag, st);
    }
  }
}

void firn_ice_relay_timers(firn_agent *ag, uint64_t now) {
  for (unsigned i = 0; i < ag->nrelay; i++) {
    if (ag->relays[i]->retry && !ag->closed) relay_restart(ag, ag->relays[i], now);
    firn_turn_handle_expiry(ag->relays[i]->t, now);
  }
}

/* Deallocate everything (the agent keeps polling and timing the objects after close). */
void firn_ice_relay_close_all(firn_agent *ag, uint64_t now) {
  for (unsigned i = 0; i < ag->nrelay; i++) (void)firn_turn_close(ag->relays[i]->t, now);
}

void firn_ice_relay_free_all(firn_agent *ag) {
  for (unsigned i = 0; i < ag->nrelay; i++) {
    firn_turn_free(ag->relays[i]->t);
    firn_free(&ag->alloc, ag->relays[i]);
  }
  firn_free(&ag->alloc, ag->relays);
  ag->relays = NULL;
  ag->nrelay = ag->caprelay = 0;
  for (unsigned i = 0; i < ag->nturns; i++) free_turn_server(ag, &ag->turns[i]);
  ag->nturns = 0;
  firn_free(&ag->alloc, ag->turns);
  ag->turns = NULL;
}
