/* The simulator core: PRNG, virtual clock, event queue, timers, tracing, run loop. */
#include "sim_internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* PRNG: xoshiro256** (Blackman/Vigna, public domain algorithm) seeded through splitmix64.     */

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += UINT64_C(0x9E3779B97F4A7C15));
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void sim_rng_seed(sim_rng *r, uint64_t seed) {
  uint64_t x = seed;
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

uint64_t sim_rng_next(sim_rng *r) {
  uint64_t *s = r->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

uint64_t sim_rng_below(sim_rng *r, uint64_t bound) {
  if (bound <= 1) return 0;
  uint64_t limit = UINT64_MAX - (UINT64_MAX % bound);
  for (;;) {
    uint64_t v = sim_rng_next(r);
    if (v < limit) return v % bound;
  }
}

/* Uniform in [0, 1) with 53 bits: exact IEEE arithmetic, so the same on every platform. */
double sim_rng_unit(sim_rng *r) { return (double)(sim_rng_next(r) >> 11) * 0x1.0p-53; }

int sim_rng_fill(void *user, uint8_t *buf, size_t len) {
  sim_rng *r = user;
  if (!r || (!buf && len)) return FIRN_ERR_INVALID_ARG;
  while (len > 0) {
    uint64_t v = sim_rng_next(r);
    size_t n = len < 8 ? len : 8;
    for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)(v >> (8 * i));
    buf += n;
    len -= n;
  }
  return FIRN_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Settings, lifetime                                                                          */

void sim_settings_default(sim_settings *st) {
  memset(st, 0, sizeof *st);
  st->size = sizeof *st;
  st->seed = 1;
  st->max_events = 100000;
  st->max_steps = UINT64_C(100000000);
  st->tcp_connect_timeout_ns = 10 * FIRN_NS_PER_S;
  st->tcp_abort_ns = 10 * FIRN_NS_PER_S;
  st->tcp_max_chunk = 1400;
  st->tcp_sndbuf = 1u << 20;
}

static int env_u64(const char *name, uint64_t *out) {
  const char *v = getenv(name);
  if (!v || !*v) return 0;
  char *end = NULL;
  unsigned long long x = strtoull(v, &end, 0);
  if (!end || *end) return 0;
  *out = (uint64_t)x;
  return 1;
}

int sim_new(sim_net **out, const sim_settings *settings) {
  if (!out) return FIRN_ERR_INVALID_ARG;
  *out = NULL;
  sim_settings def;
  sim_settings_default(&def);
  if (settings) {
    if (settings->size < sizeof *settings) return FIRN_ERR_INVALID_ARG;
    def = *settings;
  }
  if (def.max_events == 0 || def.tcp_max_chunk == 0 || def.max_steps == 0)
    return FIRN_ERR_INVALID_ARG;
  sim_net *s = calloc(1, sizeof *s);
  if (!s) return FIRN_ERR_NOMEM;
  s->set = def;
  s->seed = def.seed;
  env_u64("FIRN_SIM_SEED", &s->seed);
  uint64_t tr = 0;
  s->trace_stderr = env_u64("FIRN_SIM_TRACE", &tr) && tr != 0;
  s->now = def.start_ns;
  sim_rng_seed(&s->rng, s->seed);
  firn_timerq_init(&s->q, NULL);
  s->next_pkt_id = 1;
  s->next_conn_id = 1;
  *out = s;
  return FIRN_OK;
}

void sim_free(sim_net *s) {
  if (!s) return;
  s->in_free = 1;
  /* Empty the queue first: it writes to the events it still holds. Nothing is scheduled
   * from here on (sim_schedule refuses while in_free). */
  firn_timerq_free(&s->q);
  while (s->pkts) sim_pkt_free(s, s->pkts);
  while (s->cleanups) {
    sim_cleanup *c = s->cleanups;
    sim_cleanup_remove(s, c);
    c->fn(c);
  }
  while (s->hosts) {
    sim_host *h = s->hosts;
    s->hosts = h->next;
    sim_host_free(h);
  }
  while (s->nats) {
    sim_nat *n = s->nats;
    sim_nat_free(n); /* unlinks itself */
  }
  while (s->segments) {
    sim_segment *seg = s->segments;
    s->segments = seg->next;
    sim_segment_free(seg);
  }
  while (s->timers) {
    sim_timer *t = s->timers;
    sim_timer_free(t);
  }
  while (s->oneshots) {
    sim_oneshot *o = s->oneshots;
    s->oneshots = o->next;
    free(o);
  }
  free(s);
}

uint64_t sim_now(const sim_net *s) { return s->now; }
uint64_t sim_seed(const sim_net *s) { return s->seed; }
sim_rng *sim_rng_of(sim_net *s) { return &s->rng; }

void sim_rng_derive(const sim_net *s, uint64_t stream, sim_rng *r) {
  uint64_t x = s->seed ^ (stream * UINT64_C(0xD1342543DE82EF95));
  sim_rng_seed(r, splitmix64(&x));
}

void sim_get_stats(const sim_net *s, sim_stats *out) { *out = s->stats; }

void sim_cleanup_add(sim_net *s, sim_cleanup *c) {
  c->prev = NULL;
  c->next = s->cleanups;
  if (s->cleanups) s->cleanups->prev = c;
  s->cleanups = c;
}

void sim_cleanup_remove(sim_net *s, sim_cleanup *c) {
  if (c->prev) c->prev->next = c->next;
  else s->cleanups = c->next;
  if (c->next) c->next->prev = c->prev;
  c->prev = c->next = NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Tracing                                                                                    */

bool sim_tracing(const sim_net *s) { return s->trace_stderr || s->set.trace; }

void sim_tracef(sim_net *s, const char *fmt, ...) {
  if (!sim_tracing(s)) return;
  char line[512];
  int n = snprintf(line, sizeof line, "[%6" PRIu64 ".%06" PRIu64 " ms] ", s->now / FIRN_NS_PER_MS,
                   s->now % FIRN_NS_PER_MS);
  if (n < 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
  va_end(ap);
  if (s->trace_stderr) fprintf(stderr, "sim: %s\n", line);
  if (s->set.trace) s->set.trace(s->set.trace_user, line);
}

/* ------------------------------------------------------------------------------------------ */
/* Event queue                                                                                 */

int sim_schedule(sim_net *s, sim_event *ev, uint64_t when) {
  if (s->in_free) return FIRN_ERR_CLOSED;
  if (when < s->now) when = s->now;
  return firn_timerq_arm(&s->q, &ev->timer, when);
}

void sim_unschedule(sim_net *s, sim_event *ev) { firn_timerq_cancel(&s->q, &ev->timer); }

uint64_t sim_next_event(const sim_net *s) { return firn_timerq_expiry(&s->q); }

static void dispatch(sim_net *s, sim_event *ev) {
  switch (ev->kind) {
  case SIM_EV_PACKET:
    sim_packet_arrive(s, SIM_CONTAINER_OF(ev, sim_pkt, ev));
    break;
  case SIM_EV_TIMER: {
    sim_timer *t = SIM_CONTAINER_OF(ev, sim_timer, ev);
    if (t->cb) t->cb(t->user, s->now); /* t may be freed inside */
    break;
  }
  case SIM_EV_ONESHOT: {
    sim_oneshot *o = SIM_CONTAINER_OF(ev, sim_oneshot, ev);
    if (o->prev) o->prev->next = o->next;
    else s->oneshots = o->next;
    if (o->next) o->next->prev = o->prev;
    sim_timer_fn cb = o->cb;
    void *user = o->user;
    free(o);
    cb(user, s->now);
    break;
  }
  case SIM_EV_TCP_FLUSH:
  case SIM_EV_TCP_TIMER:
    sim_tcp_on_event(s, ev);
    break;
  default:
    abort();
  }
}

int sim_step(sim_net *s) {
  if (s->in_dispatch) return FIRN_ERR_STATE;
  uint64_t next = firn_timerq_expiry(&s->q);
  if (next == FIRN_TIME_NEVER) return 0;
  if (next > s->now) s->now = next;
  firn_timer *t = firn_timerq_pop_expired(&s->q, s->now);
  if (!t) return 0;
  s->in_dispatch = 1;
  dispatch(s, SIM_CONTAINER_OF(t, sim_event, timer));
  s->in_dispatch = 0;
  return 1;
}

int sim_run_until(sim_net *s, sim_pred_fn pred, void *user, uint64_t deadline) {
  if (s->in_dispatch) return FIRN_ERR_STATE;
  uint64_t steps = 0;
  for (;;) {
    if (pred && pred(user)) return SIM_DONE;
    uint64_t next = firn_timerq_expiry(&s->q);
    if (next == FIRN_TIME_NEVER && deadline == FIRN_TIME_NEVER) return SIM_IDLE;
    if (next > deadline) {
      if (deadline > s->now) s->now = deadline;
      return SIM_DEADLINE;
    }
    if (++steps > s->set.max_steps) {
      sim_tracef(s, "step limit %" PRIu64 " reached (seed %" PRIu64 ")", s->set.max_steps, s->seed);
      return FIRN_ERR_LIMIT;
    }
    sim_step(s);
  }
}

int sim_run_for(sim_net *s, uint64_t duration_ns) {
  uint64_t deadline = s->now + duration_ns;
  if (deadline < s->now) deadline = FIRN_TIME_NEVER - 1; /* saturate, keep a deadline */
  return sim_run_until(s, NULL, NULL, deadline);
}

/* ------------------------------------------------------------------------------------------ */
/* Timers                                                                                     */

int sim_timer_new(sim_net *s, sim_timer_fn cb, void *user, sim_timer **out) {
  if (!s || !out) return FIRN_ERR_INVALID_ARG;
  sim_timer *t = calloc(1, sizeof *t);
  if (!t) return FIRN_ERR_NOMEM;
  firn_timer_init(&t->ev.timer);
  t->ev.kind = SIM_EV_TIMER;
  t->s = s;
  t->cb = cb;
  t->user = user;
  t->next = s->timers;
  if (s->timers) s->timers->prev = t;
  s->timers = t;
  *out = t;
  return FIRN_OK;
}

int sim_timer_arm(sim_timer *t, uint64_t when) {
  if (when == FIRN_TIME_NEVER) {
    sim_unschedule(t->s, &t->ev);
    return FIRN_OK;
  }
  return sim_schedule(t->s, &t->ev, when);
}

void sim_timer_cancel(sim_timer *t) {
  if (t) sim_unschedule(t->s, &t->ev);
}

int sim_timer_armed(const sim_timer *t) { return firn_timer_armed(&t->ev.timer); }

void sim_timer_free(sim_timer *t) {
  if (!t) return;
  sim_net *s = t->s;
  sim_unschedule(s, &t->ev);
  if (t->prev) t->prev->next = t->next;
  else s->timers = t->next;
  if (t->next) t->next->prev = t->prev;
  free(t);
}

int sim_at(sim_net *s, uint64_t when, sim_timer_fn cb, void *user) {
  if (!s || !cb) return FIRN_ERR_INVALID_ARG;
  sim_oneshot *o = calloc(1, sizeof *o);
  if (!o) return FIRN_ERR_NOMEM;
  firn_timer_init(&o->ev.timer);
  o->ev.kind = SIM_EV_ONESHOT;
  o->cb = cb;
  o->user = user;
  int rc = sim_schedule(s, &o->ev, when);
  if (rc < 0) {
    free(o);
    return rc;
  }
  o->next = s->oneshots;
  if (s->oneshots) s->oneshots->prev = o;
  s->oneshots = o;
  return FIRN_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Addresses                                                                                  */

firn_addr sim_addr(const char *str) {
  firn_addr a;
  if (firn_addr_parse(&a, str, 0) != FIRN_OK) {
    fprintf(stderr, "sim: bad address literal '%s'\n", str);
    abort();
  }
  return a;
}

const char *sim_addr_str(const firn_addr *a, char *buf) {
  if (firn_addr_format(a, 1, buf, FIRN_ADDR_STRLEN) < 0) strcpy(buf, "?");
  return buf;
}
