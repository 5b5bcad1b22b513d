/* The stream model: a reliable, ordered byte stream with TCP's visible behaviour (handshake
 * through NATs and firewalls, refusal, random segmentation, FIN, RST), without its machinery. */
#include "sim_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void conn_link(sim_host *h, sim_tcp *c) {
  c->prev = NULL;
  c->next = h->conns;
  if (h->conns) h->conns->prev = c;
  h->conns = c;
}

static void conn_unlink(sim_host *h, sim_tcp *c) {
  if (c->prev) c->prev->next = c->next;
  else h->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  c->prev = c->next = NULL;
}

static sim_tcp *conn_new(sim_host *h, const firn_addr *local, const firn_addr *remote, int state) {
  sim_tcp *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->host = h;
  c->id = h->s->next_conn_id++;
  c->local = *local;
  c->remote = *remote;
  c->state = state;
  firn_timer_init(&c->flush.ev.timer);
  c->flush.ev.kind = SIM_EV_TCP_FLUSH;
  c->flush.conn = c;
  firn_timer_init(&c->timer.ev.timer);
  c->timer.ev.kind = SIM_EV_TCP_TIMER;
  c->timer.conn = c;
  conn_link(h, c);
  return c;
}

static void conn_free(sim_tcp *c) {
  sim_net *s = c->host->s;
  sim_unschedule(s, &c->flush.ev);
  sim_unschedule(s, &c->timer.ev);
  conn_unlink(c->host, c);
  free(c->buf);
  free(c);
}

/* Send one segment from `from` (a local address on `h`) to `to`. */
static void segment_send(sim_host *h, const firn_addr *from, const firn_addr *to, uint8_t kind,
                         uint64_t conn_id, const uint8_t *data, size_t len) {
  sim_net *s = h->s;
  sim_iface *i = sim_host_iface_for(h, from);
  if (!i) return;
  s->stats.sent++;
  sim_pkt *p = sim_pkt_new(s, FIRN_TRANSPORT_TCP, from, to, data, len);
  if (!p) {
    s->stats.drop_queue++;
    /* Undeliverable: the sender learns it the way it would after retransmissions. */
    sim_pkt tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.proto = FIRN_TRANSPORT_TCP;
    tmp.tcp_kind = kind;
    tmp.conn_id = conn_id;
    sim_tcp_packet_lost(s, &tmp);
    return;
  }
  p->tcp_kind = kind;
  p->conn_id = conn_id;
  p->iface = i;
  sim_pkt_trace(s, "send", p, NULL);
  sim_link_send(s, i, SIM_UP, p);
}

/* Transmit the buffer as segments of random sizes. */
static void flush(sim_tcp *c) {
  sim_net *s = c->host->s;
  sim_unschedule(s, &c->flush.ev);
  if (c->state != SIM_TCP_ESTABLISHED) return;
  size_t off = 0;
  while (off < c->buf_len) {
    size_t left = c->buf_len - off;
    size_t max = left < s->set.tcp_max_chunk ? left : s->set.tcp_max_chunk;
    size_t n = 1 + (size_t)sim_rng_below(&s->rng, max);
    segment_send(c->host, &c->local, &c->remote, SIM_TCP_DATA, c->id, c->buf + off, n);
    off += n;
  }
  c->buf_len = 0;
}

static void schedule_flush(sim_tcp *c) {
  sim_net *s = c->host->s;
  if (c->buf_len && c->state == SIM_TCP_ESTABLISHED && !firn_timer_armed(&c->flush.ev.timer))
    sim_schedule(s, &c->flush.ev, s->now); /* NOMEM: the bytes wait for the next send/close */
}

/* ------------------------------------------------------------------------------------------ */
/* Listeners                                                                                  */

int sim_tcp_listen(sim_host *h, const firn_addr *local, sim_tcp_accept_fn cb, void *user,
                   sim_tcp_listener **out) {
  if (!h || !local || !out) return FIRN_ERR_INVALID_ARG;
  if (local->family != FIRN_AF_INET && local->family != FIRN_AF_INET6) return FIRN_ERR_INVALID_ARG;
  if (!firn_addr_is_any(local) && !sim_host_iface_for(h, local)) return FIRN_ERR_NOT_FOUND;
  firn_addr a = *local;
  if (a.port == 0) {
    int rc = sim_host_alloc_port(h, FIRN_TRANSPORT_TCP, &a, &a.port);
    if (rc < 0) return rc;
  } else {
    for (sim_tcp_listener *l = h->listeners; l; l = l->next)
      if (l->local.port == a.port && l->local.family == a.family &&
          (firn_addr_is_any(&l->local) || firn_addr_is_any(&a) || firn_addr_equal_ip(&l->local, &a)))
        return FIRN_ERR_STATE;
  }
  sim_tcp_listener *l = calloc(1, sizeof *l);
  if (!l) return FIRN_ERR_NOMEM;
  l->host = h;
  l->local = a;
  l->cb = cb;
  l->user = user;
  l->next = h->listeners;
  h->listeners = l;
  *out = l;
  return FIRN_OK;
}

const firn_addr *sim_tcp_listener_local(const sim_tcp_listener *l) { return &l->local; }

void sim_tcp_listener_close(sim_tcp_listener *l) {
  if (!l) return;
  sim_tcp_listener **pp = &l->host->listeners;
  while (*pp && *pp != l) pp = &(*pp)->next;
  if (*pp) *pp = l->next;
  free(l);
}

/* ------------------------------------------------------------------------------------------ */
/* Connections                                                                                */

int sim_tcp_connect(sim_host *h, const firn_addr *local, const firn_addr *remote,
                    const sim_tcp_callbacks *cbs, void *user, sim_tcp **out) {
  if (!h || !local || !remote || !out) return FIRN_ERR_INVALID_ARG;
  if (local->family != remote->family || remote->port == 0 || firn_addr_is_any(remote))
    return FIRN_ERR_INVALID_ARG;
  sim_iface *i = sim_host_iface_for(h, local);
  if (!i) return FIRN_ERR_NOT_FOUND;
  firn_addr a = i->addr;
  a.port = local->port;
  if (a.port == 0) {
    int rc = sim_host_alloc_port(h, FIRN_TRANSPORT_TCP, &a, &a.port);
    if (rc < 0) return rc;
  }
  /* A listener may share the port (ICE-TCP active and passive on one port); the 4-tuple
   * must be unique. */
  for (sim_tcp *c = h->conns; c; c = c->next)
    if (c->state != SIM_TCP_CLOSED && firn_addr_equal(&c->local, &a) &&
        firn_addr_equal(&c->remote, remote))
      return FIRN_ERR_STATE;
  sim_net *s = h->s;
  sim_tcp *c = conn_new(h, &a, remote, SIM_TCP_SYN_SENT);
  if (!c) return FIRN_ERR_NOMEM;
  if (cbs) c->cb = *cbs;
  c->user = user;
  c->syn_deadline = s->now + s->set.tcp_connect_timeout_ns;
  c->syn_rto = FIRN_NS_PER_S;
  uint64_t first = s->now + c->syn_rto;
  if (sim_schedule(s, &c->timer.ev, first < c->syn_deadline ? first : c->syn_deadline) < 0) {
    conn_free(c);
    return FIRN_ERR_NOMEM;
  }
  segment_send(h, &c->local, &c->remote, SIM_TCP_SYN, c->id, NULL, 0);
  *out = c;
  return FIRN_OK;
}

void sim_tcp_set_callbacks(sim_tcp *c, const sim_tcp_callbacks *cbs, void *user) {
  if (cbs) c->cb = *cbs;
  else memset(&c->cb, 0, sizeof c->cb);
  c->user = user;
}

int sim_tcp_send(sim_tcp *c, const void *data, size_t len) {
  if (!c || (!data && len)) return FIRN_ERR_INVALID_ARG;
  if (c->state == SIM_TCP_CLOSED) return FIRN_ERR_CLOSED;
  if (len == 0) return FIRN_OK;
  sim_net *s = c->host->s;
  if (len > s->set.tcp_sndbuf || c->buf_len > s->set.tcp_sndbuf - len) return FIRN_ERR_LIMIT;
  if (c->buf_len + len > c->buf_cap) {
    size_t nc = c->buf_cap ? c->buf_cap : 256;
    while (nc < c->buf_len + len) nc *= 2;
    uint8_t *nb = realloc(c->buf, nc);
    if (!nb) return FIRN_ERR_NOMEM;
    c->buf = nb;
    c->buf_cap = nc;
  }
  memcpy(c->buf + c->buf_len, data, len);
  c->buf_len += len;
  schedule_flush(c);
  return FIRN_OK;
}

int sim_tcp_is_open(const sim_tcp *c) { return c->state == SIM_TCP_ESTABLISHED; }
const firn_addr *sim_tcp_local(const sim_tcp *c) { return &c->local; }
const firn_addr *sim_tcp_remote(const sim_tcp *c) { return &c->remote; }

void sim_tcp_close(sim_tcp *c) {
  if (!c) return;
  sim_host *h = c->host;
  if (!h->s->in_free) {
    if (c->state == SIM_TCP_ESTABLISHED) {
      flush(c);
      segment_send(h, &c->local, &c->remote, SIM_TCP_FIN, c->id, NULL, 0);
    } else if (c->state == SIM_TCP_SYN_SENT) {
      segment_send(h, &c->local, &c->remote, SIM_TCP_RST, c->id, NULL, 0);
    }
  }
  conn_free(c);
}

void sim_tcp_abort(sim_tcp *c) {
  if (!c) return;
  if (c->state != SIM_TCP_CLOSED && !c->host->s->in_free)
    segment_send(c->host, &c->local, &c->remote, SIM_TCP_RST, c->id, NULL, 0);
  conn_free(c);
}

/* Mark closed; pending bytes are discarded (no half-close in this model). */
static void conn_closed(sim_tcp *c) {
  sim_net *s = c->host->s;
  c->state = SIM_TCP_CLOSED;
  c->buf_len = 0;
  sim_unschedule(s, &c->flush.ev);
  sim_unschedule(s, &c->timer.ev);
}

void sim_tcp_on_event(sim_net *s, sim_event *ev) {
  sim_tcp *c = SIM_CONTAINER_OF(ev, sim_tcp_event, ev)->conn;
  if (ev->kind == SIM_EV_TCP_FLUSH) {
    flush(c);
    return;
  }
  /* SIM_EV_TCP_TIMER */
  if (c->state == SIM_TCP_SYN_SENT && s->now < c->syn_deadline) {
    /* Retransmit the SYN (1 s, 2 s, 4 s, ... as stacks do), until the deadline. */
    segment_send(c->host, &c->local, &c->remote, SIM_TCP_SYN, c->id, NULL, 0);
    c->syn_rto *= 2;
    uint64_t next = s->now + c->syn_rto;
    sim_schedule(s, &c->timer.ev, next < c->syn_deadline ? next : c->syn_deadline);
    return;
  }
  if (c->state == SIM_TCP_SYN_SENT) {
    conn_closed(c);
    if (sim_tracing(s)) {
      char a[FIRN_ADDR_STRLEN];
      sim_tracef(s, "tcp %s: connect to %s timed out", c->host->name, sim_addr_str(&c->remote, a));
    }
    if (c->cb.on_connect) c->cb.on_connect(c->user, c, SIM_ERR_TIMEDOUT, s->now);
  } else if (c->state == SIM_TCP_ESTABLISHED) {
    conn_closed(c);
    sim_tracef(s, "tcp %s: connection reset (segments undeliverable)", c->host->name);
    if (c->cb.on_close) c->cb.on_close(c->user, c, SIM_ERR_RESET, s->now);
  }
}

void sim_tcp_packet_lost(sim_net *s, const sim_pkt *p) {
  if (p->tcp_kind != SIM_TCP_DATA && p->tcp_kind != SIM_TCP_FIN && p->tcp_kind != SIM_TCP_SYNACK)
    return; /* a lost SYN ends in the connect timeout; a lost RST is just lost */
  for (sim_host *h = s->hosts; h; h = h->next) {
    for (sim_tcp *c = h->conns; c; c = c->next) {
      if (c->id != p->conn_id) continue;
      if (c->state == SIM_TCP_ESTABLISHED && !firn_timer_armed(&c->timer.ev.timer))
        sim_schedule(s, &c->timer.ev, s->now + s->set.tcp_abort_ns);
      return;
    }
  }
}

static sim_tcp_listener *find_listener(sim_host *h, const firn_addr *dst) {
  for (sim_tcp_listener *l = h->listeners; l; l = l->next)
    if (l->local.port == dst->port && l->local.family == dst->family &&
        firn_addr_equal_ip(&l->local, dst))
      return l;
  for (sim_tcp_listener *l = h->listeners; l; l = l->next)
    if (l->local.port == dst->port && l->local.family == dst->family && firn_addr_is_any(&l->local))
      return l;
  return NULL;
}

void sim_tcp_receive(sim_net *s, sim_host *h, sim_iface *iface, sim_pkt *p) {
  (void)iface;
  sim_tcp *c = NULL;
  for (sim_tcp *x = h->conns; x; x = x->next) {
    /* A closed handle the test has not freed yet is no connection any more. */
    if (x->state == SIM_TCP_CLOSED) continue;
    if (firn_addr_equal(&x->local, &p->dst) && firn_addr_equal(&x->remote, &p->src)) {
      c = x;
      break;
    }
  }
  if (!c) {
    if (p->tcp_kind != SIM_TCP_SYN) {
      /* As a real stack: a segment for no connection is answered with RST (but never a RST). */
      if (p->tcp_kind != SIM_TCP_RST) segment_send(h, &p->dst, &p->src, SIM_TCP_RST, 0, NULL, 0);
      s->stats.drop_no_socket++;
      sim_pkt_trace(s, "drop", p, "(no connection)");
      sim_pkt_free(s, p);
      return;
    }
    sim_tcp_listener *l = find_listener(h, &p->dst);
    if (!l) {
      s->stats.tcp_refused++;
      sim_pkt_trace(s, "refuse", p, NULL);
      segment_send(h, &p->dst, &p->src, SIM_TCP_RST, 0, NULL, 0);
      sim_pkt_free(s, p);
      return;
    }
    sim_tcp *nc = conn_new(h, &p->dst, &p->src, SIM_TCP_ESTABLISHED);
    if (!nc) {
      sim_drop(s, p, &s->stats.drop_queue, "(no memory for connection)");
      return;
    }
    s->stats.delivered++;
    sim_pkt_trace(s, "accept", p, NULL);
    segment_send(h, &nc->local, &nc->remote, SIM_TCP_SYNACK, nc->id, NULL, 0);
    sim_pkt_free(s, p);
    if (l->cb) l->cb(l->user, nc, s->now);
    return;
  }
  switch (p->tcp_kind) {
  case SIM_TCP_SYN:
    /* A retransmitted SYN whose SYN-ACK was lost, or a simultaneous open (both sides sent a
     * SYN for the same 4-tuple, as ICE-TCP S-O candidates do): answer with SYN-ACK. */
    s->stats.delivered++;
    sim_pkt_trace(s, c->state == SIM_TCP_SYN_SENT ? "simopen" : "resyn", p, NULL);
    sim_pkt_free(s, p);
    segment_send(h, &c->local, &c->remote, SIM_TCP_SYNACK, c->id, NULL, 0);
    if (c->state == SIM_TCP_SYN_SENT) {
      sim_unschedule(s, &c->timer.ev);
      c->state = SIM_TCP_ESTABLISHED;
      schedule_flush(c);
      if (c->cb.on_connect) c->cb.on_connect(c->user, c, 0, s->now);
    }
    return;
  case SIM_TCP_SYNACK:
    if (c->state == SIM_TCP_ESTABLISHED) { /* the other half of a simultaneous open */
      sim_pkt_free(s, p);
      return;
    }
    if (c->state != SIM_TCP_SYN_SENT) break;
    s->stats.delivered++;
    sim_pkt_trace(s, "connect", p, NULL);
    sim_pkt_free(s, p);
    sim_unschedule(s, &c->timer.ev);
    c->state = SIM_TCP_ESTABLISHED;
    schedule_flush(c); /* bytes queued before the handshake */
    if (c->cb.on_connect) c->cb.on_connect(c->user, c, 0, s->now);
    return;
  case SIM_TCP_DATA:
    if (c->state != SIM_TCP_ESTABLISHED) break;
    s->stats.delivered++;
    sim_pkt_trace(s, "recv", p, NULL);
    if (c->cb.on_data) c->cb.on_data(c->user, c, p->data, p->len, s->now);
    sim_pkt_free(s, p); /* c may be gone now */
    return;
  case SIM_TCP_FIN:
  case SIM_TCP_RST: {
    int was = c->state;
    s->stats.delivered++;
    sim_pkt_trace(s, "recv", p, NULL);
    bool rst = p->tcp_kind == SIM_TCP_RST;
    sim_pkt_free(s, p);
    conn_closed(c);
    if (was == SIM_TCP_SYN_SENT) {
      if (c->cb.on_connect) c->cb.on_connect(c->user, c, rst ? SIM_ERR_REFUSED : SIM_ERR_RESET, s->now);
    } else if (c->cb.on_close) {
      c->cb.on_close(c->user, c, rst ? SIM_ERR_RESET : 0, s->now);
    }
    return;
  }
  default:
    break;
  }
  sim_drop(s, p, &s->stats.drop_no_socket, "(unexpected segment)");
}

void sim_tcp_host_free(sim_host *h) {
  while (h->conns) conn_free(h->conns);
  while (h->listeners) {
    sim_tcp_listener *l = h->listeners;
    h->listeners = l->next;
    free(l);
  }
}
