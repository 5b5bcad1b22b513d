/*
 * Replay driver: runs LLVMFuzzerTestOneInput over every file named on the command line, or
 * every regular file inside a named directory (not recursive, in name order), so a fuzz
 * target builds with any compiler and its corpus runs as a normal test.
 *
 * Each input is copied into a heap buffer of exactly its size, as libFuzzer does, so
 * AddressSanitizer catches a read one byte past the end. Exit status: 0 when every input ran,
 * 1 on a file error or when no input was found (a wrong corpus path must not pass silently).
 * A target that finds a bug aborts, which fails the test with the file name printed first.
 *
 * Usage: replay FILE|DIR...
 */
#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int run_file(const char *path, size_t *count) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
    return -1;
  }
  size_t cap = 4096, len = 0;
  uint8_t *data = malloc(cap);
  if (!data) {
    fclose(f);
    fprintf(stderr, "replay: out of memory\n");
    return -1;
  }
  for (;;) {
    if (len == cap) {
      uint8_t *bigger = realloc(data, cap * 2);
      if (!bigger) {
        free(data);
        fclose(f);
        fprintf(stderr, "replay: out of memory\n");
        return -1;
      }
      data = bigger;
      cap *= 2;
    }
    size_t n = fread(data + len, 1, cap - len, f);
    len += n;
    if (n == 0)
      break;
  }
  int failed = ferror(f);
  fclose(f);
  if (failed) {
    free(data);
    fprintf(stderr, "replay: %s: read error\n", path);
    return -1;
  }
  /* An exact-size copy, so one byte past the input is outside the allocation. */
  uint8_t *exact = malloc(len ? len : 1);
  if (!exact) {
    free(data);
    fprintf(stderr, "replay: out of memory\n");
    return -1;
  }
  memcpy(exact, data, len);
  free(data);
  /* Name the input before running it: if the target aborts, the log says which one. */
  fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
  fflush(stderr);
  (void)LLVMFuzzerTestOneInput(exact, len);
  free(exact);
  (*count)++;
  return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b) {
  return strcmp((*a)->d_name, (*b)->d_name);
}

static int run_dir(const char *dir, size_t *count) {
  struct dirent **names = NULL;
  int n = scandir(dir, &names, NULL, by_name);
  if (n < 0) {
    fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
    return -1;
  }
  int rc = 0;
  for (int i = 0; i < n; i++) {
    if (rc == 0 && names[i]->d_name[0] != '.') {
      size_t need = strlen(dir) + 1 + strlen(names[i]->d_name) + 1;
      char *path = malloc(need);
      if (!path) {
        rc = -1;
      } else {
        struct stat st;
        snprintf(path, need, "%s/%s", dir, names[i]->d_name);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
          rc = run_file(path, count);
        free(path);
      }
    }
    free(names[i]);
  }
  free(names);
  return rc;
}

int main(int argc, char **argv) {
  size_t count = 0;
  int rc = 0;
  for (int i = 1; i < argc && rc == 0; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
      rc = -1;
    } else if (S_ISDIR(st.st_mode)) {
      rc = run_dir(argv[i], &count);
    } else {
      rc = run_file(argv[i], &count);
    }
  }
  if (rc != 0)
    return 1;
  if (count == 0) {
    fprintf(stderr, "replay: no inputs found\n");
    return 1;
  }
  printf("replay: %zu inputs ran without a finding\n", count);
  return 0;
}
