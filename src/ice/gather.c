/* ICE gathering: host candidates from the addresses the runtime bound (RFC 8445 5.1.1.1,
 * priorities 5.1.2 with RFC 8421 local preferences, VPN policy, redundancy elimination),
 * server-reflexive candidates from Binding requests to the configured STUN servers
 * (5.1.1.2), and the gathering-done bookkeeping. Relay candidates (TURN) plug in here. */
#include "ice/agent_internal.h"

#include <string.h>

/* Local preference classes: lower classes get lower preferences. */
enum { CLASS_NORMAL = 0, CLASS_LOCAL = 1, CLASS_VPN = 2 };

void firn_ice_foundation(char out[FIRN_ICE_FOUNDATION_MAX], uint8_t type, const firn_addr *base,
                            const firn_addr *server, uint8_t transport) {
  /* RFC 8445 5.1.1.3: same type, base IP, server and transport -> same foundation. */
  uint32_t h = 2166136261u;
  uint8_t buf[1 + 1 + 16 + 1 + 16 + 1];
  size_t n = 0;
  buf[n++] = type;
  buf[n++] = base->family;
  memcpy(buf + n, base->addr, 16);
  n += 16;
  buf[n++] = server ? server->family : 0;
  if (server) memcpy(buf + n, server->addr, 16);
  else memset(buf + n, 0, 16);
  n += 16;
  buf[n++] = transport;
  for (size_t i = 0; i < n; i++) {
    h ^= buf[i];
    h *= 16777619u;
  }
  static const char hex[] = "0123456789abcdef";
  for (int i = 0; i < 8; i++) out[i] = hex[(h >> (28 - 4 * i)) & 15];
  out[8] = '\0';
}

ice_local *firn_ice_add_local(firn_agent *ag, ice_stream *st, const firn_candidate *c, ice_local *base,
                              int report) {
  if (st->nlocal >= ICE_MAX_LOCAL) return NULL;
  if (firn_ice_grow(ag, (void **)&st->locals, &st->caplocal, st->nlocal + 1, sizeof *st->locals) < 0)
    return NULL;
  ice_local *l = firn_calloc(&ag->alloc, 1, sizeof *l);
  if (!l) return NULL;
  l->c = *c;
  l->base = base ? base : l;
  l->base_addr = l->base->c.addr;
  l->local_pref = base ? base->local_pref : 0;
  l->vpn = base ? base->vpn : 0;
  l->usable = ag->s.policy == FIRN_ICE_POLICY_RELAY ? (c->type == FIRN_CAND_RELAY) : 1;
  st->locals[st->nlocal++] = l;
  if (report && l->usable && c->type != FIRN_CAND_PRFLX && st->gather_started) {
    l->reported = 1;
    firn_ice_event_candidate(ag, st->id, &l->c);
  }
  return l;
}

void firn_ice_free_locals(firn_agent *ag, ice_stream *st) {
  for (unsigned i = 0; i < st->nlocal; i++) firn_free(&ag->alloc, st->locals[i]);
  firn_free(&ag->alloc, st->locals);
  st->locals = NULL;
  st->nlocal = st->caplocal = 0;
}

ice_local *firn_ice_find_base(const firn_agent *ag, const firn_addr *local, uint8_t transport,
                              ice_stream **st_out) {
  for (unsigned s = 0; s < ag->nstreams; s++) {
    ice_stream *st = ag->streams[s];
    for (unsigned i = 0; i < st->nlocal; i++) {
      ice_local *l = st->locals[i];
      if (l->base == l && l->c.type == FIRN_CAND_HOST && l->c.transport == transport &&
          firn_addr_equal(&l->c.addr, local)) {
        if (st_out) *st_out = st;
        return l;
      }
    }
  }
  return NULL;
}

static int gather_from(firn_agent *ag, ice_stream *st, ice_local *base, uint64_t now);

static int addr_class(const firn_agent *ag, const firn_local_address *la, int *vpn) {
  *vpn = la->ifname && firn_ice_ifname_is_vpn(la->ifname);
  if (*vpn && ag->s.vpn == FIRN_VPN_DEPRIORITIZE) return CLASS_VPN;
  if (firn_addr_is_loopback(&la->addr) || firn_addr_is_link_local(&la->addr) ||
      firn_addr_is_v4mapped(&la->addr))
    return CLASS_LOCAL;
  return CLASS_NORMAL;
}

int firn_ice_add_host(firn_agent *ag, ice_stream *st, unsigned component, const firn_local_address *la) {
  int vpn = 0;
  int cls = addr_class(ag, la, &vpn);
  if (vpn && ag->s.vpn == FIRN_VPN_EXCLUDE) {
    ICE_LOG(ag, FIRN_LOG_INFO, "interface %s looks like a VPN tunnel: excluded", la->ifname);
    return FIRN_OK;
  }
  /* the same bound address twice is redundant */
  if (firn_ice_find_base(ag, &la->addr, la->transport, NULL)) return FIRN_OK;
  /* RFC 8421: interleave families, IPv6 first; unique per base within a component */
  unsigned same = 0;
  for (unsigned i = 0; i < st->nlocal; i++) {
    const ice_local *l = st->locals[i];
    if (l->c.type != FIRN_CAND_HOST || l->c.component != component || l->c.transport != la->transport) continue;
    if (la->transport == FIRN_TRANSPORT_TCP) {
      if (l->c.tcptype == FIRN_TCP_PASSIVE && l->c.addr.family == la->addr.family &&
          ((l->local_pref >> 10) & 7) == (unsigned)(7 - cls))
        same++;
    } else if (l->c.addr.family == la->addr.family && (l->local_pref >> 13) == (unsigned)(7 - cls)) {
      same++;
    }
  }
  unsigned rank = same * 2 + (la->addr.family == FIRN_AF_INET ? 1 : 0);
  if (la->transport == FIRN_TRANSPORT_TCP) return firn_ice_tcp_add_host(ag, st, component, la, (unsigned)cls, rank, vpn);
  if (rank > 8000) rank = 8000;
  uint16_t pref = (uint16_t)(((unsigned)(7 - cls) << 13) | (0x1fffu - rank));
  firn_candidate c;
  memset(&c, 0, sizeof c);
  c.component = (uint16_t)component;
  c.transport = FIRN_TRANSPORT_UDP;
  c.type = FIRN_CAND_HOST;
  c.tcptype = FIRN_TCP_NONE;
  c.addr = la->addr;
  c.related.family = FIRN_AF_NONE;
  c.priority = firn_ice_priority(ICE_PREF_HOST, pref, (uint16_t)component);
  firn_ice_foundation(c.foundation, FIRN_CAND_HOST, &la->addr, NULL, FIRN_TRANSPORT_UDP);
  if (st->nlocal >= ICE_MAX_LOCAL) return FIRN_ERR_LIMIT;
  ice_local *l = firn_ice_add_local(ag, st, &c, NULL, 0);
  if (!l) return FIRN_ERR_NOMEM;
  l->local_pref = pref;
  l->vpn = (uint8_t)vpn;
  if (l->usable && st->gather_started) {
    l->reported = 1;
    firn_ice_event_candidate(ag, st->id, &l->c);
  }
  firn_ice_pair_local(ag, st, l);
  /* an address that appears after gathering started gets its srflx candidates too */
  if (st->gather_started && !ag->s.lite && ag->s.policy == FIRN_ICE_POLICY_ALL &&
      !firn_addr_is_link_local(&l->c.addr) && ag->nservers) {
    int rc = gather_from(ag, st, l, ag->now);
    if (rc < 0) ICE_LOG(ag, FIRN_LOG_WARN, "stream %u: gathering: %s", st->id, firn_strerror(rc));
    if (st->gather_done) {
      /* already reported end-of-candidates: more candidates may still trickle */
      ICE_LOG(ag, FIRN_LOG_DEBUG, "stream %u: new local address after gathering finished", st->id);
    }
  }
  return FIRN_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Server-reflexive gathering                                                                  */

void firn_ice_gather_check_done(firn_agent *ag, ice_stream *st) {
  if (!st->gather_started || st->gather_done) return;
  for (unsigned i = 0; i < ag->ngreq; i++)
    if (ag->greq[i].active && ag->greq[i].stream == st->id) return;
  if (firn_ice_relay_pending(ag, st)) return;
  st->gather_done = 1;
  ice_event ev;
  memset(&ev, 0, sizeof ev);
  ev.type = EV_GATHERING_DONE;
  ev.stream = st->id;
  (void)firn_ice_queue_event(ag, &ev);
}

/* A server-reflexive candidate of `base` at `mapped`, learned from `server` (a STUN Binding
 * answer, or a TURN allocation's XOR-MAPPED-ADDRESS); redundant ones are dropped, a
 * peer-reflexive candidate found earlier at the same address is upgraded. */
void firn_ice_add_srflx(firn_agent *ag, ice_stream *st, ice_local *base, const firn_addr *mapped,
                        const firn_addr *server) {
  if (mapped->family != base->c.addr.family || firn_addr_equal(mapped, &base->c.addr)) return;
  for (unsigned i = 0; i < st->nlocal; i++) {
    const ice_local *l = st->locals[i];
    if (l->base == base && l->c.type == FIRN_CAND_SRFLX && firn_addr_equal(&l->c.addr, mapped)) return;
  }
  firn_candidate c;
  memset(&c, 0, sizeof c);
  c.component = base->c.component;
  c.transport = FIRN_TRANSPORT_UDP;
  c.type = FIRN_CAND_SRFLX;
  c.addr = *mapped;
  c.related = base->c.addr;
  c.priority = firn_ice_priority(ICE_PREF_SRFLX, base->local_pref, base->c.component);
  firn_ice_foundation(c.foundation, FIRN_CAND_SRFLX, &base->c.addr, server, FIRN_TRANSPORT_UDP);
  /* a prflx learned earlier at the same address is the same candidate: upgrade it */
  ice_local *dup = NULL;
  for (unsigned i = 0; i < st->nlocal; i++)
    if (st->locals[i]->base == base && firn_addr_equal(&st->locals[i]->c.addr, mapped)) dup = st->locals[i];
  if (dup && dup->c.type == FIRN_CAND_PRFLX) {
    dup->c = c;
    if (dup->usable && !dup->reported) {
      dup->reported = 1;
      firn_ice_event_candidate(ag, st->id, &dup->c);
    }
  } else if (!dup && !firn_ice_add_local(ag, st, &c, base, 1)) {
    ICE_LOG(ag, FIRN_LOG_WARN, "srflx candidate dropped (limit or memory)");
  }
}

static void gather_result(void *user, const firn_stun_result *res) {
  firn_agent *ag = user;
  ice_gather_req *g = NULL;
  for (unsigned i = 0; i < ag->ngreq; i++)
    if (ag->greq[i].active && ag->greq[i].id == res->id) g = &ag->greq[i];
  if (!g) return;
  g->active = 0;
  ice_stream *st = firn_ice_stream(ag, g->stream);
  ice_local *base = g->base;
  if (!st) return;
  if (base->ngather) base->ngather--;
  firn_addr mapped;
  if (res->status == 0 && res->response &&
      (firn_stun_msg_get_xor_addr(res->response, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, 0, &mapped) == 0 ||
       firn_stun_msg_get_addr(res->response, FIRN_STUN_ATTR_MAPPED_ADDRESS, &mapped) == 0)) {
    firn_ice_add_srflx(ag, st, base, &mapped, &res->from);
  } else {
    ICE_LOG(ag, FIRN_LOG_INFO, "stream %u: STUN gathering from a base failed (%s)", st->id,
            firn_strerror(res->status));
  }
  firn_ice_gather_check_done(ag, st);
}

int firn_ice_gather_client(firn_agent *ag) {
  if (ag->gather) return FIRN_OK;
  firn_stun_client_settings cs;
  firn_stun_client_settings_default(&cs);
  cs.alloc = &ag->alloc;
  cs.random = firn_ice_random_fn; /* the agent's pool */
  cs.random_user = ag;
  cs.log = ag->log.fn;
  cs.log_user = ag->log.user;
  cs.log_level = ag->log.level;
  cs.rto_ns = 500 * FIRN_NS_PER_MS;
  cs.rc = 6; /* 0, 0.5, 1.5, 3.5, 7.5, 15.5 s, give up at 17.5 s */
  cs.rm = 4;
  cs.software = ag->software;
  cs.on_result = gather_result;
  cs.user = ag;
  return firn_stun_client_new(&ag->gather, &cs);
}

static int gather_from(firn_agent *ag, ice_stream *st, ice_local *base, uint64_t now) {
  for (unsigned s = 0; s < ag->nservers; s++) {
    const firn_addr *srv = &ag->servers[s];
    if (srv->family != base->c.addr.family) continue;
    int rc = firn_ice_gather_client(ag);
    if (rc < 0) return rc;
    unsigned slot = ag->ngreq;
    for (unsigned i = 0; i < ag->ngreq; i++)
      if (!ag->greq[i].active) {
        slot = i;
        break;
      }
    if (slot == ag->ngreq) {
      rc = firn_ice_grow(ag, (void **)&ag->greq, &ag->capgreq, ag->ngreq + 1, sizeof *ag->greq);
      if (rc < 0) return rc;
    }
    firn_stun_request req;
    memset(&req, 0, sizeof req);
    req.method = FIRN_STUN_BINDING;
    req.dest = *srv;
    req.fingerprint = 1;
    req.ctx = base;
    uint64_t id = 0;
    rc = firn_stun_client_start(ag->gather, &req, now, &id);
    if (rc < 0) return rc;
    ice_gather_req *g = &ag->greq[slot];
    if (slot == ag->ngreq) ag->ngreq++;
    g->id = id;
    g->base = base;
    g->stream = st->id;
    g->active = 1;
    base->ngather++;
  }
  return FIRN_OK;
}

int firn_ice_gather_start(firn_agent *ag, uint64_t now) {
  int rc = FIRN_OK;
  for (unsigned s = 0; s < ag->nstreams; s++) {
    ice_stream *st = ag->streams[s];
    if (st->gather_started) continue;
    st->gather_started = 1;
    unsigned nhost = st->nlocal;
    for (unsigned i = 0; i < nhost; i++) {
      ice_local *l = st->locals[i];
      if (l->usable && !l->reported && l->c.type != FIRN_CAND_PRFLX) {
        l->reported = 1;
        firn_ice_event_candidate(ag, st->id, &l->c);
      }
    }
    /* srflx: a lite agent has a public address and gathers only host candidates; with the
     * relay policy srflx candidates would never be used */
    if (!ag->s.lite && ag->s.policy == FIRN_ICE_POLICY_ALL) {
      for (unsigned i = 0; i < nhost && rc == 0; i++) {
        ice_local *l = st->locals[i];
        if (l->c.type != FIRN_CAND_HOST || l->c.transport != FIRN_TRANSPORT_UDP) continue;
        if (firn_addr_is_link_local(&l->c.addr)) continue;
        rc = gather_from(ag, st, l, now);
      }
    }
    /* relay candidates: TURN allocations from the UDP host bases (relay.c) */
    firn_ice_relay_gather(ag, st, now);
    if (rc < 0) ICE_LOG(ag, FIRN_LOG_WARN, "stream %u: gathering: %s", st->id, firn_strerror(rc));
    rc = FIRN_OK; /* a failed server request still lets gathering finish */
    firn_ice_gather_check_done(ag, st);
  }
  return rc;
}
