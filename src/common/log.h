/* Per-object logging. A firn_logger is embedded in each object that logs. */
#ifndef FIRN_COMMON_LOG_H
#define FIRN_COMMON_LOG_H

#include "firn/common.h"

typedef struct firn_logger {
  firn_log_fn fn;      /* NULL: logging off */
  void *user;
  firn_log_level level; /* messages above this level are not formatted */
} firn_logger;

#if defined(__GNUC__)
#define FIRN_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define FIRN_PRINTF(a, b)
#endif

void firn_log_impl(const firn_logger *lg, firn_log_level level, const char *module,
                   const char *fmt, ...) FIRN_PRINTF(4, 5);

/* Cheap when disabled: the level test happens before any formatting. */
#define firn_log(lg, lvl, module, ...)                                                   \
  do {                                                                                   \
    const firn_logger *firn_lg_ = (lg);                                                  \
    if (firn_lg_ && firn_lg_->fn && (int)(lvl) <= (int)firn_lg_->level)                   \
      firn_log_impl(firn_lg_, (lvl), (module), __VA_ARGS__);                             \
  } while (0)

#endif
