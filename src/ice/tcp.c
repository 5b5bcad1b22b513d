/* ICE-TCP (RFC 6544) and its framing (RFC 4571): TCP host candidates, the connections the
 * runtime opens and accepts for the agent, reassembly of frames, and the rules that keep a
 * peer from holding connections open: an accepted connection must start with an
 * authenticated Binding request, and a connection no pair uses is closed after ICE_TCP_IDLE.
 * TURN-over-TCP connections share the table (kind TCP_TURN) and are fed to the relay. */
#include "ice/agent_internal.h"
#include "common/bytes.h"

#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* Candidates                                                                                  */

/* A TCP listener address: a passive candidate (the listener) and an active one (port 9, RFC
 * 6544 4.5: the connection comes from an ephemeral port). Local preference per RFC 6544 4.2:
 * (2^13) * direction-pref + other-pref, with other-pref carrying the address class and the
 * RFC 8421 rank. A lite agent never initiates: passive only. */
int firn_ice_tcp_add_host(firn_agent *ag, ice_stream *st, unsigned component, const firn_local_address *la,
                          unsigned cls, unsigned rank, int vpn) {
  static const uint8_t kinds[2] = {FIRN_TCP_PASSIVE, FIRN_TCP_ACTIVE};
  unsigned n = ag->s.lite ? 1 : 2;
  if (st->nlocal + n > ICE_MAX_LOCAL) return FIRN_ERR_LIMIT;
  if (rank > 0x3ff) rank = 0x3ff;
  for (unsigned k = 0; k < n; k++) {
    unsigned dir = kinds[k] == FIRN_TCP_ACTIVE ? ICE_DIR_ACTIVE : ICE_DIR_PASSIVE;
    uint16_t pref = (uint16_t)((dir << 13) | ((7u - cls) << 10) | (0x3ffu - rank));
    firn_candidate c;
    memset(&c, 0, sizeof c);
    c.component = (uint16_t)component;
    c.transport = FIRN_TRANSPORT_TCP;
    c.type = FIRN_CAND_HOST;
    c.tcptype = kinds[k];
    c.addr = la->addr;
    if (kinds[k] == FIRN_TCP_ACTIVE) c.addr.port = 9;
    c.related.family = FIRN_AF_NONE;
    c.priority = firn_ice_priority(ICE_PREF_HOST_TCP, pref, (uint16_t)component);
    firn_ice_foundation(c.foundation, FIRN_CAND_HOST, &la->addr, NULL, FIRN_TRANSPORT_TCP);
    ice_local *l = firn_ice_add_local(ag, st, &c, NULL, 0);
    if (!l) return FIRN_ERR_NOMEM;
    l->local_pref = pref;
    l->vpn = (uint8_t)vpn;
    if (l->usable && st->gather_started) {
      l->reported = 1;
      firn_ice_event_candidate(ag, st->id, &l->c);
    }
    firn_ice_pair_local(ag, st, l);
  }
  return FIRN_OK;
}

/* RFC 6544 6.2: active with passive; passive with active (only the connection the peer
 * opened, i.e. a remote learned from a check on it); S-O is not offered. */
int firn_ice_pairable_tcp(const ice_local *l, const ice_remote *r) {
  if (l->c.tcptype == FIRN_TCP_ACTIVE) return r->c.tcptype == FIRN_TCP_PASSIVE;
  if (l->c.tcptype == FIRN_TCP_PASSIVE) return r->c.tcptype == FIRN_TCP_ACTIVE && r->learned;
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Connections                                                                                 */

ice_tcp_conn *firn_ice_tcp_find(const firn_agent *ag, uint32_t id) {
  if (!id) return NULL;
  for (unsigned i = 0; i < ag->ntcp; i++)
    if (ag->tcp[i]->id == id) return ag->tcp[i];
  return NULL;
}

/* A new connection: `request` asks the runtime to open it (on_tcp_connect), else it is one
 * the runtime accepted. NULL at the limit or out of memory. */
ice_tcp_conn *firn_ice_tcp_new(firn_agent *ag, uint8_t kind, const firn_addr *local, const firn_addr *remote,
                               int request) {
  if (ag->ntcp >= ICE_TCP_MAX_CONNS) {
    ICE_LOG(ag, FIRN_LOG_INFO, "TCP connection limit (%u) reached", ICE_TCP_MAX_CONNS);
    return NULL;
  }
  if (firn_ice_grow(ag, (void **)&ag->tcp, &ag->captcp, ag->ntcp + 1, sizeof *ag->tcp) < 0) return NULL;
  ice_tcp_conn *c = firn_calloc(&ag->alloc, 1, sizeof *c);
  if (!c) return NULL;
  if (++ag->next_conn == 0) ++ag->next_conn;
  c->id = ag->next_conn;
  c->kind = kind;
  c->state = request ? TCP_CONNECTING : TCP_OPEN;
  c->remote = *remote;
  c->opened_at = ag->now;
  if (request) {
    ice_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = EV_TCP_CONNECT;
    ev.path.local = *local;
    ev.path.local.port = 0; /* from an ephemeral port */
    ev.path.remote = *remote;
    ev.path.transport = FIRN_TRANSPORT_TCP;
    ev.path.conn = c->id;
    if (firn_ice_queue_event(ag, &ev) < 0) {
      firn_free(&ag->alloc, c);
      return NULL;
    }
  }
  ag->tcp[ag->ntcp++] = c;
  return c;
}

static void free_conn(firn_agent *ag, ice_tcp_conn *c) {
  while (c->pend_head) {
    ice_pkt *p = c->pend_head;
    c->pend_head = p->next;
    firn_free(&ag->alloc, p);
  }
  firn_free(&ag->alloc, c->rx);
  firn_free(&ag->alloc, c);
}

/* Forget the connection (asking the runtime to close it when `tell_runtime`); pairs on it
 * fail (a TCP pair cannot outlive its connection), a TURN allocation on it is told. */
void firn_ice_tcp_close(firn_agent *ag, ice_tcp_conn *c, int tell_runtime) {
  unsigned k = 0;
  for (unsigned i = 0; i < ag->ntcp; i++)
    if (ag->tcp[i] != c) ag->tcp[k++] = ag->tcp[i];
  ag->ntcp = k;
  if (tell_runtime) {
    ice_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = EV_TCP_CLOSE;
    ev.path.conn = c->id;
    ev.path.remote = c->remote;
    ev.path.transport = FIRN_TRANSPORT_TCP;
    (void)firn_ice_queue_event(ag, &ev);
  }
  if (c->kind == TCP_ICE) {
    for (unsigned s = 0; s < ag->nstreams; s++) {
      ice_stream *st = ag->streams[s];
      for (unsigned i = 0; i < st->npairs; i++) {
        ice_pair *p = st->pairs[i];
        if (p->conn != c->id) continue;
        p->conn = 0;
        if (ag->closed) continue;
        if (st->comp[p->component - 1].selected == p) {
          /* like a peer gone silent on UDP: DISCONNECTED now, FAILED when consent runs out
           * (a peer that hangs up closes its connections first) */
          p->tcp_lost = 1;
          ICE_LOG(ag, FIRN_LOG_INFO, "stream %u: the selected pair's TCP connection closed", st->id);
        } else {
          firn_ice_pair_failed(ag, st, p);
        }
      }
    }
  } else if (c->relay) {
    firn_ice_relay_conn_closed(ag, c->relay, ag->now);
  }
  free_conn(ag, c);
}

void firn_ice_tcp_close_all(firn_agent *ag, int tell_runtime) {
  if (!tell_runtime) {
    for (unsigned i = 0; i < ag->ntcp; i++) free_conn(ag, ag->tcp[i]);
    ag->ntcp = 0;
    firn_free(&ag->alloc, ag->tcp);
    ag->tcp = NULL;
    ag->captcp = 0;
    return;
  }
  /* TURN connections stay: the deallocation goes over them, the relay closes them after */
  unsigned i = ag->ntcp;
  while (i-- > 0)
    if (i < ag->ntcp && ag->tcp[i]->kind == TCP_ICE) firn_ice_tcp_close(ag, ag->tcp[i], 1);
}

/* Make sure pair `p` has a connection to send on: the active side opens one (the check then
 * waits in the connection's queue), the passive side only has the one the peer opened. */
int firn_ice_tcp_prepare(firn_agent *ag, ice_stream *st, ice_pair *p) {
  if (firn_ice_tcp_find(ag, p->conn)) return FIRN_OK;
  p->conn = 0;
  if (p->local->c.tcptype != FIRN_TCP_ACTIVE) return FIRN_ERR_CLOSED;
  ice_tcp_conn *c = firn_ice_tcp_new(ag, TCP_ICE, &p->local->c.addr, &p->remote->c.addr, 1);
  if (!c) return FIRN_ERR_LIMIT;
  c->stream = st->id;
  c->local = p->local;
  c->authed = 1; /* we chose the peer: what it sends is checked like any datagram */
  p->conn = c->id;
  ICE_LOG(ag, FIRN_LOG_DEBUG, "stream %u: opening TCP connection %u for a check", st->id, c->id);
  return FIRN_OK;
}

/* Frame `data` (RFC 4571) for connection `conn`: queued while it opens, else in the outbox. */
int firn_ice_tcp_send(firn_agent *ag, uint32_t conn, const firn_addr *local, const firn_addr *remote,
                      const uint8_t *data, size_t len) {
  ice_tcp_conn *c = firn_ice_tcp_find(ag, conn);
  if (!c) return FIRN_ERR_CLOSED;
  if (len > 0xffff) return FIRN_ERR_INVALID_ARG;
  uint8_t hdr[2];
  firn_put_u16(hdr, (uint16_t)len);
  firn_path path;
  memset(&path, 0, sizeof path);
  path.local = *local;
  path.remote = *remote;
  path.transport = FIRN_TRANSPORT_TCP;
  path.conn = conn;
  if (c->state == TCP_OPEN) return firn_ice_outbox(ag, &path, hdr, 2, data, len);
  if (c->npend >= ICE_TCP_PENDING) return FIRN_ERR_LIMIT;
  ice_pkt *p = firn_malloc(&ag->alloc, sizeof *p + 2 + len);
  if (!p) return FIRN_ERR_NOMEM;
  p->next = NULL;
  p->path = path;
  p->len = 2 + len;
  memcpy(p->data, hdr, 2);
  memcpy(p->data + 2, data, len);
  if (c->pend_tail) c->pend_tail->next = p;
  else c->pend_head = p;
  c->pend_tail = p;
  c->npend++;
  return FIRN_OK;
}

static int conn_used(const firn_agent *ag, uint32_t id) {
  for (unsigned s = 0; s < ag->nstreams; s++) {
    const ice_stream *st = ag->streams[s];
    for (unsigned i = 0; i < st->npairs; i++)
      if (st->pairs[i]->conn == id) return 1;
  }
  return 0;
}

void firn_ice_tcp_timers(firn_agent *ag, uint64_t now) {
  unsigned i = 0;
  while (i < ag->ntcp) {
    ice_tcp_conn *c = ag->tcp[i];
    if (c->kind == TCP_ICE) {
      if (c->authed && conn_used(ag, c->id)) c->unused_since = 0;
      else if (!c->unused_since) c->unused_since = now ? now : 1;
      if (c->unused_since && now >= c->unused_since + ICE_TCP_IDLE) {
        ICE_LOG(ag, FIRN_LOG_DEBUG, "TCP connection %u %s: closed", c->id,
                c->authed ? "unused" : "silent or unauthenticated");
        firn_ice_tcp_close(ag, c, 1);
        continue;
      }
    }
    i++;
  }
}

uint64_t firn_ice_tcp_expiry(const firn_agent *ag) {
  uint64_t e = FIRN_TIME_NEVER;
  for (unsigned i = 0; i < ag->ntcp; i++) {
    const ice_tcp_conn *c = ag->tcp[i];
    if (c->kind == TCP_ICE && c->unused_since && c->unused_since + ICE_TCP_IDLE < e)
      e = c->unused_since + ICE_TCP_IDLE;
  }
  return e;
}

/* ------------------------------------------------------------------------------------------ */
/* Frames in                                                                                   */

/* The first frame on an accepted connection: a Binding request whose USERNAME starts with
 * our ufrag and whose MESSAGE-INTEGRITY verifies with our password. */
static int first_frame_ok(const firn_agent *ag, const ice_tcp_conn *c, const uint8_t *d, size_t n) {
  const ice_stream *st = firn_ice_stream(ag, c->stream);
  if (!st || n == 0 || d[0] >= 4 || !firn_stun_is_stun(d, n)) return 0;
  firn_stun_msg m;
  if (firn_stun_msg_parse(&m, d, n) < 0 || m.cls != FIRN_STUN_REQUEST || m.method != FIRN_STUN_BINDING) return 0;
  const char *user = NULL;
  size_t ulen = 0;
  if (firn_stun_msg_get_string(&m, FIRN_STUN_ATTR_USERNAME, &user, &ulen) < 0) return 0;
  const char *colon = memchr(user, ':', ulen);
  if (!colon) return 0;
  size_t llen = (size_t)(colon - user);
  const firn_stun_key *key = NULL;
  if (st->lufrag && strlen(st->lufrag) == llen && memcmp(user, st->lufrag, llen) == 0) key = st->lkey;
  else if (st->in_restart && st->old_lufrag && strlen(st->old_lufrag) == llen &&
           memcmp(user, st->old_lufrag, llen) == 0)
    key = st->old_lkey;
  return key && firn_stun_msg_verify(&m, key) == 0;
}

static void conn_frame(firn_agent *ag, ice_tcp_conn *c, const uint8_t *d, size_t n) {
  ag->stats.datagrams_received++;
  if (!c->authed) {
    if (!first_frame_ok(ag, c, d, n)) {
      ag->stats.stun_dropped++;
      ICE_LOG(ag, FIRN_LOG_INFO, "TCP connection %u: first frame is not an authenticated check: closed", c->id);
      firn_ice_tcp_close(ag, c, 1);
      return;
    }
    c->authed = 1;
  }
  ice_stream *st = firn_ice_stream(ag, c->stream);
  if (!st) return;
  firn_path path;
  memset(&path, 0, sizeof path);
  path.local = c->local->c.addr;
  path.remote = c->remote;
  path.transport = FIRN_TRANSPORT_TCP;
  path.conn = c->id;
  firn_ice_input(ag, st, c->local, &path, d, n);
}

/* Reassemble RFC 4571 frames across arbitrary splits. A frame longer than the connection
 * may carry (ICE_MSG_MAX before authentication, ICE_TCP_FRAME_MAX after) closes it. */
static void conn_bytes(firn_agent *ag, uint32_t id, const uint8_t *data, size_t len) {
  size_t off = 0;
  while (off < len && !ag->closed && !ag->destroyed) {
    ice_tcp_conn *c = firn_ice_tcp_find(ag, id); /* a frame's handling may close it */
    if (!c) return;
    if (c->hlen < 2) {
      while (c->hlen < 2 && off < len) c->hdr[c->hlen++] = data[off++];
      if (c->hlen < 2) return;
      c->flen = firn_get_u16(c->hdr);
      size_t max = c->authed ? ICE_TCP_FRAME_MAX : ICE_MSG_MAX;
      if (c->flen == 0 || c->flen > max) {
        ag->stats.stun_dropped++;
        ICE_LOG(ag, FIRN_LOG_INFO, "TCP connection %u: frame of %u bytes: closed", c->id, (unsigned)c->flen);
        firn_ice_tcp_close(ag, c, 1);
        return;
      }
      if (len - off >= c->flen) { /* whole frame in this read: no copy */
        const uint8_t *f = data + off;
        off += c->flen;
        c->hlen = 0;
        conn_frame(ag, c, f, c->flen);
        continue;
      }
      c->rx = firn_malloc(&ag->alloc, c->flen);
      if (!c->rx) {
        firn_ice_tcp_close(ag, c, 1);
        return;
      }
      c->rxlen = 0;
    }
    size_t take = c->flen - c->rxlen;
    if (take > len - off) take = len - off;
    memcpy(c->rx + c->rxlen, data + off, take);
    c->rxlen += take;
    off += take;
    if (c->rxlen == c->flen) {
      uint8_t *f = c->rx;
      size_t n = c->flen;
      c->rx = NULL;
      c->rxlen = 0;
      c->hlen = 0;
      conn_frame(ag, c, f, n);
      firn_free(&ag->alloc, f);
    }
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Public entry points                                                                         */

int firn_agent_tcp_connected(firn_agent *ag, uint32_t conn, int ok, uint64_t now) {
  if (!ag) return FIRN_ERR_INVALID_ARG;
  if (ag->destroyed) return FIRN_ERR_CLOSED;
  firn_ice_enter(ag, now);
  ice_tcp_conn *c = firn_ice_tcp_find(ag, conn);
  int rc = FIRN_OK;
  if (!c) {
    rc = FIRN_ERR_NOT_FOUND;
  } else if (c->kind == TCP_TURN) {
    firn_ice_relay_conn_connected(ag, c, ok, ag->now);
  } else if (!ok) {
    ICE_LOG(ag, FIRN_LOG_DEBUG, "TCP connection %u could not be opened", c->id);
    firn_ice_tcp_close(ag, c, 0);
  } else if (c->state == TCP_CONNECTING) {
    c->state = TCP_OPEN;
    while (c->pend_head) {
      ice_pkt *p = c->pend_head;
      c->pend_head = p->next;
      (void)firn_ice_outbox(ag, &p->path, NULL, 0, p->data, p->len);
      firn_free(&ag->alloc, p);
    }
    c->pend_tail = NULL;
    c->npend = 0;
  }
  firn_ice_run_timers(ag, ag->now);
  return firn_ice_leave(ag, rc);
}

int firn_agent_tcp_accepted(firn_agent *ag, const firn_addr *local, const firn_addr *remote, uint32_t *conn,
                            uint64_t now) {
  if (!ag || !local || !remote || !conn) return FIRN_ERR_INVALID_ARG;
  if (ag->destroyed || ag->closed) return FIRN_ERR_CLOSED;
  firn_ice_enter(ag, now);
  ice_local *l = NULL;
  ice_stream *st = NULL;
  for (unsigned s = 0; s < ag->nstreams && !l; s++) {
    ice_stream *cand = ag->streams[s];
    for (unsigned i = 0; i < cand->nlocal && !l; i++) {
      ice_local *x = cand->locals[i];
      if (x->base == x && x->usable && x->c.transport == FIRN_TRANSPORT_TCP && x->c.tcptype == FIRN_TCP_PASSIVE &&
          firn_addr_equal(&x->c.addr, local)) {
        l = x;
        st = cand;
      }
    }
  }
  if (!l) return firn_ice_leave(ag, FIRN_ERR_NOT_FOUND);
  unsigned unauth = 0;
  for (unsigned i = 0; i < ag->ntcp; i++)
    if (ag->tcp[i]->accepted && !ag->tcp[i]->authed) unauth++;
  if (unauth >= ICE_TCP_MAX_UNAUTH) {
    ICE_LOG(ag, FIRN_LOG_INFO, "TCP connection refused: %u accepted connections still unauthenticated", unauth);
    return firn_ice_leave(ag, FIRN_ERR_LIMIT);
  }
  ice_tcp_conn *c = firn_ice_tcp_new(ag, TCP_ICE, local, remote, 0);
  if (!c) return firn_ice_leave(ag, FIRN_ERR_LIMIT);
  c->accepted = 1;
  c->stream = st->id;
  c->local = l;
  c->unused_since = ag->now ? ag->now : 1;
  *conn = c->id;
  return firn_ice_leave(ag, FIRN_OK);
}

int firn_agent_handle_stream(firn_agent *ag, uint32_t conn, const uint8_t *data, size_t len, uint64_t now) {
  if (!ag || (!data && len)) return FIRN_ERR_INVALID_ARG;
  if (ag->destroyed) return FIRN_ERR_CLOSED;
  firn_ice_enter(ag, now);
  ice_tcp_conn *c = firn_ice_tcp_find(ag, conn);
  if (!c) return firn_ice_leave(ag, FIRN_ERR_NOT_FOUND);
  if (c->kind == TCP_TURN) firn_ice_relay_conn_bytes(ag, c, data, len, ag->now); /* also after close */
  else if (!ag->closed) conn_bytes(ag, conn, data, len);
  firn_ice_run_timers(ag, ag->now);
  return firn_ice_leave(ag, FIRN_OK);
}

int firn_agent_tcp_closed(firn_agent *ag, uint32_t conn, uint64_t now) {
  if (!ag) return FIRN_ERR_INVALID_ARG;
  if (ag->destroyed) return FIRN_ERR_CLOSED;
  firn_ice_enter(ag, now);
  ice_tcp_conn *c = firn_ice_tcp_find(ag, conn);
  if (!c) return firn_ice_leave(ag, FIRN_ERR_NOT_FOUND);
  ICE_LOG(ag, FIRN_LOG_DEBUG, "TCP connection %u closed by the runtime", c->id);
  firn_ice_tcp_close(ag, c, 0);
  firn_ice_run_timers(ag, ag->now);
  return firn_ice_leave(ag, FIRN_OK);
}
