/* The simulated network: segments, hosts, interfaces, links, routing, UDP sockets. */
#include "sim_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dup_name(const char *name) {
  if (!name) name = "?";
  size_t n = strlen(name) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, name, n);
  return d;
}

/* ------------------------------------------------------------------------------------------ */
/* Packets                                                                                    */

sim_pkt *sim_pkt_new(sim_net *s, uint8_t proto, const firn_addr *src, const firn_addr *dst,
                     const void *data, size_t len) {
  if (s->packets >= s->set.max_events) return NULL;
  sim_pkt *p = malloc(sizeof *p + len);
  if (!p) return NULL;
  memset(p, 0, sizeof *p);
  firn_timer_init(&p->ev.timer);
  p->ev.kind = SIM_EV_PACKET;
  p->id = s->next_pkt_id++;
  p->proto = proto;
  p->src = *src;
  p->dst = *dst;
  p->len = len;
  if (len) memcpy(p->data, data, len);
  p->next = s->pkts;
  if (s->pkts) s->pkts->prev = p;
  s->pkts = p;
  s->packets++;
  return p;
}

static sim_pkt *pkt_clone(sim_net *s, const sim_pkt *o) {
  sim_pkt *p = sim_pkt_new(s, o->proto, &o->src, &o->dst, o->data, o->len);
  if (!p) return NULL;
  p->id = o->id;
  p->tcp_kind = o->tcp_kind;
  p->conn_id = o->conn_id;
  return p;
}

void sim_pkt_free(sim_net *s, sim_pkt *p) {
  sim_unschedule(s, &p->ev);
  if (p->prev) p->prev->next = p->next;
  else s->pkts = p->next;
  if (p->next) p->next->prev = p->prev;
  s->packets--;
  free(p);
}

const char *sim_iface_owner(const sim_iface *i) {
  if (!i) return "-";
  if (i->owner_kind == SIM_OWNER_HOST) return i->host->name;
  return i->nat->name;
}

static const char *tcp_kind_name(uint8_t k) {
  switch (k) {
  case SIM_TCP_SYN: return " SYN";
  case SIM_TCP_SYNACK: return " SYN-ACK";
  case SIM_TCP_DATA: return "";
  case SIM_TCP_FIN: return " FIN";
  case SIM_TCP_RST: return " RST";
  default: return " ?";
  }
}

void sim_pkt_trace(sim_net *s, const char *what, const sim_pkt *p, const char *extra) {
  if (!sim_tracing(s)) return;
  char a[FIRN_ADDR_STRLEN], b[FIRN_ADDR_STRLEN];
  sim_tracef(s, "#%" PRIu64 " %-8s %s%s %s > %s len %zu @%s%s%s", p->id, what,
             p->proto == FIRN_TRANSPORT_TCP ? "tcp" : "udp",
             p->proto == FIRN_TRANSPORT_TCP ? tcp_kind_name(p->tcp_kind) : "",
             sim_addr_str(&p->src, a), sim_addr_str(&p->dst, b), p->len, sim_iface_owner(p->iface),
             extra ? " " : "", extra ? extra : "");
}

void sim_drop(sim_net *s, sim_pkt *p, uint64_t *counter, const char *why) {
  if (counter) (*counter)++;
  sim_pkt_trace(s, "drop", p, why);
  if (p->proto == FIRN_TRANSPORT_TCP) sim_tcp_packet_lost(s, p);
  sim_pkt_free(s, p);
}

/* ------------------------------------------------------------------------------------------ */
/* Links                                                                                      */

void sim_link_default(sim_link *l) {
  memset(l, 0, sizeof *l);
  l->reorder_delay_ns = 5 * FIRN_NS_PER_MS;
  l->queue_limit = 10000;
}

static bool chance(sim_net *s, double pct) {
  if (pct <= 0) return false;
  if (pct >= 100) return true;
  return sim_rng_unit(&s->rng) * 100.0 < pct;
}

/* Schedule the end of the link for `p`; false if it could not be queued (p not freed). */
static bool link_schedule(sim_net *s, sim_linkstate *ls, sim_pkt *p) {
  const sim_link *l = &ls->cfg;
  uint64_t when = s->now + l->delay_ns;
  if (l->jitter_ns) when += sim_rng_below(&s->rng, l->jitter_ns + 1);
  if (p->proto == FIRN_TRANSPORT_UDP && chance(s, l->reorder_pct)) {
    /* Held back and exempt from FIFO: packets sent after it overtake it. */
    when += l->reorder_delay_ns;
    s->stats.reordered++;
  } else {
    if (when < ls->last_arrival) when = ls->last_arrival;
    ls->last_arrival = when;
  }
  if (sim_schedule(s, &p->ev, when) < 0) return false;
  ls->inflight++;
  return true;
}

void sim_link_send(sim_net *s, sim_iface *iface, sim_dir dir, sim_pkt *p) {
  if (s->in_free) {
    sim_pkt_free(s, p);
    return;
  }
  sim_linkstate *ls = dir == SIM_UP ? &iface->up : &iface->down;
  const sim_link *l = &ls->cfg;
  p->iface = iface;
  p->dir = (uint8_t)dir;
  const char *where = dir == SIM_UP ? "uplink" : "downlink";
  char why[64];
  if (l->down) {
    snprintf(why, sizeof why, "(%s cut)", where);
    sim_drop(s, p, &s->stats.drop_down, why);
    return;
  }
  if ((p->proto == FIRN_TRANSPORT_UDP && l->block_udp) ||
      (p->proto == FIRN_TRANSPORT_TCP && l->block_tcp)) {
    snprintf(why, sizeof why, "(firewall on %s)", where);
    sim_drop(s, p, &s->stats.drop_firewall, why);
    return;
  }
  if (l->mtu && p->len > l->mtu) {
    sim_drop(s, p, &s->stats.drop_queue, "(over MTU)");
    return;
  }
  if (ls->inflight >= l->queue_limit) {
    sim_drop(s, p, &s->stats.drop_queue, "(link queue full)");
    return;
  }
  if (p->proto == FIRN_TRANSPORT_UDP) {
    if (chance(s, l->loss_pct)) {
      snprintf(why, sizeof why, "(loss on %s)", where);
      sim_drop(s, p, &s->stats.drop_loss, why);
      return;
    }
    if (chance(s, l->dup_pct)) {
      sim_pkt *c = pkt_clone(s, p);
      if (c) {
        c->iface = iface;
        c->dir = p->dir;
        if (link_schedule(s, ls, c)) {
          s->stats.duplicated++;
          sim_pkt_trace(s, "dup", c, where);
        } else {
          sim_pkt_free(s, c);
        }
      }
    }
  }
  if (!link_schedule(s, ls, p)) sim_drop(s, p, &s->stats.drop_queue, "(no memory)");
}

/* 1 if `addr` lives on `seg` or behind one of its firewalls (non-translating gateways, which
 * route their inside addresses); `depth` bounds nesting. */
static bool segment_reaches(const sim_segment *seg, const firn_addr *addr, int depth) {
  for (const sim_iface *i = seg->ifaces; i; i = i->seg_next) {
    if (i->addr.family == addr->family && firn_addr_equal_ip(&i->addr, addr)) return true;
    if (depth > 0 && i->owner_kind == SIM_OWNER_NAT_OUTSIDE && !i->nat->cfg.translate &&
        i->addr.family == addr->family && segment_reaches(i->nat->inside->seg, addr, depth - 1))
      return true;
  }
  return false;
}

/* Route `p` on `seg`, coming from `from`: to the interface that owns the destination, else to
 * a firewall whose inside reaches it, else up to the family's gateway. */
static void segment_route(sim_net *s, sim_segment *seg, sim_iface *from, sim_pkt *p) {
  for (sim_iface *i = seg->ifaces; i; i = i->seg_next) {
    if (i->addr.family == p->dst.family && firn_addr_equal_ip(&i->addr, &p->dst)) {
      sim_link_send(s, i, SIM_DOWN, p);
      return;
    }
  }
  for (sim_iface *i = seg->ifaces; i; i = i->seg_next) {
    if (i != from && i->owner_kind == SIM_OWNER_NAT_OUTSIDE && !i->nat->cfg.translate &&
        i->addr.family == p->dst.family && segment_reaches(i->nat->inside->seg, &p->dst, 8)) {
      sim_link_send(s, i, SIM_DOWN, p);
      return;
    }
  }
  sim_nat *gw = seg->gateway[sim_family_index(p->dst.family)];
  if (gw && from != gw->inside) {
    sim_link_send(s, gw->inside, SIM_DOWN, p);
    return;
  }
  char why[96];
  snprintf(why, sizeof why, "(no route on %s)", seg->name);
  sim_drop(s, p, &s->stats.drop_unroutable, why);
}

static void udp_deliver(sim_net *s, sim_host *h, sim_pkt *p) {
  sim_udp *u = NULL;
  for (sim_udp *x = h->udps; x; x = x->next) {
    if (x->local.port == p->dst.port && x->local.family == p->dst.family &&
        firn_addr_equal_ip(&x->local, &p->dst)) {
      u = x;
      break;
    }
  }
  if (!u) {
    for (sim_udp *x = h->udps; x; x = x->next) {
      if (x->local.port == p->dst.port && x->local.family == p->dst.family &&
          firn_addr_is_any(&x->local)) {
        u = x;
        break;
      }
    }
  }
  if (!u) {
    sim_drop(s, p, &s->stats.drop_no_socket, "(port closed)");
    return;
  }
  s->stats.delivered++;
  sim_pkt_trace(s, "recv", p, NULL);
  firn_addr local = p->dst, remote = p->src;
  /* `u` may be closed inside the callback: nothing touches it afterwards. */
  if (u->cb) u->cb(u->user, &local, &remote, p->data, p->len, s->now);
  sim_pkt_free(s, p);
}

void sim_packet_arrive(sim_net *s, sim_pkt *p) {
  sim_iface *i = p->iface;
  sim_linkstate *ls = p->dir == SIM_UP ? &i->up : &i->down;
  ls->inflight--;
  if (ls->cfg.down) {
    sim_drop(s, p, &s->stats.drop_down, "(link cut in flight)");
    return;
  }
  if (p->dir == SIM_UP) {
    segment_route(s, i->seg, i, p);
    return;
  }
  switch (i->owner_kind) {
  case SIM_OWNER_HOST:
    if (p->proto == FIRN_TRANSPORT_UDP) udp_deliver(s, i->host, p);
    else sim_tcp_receive(s, i->host, i, p);
    break;
  default:
    sim_nat_receive(s, i, p);
    break;
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Segments, hosts, interfaces                                                                */

int sim_segment_new(sim_net *s, const char *name, sim_segment **out) {
  if (!s || !out) return FIRN_ERR_INVALID_ARG;
  sim_segment *seg = calloc(1, sizeof *seg);
  if (!seg) return FIRN_ERR_NOMEM;
  seg->name = dup_name(name);
  if (!seg->name) {
    free(seg);
    return FIRN_ERR_NOMEM;
  }
  seg->s = s;
  seg->next = s->segments;
  s->segments = seg;
  *out = seg;
  return FIRN_OK;
}

void sim_segment_free(sim_segment *seg) {
  free(seg->name);
  free(seg);
}

int sim_host_new(sim_net *s, const char *name, sim_host **out) {
  if (!s || !out) return FIRN_ERR_INVALID_ARG;
  sim_host *h = calloc(1, sizeof *h);
  if (!h) return FIRN_ERR_NOMEM;
  h->name = dup_name(name);
  if (!h->name) {
    free(h);
    return FIRN_ERR_NOMEM;
  }
  h->s = s;
  h->next_port = SIM_EPHEMERAL_MIN;
  h->next = s->hosts;
  s->hosts = h;
  *out = h;
  return FIRN_OK;
}

const char *sim_host_name(const sim_host *h) { return h->name; }

/* Create an interface on `seg` (owner fields set by the caller); NULL with *err set. */
static sim_iface *iface_new(sim_net *s, sim_segment *seg, const char *addr, int *err) {
  firn_addr a;
  if (!addr || firn_addr_parse(&a, addr, 0) != FIRN_OK || firn_addr_is_any(&a)) {
    *err = FIRN_ERR_INVALID_ARG;
    return NULL;
  }
  a.port = 0;
  for (sim_iface *i = seg->ifaces; i; i = i->seg_next) {
    if (i->addr.family == a.family && firn_addr_equal_ip(&i->addr, &a)) {
      *err = FIRN_ERR_STATE;
      return NULL;
    }
  }
  sim_iface *i = calloc(1, sizeof *i);
  if (!i) {
    *err = FIRN_ERR_NOMEM;
    return NULL;
  }
  i->s = s;
  i->seg = seg;
  i->addr = a;
  sim_link_default(&i->up.cfg);
  sim_link_default(&i->down.cfg);
  /* Append, so segment order (and so routing and traces) follows creation order. */
  sim_iface **pp = &seg->ifaces;
  while (*pp) pp = &(*pp)->seg_next;
  *pp = i;
  return i;
}

/* Unlink from its segment and free. */
static void iface_free(sim_iface *i) {
  if (!i) return;
  sim_iface **pp = &i->seg->ifaces;
  while (*pp && *pp != i) pp = &(*pp)->seg_next;
  if (*pp) *pp = i->seg_next;
  free(i);
}

int sim_host_add_iface(sim_host *h, sim_segment *seg, const char *addr, sim_iface **out) {
  if (!h || !seg || seg->s != h->s) return FIRN_ERR_INVALID_ARG;
  int err = FIRN_OK;
  sim_iface *i = iface_new(h->s, seg, addr, &err);
  if (!i) return err;
  i->owner_kind = SIM_OWNER_HOST;
  i->host = h;
  i->index = (uint32_t)h->n_ifaces + 1;
  snprintf(i->name, sizeof i->name, "eth%zu", h->n_ifaces);
  sim_iface **pp = &h->ifaces;
  while (*pp) pp = &(*pp)->node_next;
  *pp = i;
  h->n_ifaces++;
  if (out) *out = i;
  return FIRN_OK;
}

sim_iface *sim_host_iface(const sim_host *h, size_t n) {
  sim_iface *i = h->ifaces;
  while (i && n--) i = i->node_next;
  return i;
}

void sim_iface_set_link(sim_iface *i, sim_dir dir, const sim_link *l) {
  if (dir & SIM_UP) i->up.cfg = *l;
  if (dir & SIM_DOWN) i->down.cfg = *l;
}

void sim_iface_get_link(const sim_iface *i, sim_dir dir, sim_link *out) {
  *out = dir == SIM_DOWN ? i->down.cfg : i->up.cfg;
}

void sim_iface_set_down(sim_iface *i, int down) {
  i->up.cfg.down = down;
  i->down.cfg.down = down;
  sim_tracef(i->s, "link %s %s on %s", sim_iface_owner(i), down ? "cut" : "restored", i->seg->name);
}

const firn_addr *sim_iface_addr(const sim_iface *i) { return &i->addr; }

void sim_iface_set_name(sim_iface *i, const char *name) {
  snprintf(i->name, sizeof i->name, "%s", name ? name : "");
}

const char *sim_iface_name(const sim_iface *i) { return i->name; }
uint32_t sim_iface_index(const sim_iface *i) { return i->index; }

sim_iface *sim_host_iface_for(sim_host *h, const firn_addr *from) {
  bool any = firn_addr_is_any(from);
  for (sim_iface *i = h->ifaces; i; i = i->node_next) {
    if (i->addr.family != from->family) continue;
    if (any || firn_addr_equal_ip(&i->addr, from)) return i;
  }
  return NULL;
}

static bool addr_overlap(const firn_addr *a, const firn_addr *b) {
  if (a->family != b->family) return false;
  return firn_addr_is_any(a) || firn_addr_is_any(b) || firn_addr_equal_ip(a, b);
}

bool sim_host_port_used(sim_host *h, uint8_t proto, const firn_addr *addr, uint16_t port) {
  if (proto == FIRN_TRANSPORT_UDP) {
    for (sim_udp *u = h->udps; u; u = u->next)
      if (u->local.port == port && addr_overlap(&u->local, addr)) return true;
    return false;
  }
  for (sim_tcp_listener *l = h->listeners; l; l = l->next)
    if (l->local.port == port && addr_overlap(&l->local, addr)) return true;
  for (sim_tcp *c = h->conns; c; c = c->next)
    if (c->local.port == port && addr_overlap(&c->local, addr)) return true;
  return false;
}

int sim_host_alloc_port(sim_host *h, uint8_t proto, const firn_addr *addr, uint16_t *port) {
  const uint32_t span = 65536u - SIM_EPHEMERAL_MIN;
  for (uint32_t n = 0; n < span; n++) {
    uint16_t p = h->next_port;
    h->next_port = p == 65535 ? (uint16_t)SIM_EPHEMERAL_MIN : (uint16_t)(p + 1);
    if (!sim_host_port_used(h, proto, addr, p)) {
      *port = p;
      return FIRN_OK;
    }
  }
  return FIRN_ERR_LIMIT;
}

void sim_host_free(sim_host *h) {
  sim_tcp_host_free(h);
  while (h->udps) {
    sim_udp *u = h->udps;
    h->udps = u->next;
    free(u);
  }
  while (h->ifaces) {
    sim_iface *i = h->ifaces;
    h->ifaces = i->node_next;
    iface_free(i);
  }
  free(h->name);
  free(h);
}

sim_iface *sim_nat_iface_new(sim_net *s, sim_segment *seg, const char *addr, int *err) {
  return iface_new(s, seg, addr, err);
}

void sim_nat_iface_free(sim_iface *i) { iface_free(i); }

/* ------------------------------------------------------------------------------------------ */
/* UDP sockets                                                                                */

int sim_udp_open(sim_host *h, const firn_addr *local, sim_udp_recv_fn cb, void *user,
                 sim_udp **out) {
  if (!h || !local || !out) return FIRN_ERR_INVALID_ARG;
  if (local->family != FIRN_AF_INET && local->family != FIRN_AF_INET6) return FIRN_ERR_INVALID_ARG;
  if (!firn_addr_is_any(local) && !sim_host_iface_for(h, local)) return FIRN_ERR_NOT_FOUND;
  firn_addr a = *local;
  if (a.port == 0) {
    int rc = sim_host_alloc_port(h, FIRN_TRANSPORT_UDP, &a, &a.port);
    if (rc < 0) return rc;
  } else if (sim_host_port_used(h, FIRN_TRANSPORT_UDP, &a, a.port)) {
    return FIRN_ERR_STATE;
  }
  sim_udp *u = calloc(1, sizeof *u);
  if (!u) return FIRN_ERR_NOMEM;
  u->host = h;
  u->local = a;
  u->cb = cb;
  u->user = user;
  sim_udp **pp = &h->udps;
  while (*pp) pp = &(*pp)->next;
  *pp = u;
  *out = u;
  return FIRN_OK;
}

const firn_addr *sim_udp_local(const sim_udp *u) { return &u->local; }

int sim_udp_send_from(sim_udp *u, const firn_addr *from, const firn_addr *to, const void *data,
                      size_t len) {
  if (!u || !to || (!data && len)) return FIRN_ERR_INVALID_ARG;
  if (len > SIM_MAX_UDP) return FIRN_ERR_INVALID_ARG;
  sim_host *h = u->host;
  sim_net *s = h->s;
  if (to->family != u->local.family || to->port == 0) return FIRN_ERR_INVALID_ARG;
  const firn_addr *src_ip = &u->local;
  if (from && !firn_addr_is_any(from)) {
    if (!firn_addr_is_any(&u->local) && !firn_addr_equal_ip(from, &u->local))
      return FIRN_ERR_INVALID_ARG;
    src_ip = from;
  }
  sim_iface *i = sim_host_iface_for(h, src_ip);
  if (!i) return FIRN_ERR_INVALID_ARG;
  firn_addr src = i->addr;
  src.port = u->local.port;
  s->stats.sent++;
  sim_pkt *p = sim_pkt_new(s, FIRN_TRANSPORT_UDP, &src, to, data, len);
  if (!p) {
    s->stats.drop_queue++;
    sim_tracef(s, "drop udp from %s: event cap %zu reached", h->name, s->set.max_events);
    return FIRN_OK; /* as on a real network: the datagram is just gone */
  }
  p->iface = i;
  sim_pkt_trace(s, "send", p, NULL);
  sim_link_send(s, i, SIM_UP, p);
  return FIRN_OK;
}

int sim_udp_inject(sim_iface *from, const firn_addr *src, const firn_addr *dst, const void *data,
                   size_t len) {
  if (!from || !src || !dst || (!data && len) || len > SIM_MAX_UDP || src->family != dst->family)
    return FIRN_ERR_INVALID_ARG;
  sim_net *s = from->s;
  s->stats.sent++;
  sim_pkt *p = sim_pkt_new(s, FIRN_TRANSPORT_UDP, src, dst, data, len);
  if (!p) {
    s->stats.drop_queue++;
    return FIRN_OK;
  }
  p->iface = from;
  sim_pkt_trace(s, "inject", p, NULL);
  sim_link_send(s, from, SIM_UP, p);
  return FIRN_OK;
}

int sim_udp_send(sim_udp *u, const firn_addr *to, const void *data, size_t len) {
  return sim_udp_send_from(u, NULL, to, data, len);
}

void sim_udp_close(sim_udp *u) {
  if (!u) return;
  sim_udp **pp = &u->host->udps;
  while (*pp && *pp != u) pp = &(*pp)->next;
  if (*pp) *pp = u->next;
  free(u);
}
