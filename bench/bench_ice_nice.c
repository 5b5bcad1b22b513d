/*
 * ICE benchmark anchor: libnice (Debian 0.1.21) doing what bench_ice does with firn, in its
 * own process so neither library's heap, RSS or start-up shows in the other's figures.
 *
 * Setup, identical for every mode: two NiceAgents on one GMainContext in this process,
 * nice_agent_new_full(RFC 5245 compatibility, NICE_AGENT_OPTION_REGULAR_NOMINATION),
 * "stun-pacing-timer" = Ta, UPnP and ICE-TCP off, one stream with one component, host
 * candidates on 127.0.0.1 only (nice_agent_add_local_address), agent A controlling and B
 * controlled, a receive callback attached (as an application does). When both agents have
 * finished gathering, each gets the other's credentials and candidates.
 *
 * "Connected" is the component state READY on both agents (libnice reports CONNECTED as soon
 * as one pair works, READY once the nominated pair is selected, which is what firn's
 * CONNECTED/COMPLETED mean); the CONNECTED instant is printed too.
 *
 *   bench_ice_nice connect [--ta MS] [--runs R]    time from gathering start to both READY
 *   bench_ice_nice cycle --count N [--ta MS]       N x (create two agents, connect, free);
 *                                                  CPU time per connection; for callgrind
 *   bench_ice_nice memory [--agents N] [--ta MS]   N agents (N/2 pairs) connected at once:
 *                                                  malloc and RSS deltas per agent
 * Output: "key value" lines (see bench_ice_common.h).
 */
#include <agent.h>
#include <gio/gio.h>
#include <glib.h>

#include "bench_ice_common.h"

typedef struct side {
  NiceAgent *agent;
  guint stream;
  int gathered;
  int failed;
  uint64_t t_connected, t_ready;
  struct pair *pair;
} side;

typedef struct pair {
  side a, b;
  int exchanged;
} pair;

static GMainContext *g_ctx;
static unsigned g_ready;  /* agents that reached READY */
static unsigned g_failed; /* agents that reached FAILED */

static void on_recv(NiceAgent *agent, guint stream, guint component, guint len, gchar *buf,
                    gpointer user) {
  (void)agent; (void)stream; (void)component; (void)len; (void)buf; (void)user;
}

static void give_remote(side *from, side *to) {
  gchar *ufrag = NULL, *pwd = NULL;
  if (!nice_agent_get_local_credentials(from->agent, from->stream, &ufrag, &pwd))
    bench_die("nice_agent_get_local_credentials failed");
  if (!nice_agent_set_remote_credentials(to->agent, to->stream, ufrag, pwd))
    bench_die("nice_agent_set_remote_credentials failed");
  g_free(ufrag);
  g_free(pwd);
  GSList *cands = nice_agent_get_local_candidates(from->agent, from->stream, 1);
  if (!cands) bench_die("libnice gathered no candidate");
  if (nice_agent_set_remote_candidates(to->agent, to->stream, 1, cands) < 1)
    bench_die("nice_agent_set_remote_candidates failed");
  g_slist_free_full(cands, (GDestroyNotify)nice_candidate_free);
}

static void on_gathering_done(NiceAgent *agent, guint stream, gpointer user) {
  side *s = user;
  (void)agent; (void)stream;
  s->gathered = 1;
  pair *p = s->pair;
  if (p->a.gathered && p->b.gathered && !p->exchanged) {
    p->exchanged = 1;
    give_remote(&p->a, &p->b);
    give_remote(&p->b, &p->a);
  }
}

static void on_state(NiceAgent *agent, guint stream, guint component, guint state, gpointer user) {
  side *s = user;
  (void)agent; (void)stream; (void)component;
  uint64_t now = bench_now_ns();
  if (state == NICE_COMPONENT_STATE_CONNECTED && !s->t_connected) s->t_connected = now;
  if (state == NICE_COMPONENT_STATE_READY && !s->t_ready) {
    s->t_ready = now;
    if (!s->t_connected) s->t_connected = now;
    g_ready++;
  }
  if (state == NICE_COMPONENT_STATE_FAILED && !s->failed) {
    s->failed = 1;
    g_failed++;
  }
}

static void side_init(side *s, pair *p, int controlling, unsigned ta_ms) {
  memset(s, 0, sizeof *s);
  s->pair = p;
  s->agent = nice_agent_new_full(g_ctx, NICE_COMPATIBILITY_RFC5245,
                                 NICE_AGENT_OPTION_REGULAR_NOMINATION);
  if (!s->agent) bench_die("nice_agent_new_full failed");
  g_object_set(s->agent, "controlling-mode", controlling ? TRUE : FALSE, "stun-pacing-timer",
               (guint)ta_ms, "upnp", FALSE, "ice-tcp", FALSE, NULL);
  NiceAddress addr;
  nice_address_init(&addr);
  if (!nice_address_set_from_string(&addr, "127.0.0.1")) bench_die("nice_address_set_from_string");
  if (!nice_agent_add_local_address(s->agent, &addr)) bench_die("nice_agent_add_local_address");
  s->stream = nice_agent_add_stream(s->agent, 1);
  if (!s->stream) bench_die("nice_agent_add_stream failed");
  g_signal_connect(s->agent, "candidate-gathering-done", G_CALLBACK(on_gathering_done), s);
  g_signal_connect(s->agent, "component-state-changed", G_CALLBACK(on_state), s);
  nice_agent_attach_recv(s->agent, s->stream, 1, g_ctx, on_recv, s);
}

/* Agents created (not timed): the measured interval starts at gathering. */
static void pair_init(pair *p, unsigned ta_ms) {
  memset(p, 0, sizeof *p);
  side_init(&p->a, p, 1, ta_ms);
  side_init(&p->b, p, 0, ta_ms);
}

static void pair_gather(pair *p) {
  if (!nice_agent_gather_candidates(p->a.agent, p->a.stream) ||
      !nice_agent_gather_candidates(p->b.agent, p->b.stream))
    bench_die("nice_agent_gather_candidates failed (no socket on 127.0.0.1?)");
}

static void drain(void) {
  for (int i = 0; i < 1000 && g_main_context_iteration(g_ctx, FALSE); i++) {
  }
}

static void pair_free(pair *p) {
  nice_agent_attach_recv(p->a.agent, p->a.stream, 1, g_ctx, NULL, NULL);
  nice_agent_attach_recv(p->b.agent, p->b.stream, 1, g_ctx, NULL, NULL);
  g_object_unref(p->a.agent);
  g_object_unref(p->b.agent);
  drain();
}

static gboolean on_watchdog(gpointer user) {
  *(int *)user = 1;
  return G_SOURCE_REMOVE;
}

/* Iterate until `want` agents are READY; dies on failure or after the timeout. */
static void run_until_ready(unsigned want) {
  int fired = 0;
  GSource *wd = g_timeout_source_new(BENCH_ICE_TIMEOUT_MS);
  g_source_set_callback(wd, on_watchdog, &fired, NULL);
  g_source_attach(wd, g_ctx);
  while (g_ready < want && !g_failed && !fired) g_main_context_iteration(g_ctx, TRUE);
  g_source_destroy(wd);
  g_source_unref(wd);
  if (g_failed) bench_die("a libnice agent FAILED");
  if (fired) bench_die("libnice agents did not connect before the timeout");
}

/* One connection; the intervals (ms) from gathering start to both READY / both CONNECTED. */
static void connect_once(unsigned ta_ms, double *ready_ms, double *connected_ms) {
  pair p;
  pair_init(&p, ta_ms);
  g_ready = g_failed = 0;
  uint64_t t0 = bench_now_ns();
  pair_gather(&p);
  run_until_ready(2);
  uint64_t tr = p.a.t_ready > p.b.t_ready ? p.a.t_ready : p.b.t_ready;
  uint64_t tc = p.a.t_connected > p.b.t_connected ? p.a.t_connected : p.b.t_connected;
  if (ready_ms) *ready_ms = (double)(tr - t0) / 1e6;
  if (connected_ms) *connected_ms = (double)(tc - t0) / 1e6;
  pair_free(&p);
}

static void mode_connect(const bench_opts *o) {
  double *ready = calloc(o->runs, sizeof *ready), *conn = calloc(o->runs, sizeof *conn);
  if (!ready || !conn) bench_die("out of memory");
  connect_once(o->ta_ms, NULL, NULL); /* warm-up: first sockets, GLib types, RNG */
  for (unsigned r = 0; r < o->runs; r++) {
    connect_once(o->ta_ms, &ready[r], &conn[r]);
    if (o->verbose) fprintf(stderr, "run %u: connected %.2f ms, ready %.2f ms\n", r, conn[r], ready[r]);
  }
  bench_put("ta_ms", o->ta_ms);
  bench_put("runs", o->runs);
  bench_put("connect_ms_median", bench_median(ready, o->runs));
  bench_put("connect_ms_min", ready[0]);
  bench_put("connect_ms_max", ready[o->runs - 1]);
  bench_put("first_connected_ms_median", bench_median(conn, o->runs));
  free(ready);
  free(conn);
}

static void mode_cycle(bench_opts *o) {
  if (!o->count) o->count = 10;
  uint64_t c0 = bench_cpu_ns(), w0 = bench_now_ns();
  for (unsigned i = 0; i < o->count; i++) connect_once(o->ta_ms, NULL, NULL);
  uint64_t c1 = bench_cpu_ns(), w1 = bench_now_ns();
  bench_put("count", o->count);
  bench_put("cpu_us_per_conn", (double)(c1 - c0) / 1e3 / o->count);
  bench_put("wall_ms_per_conn", (double)(w1 - w0) / 1e6 / o->count);
}

static void mode_memory(const bench_opts *o) {
  unsigned npairs = o->agents / 2;
  bench_put("nofile", (double)bench_raise_nofile());
  connect_once(o->ta_ms, NULL, NULL); /* one-time costs out of the baseline */
  pair *pairs = calloc(npairs, sizeof *pairs);
  if (!pairs) bench_die("out of memory");
  long h0 = bench_malloc_bytes(), r0 = bench_rss_bytes();
  g_ready = g_failed = 0;
  uint64_t t0 = bench_now_ns();
  for (unsigned i = 0; i < npairs; i++) pair_init(&pairs[i], o->ta_ms);
  for (unsigned i = 0; i < npairs; i++) pair_gather(&pairs[i]);
  run_until_ready(2 * npairs);
  uint64_t t1 = bench_now_ns();
  long h1 = bench_malloc_bytes(), r1 = bench_rss_bytes();
  unsigned n = 2 * npairs;
  bench_put("agents", n);
  bench_put("all_connected_ms", (double)(t1 - t0) / 1e6);
  bench_put("heap_malloc_per_agent", (double)(h1 - h0) / n);
  bench_put("rss_per_agent", (double)(r1 - r0) / n);
  for (unsigned i = 0; i < npairs; i++) pair_free(&pairs[i]);
  free(pairs);
}

int main(int argc, char **argv) {
  bench_opts o = {.ta_ms = 20, .runs = BENCH_ICE_RUNS, .count = 0, .agents = BENCH_ICE_AGENTS};
  if (bench_parse(&o, argc, argv, 1) != argc || !o.mode) {
    fprintf(stderr, "usage: bench_ice_nice connect|cycle|memory [--ta MS] [--runs R] "
                    "[--count N] [--agents N] [-v]\n");
    return 2;
  }
  g_ctx = g_main_context_new();
  if (!strcmp(o.mode, "connect")) mode_connect(&o);
  else if (!strcmp(o.mode, "cycle")) mode_cycle(&o);
  else if (!strcmp(o.mode, "memory")) mode_memory(&o);
  else bench_die("unknown mode");
  g_main_context_unref(g_ctx);
  return 0;
}
