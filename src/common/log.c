#include "common/log.h"

#include <stdio.h>

void firn_log_impl(const firn_logger *lg, firn_log_level level, const char *module,
                   const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  lg->fn(lg->user, level, module, line);
}
