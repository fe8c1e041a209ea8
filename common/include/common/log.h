/*
 * log.h: one line per event to stderr, `ts level component msg key=value...`,
 * written with a single write(2) so threads never interleave. Any thread.
 */
#ifndef COMMON_LOG_H
#define COMMON_LOG_H

#include <stdbool.h>

#include "common/status.h"

typedef enum tp_log_level {
	TP_LOG_ERROR = 0,
	TP_LOG_WARN  = 1,
	TP_LOG_INFO  = 2,
	TP_LOG_DEBUG = 3,
} tp_log_level;

/* tp_log_set_level sets the most verbose level emitted (default info). */
void tp_log_set_level(tp_log_level level);

/*
 * tp_log_parse_level parses "error", "warn", "info" or "debug". Returns false
 * for anything else.
 */
bool tp_log_parse_level(tp_log_level *out, const char *s);

/* tp_log_enabled: check before costly formatting. */
bool tp_log_enabled(tp_log_level level);

/* tp_log writes one line if level is enabled; lines longer than 4 KiB are cut. */
void tp_log(tp_log_level level, const char *component, const char *fmt, ...)
    TP_PRINTF(3, 4);

#define tp_log_error(c, ...) tp_log(TP_LOG_ERROR, c, __VA_ARGS__)
#define tp_log_warn(c, ...) tp_log(TP_LOG_WARN, c, __VA_ARGS__)
#define tp_log_info(c, ...) tp_log(TP_LOG_INFO, c, __VA_ARGS__)
#define tp_log_debug(c, ...) tp_log(TP_LOG_DEBUG, c, __VA_ARGS__)

#endif /* COMMON_LOG_H */
