/* clock.c: time helpers (see clock.h). */
#include "common/clock.h"

#include <stdio.h>
#include <time.h>

int64_t
tp_clock_unix_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
tp_clock_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
tp_clock_mono_ms(void)
{
	return tp_clock_mono_us() / 1000;
}

char *
tp_clock_format_rfc3339(char *buf, int64_t unix_ms)
{
	time_t    secs = (time_t) (unix_ms / 1000);
	int       ms   = (int) (unix_ms % 1000);
	struct tm tm;
	if (ms < 0) {
		ms += 1000;
		secs -= 1;
	}
	gmtime_r(&secs, &tm);
	snprintf(buf, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, ms);
	return buf;
}
