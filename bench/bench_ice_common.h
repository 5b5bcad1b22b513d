/*
 * Helpers shared by bench_ice (firn) and bench_ice_nice (libnice): clocks, process memory
 * figures, medians, the fd limit, and the "key value" lines both binaries print so that
 * bench_ice's driver (and scripts/bench.sh) can put them side by side.
 *
 * Header-only on purpose: the two binaries link nothing in common, so neither library's
 * start-up cost or heap shows up in the other's figures.
 */
#ifndef FIRN_BENCH_ICE_COMMON_H
#define FIRN_BENCH_ICE_COMMON_H

#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* Defaults shared by both binaries so the same command line measures the same thing. */
#define BENCH_ICE_RUNS 20        /* connect: runs per Ta, median reported */
#define BENCH_ICE_AGENTS 1000    /* memory: agents in one process (500 connected pairs) */
#define BENCH_ICE_TIMEOUT_MS 10000

static inline uint64_t bench_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU time of the whole process (user + system, every thread). */
static inline uint64_t bench_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Resident set size in bytes (/proc/self/statm, second field). */
static inline long bench_rss_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long size = 0, resident = 0;
  if (!f) return -1;
  if (fscanf(f, "%ld %ld", &size, &resident) != 2) resident = -1;
  fclose(f);
  return resident < 0 ? -1 : resident * sysconf(_SC_PAGESIZE);
}

/* Bytes handed out by glibc malloc: arena chunks in use plus mmapped chunks (large blocks
 * such as a 128 kB struct are mmapped and do not show in uordblks). */
static inline long bench_malloc_bytes(void) {
  struct mallinfo2 mi = mallinfo2();
  return (long)(mi.uordblks + mi.hblkhd);
}

/* Raise the soft fd limit to the hard limit (1,000 agents need 1,000 sockets and more). */
static inline long bench_raise_nofile(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  return (long)rl.rlim_cur;
}

static int bench_cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median of v[0..n-1]; sorts v in place. */
static inline double bench_median(double *v, size_t n) {
  if (n == 0) return 0;
  qsort(v, n, sizeof *v, bench_cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* One result line: "<key> <value>". The driver parses these; people can read them too. */
static inline void bench_put(const char *key, double value) {
  printf("%s %.3f\n", key, value);
  fflush(stdout);
}

static inline void bench_die(const char *what) {
  fprintf(stderr, "bench: %s\n", what);
  exit(1);
}

/* Options common to both binaries: MODE [--ta MS] [--runs R] [--count N] [--agents N]. */
typedef struct bench_opts {
  const char *mode; /* connect, cycle, memory (firn also: memory-core, all) */
  unsigned ta_ms;
  unsigned runs;
  unsigned count;
  unsigned agents;
  int verbose;
} bench_opts;

static inline unsigned bench_uarg(const char *s) {
  char *end;
  unsigned long v = strtoul(s, &end, 10);
  if (*end || v == 0 || v > 1000000) bench_die("bad number in arguments");
  return (unsigned)v;
}

/* Parses the common options; returns the index of the first argument it did not know,
 * or argc. */
static inline int bench_parse(bench_opts *o, int argc, char **argv, int first) {
  int i = first;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--ta") && i + 1 < argc) o->ta_ms = bench_uarg(argv[++i]);
    else if (!strcmp(a, "--runs") && i + 1 < argc) o->runs = bench_uarg(argv[++i]);
    else if (!strcmp(a, "--count") && i + 1 < argc) o->count = bench_uarg(argv[++i]);
    else if (!strcmp(a, "--agents") && i + 1 < argc) o->agents = bench_uarg(argv[++i]);
    else if (!strcmp(a, "-v")) o->verbose = 1;
    else if (a[0] != '-' && !o->mode) o->mode = a;
    else break;
  }
  return i;
}

#endif /* FIRN_BENCH_ICE_COMMON_H */
