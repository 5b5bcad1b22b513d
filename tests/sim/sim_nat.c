/* NAT boxes: RFC 4787 mapping and filtering behaviour (UDP), the same rules for TCP
 * (RFC 5382, simplified: no TCP state tracking, idle timeout only). */
#include "sim_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sim_nat_config_default(sim_nat_config *c) {
  memset(c, 0, sizeof *c);
  c->size = sizeof *c;
  c->mapping = SIM_NAT_EI;
  c->filtering = SIM_NAT_AD;
  c->port_preservation = 1;
  c->random_ports = 0;
  c->port_min = 1024;
  c->port_max = 65535;
  c->hairpinning = 1;
  c->translate = 1;
  c->inbound_refresh = 0;
  c->udp_timeout_ns = 120 * FIRN_NS_PER_S;
  c->tcp_timeout_ns = (2 * 3600 + 4 * 60) * FIRN_NS_PER_S;
  c->max_mappings = 4096;
  c->max_filter_entries = 1024;
}

void sim_nat_config_symmetric(sim_nat_config *c) {
  sim_nat_config_default(c);
  c->mapping = SIM_NAT_APD;
  c->filtering = SIM_NAT_APD;
  c->port_preservation = 0;
  c->random_ports = 1;
  c->hairpinning = 0;
}

static bool config_ok(const sim_nat_config *c) {
  return c->size >= sizeof *c && c->mapping <= SIM_NAT_APD && c->filtering <= SIM_NAT_APD &&
         c->port_min > 0 && c->port_min <= c->port_max && c->max_mappings > 0 &&
         c->max_filter_entries > 0 && c->udp_timeout_ns > 0 && c->tcp_timeout_ns > 0;
}

static const char *behavior_name(sim_nat_behavior b) {
  return b == SIM_NAT_EI ? "EI" : b == SIM_NAT_AD ? "AD" : "APD";
}

int sim_nat_new(sim_net *s, const char *name, const sim_nat_config *cfg, sim_segment *inside,
                const char *inside_addr, sim_segment *outside, const char *outside_addr,
                sim_nat **out) {
  if (!s || !inside || !outside || !out || inside == outside) return FIRN_ERR_INVALID_ARG;
  sim_nat_config def;
  sim_nat_config_default(&def);
  if (cfg) {
    if (!config_ok(cfg)) return FIRN_ERR_INVALID_ARG;
    def = *cfg;
  }
  firn_addr ia, oa;
  if (!inside_addr || !outside_addr || firn_addr_parse(&ia, inside_addr, 0) != FIRN_OK ||
      firn_addr_parse(&oa, outside_addr, 0) != FIRN_OK || ia.family != oa.family)
    return FIRN_ERR_INVALID_ARG;
  if (inside->gateway[sim_family_index(ia.family)]) return FIRN_ERR_STATE;
  sim_nat *n = calloc(1, sizeof *n);
  if (!n) return FIRN_ERR_NOMEM;
  size_t nl = strlen(name ? name : "nat") + 1;
  n->name = malloc(nl);
  if (!n->name) {
    free(n);
    return FIRN_ERR_NOMEM;
  }
  memcpy(n->name, name ? name : "nat", nl);
  int err = FIRN_OK;
  n->inside = sim_nat_iface_new(s, inside, inside_addr, &err);
  if (n->inside) n->outside = sim_nat_iface_new(s, outside, outside_addr, &err);
  if (!n->inside || !n->outside) {
    sim_nat_iface_free(n->inside);
    free(n->name);
    free(n);
    return err;
  }
  n->inside->owner_kind = SIM_OWNER_NAT_INSIDE;
  n->inside->nat = n;
  n->outside->owner_kind = SIM_OWNER_NAT_OUTSIDE;
  n->outside->nat = n;
  snprintf(n->inside->name, sizeof n->inside->name, "lan");
  snprintf(n->outside->name, sizeof n->outside->name, "wan");
  n->inside->index = 1;
  n->outside->index = 2;
  n->s = s;
  n->cfg = def;
  n->next_port = def.port_min;
  inside->gateway[sim_family_index(ia.family)] = n;
  n->next = s->nats;
  if (s->nats) s->nats->prev = n;
  s->nats = n;
  *out = n;
  return FIRN_OK;
}

sim_iface *sim_nat_inside(const sim_nat *n) { return n->inside; }
sim_iface *sim_nat_outside(const sim_nat *n) { return n->outside; }

void sim_nat_set_config(sim_nat *n, const sim_nat_config *cfg) {
  if (config_ok(cfg)) n->cfg = *cfg;
}

static void mapping_clear(sim_nat_mapping *m) {
  free(m->perms);
  m->perms = NULL;
  m->n_perms = m->cap_perms = 0;
}

void sim_nat_flush(sim_nat *n) {
  for (size_t i = 0; i < n->n_maps; i++) mapping_clear(&n->maps[i]);
  n->n_maps = 0;
  sim_tracef(n->s, "nat %s: all mappings flushed", n->name);
}

void sim_nat_free(sim_nat *n) {
  sim_net *s = n->s;
  if (n->prev) n->prev->next = n->next;
  else s->nats = n->next;
  if (n->next) n->next->prev = n->prev;
  sim_nat **gw = &n->inside->seg->gateway[sim_family_index(n->inside->addr.family)];
  if (*gw == n) *gw = NULL;
  for (size_t i = 0; i < n->n_maps; i++) mapping_clear(&n->maps[i]);
  free(n->maps);
  sim_nat_iface_free(n->inside);
  sim_nat_iface_free(n->outside);
  free(n->name);
  free(n);
}

static uint64_t timeout_of(const sim_nat *n, uint8_t proto) {
  return proto == FIRN_TRANSPORT_TCP ? n->cfg.tcp_timeout_ns : n->cfg.udp_timeout_ns;
}

static bool expired(uint64_t now, uint64_t last, uint64_t timeout) {
  return now - last >= timeout;
}

/* Drop expired mappings and filter entries. Removal keeps the order of the rest, so the
 * table's behaviour depends only on what happened, never on memory layout. */
static void expire(sim_nat *n) {
  uint64_t now = n->s->now;
  size_t w = 0;
  for (size_t r = 0; r < n->n_maps; r++) {
    sim_nat_mapping *m = &n->maps[r];
    uint64_t to = timeout_of(n, m->proto);
    if (expired(now, m->last, to)) {
      if (sim_tracing(n->s)) {
        char a[FIRN_ADDR_STRLEN];
        sim_tracef(n->s, "nat %s: %s mapping %s -> port %u expired", n->name,
                   m->proto == FIRN_TRANSPORT_TCP ? "tcp" : "udp", sim_addr_str(&m->internal, a),
                   m->ext_port);
      }
      mapping_clear(m);
      continue;
    }
    size_t pw = 0;
    for (size_t pr = 0; pr < m->n_perms; pr++)
      if (!expired(now, m->perms[pr].last, to)) m->perms[pw++] = m->perms[pr];
    m->n_perms = pw;
    if (w != r) n->maps[w] = *m;
    w++;
  }
  n->n_maps = w;
}

size_t sim_nat_mapping_count(sim_nat *n) {
  expire(n);
  return n->n_maps;
}

static bool port_used(const sim_nat *n, uint8_t proto, uint16_t port) {
  for (size_t i = 0; i < n->n_maps; i++)
    if (n->maps[i].proto == proto && n->maps[i].ext_port == port) return true;
  return false;
}

static int alloc_port(sim_nat *n, uint8_t proto, uint16_t internal_port, uint16_t *out) {
  const sim_nat_config *c = &n->cfg;
  uint32_t span = (uint32_t)c->port_max - c->port_min + 1;
  if (c->port_preservation && internal_port >= c->port_min && internal_port <= c->port_max &&
      !port_used(n, proto, internal_port)) {
    *out = internal_port;
    return FIRN_OK;
  }
  if (c->random_ports) {
    for (int tries = 0; tries < 64; tries++) {
      uint16_t p = (uint16_t)(c->port_min + sim_rng_below(&n->s->rng, span));
      if (!port_used(n, proto, p)) {
        *out = p;
        return FIRN_OK;
      }
    }
  }
  for (uint32_t k = 0; k < span; k++) {
    if (n->next_port < c->port_min || n->next_port > c->port_max) n->next_port = c->port_min;
    uint16_t p = (uint16_t)n->next_port++;
    if (!port_used(n, proto, p)) {
      *out = p;
      return FIRN_OK;
    }
  }
  return FIRN_ERR_LIMIT;
}

static bool mapping_matches(const sim_nat *n, const sim_nat_mapping *m, uint8_t proto,
                            const firn_addr *internal, const firn_addr *remote) {
  if (m->proto != proto || !firn_addr_equal(&m->internal, internal)) return false;
  if (!n->cfg.translate) return true; /* a firewall keeps one state per inside endpoint */
  switch (n->cfg.mapping) {
  case SIM_NAT_EI: return true;
  case SIM_NAT_AD: return firn_addr_equal_ip(&m->remote, remote);
  default: return firn_addr_equal(&m->remote, remote);
  }
}

/* The outbound mapping for (internal -> remote), created if needed; NULL if the table is full. */
static sim_nat_mapping *outbound_mapping(sim_nat *n, uint8_t proto, const firn_addr *internal,
                                         const firn_addr *remote, bool *created) {
  *created = false;
  for (size_t i = 0; i < n->n_maps; i++)
    if (mapping_matches(n, &n->maps[i], proto, internal, remote)) return &n->maps[i];
  if (n->n_maps >= n->cfg.max_mappings) return NULL;
  uint16_t port = internal->port; /* a firewall translates nothing */
  if (n->cfg.translate && alloc_port(n, proto, internal->port, &port) < 0) return NULL;
  if (n->n_maps == n->cap_maps) {
    size_t nc = n->cap_maps ? n->cap_maps * 2 : 16;
    sim_nat_mapping *nm = realloc(n->maps, nc * sizeof *nm);
    if (!nm) return NULL;
    n->maps = nm;
    n->cap_maps = nc;
  }
  sim_nat_mapping *m = &n->maps[n->n_maps++];
  memset(m, 0, sizeof *m);
  m->proto = proto;
  m->internal = *internal;
  m->remote = *remote;
  m->ext_port = port;
  m->last = n->s->now;
  *created = true;
  return m;
}

static void permit(sim_nat *n, sim_nat_mapping *m, const firn_addr *remote) {
  uint64_t now = n->s->now;
  for (size_t i = 0; i < m->n_perms; i++) {
    if (firn_addr_equal(&m->perms[i].remote, remote)) {
      m->perms[i].last = now;
      return;
    }
  }
  if (m->n_perms >= n->cfg.max_filter_entries) {
    /* Full: the least recently used entry makes room. */
    size_t old = 0;
    for (size_t i = 1; i < m->n_perms; i++)
      if (m->perms[i].last < m->perms[old].last) old = i;
    m->perms[old].remote = *remote;
    m->perms[old].last = now;
    return;
  }
  if (m->n_perms == m->cap_perms) {
    size_t nc = m->cap_perms ? m->cap_perms * 2 : 4;
    sim_nat_perm *np = realloc(m->perms, nc * sizeof *np);
    if (!np) return; /* the entry is not remembered: inbound from it gets filtered */
    m->perms = np;
    m->cap_perms = nc;
  }
  m->perms[m->n_perms].remote = *remote;
  m->perms[m->n_perms].last = now;
  m->n_perms++;
}

static bool perm_matches(const sim_nat *n, const sim_nat_perm *p, const firn_addr *from) {
  return n->cfg.filtering == SIM_NAT_AD ? firn_addr_equal_ip(&p->remote, from)
                                        : firn_addr_equal(&p->remote, from);
}

static bool filter_allows(const sim_nat *n, const sim_nat_mapping *m, const firn_addr *from) {
  if (n->cfg.filtering == SIM_NAT_EI) return true;
  for (size_t i = 0; i < m->n_perms; i++)
    if (perm_matches(n, &m->perms[i], from)) return true;
  return false;
}

/* Inbound refresh: the mapping and the filter entries that let this packet in. */
static void refresh_inbound(sim_nat *n, sim_nat_mapping *m, const firn_addr *from) {
  m->last = n->s->now;
  for (size_t i = 0; i < m->n_perms; i++)
    if (perm_matches(n, &m->perms[i], from)) m->perms[i].last = n->s->now;
}

static void nat_trace(sim_net *s, sim_nat *n, const char *what, const sim_pkt *p,
                      const sim_nat_mapping *m, bool created) {
  if (!sim_tracing(s)) return;
  char extra[160], a[FIRN_ADDR_STRLEN];
  if (!n->cfg.translate) {
    snprintf(extra, sizeof extra, "(%s filt %s: state for %s%s)", n->name,
             behavior_name(n->cfg.filtering), sim_addr_str(&m->internal, a), created ? ", new" : "");
  } else {
    snprintf(extra, sizeof extra, "(%s map %s/%s filt %s: %s <-> port %u%s)", n->name,
             behavior_name(n->cfg.mapping), n->cfg.port_preservation ? "pp" : "-",
             behavior_name(n->cfg.filtering), sim_addr_str(&m->internal, a), m->ext_port,
             created ? ", new" : "");
  }
  sim_pkt_trace(s, what, p, extra);
}

/* A packet at the outside address: translate to the inside or drop. `p->iface` is the
 * interface it arrived on (outside, or inside for hairpinning). */
static void inbound(sim_net *s, sim_nat *n, sim_pkt *p) {
  sim_nat_mapping *m = NULL;
  for (size_t i = 0; i < n->n_maps; i++) {
    const sim_nat_mapping *x = &n->maps[i];
    if (x->proto == p->proto &&
        (n->cfg.translate ? x->ext_port == p->dst.port : firn_addr_equal(&x->internal, &p->dst))) {
      m = &n->maps[i];
      break;
    }
  }
  char why[96];
  if (!m) {
    snprintf(why, sizeof why, "(%s: no mapping)", n->name);
    sim_drop(s, p, &s->stats.drop_nat_mapping, why);
    return;
  }
  if (!filter_allows(n, m, &p->src)) {
    snprintf(why, sizeof why, "(%s: filtered, %s filtering)", n->name,
             behavior_name(n->cfg.filtering));
    sim_drop(s, p, &s->stats.drop_nat_filter, why);
    return;
  }
  if (n->cfg.inbound_refresh) refresh_inbound(n, m, &p->src);
  p->dst = m->internal;
  nat_trace(s, n, n->cfg.translate ? "nat-in" : "fw-in", p, m, false);
  sim_link_send(s, n->inside, SIM_UP, p);
}

void sim_nat_receive(sim_net *s, sim_iface *iface, sim_pkt *p) {
  sim_nat *n = iface->nat;
  expire(n);
  char why[96];
  const firn_addr *ext = &n->outside->addr;
  if (p->dst.family != ext->family) {
    snprintf(why, sizeof why, "(%s: address family not translated)", n->name);
    sim_drop(s, p, &s->stats.drop_unroutable, why);
    return;
  }
  if (iface->owner_kind == SIM_OWNER_NAT_OUTSIDE) {
    if (!n->cfg.translate && firn_addr_equal_ip(&p->dst, ext)) {
      snprintf(why, sizeof why, "(%s: nothing listens on the box)", n->name);
      sim_drop(s, p, &s->stats.drop_no_socket, why);
      return;
    }
    inbound(s, n, p);
    return;
  }
  /* From the inside. */
  if (firn_addr_equal_ip(&p->dst, &n->inside->addr) ||
      (!n->cfg.translate && firn_addr_equal_ip(&p->dst, ext))) {
    snprintf(why, sizeof why, "(%s: nothing listens on the box)", n->name);
    sim_drop(s, p, &s->stats.drop_no_socket, why);
    return;
  }
  bool hairpin = firn_addr_equal_ip(&p->dst, ext);
  if (hairpin && !n->cfg.hairpinning) {
    snprintf(why, sizeof why, "(%s: no hairpinning)", n->name);
    sim_drop(s, p, &s->stats.drop_unroutable, why);
    return;
  }
  bool created;
  sim_nat_mapping *m = outbound_mapping(n, p->proto, &p->src, &p->dst, &created);
  if (!m) {
    snprintf(why, sizeof why, "(%s: mapping table full)", n->name);
    sim_drop(s, p, &s->stats.drop_nat_mapping, why);
    return;
  }
  m->last = s->now;
  permit(n, m, &p->dst);
  if (!n->cfg.translate) {
    nat_trace(s, n, "fw-out", p, m, created);
    sim_link_send(s, n->outside, SIM_UP, p);
    return;
  }
  p->src = *ext;
  p->src.port = m->ext_port;
  if (hairpin) {
    /* RFC 4787 REQ-9: the packet re-enters with the external source, and the receiver's
     * mapping applies its filtering to that source. */
    nat_trace(s, n, "hairpin", p, m, created);
    inbound(s, n, p);
    return;
  }
  nat_trace(s, n, "nat-out", p, m, created);
  sim_link_send(s, n->outside, SIM_UP, p);
}
