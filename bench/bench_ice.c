/*
 * ICE benchmark: firn beside libnice (bench_ice_nice, a separate binary) in the same run.
 *
 * Setup, identical for every mode and mirrored by bench_ice_nice: two agents in one process
 * on one event loop, host candidates on 127.0.0.1 only (real UDP sockets), one stream with
 * one component, agent A controlling and B controlled, regular nomination (firn's only mode
 * as controller), Ta as given. The measured interval starts when gathering starts (firn:
 * firn_uv_agent_add_stream() binds the sockets, then firn_uv_agent_gather(); libnice:
 * nice_agent_gather_candidates()); agent creation is not timed. When both agents have their
 * candidates, each gets the other's credentials, candidates and end-of-candidates. An agent
 * is connected at its first on_state CONNECTED or COMPLETED; the pair when both are.
 *
 *   bench_ice [--runs R] [--count N] [--agents N] [--nice PATH]
 *             [--ir-firn X --ir-nice Y]
 *       runs every mode below for firn and (as child processes, each measurement in a
 *       fresh process) for libnice, and prints the comparison table. scripts/bench.sh
 *       passes the callgrind instruction counts with --ir-firn/--ir-nice.
 *   bench_ice connect [--ta MS] [--runs R]
 *       median time from gathering start to both connected, over R runs (default 20).
 *   bench_ice cycle --count N [--ta MS]
 *       N x (create two agents, connect, close both): CPU time per connection; under
 *       callgrind at two counts, the difference gives instructions per connection.
 *   bench_ice memory [--agents N] [--ta MS]
 *       N agents (N/2 pairs on loopback, all connected at once) on the libuv runtime: heap
 *       per agent from firn's allocator hooks and from mallinfo2(), RSS from
 *       /proc/self/statm, deltas over a baseline taken after one warm-up connection.
 *   bench_ice memory-core [--agents N] [--ta MS]
 *       the same N/2 pairs, sans-I/O: the cores alone, datagrams moved in memory and a
 *       virtual clock, so the figure is the ICE agent's own heap without runtime buffers.
 * Output of the single modes: "key value" lines (see bench_ice_common.h).
 */
#include "firn/ice.h"
#include "firn/uv.h"

#include <limits.h>

#include "bench_ice_common.h"

/* ---------------------------------------------------------------------------------------- */
/* counting allocator: live bytes requested through firn's hooks, and a size histogram      */

typedef struct size_bin {
  size_t size;
  long live;
} size_bin;

#define SIZE_BINS 512
#define HDR 16 /* keeps the payload 16-byte aligned */

static long g_live_bytes, g_live_blocks;
static size_bin g_bins[SIZE_BINS];

static void bin_add(size_t size, long d) {
  unsigned h = (unsigned)(size * 2654435761u) % SIZE_BINS;
  for (unsigned i = 0; i < SIZE_BINS; i++) {
    size_bin *b = &g_bins[(h + i) % SIZE_BINS];
    if (b->size == size || b->size == 0) {
      b->size = size;
      b->live += d;
      return;
    }
  }
}

static void *count_malloc(size_t size, void *user) {
  (void)user;
  unsigned char *p = malloc(size + HDR);
  if (!p) return NULL;
  memcpy(p, &size, sizeof size);
  g_live_bytes += (long)size;
  g_live_blocks++;
  bin_add(size, 1);
  return p + HDR;
}

static void *count_calloc(size_t n, size_t size, void *user) {
  if (size && n > (SIZE_MAX - HDR) / size) return NULL;
  void *p = count_malloc(n * size, user);
  if (p) memset(p, 0, n * size);
  return p;
}

static void count_free(void *ptr, void *user) {
  (void)user;
  if (!ptr) return;
  unsigned char *p = (unsigned char *)ptr - HDR;
  size_t size;
  memcpy(&size, p, sizeof size);
  g_live_bytes -= (long)size;
  g_live_blocks--;
  bin_add(size, -1);
  free(p);
}

static void *count_realloc(void *ptr, size_t size, void *user) {
  if (!ptr) return count_malloc(size, user);
  unsigned char *p = (unsigned char *)ptr - HDR;
  size_t old;
  memcpy(&old, p, sizeof old);
  unsigned char *q = realloc(p, size + HDR);
  if (!q) return NULL;
  memcpy(q, &size, sizeof size);
  g_live_bytes += (long)size - (long)old;
  bin_add(old, -1);
  bin_add(size, 1);
  return q + HDR;
}

static const firn_allocator g_counting = {count_malloc, count_calloc, count_realloc, count_free, NULL};

static int cmp_bin_bytes(const void *a, const void *b) {
  const size_bin *x = a, *y = b;
  long bx = (long)x->size * x->live, by = (long)y->size * y->live;
  return (by > bx) - (by < bx);
}

/* The live blocks by total bytes, per agent: "alloc_<size>B_per_agent <blocks>". */
static void print_bins(unsigned agents) {
  size_bin sorted[SIZE_BINS];
  memcpy(sorted, g_bins, sizeof sorted);
  qsort(sorted, SIZE_BINS, sizeof *sorted, cmp_bin_bytes);
  for (unsigned i = 0; i < 12 && sorted[i].live > 0; i++) {
    char key[64];
    snprintf(key, sizeof key, "alloc_%zuB_per_agent", sorted[i].size);
    bench_put(key, (double)sorted[i].live / agents);
  }
}

/* ---------------------------------------------------------------------------------------- */
/* two agents on the libuv runtime                                                           */

#define MAX_CANDS 8

typedef struct peer {
  firn_uv_agent *ua;
  unsigned stream;
  int gathered;
  int closed;
  uint64_t t_connected;
  firn_candidate cands[MAX_CANDS];
  size_t ncands;
} peer;

typedef struct pair {
  peer a, b;
  int exchanged;
} pair;

static unsigned g_connected, g_failed, g_closed;

static void on_candidate(void *user, unsigned stream, const firn_candidate *c) {
  peer *p = user;
  (void)stream;
  if (p->ncands < MAX_CANDS) p->cands[p->ncands++] = *c;
}

static void on_gathering_done(void *user, unsigned stream) {
  peer *p = user;
  (void)stream;
  p->gathered = 1;
}

static void on_state(void *user, unsigned stream, firn_ice_state st) {
  peer *p = user;
  (void)stream;
  if ((st == FIRN_ICE_CONNECTED || st == FIRN_ICE_COMPLETED) && !p->t_connected) {
    p->t_connected = firn_uv_now();
    g_connected++;
  } else if (st == FIRN_ICE_FAILED) {
    g_failed++;
  }
}

static void on_closed(void *arg) {
  peer *p = arg;
  p->closed = 1;
  g_closed++;
}

static uint64_t g_trace_t0; /* non-zero: -v given, trace firn's log with times from here */

static void trace_log(void *user, firn_log_level level, const char *module, const char *msg) {
  (void)level;
  fprintf(stderr, "%8.3f ms %s %s: %s\n", (double)(firn_uv_now() - g_trace_t0) / 1e6,
          user == NULL ? "?" : (const char *)user, module, msg);
}

/* Counting allocator for the memory modes only; connect and cycle use firn's default (NULL:
 * malloc), as an application does, so the hooks' bookkeeping is not in the CPU figures. */
static const firn_allocator *g_alloc;

static void peer_init(peer *p, uv_loop_t *loop, firn_ice_role role, unsigned ta_ms) {
  static const char *ips[] = {"127.0.0.1"};
  firn_uv_settings s;
  firn_uv_settings_default(&s);
  s.ips = ips;
  s.n_ips = 1;
  s.agent.alloc = g_alloc;
  s.agent.role = role;
  s.agent.ta_ns = ta_ms * FIRN_NS_PER_MS;
  s.agent.user = p;
  s.agent.callbacks.on_candidate = on_candidate;
  s.agent.callbacks.on_gathering_done = on_gathering_done;
  s.agent.callbacks.on_state = on_state;
  if (g_trace_t0) {
    s.agent.log = trace_log;
    s.agent.log_user = role == FIRN_ICE_CONTROLLING ? "A" : "B";
    s.agent.log_level = FIRN_LOG_TRACE;
  }
  memset(p, 0, sizeof *p);
  int rc = firn_uv_agent_new(&p->ua, loop, &s);
  if (rc < 0) bench_die(firn_strerror(rc));
}

static void pair_init(pair *p, uv_loop_t *loop, unsigned ta_ms) {
  memset(p, 0, sizeof *p);
  peer_init(&p->a, loop, FIRN_ICE_CONTROLLING, ta_ms);
  peer_init(&p->b, loop, FIRN_ICE_CONTROLLED, ta_ms);
}

/* Gathering: bind the sockets and report the host candidates. */
static void pair_gather(pair *p) {
  peer *both[2] = {&p->a, &p->b};
  for (int i = 0; i < 2; i++) {
    int rc = firn_uv_agent_add_stream(both[i]->ua, 1, &both[i]->stream);
    if (rc == 0) rc = firn_uv_agent_gather(both[i]->ua);
    if (rc < 0) bench_die(firn_strerror(rc));
  }
}

static void give_remote(peer *from, peer *to) {
  const char *ufrag, *pwd;
  int rc = firn_agent_get_local_credentials(firn_uv_agent_core(from->ua), from->stream, &ufrag, &pwd);
  if (rc == 0) rc = firn_uv_agent_set_remote_credentials(to->ua, to->stream, ufrag, pwd);
  if (rc < 0) bench_die(firn_strerror(rc));
  if (!from->ncands) bench_die("firn gathered no candidate");
  for (size_t i = 0; i < from->ncands; i++) {
    char line[FIRN_CANDIDATE_STRLEN];
    if (firn_candidate_format(&from->cands[i], line, sizeof line) < 0) bench_die("candidate_format");
    rc = firn_uv_agent_add_remote_candidate(to->ua, to->stream, line);
    if (rc < 0) bench_die(firn_strerror(rc));
  }
  rc = firn_uv_agent_end_of_remote_candidates(to->ua, to->stream);
  if (rc < 0) bench_die(firn_strerror(rc));
}

/* Hands each side the other's description once both have gathered; returns 1 when done. */
static int pair_exchange(pair *p) {
  if (p->exchanged) return 1;
  if (!p->a.gathered || !p->b.gathered) return 0;
  p->exchanged = 1;
  give_remote(&p->a, &p->b);
  give_remote(&p->b, &p->a);
  return 1;
}

static void pair_close(pair *p) {
  firn_uv_agent_close(p->a.ua, on_closed, &p->a);
  firn_uv_agent_close(p->b.ua, on_closed, &p->b);
}

/* The watchdog: one timer per loop, started for each wait and stopped after it (a handle
 * must outlive its asynchronous close, so it is not a local of the wait). */
static uv_timer_t g_watchdog;
static int g_watchdog_fired;

static void on_watchdog(uv_timer_t *t) {
  (void)t;
  g_watchdog_fired = 1;
}

static void loop_init(uv_loop_t *loop) {
  uv_loop_init(loop);
  uv_timer_init(loop, &g_watchdog);
}

static void loop_close(uv_loop_t *loop) {
  uv_close((uv_handle_t *)&g_watchdog, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  if (uv_loop_close(loop) != 0) bench_die("handles left open on the loop");
}

/* Runs the loop until `want` agents are connected, exchanging descriptions as pairs finish
 * gathering; dies on failure or after the timeout. */
static void run_until_connected(uv_loop_t *loop, pair *pairs, unsigned npairs, unsigned want) {
  g_watchdog_fired = 0;
  uv_timer_start(&g_watchdog, on_watchdog, BENCH_ICE_TIMEOUT_MS, 0);
  unsigned exchanged = 0;
  while (g_connected < want && !g_failed && !g_watchdog_fired) {
    if (exchanged < npairs) {
      exchanged = 0;
      for (unsigned i = 0; i < npairs; i++) exchanged += (unsigned)pair_exchange(&pairs[i]);
      if (g_connected >= want) break;
    }
    uv_run(loop, exchanged < npairs ? UV_RUN_NOWAIT : UV_RUN_ONCE);
  }
  uv_timer_stop(&g_watchdog);
  if (g_failed) bench_die("a firn agent FAILED");
  if (g_watchdog_fired) bench_die("firn agents did not connect before the timeout");
}

static void run_until_closed(uv_loop_t *loop, unsigned want) {
  while (g_closed < want) uv_run(loop, UV_RUN_ONCE);
}

/* One connection on `loop`: returns the time from gathering start to both connected (ms). */
static double connect_once(uv_loop_t *loop, unsigned ta_ms) {
  pair p;
  pair_init(&p, loop, ta_ms);
  g_connected = g_failed = g_closed = 0;
  uint64_t t0 = firn_uv_now();
  if (g_trace_t0) g_trace_t0 = t0;
  pair_gather(&p);
  run_until_connected(loop, &p, 1, 2);
  uint64_t t1 = p.a.t_connected > p.b.t_connected ? p.a.t_connected : p.b.t_connected;
  pair_close(&p);
  run_until_closed(loop, 2);
  return (double)(t1 - t0) / 1e6;
}

static void mode_connect(const bench_opts *o) {
  uv_loop_t loop;
  loop_init(&loop);
  double *ms = calloc(o->runs, sizeof *ms);
  if (!ms) bench_die("out of memory");
  connect_once(&loop, o->ta_ms); /* warm-up: first sockets, OpenSSL's RNG */
  if (o->verbose) g_trace_t0 = 1;
  for (unsigned r = 0; r < o->runs; r++) {
    ms[r] = connect_once(&loop, o->ta_ms);
    if (o->verbose) fprintf(stderr, "run %u: connected %.2f ms\n", r, ms[r]);
  }
  bench_put("ta_ms", o->ta_ms);
  bench_put("runs", o->runs);
  bench_put("connect_ms_median", bench_median(ms, o->runs));
  bench_put("connect_ms_min", ms[0]);
  bench_put("connect_ms_max", ms[o->runs - 1]);
  free(ms);
  loop_close(&loop);
}

static void mode_cycle(bench_opts *o) {
  if (!o->count) o->count = 10;
  uv_loop_t loop;
  loop_init(&loop);
  uint64_t c0 = bench_cpu_ns(), w0 = bench_now_ns();
  for (unsigned i = 0; i < o->count; i++) connect_once(&loop, o->ta_ms);
  uint64_t c1 = bench_cpu_ns(), w1 = bench_now_ns();
  bench_put("count", o->count);
  bench_put("cpu_us_per_conn", (double)(c1 - c0) / 1e3 / o->count);
  bench_put("wall_ms_per_conn", (double)(w1 - w0) / 1e6 / o->count);
  loop_close(&loop);
}

static void mode_memory(const bench_opts *o) {
  unsigned npairs = o->agents / 2, n = 2 * npairs;
  bench_put("nofile", (double)bench_raise_nofile());
  g_alloc = &g_counting;
  uv_loop_t loop;
  loop_init(&loop);
  connect_once(&loop, o->ta_ms); /* one-time costs out of the baseline */
  pair *pairs = calloc(npairs, sizeof *pairs);
  if (!pairs) bench_die("out of memory");
  memset(g_bins, 0, sizeof g_bins);
  long k0 = g_live_bytes, b0 = g_live_blocks, h0 = bench_malloc_bytes(), r0 = bench_rss_bytes();
  g_connected = g_failed = g_closed = 0;
  uint64_t t0 = bench_now_ns();
  for (unsigned i = 0; i < npairs; i++) pair_init(&pairs[i], &loop, o->ta_ms);
  for (unsigned i = 0; i < npairs; i++) pair_gather(&pairs[i]);
  run_until_connected(&loop, pairs, npairs, n);
  uint64_t t1 = bench_now_ns();
  long k1 = g_live_bytes, b1 = g_live_blocks, h1 = bench_malloc_bytes(), r1 = bench_rss_bytes();
  bench_put("agents", n);
  bench_put("all_connected_ms", (double)(t1 - t0) / 1e6);
  bench_put("heap_hooks_per_agent", (double)(k1 - k0) / n);
  bench_put("heap_blocks_per_agent", (double)(b1 - b0) / n);
  bench_put("heap_malloc_per_agent", (double)(h1 - h0) / n);
  bench_put("rss_per_agent", (double)(r1 - r0) / n);
  print_bins(n);
  for (unsigned i = 0; i < npairs; i++) pair_close(&pairs[i]);
  run_until_closed(&loop, n);
  if (g_live_bytes != 0) bench_die("firn heap not back to zero after closing");
  free(pairs);
  loop_close(&loop);
}

/* ---------------------------------------------------------------------------------------- */
/* sans-I/O: the cores alone on an in-memory network with a virtual clock                    */

typedef struct core_peer {
  firn_agent *agent;
  firn_addr addr;
  uint64_t t_connected;
} core_peer;

typedef struct vpacket {
  unsigned to;
  firn_path path; /* as the receiver sees it */
  size_t len;
  uint8_t data[1500];
} vpacket;

#define VBASE_PORT 20000

static void core_on_state(void *user, unsigned stream, firn_ice_state st) {
  core_peer *p = user;
  (void)stream;
  if ((st == FIRN_ICE_CONNECTED || st == FIRN_ICE_COMPLETED) && !p->t_connected) {
    p->t_connected = 1;
    g_connected++;
  } else if (st == FIRN_ICE_FAILED) {
    g_failed++;
  }
}

static void core_init(core_peer *p, unsigned idx, firn_ice_role role, unsigned ta_ms, uint64_t now) {
  firn_agent_settings s;
  firn_agent_settings_default(&s);
  s.alloc = &g_counting;
  s.role = role;
  s.ta_ns = ta_ms * FIRN_NS_PER_MS;
  s.user = p;
  s.callbacks.on_state = core_on_state;
  memset(p, 0, sizeof *p);
  static const uint8_t lo[4] = {127, 0, 0, 1};
  firn_addr_set_ipv4(&p->addr, lo, (uint16_t)(VBASE_PORT + idx));
  unsigned stream;
  firn_local_address la = {.addr = p->addr, .transport = FIRN_TRANSPORT_UDP, .ifname = "lo"};
  int rc = firn_agent_new(&p->agent, &s);
  if (rc == 0) rc = firn_agent_add_stream(p->agent, 1, &stream);
  if (rc == 0) rc = firn_agent_add_local_address(p->agent, 0, 1, &la, now);
  if (rc == 0) rc = firn_agent_gather(p->agent, now);
  if (rc < 0) bench_die(firn_strerror(rc));
}

static void core_give_remote(core_peer *from, core_peer *to, uint64_t now) {
  const char *ufrag, *pwd;
  firn_candidate c[MAX_CANDS];
  size_t n = 0;
  int rc = firn_agent_get_local_credentials(from->agent, 0, &ufrag, &pwd);
  if (rc == 0) rc = firn_agent_set_remote_credentials(to->agent, 0, ufrag, pwd, now);
  if (rc == 0) rc = firn_agent_get_local_candidates(from->agent, 0, c, MAX_CANDS, &n);
  for (size_t i = 0; rc == 0 && i < n; i++) rc = firn_agent_add_remote_candidate(to->agent, 0, &c[i], now);
  if (rc == 0) rc = firn_agent_end_of_remote_candidates(to->agent, 0, now);
  if (rc < 0) bench_die(firn_strerror(rc));
  if (n == 0) bench_die("firn core gathered no candidate");
}

static void mode_memory_core(const bench_opts *o) {
  unsigned npairs = o->agents / 2, n = 2 * npairs;
  core_peer *peers = calloc(n, sizeof *peers);
  size_t qcap = 4 * (size_t)n + 64, qlen = 0;
  vpacket *q = malloc(qcap * sizeof *q), *q2 = malloc(qcap * sizeof *q2);
  if (!peers || !q || !q2) bench_die("out of memory");
  uint8_t rnd[16];
  firn_random_default(NULL, rnd, sizeof rnd); /* OpenSSL's RNG set up before the baseline */
  memset(g_bins, 0, sizeof g_bins);
  long k0 = g_live_bytes, b0 = g_live_blocks, h0 = bench_malloc_bytes(), r0 = bench_rss_bytes();
  g_connected = g_failed = 0;
  uint64_t start = 1000 * FIRN_NS_PER_S, now = start;
  for (unsigned i = 0; i < n; i++) core_init(&peers[i], i, i % 2 ? FIRN_ICE_CONTROLLED : FIRN_ICE_CONTROLLING, o->ta_ms, now);
  for (unsigned i = 0; i < n; i += 2) {
    core_give_remote(&peers[i], &peers[i + 1], now);
    core_give_remote(&peers[i + 1], &peers[i], now);
  }
  uint64_t first_pair_ns = 0;
  while (g_connected < n && !g_failed && now - start < 60 * FIRN_NS_PER_S) {
    /* move every datagram (zero delay) until the network is quiet, then jump the clock */
    for (int rounds = 0; rounds < 1000; rounds++) {
      for (unsigned i = 0; i < n; i++) {
        for (;;) {
          if (qlen == qcap) bench_die("virtual network queue full");
          vpacket *pk = &q[qlen];
          firn_path path;
          firn_ssize len = firn_agent_poll_transmit(peers[i].agent, now, pk->data, sizeof pk->data, &path);
          if (len < 0) break;
          unsigned to = (unsigned)path.remote.port - VBASE_PORT;
          if (to >= n) continue; /* not one of ours */
          pk->to = to;
          pk->len = (size_t)len;
          memset(&pk->path, 0, sizeof pk->path);
          pk->path.local = path.remote;
          pk->path.remote = path.local;
          pk->path.transport = FIRN_TRANSPORT_UDP;
          qlen++;
        }
      }
      if (qlen == 0) break;
      vpacket *tmp = q; q = q2; q2 = tmp;
      size_t m = qlen;
      qlen = 0;
      for (size_t k = 0; k < m; k++)
        firn_agent_handle_datagram(peers[q2[k].to].agent, &q2[k].path, q2[k].data, q2[k].len, now);
    }
    if (!first_pair_ns && peers[0].t_connected && peers[1].t_connected) first_pair_ns = now - start;
    if (g_connected >= n || g_failed) break;
    uint64_t next = FIRN_TIME_NEVER;
    for (unsigned i = 0; i < n; i++) {
      uint64_t e = firn_agent_expiry(peers[i].agent);
      if (e < next) next = e;
    }
    if (next == FIRN_TIME_NEVER) bench_die("no timer pending and not connected");
    if (next > now) now = next;
    for (unsigned i = 0; i < n; i++)
      if (firn_agent_expiry(peers[i].agent) <= now) firn_agent_handle_expiry(peers[i].agent, now);
  }
  if (g_failed) bench_die("a firn core FAILED");
  if (g_connected < n) bench_die("firn cores did not connect within 60 s of virtual time");
  long k1 = g_live_bytes, b1 = g_live_blocks, h1 = bench_malloc_bytes(), r1 = bench_rss_bytes();
  bench_put("agents", n);
  bench_put("virtual_connect_ms_first_pair", (double)first_pair_ns / 1e6);
  bench_put("virtual_all_connected_ms", (double)(now - start) / 1e6);
  bench_put("heap_hooks_per_agent", (double)(k1 - k0) / n);
  bench_put("heap_blocks_per_agent", (double)(b1 - b0) / n);
  bench_put("heap_malloc_per_agent", (double)(h1 - h0) / n);
  bench_put("rss_per_agent", (double)(r1 - r0) / n);
  print_bins(n);
  for (unsigned i = 0; i < n; i++) firn_agent_free(peers[i].agent);
  free(peers);
  free(q);
  free(q2);
}

/* ---------------------------------------------------------------------------------------- */
/* driver: every measurement in a fresh child process, then the table                        */

#define MAX_KV 64

typedef struct kv {
  char key[64];
  double value;
} kv;

typedef struct result {
  kv v[MAX_KV];
  int n;
} result;

static double get(const result *r, const char *key) {
  for (int i = 0; i < r->n; i++)
    if (!strcmp(r->v[i].key, key)) return r->v[i].value;
  fprintf(stderr, "bench: no '%s' in a child's output\n", key);
  exit(1);
}

static void run_child(result *r, const char *exe, const char *args) {
  char cmd[PATH_MAX + 256];
  snprintf(cmd, sizeof cmd, "'%s' %s", exe, args);
  fprintf(stderr, "  %s\n", cmd);
  FILE *f = popen(cmd, "r");
  if (!f) bench_die("popen failed");
  memset(r, 0, sizeof *r);
  char line[256];
  while (fgets(line, sizeof line, f)) {
    kv e;
    if (r->n < MAX_KV && sscanf(line, "%63s %lf", e.key, &e.value) == 2) r->v[r->n++] = e;
  }
  int st = pclose(f);
  if (st != 0) {
    fprintf(stderr, "bench: '%s' failed (status %d)\n", cmd, st);
    exit(1);
  }
}

/* A figure with its unit, "-" when absent (< 0); without a unit it is a count. */
static void figure(char *buf, size_t size, double v, const char *unit) {
  if (v < 0) snprintf(buf, size, "-");
  else if (unit[0]) snprintf(buf, size, "%.2f %s", v, unit);
  else snprintf(buf, size, "%.0f", v);
}

static void row(const char *metric, double firn, double nice, const char *unit, const char *target,
                int met) {
  char f[32], n[32], ratio[32];
  figure(f, sizeof f, firn, unit);
  figure(n, sizeof n, nice, unit);
  snprintf(ratio, sizeof ratio, firn < 0 || nice <= 0 ? "-" : "%.3f", firn / nice);
  printf("%-44s %14s %14s %8s  %-26s %s\n", metric, f, n, ratio, target,
         met < 0 ? "-" : met ? "met" : "NOT met");
}

static void driver(const bench_opts *o, const char *nice_exe, double ir_firn, double ir_nice) {
  char self[PATH_MAX], nice_path[PATH_MAX], args[128];
  ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  if (len <= 0) bench_die("cannot find /proc/self/exe");
  self[len] = 0;
  if (!nice_exe) {
    snprintf(nice_path, sizeof nice_path, "%s", self);
    char *slash = strrchr(nice_path, '/');
    if (!slash || (size_t)(slash - nice_path) + sizeof "/bench_ice_nice" > sizeof nice_path)
      bench_die("cannot derive the path of bench_ice_nice");
    strcpy(slash, "/bench_ice_nice");
    nice_exe = nice_path;
  }
  result fc20, nc20, fc1, nc1, fcy, ncy, fmem, fcore, nmem;
  fprintf(stderr, "running (each in its own process):\n");
  snprintf(args, sizeof args, "connect --ta 20 --runs %u", o->runs);
  run_child(&fc20, self, args);
  run_child(&nc20, nice_exe, args);
  snprintf(args, sizeof args, "connect --ta 1 --runs %u", o->runs);
  run_child(&fc1, self, args);
  run_child(&nc1, nice_exe, args);
  snprintf(args, sizeof args, "cycle --ta 20 --count %u", o->count);
  run_child(&fcy, self, args);
  run_child(&ncy, nice_exe, args);
  snprintf(args, sizeof args, "memory --ta 20 --agents %u", o->agents);
  run_child(&fmem, self, args);
  run_child(&nmem, nice_exe, args);
  snprintf(args, sizeof args, "memory-core --ta 20 --agents %u", o->agents);
  run_child(&fcore, self, args);

  double f20 = get(&fc20, "connect_ms_median"), n20 = get(&nc20, "connect_ms_median");
  double f1 = get(&fc1, "connect_ms_median"), n1 = get(&nc1, "connect_ms_median");
  unsigned agents = (unsigned)get(&fmem, "agents");
  double load = -1;
  FILE *la = fopen("/proc/loadavg", "r");
  if (la) {
    if (fscanf(la, "%lf", &load) != 1) load = -1;
    fclose(la);
  }
  char label[96];
  printf("\nICE benchmark: two agents in one process, host candidates on 127.0.0.1, one component,\n"
         "regular nomination; firn on the libuv runtime, libnice on GLib; ratio = firn/libnice.\n"
         "Load average at the end: %.2f on %ld CPUs (wall-clock figures include scheduling delay).\n\n",
         load, sysconf(_SC_NPROCESSORS_ONLN));
  printf("%-44s %14s %14s %8s  %-26s %s\n", "metric", "firn", "libnice", "ratio", "target", "met?");
  snprintf(label, sizeof label, "connect, Ta = 20 ms, median of %u", o->runs);
  row(label, f20, n20, "ms", "<= Ta + 1 ms = 21 ms", f20 <= 21.0);
  row("  fastest run", get(&fc20, "connect_ms_min"), get(&nc20, "connect_ms_min"), "ms", "", -1);
  snprintf(label, sizeof label, "connect, Ta = 1 ms, median of %u", o->runs);
  row(label, f1, n1, "ms", "<= Ta + 1 ms = 2 ms", f1 <= 2.0);
  row("  fastest run", get(&fc1, "connect_ms_min"), get(&nc1, "connect_ms_min"), "ms", "", -1);
  snprintf(label, sizeof label, "CPU per connection (Ta 20 ms, %u cycles)", o->count);
  row(label, get(&fcy, "cpu_us_per_conn"), get(&ncy, "cpu_us_per_conn"), "us", "", -1);
  if (ir_firn > 0 && ir_nice > 0)
    row("instructions per connection (callgrind)", ir_firn, ir_nice, "", "<= 0.5 x libnice",
        ir_firn * 2 <= ir_nice);
  else
    row("instructions per connection (callgrind)", -1, -1, "", "scripts/bench.sh", -1);
  double fh = get(&fmem, "heap_hooks_per_agent") / 1024, fm = get(&fmem, "heap_malloc_per_agent") / 1024;
  double ch = get(&fcore, "heap_hooks_per_agent") / 1024, cm = get(&fcore, "heap_malloc_per_agent") / 1024;
  double nm = get(&nmem, "heap_malloc_per_agent") / 1024;
  snprintf(label, sizeof label, "heap/agent, %u agents, hooks (uv runtime)", agents);
  row(label, fh, -1, "kB", "<= 8 kB", fh <= 8.0);
  snprintf(label, sizeof label, "heap/agent, %u agents, mallinfo2 (runtime)", agents);
  row(label, fm, nm, "kB", "<= 8 kB", fm <= 8.0);
  row("heap/agent, core only (sans-I/O), hooks", ch, -1, "kB", "<= 8 kB", ch <= 8.0);
  row("heap/agent, core only (sans-I/O), mallinfo2", cm, nm, "kB", "<= 8 kB", cm <= 8.0);
  snprintf(label, sizeof label, "RSS/agent, %u agents (statm, runtime)", agents);
  row(label, get(&fmem, "rss_per_agent") / 1024, get(&nmem, "rss_per_agent") / 1024, "kB", "", -1);
  row("RSS/agent, core only (sans-I/O)", get(&fcore, "rss_per_agent") / 1024, -1, "kB", "", -1);
  printf("\nmemory: %u agents = %u pairs connected at once on one loop; deltas over a baseline\n"
         "taken after one warm-up connection. hooks = bytes requested through firn's allocator\n"
         "hooks; mallinfo2 = glibc arena + mmapped bytes (libuv's and GLib's allocations too).\n"
         "connect: from gathering start to both agents connected (firn CONNECTED/COMPLETED,\n"
         "libnice READY; libnice's CONNECTED came after %.2f / %.2f ms, medians at Ta 20 / 1).\n"
         "firn core alone on a virtual clock with zero delay: a pair connects after %.2f ms\n"
         "at Ta = 20 ms.\n",
         agents, agents / 2, get(&nc20, "first_connected_ms_median"),
         get(&nc1, "first_connected_ms_median"), get(&fcore, "virtual_connect_ms_first_pair"));
}

int main(int argc, char **argv) {
  bench_opts o = {.ta_ms = 20, .runs = BENCH_ICE_RUNS, .count = 0, .agents = BENCH_ICE_AGENTS};
  const char *nice_exe = NULL;
  double ir_firn = 0, ir_nice = 0;
  int i = 1;
  while (i < argc) {
    i = bench_parse(&o, argc, argv, i);
    if (i >= argc) break;
    if (!strcmp(argv[i], "--nice") && i + 1 < argc) nice_exe = argv[i + 1];
    else if (!strcmp(argv[i], "--ir-firn") && i + 1 < argc) ir_firn = strtod(argv[i + 1], NULL);
    else if (!strcmp(argv[i], "--ir-nice") && i + 1 < argc) ir_nice = strtod(argv[i + 1], NULL);
    else {
      fprintf(stderr, "usage: bench_ice [connect|cycle|memory|memory-core] [--ta MS] [--runs R] "
                      "[--count N] [--agents N] [--nice PATH] [--ir-firn X --ir-nice Y] [-v]\n");
      return 2;
    }
    i += 2;
  }
  if (!o.mode) {
    if (!o.count) o.count = 100;
    driver(&o, nice_exe, ir_firn, ir_nice);
  } else if (!strcmp(o.mode, "connect")) {
    mode_connect(&o);
  } else if (!strcmp(o.mode, "cycle")) {
    mode_cycle(&o);
  } else if (!strcmp(o.mode, "memory")) {
    mode_memory(&o);
  } else if (!strcmp(o.mode, "memory-core")) {
    mode_memory_core(&o);
  } else {
    bench_die("unknown mode");
  }
  return 0;
}
