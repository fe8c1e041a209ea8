/* log.c: the one-line, one-write logger (see log.h). */
#include "common/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static atomic_int cur_level = TP_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void
tp_log_set_level(tp_log_level level)
{
	atomic_store(&cur_level, (int) level);
}

bool
tp_log_parse_level(tp_log_level *out, const char *s)
{
	for (int i = 0; i <= TP_LOG_DEBUG; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (tp_log_level) i;
			return true;
		}
	}
	return false;
}

bool
tp_log_enabled(tp_log_level level)
{
	return (int) level <= atomic_load(&cur_level);
}

void
tp_log(tp_log_level level, const char *component, const char *fmt, ...)
{
	char            line[4096];
	struct timespec ts;
	struct tm       tm;
	size_t          n;
	int             w;
	va_list         ap;

	if (!tp_log_enabled(level)) {
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	w = snprintf(line + n, sizeof(line) - n, ".%03ldZ %s %s ",
	    ts.tv_nsec / 1000000, level_names[level], component);
	n += (size_t) w;
	va_start(ap, fmt);
	w = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (w < 0) {
		w = 0;
	}
	n += (size_t) w;
	if (n > sizeof(line) - 2) {
		n = sizeof(line) - 2;
	}
	line[n++] = '\n';
	(void) !write(2, line, n); /* nowhere to report a failed log write */
}
