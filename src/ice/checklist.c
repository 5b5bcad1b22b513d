/* ICE check lists (RFC 8445 6.1.2 - 6.1.4, 8.1): remote candidates (signalled and
 * peer-reflexive, with reconciliation), pairing, pruning, the pair bound, pair priorities,
 * the triggered-check queue, the Ta pacer shared by all streams, foundation-based
 * unfreezing, regular nomination and selection. */
#include "ice/agent_internal.h"

#include <string.h>

uint64_t firn_ice_pair_priority(const firn_agent *ag, const ice_pair *p) {
  uint64_t l = p->local->c.priority, r = p->remote->c.priority;
  uint64_t g = ag->role == FIRN_ICE_CONTROLLING ? l : r;
  uint64_t d = ag->role == FIRN_ICE_CONTROLLING ? r : l;
  uint64_t mn = g < d ? g : d, mx = g < d ? d : g;
  return (mn << 32) + 2 * mx + (g > d ? 1 : 0);
}

void firn_ice_sort_pairs(firn_agent *ag, ice_stream *st) {
  for (unsigned i = 0; i < st->npairs; i++) st->pairs[i]->priority = firn_ice_pair_priority(ag, st->pairs[i]);
  /* insertion sort: stable, and the list is nearly sorted */
  for (unsigned i = 1; i < st->npairs; i++) {
    ice_pair *p = st->pairs[i];
    unsigned j = i;
    while (j > 0 && st->pairs[j - 1]->priority < p->priority) {
      st->pairs[j] = st->pairs[j - 1];
      j--;
    }
    st->pairs[j] = p;
  }
}

static int same_foundation(const ice_pair *a, const ice_pair *b) {
  return strcmp(a->local->c.foundation, b->local->c.foundation) == 0 &&
         strcmp(a->remote->c.foundation, b->remote->c.foundation) == 0;
}

int firn_ice_stream_can_check(const firn_agent *ag, const ice_stream *st) {
  return !ag->s.lite && !ag->closed && st->rufrag && st->rkey;
}

ice_pair *firn_ice_find_pair(const ice_stream *st, const ice_local *base, const firn_addr *remote,
                             uint8_t transport, int legacy) {
  for (unsigned i = 0; i < st->npairs; i++) {
    ice_pair *p = st->pairs[i];
    if (p->local == base && (int)p->legacy == legacy && p->remote->c.transport == transport &&
        firn_addr_equal(&p->remote->c.addr, remote))
      return p;
  }
  return NULL;
}

void firn_ice_remove_pair(firn_agent *ag, ice_stream *st, ice_pair *p) {
  if (p->triggered) {
    unsigned k = 0;
    for (unsigned i = 0; i < st->ntrig; i++)
      if (st->trig[i] != p) st->trig[k++] = st->trig[i];
    st->ntrig = k;
  }
  for (unsigned c = 0; c < st->ncomp; c++)
    if (st->comp[c].selected == p) st->comp[c].selected = NULL;
  unsigned k = 0;
  for (unsigned i = 0; i < st->npairs; i++)
    if (st->pairs[i] != p) st->pairs[k++] = st->pairs[i];
  st->npairs = k;
  firn_free(&ag->alloc, p);
}

void firn_ice_free_checklist(firn_agent *ag, ice_stream *st, int keep_legacy) {
  unsigned k = 0;
  for (unsigned i = 0; i < st->npairs; i++) {
    ice_pair *p = st->pairs[i];
    if (keep_legacy && p->legacy) {
      st->pairs[k++] = p;
      continue;
    }
    for (unsigned c = 0; c < st->ncomp; c++)
      if (st->comp[c].selected == p) st->comp[c].selected = NULL;
    firn_free(&ag->alloc, p);
  }
  st->npairs = k;
  st->ntrig = 0;
  for (unsigned i = 0; i < st->npairs; i++) st->pairs[i]->triggered = 0;
}

static int pairable(const ice_local *l, const ice_remote *r) {
  if (l->c.component != r->c.component || l->c.transport != r->c.transport) return 0;
  if (l->c.addr.family != r->c.addr.family) return 0;
  if (l->base != l && l->c.type != FIRN_CAND_RELAY) return 0; /* srflx/prflx pruned to their base */
  if (!l->usable || r->legacy) return 0;
  /* RFC 8445 6.1.2.2: link-local IPv6 only with link-local */
  if (firn_addr_is_link_local(&l->c.addr) != firn_addr_is_link_local(&r->c.addr)) return 0;
  if (r->c.transport == FIRN_TRANSPORT_TCP) return firn_ice_pairable_tcp(l, r);
  return r->c.transport == FIRN_TRANSPORT_UDP;
}

ice_pair *firn_ice_add_pair(firn_agent *ag, ice_stream *st, ice_local *l, ice_remote *r) {
  if (!pairable(l, r)) return NULL;
  ice_pair *dup = firn_ice_find_pair(st, l, &r->c.addr, r->c.transport, 0);
  if (dup) {
    /* redundant (same base, same remote address): keep the higher-priority remote */
    if (r->c.priority > dup->remote->c.priority && dup->state <= PAIR_WAITING) {
      dup->remote = r;
      firn_ice_sort_pairs(ag, st);
    }
    return dup;
  }
  ice_pair tmp;
  memset(&tmp, 0, sizeof tmp);
  tmp.local = l;
  tmp.remote = r;
  uint64_t prio = firn_ice_pair_priority(ag, &tmp);
  if (st->npairs >= ag->s.max_pairs) {
    /* RFC 8445 6.1.2.5: keep the highest-priority pairs; only idle ones can go */
    ice_pair *victim = NULL;
    for (unsigned i = st->npairs; i-- > 0;) {
      ice_pair *q = st->pairs[i];
      if (q->state <= PAIR_WAITING && !q->triggered && !q->legacy && !q->auth_rx) {
        victim = q;
        break;
      }
    }
    if (!victim || victim->priority >= prio) {
      ICE_LOG(ag, FIRN_LOG_DEBUG, "stream %u: pair limit %u reached, pair dropped", st->id, ag->s.max_pairs);
      return NULL;
    }
    firn_ice_remove_pair(ag, st, victim);
  }
  if (firn_ice_grow(ag, (void **)&st->pairs, &st->cappairs, st->npairs + 1, sizeof *st->pairs) < 0)
    return NULL;
  ice_pair *p = firn_calloc(&ag->alloc, 1, sizeof *p);
  if (!p) return NULL;
  *p = tmp;
  p->valid_local = l;
  p->stream = st->id;
  p->component = l->c.component;
  p->priority = prio;
  p->state = PAIR_WAITING;
  /* RFC 8445 6.1.2.6: one pair per foundation starts Waiting, the others Frozen until a
   * pair of their foundation succeeds (or the list runs out of Waiting pairs) */
  for (unsigned s = 0; s < ag->nstreams && p->state == PAIR_WAITING; s++) {
    const ice_stream *os = ag->streams[s];
    for (unsigned i = 0; i < os->npairs; i++) {
      const ice_pair *q = os->pairs[i];
      if ((q->state == PAIR_WAITING || q->state == PAIR_IN_PROGRESS) && same_foundation(p, q)) {
        p->state = PAIR_FROZEN;
        break;
      }
    }
  }
  unsigned j = st->npairs;
  while (j > 0 && st->pairs[j - 1]->priority < p->priority) {
    st->pairs[j] = st->pairs[j - 1];
    j--;
  }
  st->pairs[j] = p;
  st->npairs++;
  return p;
}

void firn_ice_pair_local(firn_agent *ag, ice_stream *st, ice_local *l) {
  for (unsigned i = 0; i < st->nremote; i++) (void)firn_ice_add_pair(ag, st, l, st->remotes[i]);
}

int firn_ice_add_remote(firn_agent *ag, ice_stream *st, const firn_candidate *c, int learned,
                        ice_remote **out) {
  if (out) *out = NULL;
  for (unsigned i = 0; i < st->nremote; i++) {
    ice_remote *r = st->remotes[i];
    if (r->legacy || r->c.component != c->component || r->c.transport != c->transport ||
        !firn_addr_equal(&r->c.addr, &c->addr))
      continue;
    if (!learned && r->learned) {
      /* the peer-reflexive candidate learned from a check is now signalled: adopt the
       * signalled type, foundation and priority (RFC 8838 / 8445 7.3.1.3) */
      r->c = *c;
      r->learned = 0;
      st->nprflx--;
      st->nsignaled++;
      firn_ice_sort_pairs(ag, st);
      ICE_LOG(ag, FIRN_LOG_DEBUG, "stream %u: prflx remote reconciled with a signalled candidate", st->id);
      if (out) *out = r;
      return FIRN_OK;
    }
    if (learned || r->c.type == c->type) {
      if (out) *out = r;
      return FIRN_OK; /* duplicate */
    }
  }
  if (learned ? st->nprflx >= ICE_MAX_PRFLX_REMOTE : st->nsignaled >= ag->s.max_remote_candidates) {
    ICE_LOG(ag, FIRN_LOG_INFO, "stream %u: remote candidate limit reached", st->id);
    return FIRN_ERR_LIMIT;
  }
  int rc = firn_ice_grow(ag, (void **)&st->remotes, &st->capremote, st->nremote + 1, sizeof *st->remotes);
  if (rc < 0) return rc;
  ice_remote *r = firn_calloc(&ag->alloc, 1, sizeof *r);
  if (!r) return FIRN_ERR_NOMEM;
  r->c = *c;
  r->learned = (uint8_t)learned;
  st->remotes[st->nremote++] = r;
  if (learned) st->nprflx++;
  else st->nsignaled++;
  /* a remote learned on a TCP connection pairs only with the candidate that connection
   * belongs to (the caller does that) */
  if (!(learned && c->transport == FIRN_TRANSPORT_TCP))
    for (unsigned i = 0; i < st->nlocal; i++) (void)firn_ice_add_pair(ag, st, st->locals[i], r);
  if (out) *out = r;
  return FIRN_OK;
}

int firn_ice_trigger(firn_agent *ag, ice_stream *st, ice_pair *p) {
  if (p->state == PAIR_FROZEN || p->state == PAIR_FAILED) p->state = PAIR_WAITING;
  if (p->triggered) return FIRN_OK;
  if (st->ntrig >= ag->s.max_triggered) return FIRN_ERR_LIMIT;
  st->trig[st->ntrig++] = p;
  p->triggered = 1;
  return FIRN_OK;
}

void firn_ice_unfreeze_foundation(firn_agent *ag, const ice_pair *p) {
  for (unsigned s = 0; s < ag->nstreams; s++) {
    ice_stream *st = ag->streams[s];
    for (unsigned i = 0; i < st->npairs; i++) {
      ice_pair *q = st->pairs[i];
      if (q->state == PAIR_FROZEN && same_foundation(p, q)) q->state = PAIR_WAITING;
    }
  }
}

static ice_pair *next_ordinary(ice_stream *st) {
  if (st->checks_done) return NULL;
  for (unsigned i = 0; i < st->npairs; i++)
    if (st->pairs[i]->state == PAIR_WAITING && !st->pairs[i]->legacy) return st->pairs[i];
  /* no Waiting pair: unfreeze the best Frozen one (RFC 8445 6.1.4.2) */
  for (unsigned i = 0; i < st->npairs; i++)
    if (st->pairs[i]->state == PAIR_FROZEN && !st->pairs[i]->legacy) return st->pairs[i];
  return NULL;
}

static int stream_has_work(const ice_stream *st) {
  if (st->ntrig) return 1;
  if (st->checks_done) return 0;
  for (unsigned i = 0; i < st->npairs; i++)
    if ((st->pairs[i]->state == PAIR_WAITING || st->pairs[i]->state == PAIR_FROZEN) && !st->pairs[i]->legacy)
      return 1;
  return 0;
}

int firn_ice_has_check_work(const firn_agent *ag) {
  if (ag->closed) return 0;
  for (unsigned s = 0; s < ag->nstreams; s++)
    if (firn_ice_stream_can_check(ag, ag->streams[s]) && stream_has_work(ag->streams[s])) return 1;
  return 0;
}

/* One new check per Ta across all streams: triggered checks first, then ordinary ones,
 * streams served round-robin. */
void firn_ice_pace(firn_agent *ag, uint64_t now) {
  if (ag->closed || ag->destroyed) return;
  for (unsigned s = 0; s < ag->nstreams; s++) {
    ice_stream *st = ag->streams[s];
    if (firn_ice_stream_can_check(ag, st) && st->npairs) st->checking = 1;
  }
  if (ag->any_check && now < ag->last_check + ag->s.ta_ns) return;
  for (unsigned k = 0; k < ag->nstreams; k++) {
    unsigned idx = (ag->rr + k) % ag->nstreams;
    ice_stream *st = ag->streams[idx];
    if (!firn_ice_stream_can_check(ag, st)) continue;
    ice_pair *p = NULL;
    while (st->ntrig && !p) {
      p = st->trig[0];
      memmove(st->trig, st->trig + 1, (st->ntrig - 1) * sizeof *st->trig);
      st->ntrig--;
      p->triggered = 0;
      if (p->legacy) p = NULL;
    }
    if (!p) p = next_ordinary(st);
    if (!p) continue;
    if (firn_ice_send_check(ag, st, p, now) < 0) {
      /* could not build or queue it (memory, random source): try again on the next tick;
       * a nomination or triggered check must not be forgotten */
      if (p->state == PAIR_FROZEN) p->state = PAIR_WAITING;
      (void)firn_ice_trigger(ag, st, p);
    }
    ag->last_check = now;
    ag->any_check = 1;
    ag->rr = idx + 1;
    return;
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Nomination and selection                                                                    */

static uint64_t nomination_wait(const firn_agent *ag, const ice_pair *best) {
  uint64_t w = 5 * ag->s.ta_ns;
  if (best && best->rtt_last) {
    uint64_t r = 2 * best->rtt_last + ag->s.ta_ns;
    if (r > w) w = r;
  }
  return w;
}

static int nomination_pending(const ice_stream *st, unsigned component) {
  const ice_component *cp = &st->comp[component - 1];
  if (cp->selected && !cp->selected->legacy) return 1;
  for (unsigned i = 0; i < st->npairs; i++) {
    const ice_pair *p = st->pairs[i];
    if (p->component == component && !p->legacy && (p->nominate || p->nominated)) return 1;
  }
  return 0;
}

static const ice_pair *best_valid(const ice_stream *st, unsigned component) {
  for (unsigned i = 0; i < st->npairs; i++) {
    const ice_pair *p = st->pairs[i];
    if (p->component == component && !p->legacy && p->valid) return p;
  }
  return NULL;
}

uint64_t firn_ice_nomination_deadline(const firn_agent *ag, const ice_stream *st, unsigned component) {
  if (ag->role != FIRN_ICE_CONTROLLING || ag->s.lite || ag->closed) return FIRN_TIME_NEVER;
  if (!firn_ice_stream_can_check(ag, st)) return FIRN_TIME_NEVER;
  const ice_component *cp = &st->comp[component - 1];
  if (!cp->first_valid || nomination_pending(st, component)) return FIRN_TIME_NEVER;
  const ice_pair *best = best_valid(st, component);
  if (!best) return FIRN_TIME_NEVER;
  return cp->first_valid + nomination_wait(ag, best);
}

/* Regular nomination (RFC 8445 8.1.1): nominate the best valid pair as soon as no pair of
 * higher priority can still succeed, or when the nomination wait after the first valid pair
 * runs out. */
void firn_ice_consider_nomination(firn_agent *ag, ice_stream *st, unsigned component, uint64_t now) {
  if (ag->role != FIRN_ICE_CONTROLLING || ag->s.lite || ag->closed) return;
  if (!firn_ice_stream_can_check(ag, st) || nomination_pending(st, component)) return;
  ice_pair *best = (ice_pair *)best_valid(st, component);
  if (!best) return;
  const ice_pair *top = NULL; /* best pair that could still succeed */
  for (unsigned i = 0; i < st->npairs && !top; i++) {
    const ice_pair *p = st->pairs[i];
    if (p->component == component && !p->legacy && p->state != PAIR_FAILED) top = p;
  }
  int go = top == best || (top && top->priority <= best->priority);
  if (!go && now >= st->comp[component - 1].first_valid + nomination_wait(ag, best)) go = 1;
  if (!go) return;
  ICE_LOG(ag, FIRN_LOG_DEBUG, "stream %u component %u: nominating a %s/%s pair", st->id, component,
          firn_cand_type_name((firn_cand_type)best->valid_local->c.type),
          firn_cand_type_name((firn_cand_type)best->remote->c.type));
  best->nominate = 1;
  if (firn_ice_trigger(ag, st, best) < 0) {
    /* queue full: put it first by replacing the oldest entry */
    st->trig[0]->triggered = 0;
    st->trig[0] = best;
    best->triggered = 1;
  } else if (st->ntrig > 1) {
    /* nomination goes before other triggered checks */
    memmove(st->trig + 1, st->trig, (st->ntrig - 1) * sizeof *st->trig);
    st->trig[0] = best;
  }
}

void firn_ice_select(firn_agent *ag, ice_stream *st, ice_pair *p, uint64_t now) {
  ice_component *cp = &st->comp[p->component - 1];
  p->nominated = 1;
  if (cp->selected == p) return;
  if (cp->selected && !cp->selected->legacy && cp->selected->priority > p->priority) return;
  ice_pair *old = cp->selected;
  cp->selected = p;
  if (old && old->legacy) {
    ice_remote *r = old->remote;
    firn_ice_remove_pair(ag, st, old);
    unsigned k = 0;
    for (unsigned i = 0; i < st->nremote; i++) {
      if (st->remotes[i] == r) firn_free(&ag->alloc, r);
      else st->remotes[k++] = st->remotes[i];
    }
    st->nremote = k;
  }
  cp->consent_failed = 0;
  ICE_LOG(ag, FIRN_LOG_INFO, "stream %u component %u: selected %s/%s pair", st->id, p->component,
          firn_cand_type_name((firn_cand_type)p->valid_local->c.type),
          firn_cand_type_name((firn_cand_type)p->remote->c.type));
  ice_event ev;
  memset(&ev, 0, sizeof ev);
  ev.type = EV_SELECTED;
  ev.stream = st->id;
  ev.component = p->component;
  ev.a = p->valid_local->c;
  ev.b = p->remote->c;
  (void)firn_ice_queue_event(ag, &ev);
  firn_ice_consent_start(ag, p, now);
  firn_ice_relay_selected(ag, p);
  /* every component nominated: the check list is done (RFC 8445 8.1.2) */
  int all = 1, legacy_left = 0;
  for (unsigned c = 0; c < st->ncomp; c++) {
    if (!st->comp[c].selected || st->comp[c].selected->legacy) all = 0;
    if (st->comp[c].selected && st->comp[c].selected->legacy) legacy_left = 1;
  }
  if (all) {
    st->checks_done = 1;
    if (st->restart_pending == 2) st->restart_pending = 0;
    unsigned i = 0;
    while (i < st->npairs) {
      ice_pair *q = st->pairs[i];
      if ((q->state == PAIR_FROZEN || q->state == PAIR_WAITING) && !q->triggered && !q->legacy) {
        firn_ice_remove_pair(ag, st, q);
        continue;
      }
      i++;
    }
  }
  if (st->in_restart && !legacy_left) firn_ice_restart_finish(ag, st);
}
