/* ICE connectivity checks (RFC 8445 7.2 - 7.3, RFC 8489): outgoing check transactions with
 * RTO (14.3) and retransmissions, response processing (symmetric validation, valid pairs,
 * peer-reflexive local candidates, 487 role conflicts), incoming Binding requests
 * (USERNAME / MESSAGE-INTEGRITY / FINGERPRINT checks, 400/401/420/487 answers, role
 * conflicts, peer-reflexive remote candidates, triggered checks, USE-CANDIDATE). */
#include "ice/agent_internal.h"
#include "common/bytes.h"

#include <string.h>

int firn_ice_new_tid(firn_agent *ag, uint8_t tid[FIRN_STUN_TID_SIZE]) {
  return firn_ice_random(ag, tid, FIRN_STUN_TID_SIZE);
}

uint32_t firn_ice_prflx_priority(const ice_local *l, uint16_t component) {
  return firn_ice_priority(l->c.transport == FIRN_TRANSPORT_TCP ? ICE_PREF_PRFLX_TCP : ICE_PREF_PRFLX, l->local_pref,
                           component);
}

void firn_ice_switch_role(firn_agent *ag, firn_ice_role role) {
  if (ag->role == role) return;
  ICE_LOG(ag, FIRN_LOG_INFO, "role switch: now %s", role == FIRN_ICE_CONTROLLING ? "controlling" : "controlled");
  ag->role = role;
  for (unsigned s = 0; s < ag->nstreams; s++) {
    ice_stream *st = ag->streams[s];
    for (unsigned i = 0; i < st->npairs; i++) {
      ice_pair *p = st->pairs[i];
      if (role == FIRN_ICE_CONTROLLED) p->nominate = 0;
    }
    firn_ice_sort_pairs(ag, st);
  }
}

/* Build a Binding request for pair `p` (check, or consent when `consent`). */
static firn_ssize build_request(firn_agent *ag, const ice_stream *st, const ice_pair *p, const ice_txn *t,
                                int consent, uint8_t *buf, size_t cap) {
  const char *ru = p->legacy ? st->old_rufrag : st->rufrag;
  const char *lu = p->legacy ? st->old_lufrag : st->lufrag;
  const firn_stun_key *key = p->legacy ? st->old_rkey : st->rkey;
  if (!ru || !lu || !key) return FIRN_ERR_STATE;
  char user[2 * FIRN_ICE_CRED_MAX + 2];
  size_t rl = strlen(ru), ll = strlen(lu);
  if (rl + ll + 1 >= sizeof user) return FIRN_ERR_NOBUF;
  memcpy(user, ru, rl);
  user[rl] = ':';
  memcpy(user + rl + 1, lu, ll);
  firn_stun_builder b;
  firn_stun_builder_init(&b, buf, cap, FIRN_STUN_BINDING, FIRN_STUN_REQUEST, t->tid);
  firn_stun_add_string(&b, FIRN_STUN_ATTR_USERNAME, user, rl + 1 + ll);
  if (!consent) {
    firn_stun_add_u32(&b, FIRN_STUN_ATTR_PRIORITY, firn_ice_prflx_priority(p->local, p->component));
    if (t->controlling) firn_stun_add_u64(&b, FIRN_STUN_ATTR_ICE_CONTROLLING, ag->tiebreaker);
    else firn_stun_add_u64(&b, FIRN_STUN_ATTR_ICE_CONTROLLED, ag->tiebreaker);
    if (t->use_cand) firn_stun_add_flag(&b, FIRN_STUN_ATTR_USE_CANDIDATE);
  }
  if (ag->software) firn_stun_add_string(&b, FIRN_STUN_ATTR_SOFTWARE, ag->software, strlen(ag->software));
  firn_stun_add_integrity(&b, key);
  firn_stun_add_fingerprint(&b);
  return firn_stun_builder_finish(&b);
}

static int transmit(firn_agent *ag, ice_stream *st, ice_pair *p, const ice_txn *t, int consent, uint64_t now) {
  uint8_t buf[ICE_MSG_MAX];
  firn_ssize n = build_request(ag, st, p, t, consent, buf, sizeof buf);
  if (n < 0) return (int)n;
  int rc = firn_ice_send(ag, &p->local->c.addr, &p->remote->c.addr, p->remote->c.transport, p->conn, buf,
                         (size_t)n);
  if (rc == 0) {
    p->requests_sent++;
    p->last_tx = now;
  }
  return rc;
}

static uint64_t initial_rto(const firn_agent *ag, const ice_stream *st) {
  /* RFC 8445 14.3: RTO = MAX(500 ms, Ta * (Num-Waiting + Num-In-Progress)) */
  uint64_t n = 0;
  for (unsigned i = 0; i < st->npairs; i++)
    if (st->pairs[i]->state == PAIR_WAITING || st->pairs[i]->state == PAIR_IN_PROGRESS) n++;
  uint64_t rto = ag->s.ta_ns * n;
  return rto < ICE_RTO_MIN ? ICE_RTO_MIN : rto;
}

int firn_ice_send_check(firn_agent *ag, ice_stream *st, ice_pair *p, uint64_t now) {
  ice_txn t;
  memset(&t, 0, sizeof t);
  int tcp = p->remote->c.transport == FIRN_TRANSPORT_TCP;
  if (tcp && firn_ice_tcp_prepare(ag, st, p) < 0) {
    /* no connection and none can be opened (passive side, or the connection limit) */
    ICE_LOG(ag, FIRN_LOG_DEBUG, "stream %u: no TCP connection for a check: pair failed", st->id);
    firn_ice_pair_failed(ag, st, p);
    return FIRN_OK;
  }
  int rc = firn_ice_new_tid(ag, t.tid);
  if (rc < 0) return rc;
  t.active = 1;
  t.controlling = ag->role == FIRN_ICE_CONTROLLING;
  t.use_cand = t.controlling && p->nominate;
  t.tx = 1;
  t.rto = initial_rto(ag, st);
  if (tcp) {
    /* reliable transport: sent once, answered within the timeout or failed (RFC 6544 7.1) */
    t.tx = ICE_CHECK_RC;
    t.rto = ICE_TCP_CHECK_TIMEOUT;
  }
  t.sent_at = now;
  t.next = now + t.rto;
  rc = transmit(ag, st, p, &t, 0, now);
  if (rc < 0) return rc;
  if (p->txn.active) {
    /* a triggered re-check replaces the transaction; the old one can still be answered */
    p->prev = p->txn;
  }
  p->txn = t;
  if (p->state != PAIR_SUCCEEDED) p->state = PAIR_IN_PROGRESS;
  st->checking = 1;
  ICE_LOG(ag, FIRN_LOG_TRACE, "stream %u: check sent%s (%u pairs)", st->id, t.use_cand ? " with USE-CANDIDATE" : "",
          st->npairs);
  return FIRN_OK;
}

void firn_ice_pair_failed(firn_agent *ag, ice_stream *st, ice_pair *p) {
  p->conn = 0; /* an unused TCP connection is closed by firn_ice_tcp_timers() */
  p->txn.active = 0;
  p->prev.active = 0;
  p->state = PAIR_FAILED;
  p->valid = 0;
  p->nominate = 0;
  ice_component *cp = &st->comp[p->component - 1];
  if (cp->selected == p) cp->selected = NULL;
  (void)ag;
}

void firn_ice_check_timers(firn_agent *ag, ice_stream *st, uint64_t now) {
  for (unsigned i = 0; i < st->npairs; i++) {
    ice_pair *p = st->pairs[i];
    if (!p->txn.active || now < p->txn.next) continue;
    if (p->txn.tx >= ICE_CHECK_RC) {
      /* the last transmission went unanswered */
      ICE_LOG(ag, FIRN_LOG_DEBUG, "stream %u: check timed out", st->id);
      if (p->state == PAIR_SUCCEEDED && p->txn.use_cand) {
        /* nomination check lost: the pair is still valid, nominate again */
        p->txn.active = 0;
        p->prev.active = 0;
        p->nominate = 0;
      } else if (p->state != PAIR_SUCCEEDED && p->auth_rx && p->retries < ICE_CHECK_RETRIES &&
                 firn_ice_stream_can_check(ag, st)) {
        /* Our requests or their answers got lost, but the peer's authenticated checks do
         * arrive on this 5-tuple (it may already use the pair): one more round rather
         * than failing a path that works (heavy loss). */
        p->retries++;
        p->txn.active = 0;
        p->prev.active = 0;
        p->state = PAIR_WAITING;
        (void)firn_ice_trigger(ag, st, p);
      } else if (p->state != PAIR_SUCCEEDED) {
        firn_ice_pair_failed(ag, st, p);
      } else {
        p->txn.active = 0;
        p->prev.active = 0;
      }
      continue;
    }
    if (transmit(ag, st, p, &p->txn, 0, now) < 0) {
      p->txn.next = now + p->txn.rto; /* try again later */
      continue;
    }
    p->txn.tx++;
    p->txn.sent_at = now;
    uint64_t cap = p->txn.rto > ICE_RTO_MAX ? p->txn.rto : ICE_RTO_MAX;
    p->txn.rto = p->txn.rto * 2 > cap ? cap : p->txn.rto * 2;
    p->txn.next = now + p->txn.rto;
  }
}

uint64_t firn_ice_check_expiry(const ice_stream *st) {
  uint64_t e = FIRN_TIME_NEVER;
  for (unsigned i = 0; i < st->npairs; i++)
    if (st->pairs[i]->txn.active && st->pairs[i]->txn.next < e) e = st->pairs[i]->txn.next;
  return e;
}

/* ------------------------------------------------------------------------------------------ */
/* Answers                                                                                     */

static void send_answer(firn_agent *ag, const ice_local *base, const firn_path *path, uint16_t method,
                        firn_stun_class cls, const uint8_t tid[FIRN_STUN_TID_SIZE], int code,
                        const uint16_t *unknown, size_t nunknown, const firn_stun_key *key) {
  uint8_t buf[ICE_MSG_MAX];
  firn_stun_builder b;
  firn_stun_builder_init(&b, buf, sizeof buf, method, cls, tid);
  if (cls == FIRN_STUN_SUCCESS) firn_stun_add_xor_addr(&b, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, &path->remote);
  else firn_stun_add_error(&b, code, NULL);
  if (nunknown) firn_stun_add_unknown_attrs(&b, unknown, nunknown);
  if (ag->software) firn_stun_add_string(&b, FIRN_STUN_ATTR_SOFTWARE, ag->software, strlen(ag->software));
  if (key) firn_stun_add_integrity(&b, key);
  firn_stun_add_fingerprint(&b);
  firn_ssize n = firn_stun_builder_finish(&b);
  if (n < 0) {
    ICE_LOG(ag, FIRN_LOG_WARN, "could not build a STUN answer: %s", firn_strerror((int)n));
    return;
  }
  (void)firn_ice_send(ag, &base->c.addr, &path->remote, path->transport, path->conn, buf, (size_t)n);
}

void firn_ice_handle_bad_stun(firn_agent *ag, ice_local *base, const firn_path *path, const uint8_t *data,
                              size_t len) {
  ag->stats.stun_dropped++;
  /* a malformed request that still has a usable header gets a 400 (RFC 8489 6.3) */
  if (len < FIRN_STUN_HEADER_SIZE || (data[0] & 0xC0) != 0) return;
  if (firn_get_u32(data + 4) != FIRN_STUN_MAGIC_COOKIE) return;
  uint16_t type = firn_get_u16(data);
  if ((type & 0x0110) != 0) return; /* not a request */
  uint16_t method = (uint16_t)((type & 0x000F) | ((type & 0x00E0) >> 1) | ((type & 0x3E00) >> 2));
  if (method != FIRN_STUN_BINDING) return;
  send_answer(ag, base, path, FIRN_STUN_BINDING, FIRN_STUN_ERROR, data + 8, 400, NULL, 0, NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* Responses to our checks                                                                     */

static ice_local *mapped_local(firn_agent *ag, ice_stream *st, ice_pair *p, const firn_addr *mapped) {
  ice_local *base = p->local;
  if (firn_addr_equal(mapped, &base->c.addr)) return base;
  /* TCP active: the connection left from an ephemeral port (RFC 6544 4.5) */
  if (base->c.transport == FIRN_TRANSPORT_TCP && firn_addr_equal_ip(mapped, &base->c.addr)) return base;
  for (unsigned i = 0; i < st->nlocal; i++) {
    ice_local *l = st->locals[i];
    if (l->base == base && firn_addr_equal(&l->c.addr, mapped)) return l;
  }
  /* RFC 8445 7.2.5.3.1: a new peer-reflexive local candidate */
  firn_candidate c;
  memset(&c, 0, sizeof c);
  c.component = base->c.component;
  c.transport = base->c.transport;
  c.type = FIRN_CAND_PRFLX;
  c.tcptype = base->c.tcptype;
  c.addr = *mapped;
  c.related = base->c.addr;
  c.priority = firn_ice_prflx_priority(base, base->c.component);
  firn_ice_foundation(c.foundation, FIRN_CAND_PRFLX, &base->c.addr, NULL, base->c.transport);
  ice_local *l = firn_ice_add_local(ag, st, &c, base, 0);
  if (!l) return base; /* bounded: report the pair with its base */
  ICE_LOG(ag, FIRN_LOG_DEBUG, "stream %u: peer-reflexive local candidate learned", st->id);
  return l;
}

static void handle_check_response(firn_agent *ag, ice_stream *st, ice_pair *p, ice_txn *t, const firn_stun_msg *m,
                                  const ice_local *base, const firn_path *path, uint64_t now) {
  const firn_stun_key *key = p->legacy ? st->old_rkey : st->rkey;
  if (!key || firn_stun_msg_verify(m, key) < 0) {
    ag->stats.stun_dropped++;
    ICE_LOG(ag, FIRN_LOG_DEBUG, "stream %u: check response failed integrity: dropped", st->id);
    return;
  }
  ice_txn done = *t;
  int was_current = t == &p->txn;
  p->responses_received++;
  /* RFC 8445 7.2.5.2.1: the response must come back on the same 5-tuple */
  if (base != p->local || !firn_addr_equal(&path->remote, &p->remote->c.addr) ||
      path->transport != p->remote->c.transport) {
    ICE_LOG(ag, FIRN_LOG_DEBUG, "stream %u: non-symmetric response: pair failed", st->id);
    firn_ice_pair_failed(ag, st, p);
    return;
  }
  if (m->cls == FIRN_STUN_ERROR) {
    int code = 0;
    (void)firn_stun_msg_get_error(m, &code, NULL, NULL);
    t->active = 0;
    if (code == 487) {
      ag->stats.role_conflicts++;
      firn_ice_role now_role = done.controlling ? FIRN_ICE_CONTROLLED : FIRN_ICE_CONTROLLING;
      if ((ag->role == FIRN_ICE_CONTROLLING) == (done.controlling != 0)) firn_ice_switch_role(ag, now_role);
      ICE_LOG(ag, FIRN_LOG_INFO, "stream %u: 487 role conflict, retrying the check", st->id);
      if (was_current) {
        p->prev.active = 0;
        if (p->state != PAIR_SUCCEEDED) p->state = PAIR_WAITING;
        (void)firn_ice_trigger(ag, st, p);
      }
      return;
    }
    ICE_LOG(ag, FIRN_LOG_DEBUG, "stream %u: check answered with error %d: pair failed", st->id, code);
    if (was_current || !p->txn.active) firn_ice_pair_failed(ag, st, p);
    return;
  }
  /* success */
  firn_addr mapped;
  if (firn_stun_msg_get_xor_addr(m, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, 0, &mapped) < 0 ||
      mapped.family != base->c.addr.family) {
    ag->stats.stun_dropped++;
    return;
  }
  p->txn.active = 0;
  p->prev.active = 0;
  uint64_t rtt = now > done.sent_at ? now - done.sent_at : 0;
  p->rtt_last = rtt;
  p->rtt_sum += rtt;
  p->rtt_n++;
  if (!p->legacy) {
    p->valid_local = mapped_local(ag, st, p, &mapped);
    int newly = !p->valid;
    p->state = PAIR_SUCCEEDED;
    p->valid = 1;
    ice_component *cp = &st->comp[p->component - 1];
    if (newly && !cp->first_valid) cp->first_valid = now ? now : 1;
    firn_ice_unfreeze_foundation(ag, p);
  }
  if (st->comp[p->component - 1].selected == p) {
    p->last_ok = now;
    p->consent_unanswered = 0;
  }
  if (p->legacy) return;
  if (done.use_cand && ag->role == FIRN_ICE_CONTROLLING) {
    p->nominate = 0;
    firn_ice_select(ag, st, p, now);
  } else if (ag->role == FIRN_ICE_CONTROLLED && p->use_cand_rx) {
    firn_ice_select(ag, st, p, now);
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Incoming requests                                                                           */

static int str_eq(const char *a, size_t alen, const char *b) {
  return b && strlen(b) == alen && memcmp(a, b, alen) == 0;
}

static void handle_request(firn_agent *ag, ice_stream *st, ice_local *base, const firn_path *path,
                           const firn_stun_msg *m, uint64_t now) {
  const char *user = NULL;
  size_t ulen = 0;
  if (m->method != FIRN_STUN_BINDING) {
    ag->stats.stun_dropped++;
    send_answer(ag, base, path, m->method, FIRN_STUN_ERROR, m->tid, 400, NULL, 0, NULL);
    return;
  }
  if (!base->usable) { /* relay-only policy: host paths are not used */
    ag->stats.stun_dropped++;
    return;
  }
  if (!m->fp_off || (!m->mi_off && !m->mi256_off) ||
      firn_stun_msg_get_string(m, FIRN_STUN_ATTR_USERNAME, &user, &ulen) < 0) {
    ag->stats.stun_dropped++;
    send_answer(ag, base, path, FIRN_STUN_BINDING, FIRN_STUN_ERROR, m->tid, 400, NULL, 0, NULL);
    return;
  }
  const char *colon = memchr(user, ':', ulen);
  size_t llen = colon ? (size_t)(colon - user) : ulen;
  const char *rpart = colon ? colon + 1 : NULL;
  size_t rlen = colon ? ulen - llen - 1 : 0;
  int legacy = 0;
  const firn_stun_key *key = NULL;
  if (colon && str_eq(user, llen, st->lufrag) && (!st->rufrag || str_eq(rpart, rlen, st->rufrag))) {
    key = st->lkey;
  } else if (colon && st->in_restart && str_eq(user, llen, st->old_lufrag) &&
             str_eq(rpart, rlen, st->old_rufrag)) {
    key = st->old_lkey;
    legacy = 1;
  }
  if (!key || firn_stun_msg_verify(m, key) < 0) {
    ag->stats.stun_dropped++;
    ICE_LOG(ag, FIRN_LOG_DEBUG, "stream %u: check with bad USERNAME or integrity: 401", st->id);
    send_answer(ag, base, path, FIRN_STUN_BINDING, FIRN_STUN_ERROR, m->tid, 401, NULL, 0, NULL);
    return;
  }
  /* authenticated from here on */
  if (m->n_unknown) {
    send_answer(ag, base, path, FIRN_STUN_BINDING, FIRN_STUN_ERROR, m->tid, 420, m->unknown, m->n_unknown, key);
    return;
  }
  /* PRIORITY is required to learn a peer-reflexive candidate; a consent request on a known
   * pair without it (some peers send the bare RFC 7675 form) is still answered */
  uint32_t prio = 0;
  (void)firn_stun_msg_get_u32(m, FIRN_STUN_ATTR_PRIORITY, &prio);
  /* the remote candidate: known, or peer-reflexive (RFC 8445 7.3.1.3) */
  ice_remote *r = NULL;
  for (unsigned i = 0; i < st->nremote && !r && !legacy; i++) {
    ice_remote *q = st->remotes[i];
    if (!q->legacy && q->c.component == base->c.component && q->c.transport == path->transport &&
        firn_addr_equal(&q->c.addr, &path->remote))
      r = q;
  }
  if (!r && !legacy && prio == 0) {
    send_answer(ag, base, path, FIRN_STUN_BINDING, FIRN_STUN_ERROR, m->tid, 400, NULL, 0, key);
    return;
  }
  uint64_t their_tb = 0;
  int their_controlling = firn_stun_msg_get_u64(m, FIRN_STUN_ATTR_ICE_CONTROLLING, &their_tb) == 0;
  int their_controlled = !their_controlling && firn_stun_msg_get_u64(m, FIRN_STUN_ATTR_ICE_CONTROLLED, &their_tb) == 0;
  /* RFC 8445 7.3.1.1 role conflicts */
  if (!legacy && their_controlling && ag->role == FIRN_ICE_CONTROLLING) {
    ag->stats.role_conflicts++;
    if (ag->remote_lite || ag->tiebreaker >= their_tb) {
      send_answer(ag, base, path, FIRN_STUN_BINDING, FIRN_STUN_ERROR, m->tid, 487, NULL, 0, key);
      return;
    }
    firn_ice_switch_role(ag, FIRN_ICE_CONTROLLED);
  } else if (!legacy && their_controlled && ag->role == FIRN_ICE_CONTROLLED) {
    ag->stats.role_conflicts++;
    if (ag->s.lite || ag->tiebreaker < their_tb) {
      send_answer(ag, base, path, FIRN_STUN_BINDING, FIRN_STUN_ERROR, m->tid, 487, NULL, 0, key);
      return;
    }
    firn_ice_switch_role(ag, FIRN_ICE_CONTROLLING);
  }
  send_answer(ag, base, path, FIRN_STUN_BINDING, FIRN_STUN_SUCCESS, m->tid, 0, NULL, 0, key);

  if (legacy) {
    ice_pair *lp = firn_ice_find_pair(st, base, &path->remote, path->transport, 1);
    if (lp) {
      lp->requests_received++;
      lp->responses_sent++;
      lp->auth_rx = 1;
    }
    return;
  }
  if (!r && path->transport == FIRN_TRANSPORT_TCP) {
    /* RFC 6544: the peer's active candidate (port 9) connects from an ephemeral port; the
     * remote is that candidate at the connection's real address */
    for (unsigned i = 0; i < st->nremote && !r; i++) {
      const ice_remote *q = st->remotes[i];
      if (!q->legacy && !q->learned && q->c.component == base->c.component && q->c.transport == FIRN_TRANSPORT_TCP &&
          q->c.tcptype == FIRN_TCP_ACTIVE && base->c.tcptype == FIRN_TCP_PASSIVE &&
          firn_addr_equal_ip(&q->c.addr, &path->remote)) {
        firn_candidate c = q->c;
        c.addr = path->remote;
        if (firn_ice_add_remote(ag, st, &c, 1, &r) < 0) r = NULL;
      }
    }
  }
  if (!r) {
    firn_candidate c;
    memset(&c, 0, sizeof c);
    c.component = base->c.component;
    c.transport = path->transport;
    c.type = FIRN_CAND_PRFLX;
    if (path->transport == FIRN_TRANSPORT_TCP)
      c.tcptype = base->c.tcptype == FIRN_TCP_PASSIVE ? FIRN_TCP_ACTIVE : FIRN_TCP_PASSIVE;
    c.priority = prio;
    c.addr = path->remote;
    c.related.family = FIRN_AF_NONE;
    firn_ice_foundation(c.foundation, FIRN_CAND_PRFLX, &path->remote, &base->c.addr, path->transport);
    c.foundation[0] = 'r'; /* never equal to one of ours */
    if (firn_ice_add_remote(ag, st, &c, 1, &r) < 0) r = NULL;
    if (r) ICE_LOG(ag, FIRN_LOG_DEBUG, "stream %u: peer-reflexive remote candidate learned", st->id);
  }
  ice_pair *p = r ? firn_ice_find_pair(st, base, &path->remote, path->transport, 0) : NULL;
  if (r && !p) p = firn_ice_add_pair(ag, st, base, r);
  if (!p) return;
  if (path->transport == FIRN_TRANSPORT_TCP && !firn_ice_tcp_find(ag, p->conn)) p->conn = path->conn;
  st->checking = 1;
  p->requests_received++;
  p->responses_sent++;
  p->auth_rx = 1;
  int use_cand = firn_stun_msg_has(m, FIRN_STUN_ATTR_USE_CANDIDATE);
  if (ag->s.lite) {
    /* a lite agent never checks: the pair is valid by the peer's check */
    p->state = PAIR_SUCCEEDED;
    p->valid = 1;
    if (use_cand) {
      p->use_cand_rx = 1;
      firn_ice_select(ag, st, p, now);
    }
    return;
  }
  if (p->state != PAIR_SUCCEEDED) (void)firn_ice_trigger(ag, st, p);
  if (use_cand && ag->role == FIRN_ICE_CONTROLLED) {
    p->use_cand_rx = 1;
    if (p->state == PAIR_SUCCEEDED && p->valid) firn_ice_select(ag, st, p, now);
  }
}

void firn_ice_handle_stun(firn_agent *ag, ice_stream *st, ice_local *base, const firn_path *path,
                          const uint8_t *data, size_t len, uint64_t now) {
  firn_stun_msg m;
  if (firn_stun_msg_parse(&m, data, len) < 0) {
    firn_ice_handle_bad_stun(ag, base, path, data, len);
    return;
  }
  switch (m.cls) {
  case FIRN_STUN_REQUEST:
    handle_request(ag, st, base, path, &m, now);
    return;
  case FIRN_STUN_INDICATION:
    return; /* keepalives */
  default:
    break;
  }
  /* a response: one of our checks, a consent request, or a gathering request */
  for (unsigned i = 0; i < st->npairs; i++) {
    ice_pair *p = st->pairs[i];
    ice_txn *t = NULL;
    if (p->txn.active && memcmp(p->txn.tid, m.tid, FIRN_STUN_TID_SIZE) == 0) t = &p->txn;
    else if (p->prev.active && memcmp(p->prev.tid, m.tid, FIRN_STUN_TID_SIZE) == 0) t = &p->prev;
    if (t) {
      handle_check_response(ag, st, p, t, &m, base, path, now);
      return;
    }
  }
  if (firn_ice_consent_response(ag, st, &m, path, now)) return;
  if (ag->gather && firn_stun_client_handle_msg(ag->gather, &m, &path->remote, now) == 0) return;
  ag->stats.stun_dropped++;
}
