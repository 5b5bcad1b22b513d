/* After selection: consent freshness (RFC 7675), keepalives (RFC 8445 11) and the end of
 * an ICE restart.
 *
 * Consent: a Binding request on each selected pair every consent_interval (randomised
 * +-20 %), retransmitted at 500 ms, 1.5 s, 3.5 s. The pair is DISCONNECTED once a consent
 * request has gone unanswered for disconnected_ns, and consent is lost (FAILED, sending
 * stops) consent_timeout_ns after the last authenticated response. A lite agent does not
 * send consent requests (its full peer does). */
#include "ice/agent_internal.h"

#include <string.h>

#define CONSENT_RC 4

static uint64_t consent_interval(firn_agent *ag) {
  uint32_t x = 200;
  (void)firn_ice_random_uniform(ag, 401, &x); /* on failure: the plain interval */
  return ag->s.consent_interval_ns / 1000 * (800 + x);
}

void firn_ice_consent_start(firn_agent *ag, ice_pair *p, uint64_t now) {
  p->last_ok = now;
  p->consent_unanswered = 0;
  p->consent.active = 0;
  p->next_consent = now + consent_interval(ag);
  if (!p->last_tx) p->last_tx = now;
}

/* A consent request is a check without USE-CANDIDATE (RFC 7675 5.1). */
static int send_consent(firn_agent *ag, ice_stream *st, ice_pair *p, uint64_t now) {
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
  uint8_t buf[ICE_MSG_MAX];
  firn_stun_builder b;
  firn_stun_builder_init(&b, buf, sizeof buf, FIRN_STUN_BINDING, FIRN_STUN_REQUEST, p->consent.tid);
  firn_stun_add_string(&b, FIRN_STUN_ATTR_USERNAME, user, rl + 1 + ll);
  firn_stun_add_u32(&b, FIRN_STUN_ATTR_PRIORITY, firn_ice_prflx_priority(p->local, p->component));
  if (ag->role == FIRN_ICE_CONTROLLING) firn_stun_add_u64(&b, FIRN_STUN_ATTR_ICE_CONTROLLING, ag->tiebreaker);
  else firn_stun_add_u64(&b, FIRN_STUN_ATTR_ICE_CONTROLLED, ag->tiebreaker);
  if (ag->software) firn_stun_add_string(&b, FIRN_STUN_ATTR_SOFTWARE, ag->software, strlen(ag->software));
  firn_stun_add_integrity(&b, key);
  firn_stun_add_fingerprint(&b);
  firn_ssize n = firn_stun_builder_finish(&b);
  if (n < 0) return (int)n;
  int rc = firn_ice_send(ag, &p->local->c.addr, &p->remote->c.addr, p->remote->c.transport, p->conn, buf,
                         (size_t)n);
  if (rc == 0) {
    p->requests_sent++;
    p->last_tx = now;
    p->consent.sent_at = now;
  }
  return rc;
}

static void send_keepalive(firn_agent *ag, ice_pair *p, uint64_t now) {
  uint8_t tid[FIRN_STUN_TID_SIZE];
  p->last_tx = now;
  if (firn_ice_new_tid(ag, tid) < 0) return;
  uint8_t buf[64];
  firn_stun_builder b;
  firn_stun_builder_init(&b, buf, sizeof buf, FIRN_STUN_BINDING, FIRN_STUN_INDICATION, tid);
  firn_stun_add_fingerprint(&b);
  firn_ssize n = firn_stun_builder_finish(&b);
  if (n < 0) return;
  (void)firn_ice_send(ag, &p->local->c.addr, &p->remote->c.addr, p->remote->c.transport, p->conn, buf,
                         (size_t)n);
  p->last_tx = now; /* also when it could not be queued: the next one is due in Tr */
}

void firn_ice_consent_timers(firn_agent *ag, ice_stream *st, uint64_t now) {
  if (ag->s.lite || ag->closed) return;
  for (unsigned c = 0; c < st->ncomp; c++) {
    ice_component *cp = &st->comp[c];
    ice_pair *p = cp->selected;
    if (!p || cp->consent_failed) continue;
    if (now >= p->last_ok + ag->s.consent_timeout_ns) {
      ICE_LOG(ag, FIRN_LOG_WARN, "stream %u component %u: consent lost, sending stops", st->id, c + 1);
      cp->consent_failed = 1;
      p->consent.active = 0;
      continue;
    }
    if (p->consent.active && now >= p->consent.next) {
      if (p->consent.tx >= CONSENT_RC) {
        p->consent.active = 0;
      } else if (send_consent(ag, st, p, now) == 0) {
        p->consent.tx++;
        p->consent.rto *= 2;
        p->consent.next = now + p->consent.rto;
      } else {
        p->consent.next = now + p->consent.rto;
      }
    }
    if (now >= p->next_consent) {
      p->next_consent = now + consent_interval(ag);
      if (firn_ice_new_tid(ag, p->consent.tid) == 0) {
        p->consent.active = 1;
        p->consent.tx = 1;
        p->consent.rto = ICE_CONSENT_RTO;
        p->consent.next = now + p->consent.rto;
        if (!p->consent_unanswered) p->consent_unanswered = now;
        if (send_consent(ag, st, p, now) < 0) p->consent.tx = 0;
      }
    }
    if (ag->s.keepalive_ns && now >= p->last_tx + ag->s.keepalive_ns) send_keepalive(ag, p, now);
  }
}

uint64_t firn_ice_consent_expiry(const firn_agent *ag, const ice_stream *st) {
  if (ag->s.lite || ag->closed) return FIRN_TIME_NEVER;
  uint64_t e = FIRN_TIME_NEVER;
#define EXP_MIN(t) do { uint64_t t_ = (t); if (t_ < e) e = t_; } while (0)
  for (unsigned c = 0; c < st->ncomp; c++) {
    const ice_component *cp = &st->comp[c];
    const ice_pair *p = cp->selected;
    if (!p || cp->consent_failed) continue;
    EXP_MIN(p->last_ok + ag->s.consent_timeout_ns);
    EXP_MIN(p->next_consent);
    if (p->consent.active) EXP_MIN(p->consent.next);
    if (ag->s.keepalive_ns) EXP_MIN(p->last_tx + ag->s.keepalive_ns);
    if (p->consent_unanswered) {
      uint64_t d = p->consent_unanswered + ag->s.disconnected_ns;
      if (d > ag->now) EXP_MIN(d);
    }
  }
#undef EXP_MIN
  return e;
}

int firn_ice_consent_response(firn_agent *ag, ice_stream *st, const firn_stun_msg *msg, const firn_path *path,
                              uint64_t now) {
  for (unsigned c = 0; c < st->ncomp; c++) {
    ice_pair *p = st->comp[c].selected;
    if (!p || !p->consent.active || memcmp(p->consent.tid, msg->tid, FIRN_STUN_TID_SIZE) != 0) continue;
    const firn_stun_key *key = p->legacy ? st->old_rkey : st->rkey;
    if (!key || firn_stun_msg_verify(msg, key) < 0 || !firn_addr_equal(&path->remote, &p->remote->c.addr) ||
        !firn_addr_equal(&path->local, &p->local->c.addr)) {
      ag->stats.stun_dropped++;
      return 1;
    }
    p->consent.active = 0;
    p->responses_received++;
    if (msg->cls == FIRN_STUN_SUCCESS) {
      uint64_t rtt = now > p->consent.sent_at ? now - p->consent.sent_at : 0;
      p->rtt_last = rtt;
      p->rtt_sum += rtt;
      p->rtt_n++;
      p->last_ok = now;
      p->consent_unanswered = 0;
    }
    return 1;
  }
  return 0;
}

void firn_ice_restart_finish(firn_agent *ag, ice_stream *st) {
  ICE_LOG(ag, FIRN_LOG_INFO, "stream %u: ICE restart complete", st->id);
  firn_stun_key_free(st->old_lkey);
  firn_stun_key_free(st->old_rkey);
  st->old_lkey = st->old_rkey = NULL;
  if (st->old_lufrag) {
    firn_wipe(st->old_lufrag, strlen(st->old_lufrag));
    firn_free(&ag->alloc, st->old_lufrag);
    st->old_lufrag = NULL;
  }
  if (st->old_rufrag) {
    firn_wipe(st->old_rufrag, strlen(st->old_rufrag));
    firn_free(&ag->alloc, st->old_rufrag);
    st->old_rufrag = NULL;
  }
  st->in_restart = 0;
}
