/* clock.h: wall-clock and monotonic time in the units their names say. */
#ifndef COMMON_CLOCK_H
#define COMMON_CLOCK_H

#include <stdint.h>

/* tp_clock_unix_ms: milliseconds since the Unix epoch (wall clock). */
int64_t tp_clock_unix_ms(void);
/* tp_clock_mono_us: microseconds of CLOCK_MONOTONIC, for durations. */
int64_t tp_clock_mono_us(void);
/* tp_clock_mono_ms: milliseconds of CLOCK_MONOTONIC. */
int64_t tp_clock_mono_ms(void);
/*
 * tp_clock_format_rfc3339 writes unix_ms as "2026-11-26T14:04:05.123Z" into
 * buf (at least 64 bytes) and returns buf.
 */
char *tp_clock_format_rfc3339(char *buf, int64_t unix_ms);

#endif /* COMMON_CLOCK_H */
