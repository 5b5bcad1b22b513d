/* ICE agent: public API, lifecycle, deferred events and free, outbox, demultiplexing,
 * timers, per-stream state, data path and stats. See agent_internal.h for the map. */
#include "ice/agent_internal.h"

#include <string.h>

static const char ice_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

const char *firn_ice_state_name(firn_ice_state state) {
  switch (state) {
  case FIRN_ICE_NEW: return "new";
  case FIRN_ICE_CHECKING: return "checking";
  case FIRN_ICE_CONNECTED: return "connected";
  case FIRN_ICE_COMPLETED: return "completed";
  case FIRN_ICE_DISCONNECTED: return "disconnected";
  case FIRN_ICE_FAILED: return "failed";
  case FIRN_ICE_CLOSED: return "closed";
  }
  return "unknown";
}

void firn_agent_settings_default(firn_agent_settings *s) {
  if (!s) return;
  memset(s, 0, sizeof *s);
  s->size = sizeof *s;
  s->log_level = FIRN_LOG_WARN;
  s->role = FIRN_ICE_CONTROLLING;
  s->policy = FIRN_ICE_POLICY_ALL;
  s->vpn = FIRN_VPN_DEPRIORITIZE;
  s->ta_ns = 50 * FIRN_NS_PER_MS;
  s->keepalive_ns = 15 * FIRN_NS_PER_S;
  s->consent_interval_ns = 5 * FIRN_NS_PER_S;
  s->consent_timeout_ns = 30 * FIRN_NS_PER_S;
  s->disconnected_ns = 5 * FIRN_NS_PER_S;
  s->max_pairs = 100;
  s->max_remote_candidates = 100;
  s->max_triggered = 100;
  s->callbacks.size = sizeof s->callbacks;
}

/* ------------------------------------------------------------------------------------------ */
/* Small helpers                                                                               */

int firn_ice_grow(firn_agent *ag, void **arr, unsigned *cap, unsigned need, size_t elem) {
  if (need <= *cap) return FIRN_OK;
  unsigned ncap = *cap ? *cap * 2 : 4;
  while (ncap < need) ncap *= 2;
  void *n = firn_malloc(&ag->alloc, (size_t)ncap * elem);
  if (!n) return FIRN_ERR_NOMEM;
  if (*arr && *cap) memcpy(n, *arr, (size_t)*cap * elem);
  firn_free(&ag->alloc, *arr);
  *arr = n;
  *cap = ncap;
  return FIRN_OK;
}

char *firn_ice_strdup(firn_agent *ag, const char *s, size_t len) {
  char *p = firn_malloc(&ag->alloc, len + 1);
  if (!p) return NULL;
  memcpy(p, s, len);
  p[len] = '\0';
  return p;
}

static void free_secret(firn_agent *ag, char **p) {
  if (*p) {
    firn_wipe(*p, strlen(*p));
    firn_free(&ag->alloc, *p);
    *p = NULL;
  }
}

/* Randomness comes from the injected source (a CSPRNG by default) through a pool
 * (src/common/random.h): one RAND_bytes call costs about the same whatever the length, and
 * an agent draws a dozen small values per connection (tie-breaker, credentials, transaction
 * IDs, consent jitter). The STUN and TURN clients the agent owns draw from the same pool.
 * Seeded sources still replay exactly. */
int firn_ice_random(firn_agent *ag, void *buf, size_t len) {
  return firn_rng_pool_bytes(&ag->rng, buf, len) < 0 ? FIRN_ERR_RANDOM : FIRN_OK;
}

/* firn_random_fn over the pool, for the STUN and TURN clients the agent owns. */
int firn_ice_random_fn(void *user, uint8_t *buf, size_t len) { return firn_ice_random(user, buf, len); }

/* Uniform in [0, bound) without modulo bias (bound > 0). */
int firn_ice_random_uniform(firn_agent *ag, uint32_t bound, uint32_t *out) {
  return firn_rng_pool_uniform(&ag->rng, bound, out);
}

int firn_ice_random_creds(firn_agent *ag, char *ufrag, char *pwd) {
  uint8_t r[ICE_UFRAG_LEN + ICE_PWD_LEN];
  int rc = firn_ice_random(ag, r, sizeof r);
  if (rc < 0) return FIRN_ERR_RANDOM;
  for (size_t i = 0; i < ICE_UFRAG_LEN; i++) ufrag[i] = ice_chars[r[i] & 63];
  ufrag[ICE_UFRAG_LEN] = '\0';
  for (size_t i = 0; i < ICE_PWD_LEN; i++) pwd[i] = ice_chars[r[ICE_UFRAG_LEN + i] & 63];
  pwd[ICE_PWD_LEN] = '\0';
  firn_wipe(r, sizeof r);
  return FIRN_OK;
}

/* Replace the credentials in the slots (all or nothing). */
int firn_ice_set_creds(firn_agent *ag, char **ufrag_slot, char **pwd_slot, firn_stun_key **key_slot,
                       const char *ufrag, const char *pwd) {
  size_t ul = strlen(ufrag), pl = strlen(pwd);
  char *u = firn_ice_strdup(ag, ufrag, ul);
  char *p = firn_ice_strdup(ag, pwd, pl);
  firn_stun_key *k = NULL;
  int rc = (u && p) ? firn_stun_key_new_short_term(&k, &ag->alloc, pwd, pl) : FIRN_ERR_NOMEM;
  if (rc < 0) {
    free_secret(ag, &u);
    free_secret(ag, &p);
    return rc;
  }
  free_secret(ag, ufrag_slot);
  free_secret(ag, pwd_slot);
  firn_stun_key_free(*key_slot);
  *ufrag_slot = u;
  *pwd_slot = p;
  *key_slot = k;
  return FIRN_OK;
}

ice_stream *firn_ice_stream(const firn_agent *ag, unsigned id) {
  if (!ag || id >= ag->nstreams) return NULL;
  return ag->streams[id];
}

/* ------------------------------------------------------------------------------------------ */
/* Events, enter/leave, deferred free                                                          */

int firn_ice_queue_event(firn_agent *ag, const ice_event *ev) {
  if (ag->destroyed) return FIRN_ERR_CLOSED;
  int rc = firn_ice_grow(ag, (void **)&ag->ev, &ag->capev, ag->nev + 1, sizeof *ag->ev);
  if (rc < 0) {
    ICE_LOG(ag, FIRN_LOG_WARN, "event dropped: out of memory");
    return rc;
  }
  ag->ev[ag->nev++] = *ev;
  return FIRN_OK;
}

void firn_ice_event_candidate(firn_agent *ag, unsigned stream, const firn_candidate *c) {
  ice_event ev;
  memset(&ev, 0, sizeof ev);
  ev.type = EV_CANDIDATE;
  ev.stream = stream;
  ev.a = *c;
  (void)firn_ice_queue_event(ag, &ev);
}

void firn_ice_set_state(firn_agent *ag, ice_stream *st, firn_ice_state state) {
  if (st->state == state) return;
  ICE_LOG(ag, FIRN_LOG_INFO, "stream %u: %s -> %s", st->id, firn_ice_state_name(st->state),
          firn_ice_state_name(state));
  st->state = state;
  ice_event ev;
  memset(&ev, 0, sizeof ev);
  ev.type = EV_STATE;
  ev.stream = st->id;
  ev.state = state;
  (void)firn_ice_queue_event(ag, &ev);
}

static void dispatch_events(firn_agent *ag) {
  const firn_agent_callbacks *cb = &ag->s.callbacks;
  for (unsigned i = 0; i < ag->nev && !ag->destroyed; i++) {
    ice_event ev = ag->ev[i]; /* copy: a callback may grow the array */
    switch (ev.type) {
    case EV_CANDIDATE:
      if (cb->on_candidate) cb->on_candidate(ag->s.user, ev.stream, &ev.a);
      break;
    case EV_GATHERING_DONE:
      if (cb->on_gathering_done) cb->on_gathering_done(ag->s.user, ev.stream);
      break;
    case EV_STATE:
      if (cb->on_state) cb->on_state(ag->s.user, ev.stream, ev.state);
      break;
    case EV_SELECTED:
      if (cb->on_selected_pair)
        cb->on_selected_pair(ag->s.user, ev.stream, ev.component, &ev.a, &ev.b);
      break;
    case EV_TCP_CONNECT:
      if (cb->on_tcp_connect) cb->on_tcp_connect(ag->s.user, &ev.path);
      break;
    case EV_TCP_CLOSE:
      if (cb->on_tcp_close) cb->on_tcp_close(ag->s.user, ev.path.conn);
      break;
    default:
      break;
    }
  }
  ag->nev = 0;
}

static void agent_free_now(firn_agent *ag);

void firn_ice_enter(firn_agent *ag, uint64_t now) {
  ag->depth++;
  if (now != FIRN_TIME_NEVER && now > ag->now) ag->now = now;
}

int firn_ice_leave(firn_agent *ag, int rc) {
  if (ag->depth == 1 && !ag->dispatching) {
    ag->dispatching = 1;
    dispatch_events(ag);
    ag->dispatching = 0;
  }
  ag->depth--;
  if (ag->depth == 0 && ag->destroyed) agent_free_now(ag);
  return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Lifecycle                                                                                   */

int firn_agent_new(firn_agent **out, const firn_agent_settings *s) {
  if (!out || !s || s->size < sizeof *s) return FIRN_ERR_INVALID_ARG;
  *out = NULL;
  if (s->callbacks.size != 0 && s->callbacks.size < sizeof s->callbacks) return FIRN_ERR_INVALID_ARG;
  if (s->ta_ns == 0 || s->max_pairs == 0 || s->max_remote_candidates == 0 || s->max_triggered == 0)
    return FIRN_ERR_INVALID_ARG;
  firn_allocator a;
  firn_alloc_init(&a, s->alloc);
  firn_agent *ag = firn_calloc(&a, 1, sizeof *ag);
  if (!ag) return FIRN_ERR_NOMEM;
  ag->s = *s;
  ag->s.alloc = NULL;
  ag->alloc = a;
  firn_rng_pool_init(&ag->rng, s->random, s->random_user);
  ag->log.fn = s->log;
  ag->log.user = s->log_user;
  ag->log.level = s->log_level;
  ag->role = s->lite ? FIRN_ICE_CONTROLLED : s->role;
  if (s->software) {
    ag->software = firn_ice_strdup(ag, s->software, strlen(s->software));
    if (!ag->software) {
      firn_free(&a, ag);
      return FIRN_ERR_NOMEM;
    }
  }
  ag->s.software = ag->software;
  uint8_t tb[8];
  if (firn_ice_random(ag, tb, sizeof tb) < 0) {
    firn_free(&a, ag->software);
    firn_free(&a, ag);
    return FIRN_ERR_RANDOM;
  }
  for (int i = 0; i < 8; i++) ag->tiebreaker = (ag->tiebreaker << 8) | tb[i];
  firn_wipe(tb, sizeof tb);
  *out = ag;
  return FIRN_OK;
}

static void free_stream(firn_agent *ag, ice_stream *st) {
  firn_ice_free_checklist(ag, st, 0);
  for (unsigned i = 0; i < st->nremote; i++) firn_free(&ag->alloc, st->remotes[i]);
  firn_free(&ag->alloc, st->remotes);
  firn_free(&ag->alloc, st->pairs);
  firn_free(&ag->alloc, st->trig);
  firn_ice_free_locals(ag, st);
  free_secret(ag, &st->lufrag);
  free_secret(ag, &st->lpwd);
  free_secret(ag, &st->rufrag);
  free_secret(ag, &st->rpwd);
  free_secret(ag, &st->old_lufrag);
  free_secret(ag, &st->old_rufrag);
  firn_stun_key_free(st->lkey);
  firn_stun_key_free(st->rkey);
  firn_stun_key_free(st->old_lkey);
  firn_stun_key_free(st->old_rkey);
  firn_free(&ag->alloc, st);
}

static void agent_free_now(firn_agent *ag) {
  firn_ice_tcp_close_all(ag, 0);
  firn_ice_relay_free_all(ag);
  for (unsigned i = 0; i < ag->nstreams; i++) free_stream(ag, ag->streams[i]);
  while (ag->out_head) {
    ice_pkt *p = ag->out_head;
    ag->out_head = p->next;
    firn_free(&ag->alloc, p);
  }
  if (ag->gather) firn_stun_client_free(ag->gather);
  firn_free(&ag->alloc, ag->greq);
  firn_free(&ag->alloc, ag->ev);
  firn_free(&ag->alloc, ag->software);
  firn_rng_pool_free(&ag->rng);
  firn_allocator a = ag->alloc;
  firn_free(&a, ag);
}

void firn_agent_free(firn_agent *agent) {
  if (!agent) return;
  if (agent->depth > 0) { /* misuse from a callback: defer instead of crashing */
    agent->destroyed = 1;
    return;
  }
  agent_free_now(agent);
}

void firn_agent_destroy(firn_agent *agent) {
  if (!agent) return;
  agent->destroyed = 1;
  if (agent->depth == 0) agent_free_now(agent);
}

/* ------------------------------------------------------------------------------------------ */
/* Streams and credentials                                                                     */

int firn_agent_add_stream(firn_agent *ag, unsigned components, unsigned *stream) {
  if (!ag || !stream || components < 1 || components > ICE_MAX_COMPONENTS) return FIRN_ERR_INVALID_ARG;
  if (ag->destroyed || ag->closed) return FIRN_ERR_CLOSED;
  if (ag->nstreams >= ICE_MAX_STREAMS) return FIRN_ERR_LIMIT;
  ice_stream *st = firn_calloc(&ag->alloc, 1, sizeof *st);
  if (!st) return FIRN_ERR_NOMEM;
  st->id = ag->nstreams;
  st->ncomp = components;
  st->trig = firn_calloc(&ag->alloc, ag->s.max_triggered, sizeof *st->trig);
  char u[ICE_UFRAG_LEN + 1], p[ICE_PWD_LEN + 1];
  int rc = st->trig ? firn_ice_random_creds(ag, u, p) : FIRN_ERR_NOMEM;
  if (rc == 0) rc = firn_ice_set_creds(ag, &st->lufrag, &st->lpwd, &st->lkey, u, p);
  firn_wipe(p, sizeof p);
  if (rc < 0) {
    free_stream(ag, st);
    return rc;
  }
  ag->streams[ag->nstreams++] = st;
  *stream = st->id;
  return FIRN_OK;
}

int firn_agent_get_local_credentials(const firn_agent *ag, unsigned stream, const char **ufrag,
                                     const char **pwd) {
  const ice_stream *st = firn_ice_stream(ag, stream);
  if (!st) return FIRN_ERR_INVALID_ARG;
  if (ufrag) *ufrag = st->lufrag;
  if (pwd) *pwd = st->lpwd;
  return FIRN_OK;
}

int firn_agent_set_local_credentials(firn_agent *ag, unsigned stream, const char *ufrag, const char *pwd) {
  ice_stream *st = firn_ice_stream(ag, stream);
  if (!st || !ufrag || !pwd) return FIRN_ERR_INVALID_ARG;
  if (firn_ice_check_ufrag(ufrag, strlen(ufrag)) < 0 || firn_ice_check_pwd(pwd, strlen(pwd)) < 0) {
    ICE_LOG(ag, FIRN_LOG_WARN, "local credentials rejected: ufrag 4..256, pwd 22..256 ice-chars");
    return FIRN_ERR_ICE_BAD_CREDENTIALS;
  }
  if (st->checking) return FIRN_ERR_STATE;
  return firn_ice_set_creds(ag, &st->lufrag, &st->lpwd, &st->lkey, ufrag, pwd);
}

/* Start a new credential generation: the selected pairs (if any) become legacy pairs that
 * keep carrying data with the old credentials; everything else of the check list goes.
 * `move_local`: the old local credentials move to old_* (else they are copied). */
static int begin_generation(firn_agent *ag, ice_stream *st) {
  if (!st->in_restart) {
    int have_sel = 0;
    for (unsigned c = 0; c < st->ncomp; c++)
      if (st->comp[c].selected && !st->comp[c].consent_failed) have_sel = 1;
    if (have_sel && st->rufrag) {
      char *ou = firn_ice_strdup(ag, st->lufrag, strlen(st->lufrag));
      firn_stun_key *ok = NULL;
      int rc = ou ? firn_stun_key_new_short_term(&ok, &ag->alloc, st->lpwd, strlen(st->lpwd))
                  : FIRN_ERR_NOMEM;
      if (rc < 0) {
        firn_free(&ag->alloc, ou);
        return rc;
      }
      free_secret(ag, &st->old_lufrag);
      firn_stun_key_free(st->old_lkey);
      free_secret(ag, &st->old_rufrag);
      firn_stun_key_free(st->old_rkey);
      st->old_lufrag = ou;
      st->old_lkey = ok;
      st->old_rufrag = st->rufrag;
      st->old_rkey = st->rkey;
      st->rufrag = NULL;
      st->rkey = NULL;
      free_secret(ag, &st->rpwd);
      for (unsigned c = 0; c < st->ncomp; c++) {
        ice_pair *p = st->comp[c].selected;
        if (p && !st->comp[c].consent_failed) {
          p->legacy = 1;
          p->remote->legacy = 1;
          p->txn.active = 0;
          p->prev.active = 0;
        } else {
          st->comp[c].selected = NULL;
        }
      }
      st->in_restart = 1;
    }
  }
  /* drop the current generation's check list and remote candidates */
  firn_ice_free_checklist(ag, st, 1);
  unsigned k = 0;
  for (unsigned i = 0; i < st->nremote; i++) {
    if (st->remotes[i]->legacy) st->remotes[k++] = st->remotes[i];
    else firn_free(&ag->alloc, st->remotes[i]);
  }
  st->nremote = k;
  st->nsignaled = 0;
  st->nprflx = 0;
  /* peer-reflexive local candidates of the old generation go too (unless a legacy pair
   * still reports one), so restarts cannot fill the local table */
  k = 0;
  for (unsigned i = 0; i < st->nlocal; i++) {
    ice_local *l = st->locals[i];
    int keep = l->c.type != FIRN_CAND_PRFLX;
    for (unsigned j = 0; j < st->npairs && !keep; j++)
      if (st->pairs[j]->valid_local == l) keep = 1;
    if (keep) st->locals[k++] = l;
    else firn_free(&ag->alloc, l);
  }
  st->nlocal = k;
  if (st->rufrag) {
    free_secret(ag, &st->rufrag);
    free_secret(ag, &st->rpwd);
    firn_stun_key_free(st->rkey);
    st->rkey = NULL;
  }
  st->remote_eoc = 0;
  st->checks_done = 0;
  st->checking = 0;
  for (unsigned c = 0; c < st->ncomp; c++) st->comp[c].first_valid = 0;
  if (!st->in_restart) {
    for (unsigned c = 0; c < st->ncomp; c++) st->comp[c].selected = NULL;
  }
  for (unsigned c = 0; c < st->ncomp; c++)
    if (!st->comp[c].selected) st->comp[c].consent_failed = 0; /* a restart may recover */
  return FIRN_OK;
}

int firn_agent_restart(firn_agent *ag, unsigned stream, uint64_t now) {
  ice_stream *st = firn_ice_stream(ag, stream);
  if (!st) return FIRN_ERR_INVALID_ARG;
  if (ag->destroyed || ag->closed) return FIRN_ERR_CLOSED;
  firn_ice_enter(ag, now);
  int rc = FIRN_OK;
  if (st->restart_pending != 2) {
    /* restart_pending == 2: the remote restarted first and we already switched generation */
    rc = begin_generation(ag, st);
  }
  char u[ICE_UFRAG_LEN + 1], p[ICE_PWD_LEN + 1];
  if (rc == 0) rc = firn_ice_random_creds(ag, u, p);
  if (rc == 0) rc = firn_ice_set_creds(ag, &st->lufrag, &st->lpwd, &st->lkey, u, p);
  firn_wipe(p, sizeof p);
  if (rc == 0) {
    st->restart_pending = 1;
    ICE_LOG(ag, FIRN_LOG_INFO, "stream %u: ICE restart, new ufrag %s", st->id, st->lufrag);
    if (!st->in_restart && st->state != FIRN_ICE_CLOSED) firn_ice_set_state(ag, st, FIRN_ICE_NEW);
  }
  return firn_ice_leave(ag, rc);
}

int firn_agent_set_remote_credentials(firn_agent *ag, unsigned stream, const char *ufrag, const char *pwd,
                                      uint64_t now) {
  ice_stream *st = firn_ice_stream(ag, stream);
  if (!st || !ufrag || !pwd) return FIRN_ERR_INVALID_ARG;
  if (firn_ice_check_ufrag(ufrag, strlen(ufrag)) < 0 || firn_ice_check_pwd(pwd, strlen(pwd)) < 0) {
    ICE_LOG(ag, FIRN_LOG_WARN, "remote credentials rejected: ufrag 4..256, pwd 22..256 ice-chars");
    return FIRN_ERR_ICE_BAD_CREDENTIALS;
  }
  if (ag->destroyed || ag->closed) return FIRN_ERR_CLOSED;
  firn_ice_enter(ag, now);
  int rc = FIRN_OK;
  if (st->rufrag) {
    if (strcmp(st->rufrag, ufrag) == 0 && strcmp(st->rpwd, pwd) == 0) return firn_ice_leave(ag, FIRN_OK);
    /* the remote restarted: new generation, our local credentials stay until the
     * application restarts too */
    rc = begin_generation(ag, st);
    if (rc == 0) st->restart_pending = 2;
  } else if (st->restart_pending == 1) {
    st->restart_pending = 0;
  }
  if (rc == 0) rc = firn_ice_set_creds(ag, &st->rufrag, &st->rpwd, &st->rkey, ufrag, pwd);
  if (rc == 0) {
    firn_ice_run_timers(ag, ag->now);
  }
  return firn_ice_leave(ag, rc);
}

int firn_agent_set_remote_lite(firn_agent *ag, int lite) {
  if (!ag) return FIRN_ERR_INVALID_ARG;
  if (lite && ag->s.lite) return FIRN_ERR_STATE; /* two lite agents cannot connect */
  ag->remote_lite = lite ? 1 : 0;
  if (lite && ag->role != FIRN_ICE_CONTROLLING) firn_ice_switch_role(ag, FIRN_ICE_CONTROLLING);
  return FIRN_OK;
}

firn_ice_role firn_agent_get_role(const firn_agent *ag) { return ag ? ag->role : FIRN_ICE_CONTROLLING; }

firn_ice_state firn_agent_get_state(const firn_agent *ag, unsigned stream) {
  const ice_stream *st = firn_ice_stream(ag, stream);
  return st ? st->state : FIRN_ICE_CLOSED;
}

/* ------------------------------------------------------------------------------------------ */
/* Local side                                                                                  */

int firn_agent_add_local_address(firn_agent *ag, unsigned stream, unsigned component,
                                 const firn_local_address *la, uint64_t now) {
  ice_stream *st = firn_ice_stream(ag, stream);
  if (!st || !la || component < 1 || component > st->ncomp) return FIRN_ERR_INVALID_ARG;
  if (la->addr.family != FIRN_AF_INET && la->addr.family != FIRN_AF_INET6) return FIRN_ERR_INVALID_ARG;
  if (la->addr.port == 0 || firn_addr_is_any(&la->addr)) return FIRN_ERR_INVALID_ARG;
  if (ag->destroyed || ag->closed) return FIRN_ERR_CLOSED;
  if (la->transport != FIRN_TRANSPORT_UDP && la->transport != FIRN_TRANSPORT_TCP) return FIRN_ERR_INVALID_ARG;
  firn_ice_enter(ag, now);
  int rc = firn_ice_add_host(ag, st, component, la);
  if (rc == 0) firn_ice_run_timers(ag, ag->now);
  return firn_ice_leave(ag, rc);
}

int firn_agent_add_server(firn_agent *ag, const firn_ice_server *server) {
  if (!ag || !server) return FIRN_ERR_INVALID_ARG;
  if (server->addr.family != FIRN_AF_INET && server->addr.family != FIRN_AF_INET6) return FIRN_ERR_INVALID_ARG;
  if (ag->destroyed || ag->closed) return FIRN_ERR_CLOSED;
  if (server->turn) return firn_ice_relay_add_server(ag, server);
  if (server->transport != FIRN_TRANSPORT_UDP) return FIRN_ERR_UNSUPPORTED;
  if (ag->nservers >= ICE_MAX_SERVERS) return FIRN_ERR_LIMIT;
  ag->servers[ag->nservers++] = server->addr;
  return FIRN_OK;
}

int firn_agent_gather(firn_agent *ag, uint64_t now) {
  if (!ag) return FIRN_ERR_INVALID_ARG;
  if (ag->destroyed || ag->closed) return FIRN_ERR_CLOSED;
  firn_ice_enter(ag, now);
  int rc = firn_ice_gather_start(ag, ag->now);
  if (rc == 0) firn_ice_run_timers(ag, ag->now);
  return firn_ice_leave(ag, rc);
}

int firn_agent_get_local_candidates(const firn_agent *ag, unsigned stream, firn_candidate *out, size_t max,
                                    size_t *count) {
  const ice_stream *st = firn_ice_stream(ag, stream);
  if (!st || !count || (max && !out)) return FIRN_ERR_INVALID_ARG;
  size_t n = 0;
  for (unsigned i = 0; i < st->nlocal; i++) {
    const ice_local *l = st->locals[i];
    if (!l->usable || l->c.type == FIRN_CAND_PRFLX) continue;
    if (n < max) out[n] = l->c;
    n++;
  }
  *count = n < max ? n : max;
  return n > max ? FIRN_ERR_NOBUF : FIRN_OK;
}

int firn_agent_get_default_candidate(const firn_agent *ag, unsigned stream, unsigned component,
                                     firn_candidate *out) {
  const ice_stream *st = firn_ice_stream(ag, stream);
  if (!st || !out || component < 1 || component > st->ncomp) return FIRN_ERR_INVALID_ARG;
  static const uint8_t order_all[] = {FIRN_CAND_SRFLX, FIRN_CAND_HOST, FIRN_CAND_RELAY};
  static const uint8_t order_relay[] = {FIRN_CAND_RELAY};
  const uint8_t *order = ag->s.policy == FIRN_ICE_POLICY_RELAY ? order_relay : order_all;
  size_t norder = ag->s.policy == FIRN_ICE_POLICY_RELAY ? 1 : 3;
  for (size_t o = 0; o < norder; o++) {
    const ice_local *best = NULL;
    for (unsigned i = 0; i < st->nlocal; i++) {
      const ice_local *l = st->locals[i];
      if (!l->usable || l->c.component != component || l->c.type != order[o]) continue;
      if (l->c.tcptype == FIRN_TCP_ACTIVE) continue; /* port 9: no address to receive on */
      if (!best || l->c.priority > best->c.priority) best = l;
    }
    if (best) {
      *out = best->c;
      return FIRN_OK;
    }
  }
  return FIRN_ERR_NOT_FOUND;
}

/* ------------------------------------------------------------------------------------------ */
/* Remote side                                                                                 */

int firn_agent_add_remote_candidate(firn_agent *ag, unsigned stream, const firn_candidate *cand, uint64_t now) {
  ice_stream *st = firn_ice_stream(ag, stream);
  if (!st || !cand) return FIRN_ERR_INVALID_ARG;
  if (cand->component < 1 || cand->component > st->ncomp) return FIRN_ERR_INVALID_ARG;
  if (cand->addr.family != FIRN_AF_INET && cand->addr.family != FIRN_AF_INET6) return FIRN_ERR_INVALID_ARG;
  if (cand->type > FIRN_CAND_RELAY || cand->transport > FIRN_TRANSPORT_TCP || cand->priority == 0)
    return FIRN_ERR_INVALID_ARG;
  if (ag->destroyed || ag->closed) return FIRN_ERR_CLOSED;
  firn_ice_enter(ag, now);
  int rc = firn_ice_add_remote(ag, st, cand, 0, NULL);
  if (rc == 0) firn_ice_run_timers(ag, ag->now);
  return firn_ice_leave(ag, rc);
}

int firn_agent_end_of_remote_candidates(firn_agent *ag, unsigned stream, uint64_t now) {
  ice_stream *st = firn_ice_stream(ag, stream);
  if (!st) return FIRN_ERR_INVALID_ARG;
  if (ag->destroyed || ag->closed) return FIRN_ERR_CLOSED;
  firn_ice_enter(ag, now);
  st->remote_eoc = 1;
  firn_ice_run_timers(ag, ag->now);
  return firn_ice_leave(ag, FIRN_OK);
}

/* ------------------------------------------------------------------------------------------ */
/* Outbox and transmit                                                                         */

/* Queue `hdr` + `data` for poll_transmit on `path`. */
int firn_ice_outbox(firn_agent *ag, const firn_path *path, const uint8_t *hdr, size_t hlen, const uint8_t *data,
                    size_t len) {
  if (ag->nout >= ICE_MAX_OUTBOX) {
    ICE_LOG(ag, FIRN_LOG_DEBUG, "outbox full, datagram dropped");
    return FIRN_ERR_LIMIT;
  }
  ice_pkt *p = firn_malloc(&ag->alloc, sizeof *p + hlen + len);
  if (!p) return FIRN_ERR_NOMEM;
  p->next = NULL;
  p->path = *path;
  p->len = hlen + len;
  if (hlen) memcpy(p->data, hdr, hlen);
  memcpy(p->data + hlen, data, len);
  if (ag->out_tail) ag->out_tail->next = p;
  else ag->out_head = p;
  ag->out_tail = p;
  ag->nout++;
  return FIRN_OK;
}

/* The single exit for everything the agent sends to a peer (checks, answers, consent,
 * keepalives): framed on a TCP connection (`conn`), wrapped for a relay whose relayed address
 * is `local`, or a plain datagram from the host socket at `local`. */
int firn_ice_send(firn_agent *ag, const firn_addr *local, const firn_addr *remote, uint8_t transport,
                  uint32_t conn, const uint8_t *data, size_t len) {
  if (transport == FIRN_TRANSPORT_TCP) return firn_ice_tcp_send(ag, conn, local, remote, data, len);
  if (ag->nrelay) {
    ice_relay *r = firn_ice_relay_of(ag, local);
    if (r) return firn_ice_relay_send(ag, r, remote, data, len);
  }
  firn_path path;
  memset(&path, 0, sizeof path);
  path.local = *local;
  path.remote = *remote;
  path.transport = transport;
  return firn_ice_outbox(ag, &path, NULL, 0, data, len);
}

firn_ssize firn_agent_poll_transmit(firn_agent *ag, uint64_t now, uint8_t *buf, size_t cap, firn_path *path) {
  if (!ag || !buf || !path) return FIRN_ERR_INVALID_ARG;
  if (ag->destroyed) return FIRN_ERR_WOULDBLOCK;
  firn_ice_enter(ag, now);
  firn_ssize ret = FIRN_ERR_WOULDBLOCK;
  if (ag->out_head) {
    ice_pkt *p = ag->out_head;
    ag->out_head = p->next;
    if (!ag->out_head) ag->out_tail = NULL;
    ag->nout--;
    if (p->len > cap) {
      ret = FIRN_ERR_NOBUF;
    } else {
      memcpy(buf, p->data, p->len);
      *path = p->path;
      ret = (firn_ssize)p->len;
      ag->stats.datagrams_sent++;
    }
    firn_free(&ag->alloc, p);
  } else if (ag->gather && !ag->closed) {
    firn_addr dest;
    void *ctx = NULL;
    firn_ssize n = firn_stun_client_poll_transmit(ag->gather, ag->now, buf, cap, &dest, &ctx);
    if (n >= 0 && ctx) {
      const ice_local *base = ctx;
      memset(path, 0, sizeof *path);
      path->local = base->c.addr;
      path->remote = dest;
      path->transport = FIRN_TRANSPORT_UDP;
      ag->stats.datagrams_sent++;
      ret = n;
    } else if (n == FIRN_ERR_NOBUF) {
      ret = n;
    }
  }
  if (ret == FIRN_ERR_WOULDBLOCK && ag->nrelay) { /* TURN traffic, also while deallocating */
    ret = firn_ice_relay_poll(ag, ag->now, buf, cap, path);
    if (ret >= 0) ag->stats.datagrams_sent++;
  }
  (void)firn_ice_leave(ag, FIRN_OK);
  return ret;
}

/* ------------------------------------------------------------------------------------------ */
/* Timers and state                                                                            */

static int stream_checks_pending(const ice_stream *st) {
  if (st->ntrig) return 1;
  for (unsigned i = 0; i < st->npairs; i++) {
    const ice_pair *p = st->pairs[i];
    if (p->legacy) continue;
    if (p->state == PAIR_IN_PROGRESS) return 1;
    if (!st->checks_done && (p->state == PAIR_WAITING || p->state == PAIR_FROZEN)) return 1;
  }
  return 0;
}

void firn_ice_update_state(firn_agent *ag, ice_stream *st) {
  if (ag->closed) {
    firn_ice_set_state(ag, st, FIRN_ICE_CLOSED);
    return;
  }
  if (st->state == FIRN_ICE_FAILED && !st->checking) return;
  int all_sel = 1, any_failed = 0, any_disc = 0;
  for (unsigned c = 0; c < st->ncomp; c++) {
    const ice_component *cp = &st->comp[c];
    if (cp->consent_failed) any_failed = 1;
    if (!cp->selected) {
      all_sel = 0;
      continue;
    }
    const ice_pair *p = cp->selected;
    if (p->consent_unanswered && ag->now - p->consent_unanswered >= ag->s.disconnected_ns) any_disc = 1;
    if (p->tcp_lost) any_disc = 1;
  }
  firn_ice_state ns;
  if (any_failed) {
    ns = FIRN_ICE_FAILED;
  } else if (all_sel) {
    if (any_disc) ns = FIRN_ICE_DISCONNECTED;
    else if (!st->in_restart && st->checks_done && !stream_checks_pending(st)) ns = FIRN_ICE_COMPLETED;
    else ns = FIRN_ICE_CONNECTED;
  } else if (st->checking) {
    int all_failed = st->npairs > 0 || st->remote_eoc;
    for (unsigned i = 0; i < st->npairs; i++)
      if (st->pairs[i]->state != PAIR_FAILED) all_failed = 0;
    /* RFC 8838 8: failed only once the peer sent end-of-candidates and our own gathering
     * (which could still add relay candidates) is over */
    int gathered = st->gather_done || !st->gather_started;
    if (all_failed && st->remote_eoc && gathered && !st->ntrig && !ag->s.lite) ns = FIRN_ICE_FAILED;
    else ns = FIRN_ICE_CHECKING;
  } else {
    ns = st->state == FIRN_ICE_FAILED ? FIRN_ICE_FAILED : FIRN_ICE_NEW;
  }
  /* like WebRTC, completed is always preceded by connected */
  if (ns == FIRN_ICE_COMPLETED && st->state != FIRN_ICE_CONNECTED && st->state != FIRN_ICE_COMPLETED &&
      st->state != FIRN_ICE_DISCONNECTED)
    firn_ice_set_state(ag, st, FIRN_ICE_CONNECTED);
  firn_ice_set_state(ag, st, ns);
}

void firn_ice_run_timers(firn_agent *ag, uint64_t now) {
  if (ag->destroyed) return;
  if (ag->nrelay) firn_ice_relay_timers(ag, now);
  if (ag->closed) return;
  if (ag->gather) firn_stun_client_handle_expiry(ag->gather, now);
  for (unsigned i = 0; i < ag->nstreams; i++) {
    ice_stream *st = ag->streams[i];
    firn_ice_check_timers(ag, st, now);
    for (unsigned c = 1; c <= st->ncomp; c++) firn_ice_consider_nomination(ag, st, c, now);
    firn_ice_consent_timers(ag, st, now);
  }
  firn_ice_pace(ag, now);
  firn_ice_tcp_timers(ag, now);
  for (unsigned i = 0; i < ag->nstreams; i++) firn_ice_update_state(ag, ag->streams[i]);
}

uint64_t firn_agent_expiry(const firn_agent *ag) {
  if (!ag || ag->destroyed) return FIRN_TIME_NEVER;
  uint64_t e = ag->nrelay ? firn_ice_relay_expiry(ag) : FIRN_TIME_NEVER;
  if (ag->closed) return e; /* deallocations still run */
  if (ag->gather) {
    uint64_t g = firn_stun_client_expiry(ag->gather);
    if (g < e) e = g;
  }
  if (firn_ice_has_check_work(ag)) {
    uint64_t t = ag->any_check ? ag->last_check + ag->s.ta_ns : 0;
    if (t < e) e = t;
  }
  for (unsigned i = 0; i < ag->nstreams; i++) {
    const ice_stream *st = ag->streams[i];
    uint64_t t = firn_ice_check_expiry(st);
    if (t < e) e = t;
    for (unsigned c = 1; c <= st->ncomp; c++) {
      t = firn_ice_nomination_deadline(ag, st, c);
      if (t < e) e = t;
    }
    t = firn_ice_consent_expiry(ag, st);
    if (t < e) e = t;
  }
  uint64_t t = firn_ice_tcp_expiry(ag);
  if (t < e) e = t;
  return e;
}

int firn_agent_handle_expiry(firn_agent *ag, uint64_t now) {
  if (!ag) return FIRN_ERR_INVALID_ARG;
  if (ag->destroyed) return FIRN_ERR_CLOSED;
  firn_ice_enter(ag, now);
  firn_ice_run_timers(ag, ag->now);
  return firn_ice_leave(ag, FIRN_OK);
}

/* ------------------------------------------------------------------------------------------ */
/* Datagrams and data                                                                          */

/* The pair application data arrived on, if it may deliver data: validated by our check,
 * by an authenticated check from the peer on that 5-tuple, or the old selected pair during
 * a restart (the same 5-tuple can have both an old and a new pair). */
static ice_pair *find_data_pair(const ice_stream *st, const ice_local *base, const firn_path *path) {
  for (unsigned i = 0; i < st->npairs; i++) {
    ice_pair *p = st->pairs[i];
    if (p->local == base && p->remote->c.transport == path->transport &&
        firn_addr_equal(&p->remote->c.addr, &path->remote) && (p->valid || p->auth_rx || p->legacy))
      return p;
  }
  return NULL;
}

/* A datagram or TCP frame for `base` (STUN or application data, RFC 7983). */
void firn_ice_input(firn_agent *ag, ice_stream *st, ice_local *base, const firn_path *path, const uint8_t *data,
                    size_t len) {
  int is_stun = len > 0 && data[0] < 4 && firn_stun_is_stun(data, len);
  if (is_stun) {
    firn_ice_handle_stun(ag, st, base, path, data, len, ag->now);
  } else if (len == 0) {
    ag->stats.data_dropped++;
  } else if (data[0] < 4) {
    /* looks like STUN (RFC 7983 range) but is not a valid one */
    firn_ice_handle_bad_stun(ag, base, path, data, len);
  } else {
    ice_pair *p = find_data_pair(st, base, path);
    unsigned comp = base->c.component;
    if (p && !st->comp[comp - 1].consent_failed && base->usable) {
      p->bytes_received += len;
      p->packets_received++;
      const firn_agent_callbacks *cb = &ag->s.callbacks;
      firn_ice_run_timers(ag, ag->now);
      /* flush queued events first so they keep their order relative to data */
      if (ag->depth == 1 && !ag->dispatching) {
        ag->dispatching = 1;
        dispatch_events(ag);
        ag->dispatching = 0;
      }
      if (cb->on_data && !ag->destroyed) cb->on_data(ag->s.user, st->id, comp, data, len, path, ag->now);
      return;
    }
    ag->stats.data_dropped++;
  }
}

int firn_agent_handle_datagram(firn_agent *ag, const firn_path *path, const uint8_t *data, size_t len,
                               uint64_t now) {
  if (!ag || !path || (!data && len)) return FIRN_ERR_INVALID_ARG;
  if (ag->destroyed) return FIRN_ERR_CLOSED;
  firn_ice_enter(ag, now);
  ag->stats.datagrams_received++;
  /* from a TURN server's 5-tuple: the TURN object first (also while deallocating) */
  if (ag->nrelay && path->transport == FIRN_TRANSPORT_UDP && firn_ice_relay_datagram(ag, path, data, len)) {
    firn_ice_run_timers(ag, ag->now);
    return firn_ice_leave(ag, FIRN_OK);
  }
  if (ag->closed) return firn_ice_leave(ag, FIRN_OK);
  ice_stream *st = NULL;
  ice_local *base = path->transport == FIRN_TRANSPORT_UDP
                        ? firn_ice_find_base(ag, &path->local, FIRN_TRANSPORT_UDP, &st) : NULL;
  if (!base) {
    int is_stun = len > 0 && data[0] < 4 && firn_stun_is_stun(data, len);
    if (is_stun) ag->stats.stun_dropped++;
    else ag->stats.data_dropped++;
    ICE_LOG(ag, FIRN_LOG_DEBUG, "datagram on an unknown local address dropped");
    return firn_ice_leave(ag, FIRN_OK);
  }
  firn_ice_input(ag, st, base, path, data, len);
  firn_ice_run_timers(ag, ag->now);
  return firn_ice_leave(ag, FIRN_OK);
}

firn_ssize firn_agent_write_data(firn_agent *ag, unsigned stream, unsigned component, const uint8_t *data,
                                 size_t len, uint8_t *out, size_t cap, firn_path *path, uint64_t now) {
  ice_stream *st = firn_ice_stream(ag, stream);
  if (!st || component < 1 || component > st->ncomp || (!data && len) || !out || !path)
    return FIRN_ERR_INVALID_ARG;
  if (ag->destroyed || ag->closed) return FIRN_ERR_CLOSED;
  ice_component *cp = &st->comp[component - 1];
  if (!cp->selected || cp->consent_failed) return FIRN_ERR_STATE;
  ice_pair *p = cp->selected;
  size_t hlen = 0;
  memset(path, 0, sizeof *path);
  path->local = p->local->c.addr;
  path->remote = p->remote->c.addr;
  path->transport = p->remote->c.transport;
  if (p->local->c.type == FIRN_CAND_RELAY) {
    ice_relay *r = firn_ice_relay_of(ag, &p->local->c.addr);
    if (!r) return FIRN_ERR_STATE;
    if (now != FIRN_TIME_NEVER && now > ag->now) ag->now = now;
    firn_ssize n = firn_ice_relay_write(ag, r, &p->remote->c.addr, data, len, out, cap, path);
    if (n < 0) return n;
    p->bytes_sent += len;
    p->packets_sent++;
    p->last_tx = ag->now;
    return n;
  }
  if (path->transport == FIRN_TRANSPORT_TCP) {
    /* RFC 4571 framing on the pair's connection */
    const ice_tcp_conn *c = firn_ice_tcp_find(ag, p->conn);
    if (!c || c->state != TCP_OPEN) return FIRN_ERR_STATE;
    if (len > 0xffff) return FIRN_ERR_INVALID_ARG;
    hlen = 2;
    path->conn = p->conn;
  }
  if (len + hlen > cap) return FIRN_ERR_NOBUF;
  if (now != FIRN_TIME_NEVER && now > ag->now) ag->now = now;
  memmove(out + hlen, data, len); /* first: `out` may be `data` */
  if (hlen) {
    out[0] = (uint8_t)(len >> 8);
    out[1] = (uint8_t)len;
  }
  p->bytes_sent += len;
  p->packets_sent++;
  p->last_tx = ag->now;
  return (firn_ssize)(len + hlen);
}

int firn_agent_get_selected_pair(const firn_agent *ag, unsigned stream, unsigned component, firn_candidate *local,
                                 firn_candidate *remote, firn_path *path) {
  const ice_stream *st = firn_ice_stream(ag, stream);
  if (!st || component < 1 || component > st->ncomp) return FIRN_ERR_INVALID_ARG;
  const ice_pair *p = st->comp[component - 1].selected;
  if (!p) return FIRN_ERR_NOT_FOUND;
  if (local) *local = p->valid_local->c;
  if (remote) *remote = p->remote->c;
  if (path) {
    memset(path, 0, sizeof *path);
    path->local = p->local->c.addr;
    path->remote = p->remote->c.addr;
    path->transport = p->remote->c.transport;
    path->conn = p->conn;
  }
  return FIRN_OK;
}

int firn_agent_get_pair_stats(const firn_agent *ag, unsigned stream, firn_pair_stats *out, size_t max,
                              size_t *count) {
  const ice_stream *st = firn_ice_stream(ag, stream);
  if (!st || !count || (max && !out)) return FIRN_ERR_INVALID_ARG;
  size_t n = 0;
  for (unsigned i = 0; i < st->npairs; i++) {
    const ice_pair *p = st->pairs[i];
    if (n < max) {
      firn_pair_stats *o = &out[n];
      memset(o, 0, sizeof *o);
      o->local = p->valid_local->c;
      o->remote = p->remote->c;
      o->state = p->state;
      o->nominated = p->nominated;
      o->selected = st->comp[p->component - 1].selected == p;
      o->rtt_last_ns = p->rtt_last;
      o->rtt_avg_ns = p->rtt_n ? p->rtt_sum / p->rtt_n : 0;
      o->requests_sent = p->requests_sent;
      o->requests_received = p->requests_received;
      o->responses_sent = p->responses_sent;
      o->responses_received = p->responses_received;
      o->bytes_sent = p->bytes_sent;
      o->bytes_received = p->bytes_received;
      o->packets_sent = p->packets_sent;
      o->packets_received = p->packets_received;
    }
    n++;
  }
  *count = n < max ? n : max;
  return n > max ? FIRN_ERR_NOBUF : FIRN_OK;
}

int firn_agent_get_stats(const firn_agent *ag, firn_agent_stats *out) {
  if (!ag || !out) return FIRN_ERR_INVALID_ARG;
  *out = ag->stats;
  out->pairs = 0;
  out->remote_candidates = 0;
  for (unsigned i = 0; i < ag->nstreams; i++) {
    out->pairs += ag->streams[i]->npairs;
    out->remote_candidates += ag->streams[i]->nremote;
  }
  return FIRN_OK;
}

int firn_agent_close(firn_agent *ag, uint64_t now) {
  if (!ag) return FIRN_ERR_INVALID_ARG;
  if (ag->destroyed) return FIRN_ERR_CLOSED;
  firn_ice_enter(ag, now);
  if (!ag->closed) {
    ag->closed = 1;
    for (unsigned i = 0; i < ag->nstreams; i++) {
      ice_stream *st = ag->streams[i];
      for (unsigned k = 0; k < st->npairs; k++) {
        st->pairs[k]->txn.active = 0;
        st->pairs[k]->prev.active = 0;
        st->pairs[k]->consent.active = 0;
      }
      st->ntrig = 0;
      for (unsigned k = 0; k < st->npairs; k++) st->pairs[k]->triggered = 0;
      firn_ice_update_state(ag, st);
    }
    firn_ice_tcp_close_all(ag, 1);
    firn_ice_relay_close_all(ag, ag->now);
    while (ag->out_head) {
      ice_pkt *p = ag->out_head;
      ag->out_head = p->next;
      firn_free(&ag->alloc, p);
    }
    ag->out_tail = NULL;
    ag->nout = 0;
  }
  return firn_ice_leave(ag, FIRN_OK);
}
