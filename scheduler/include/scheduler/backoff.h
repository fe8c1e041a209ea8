/*
 * backoff.h: the retry delay of a failed attempt: exponential from a base,
 * capped, with full or equal jitter. Pure functions: any thread.
 */
#ifndef SCHEDULER_BACKOFF_H
#define SCHEDULER_BACKOFF_H

#include <stdbool.h>
#include <stdint.h>

typedef enum dtp_jitter {
	DTP_JITTER_FULL,  /* uniform in [0, cap] */
	DTP_JITTER_EQUAL, /* uniform in [cap / 2, cap] */
} dtp_jitter;

typedef struct dtp_backoff {
	int64_t    base_ms; /* delay ceiling after the first attempt, >= 1 */
	int64_t    max_ms;  /* the cap, >= base_ms */
	dtp_jitter jitter;
} dtp_backoff;

/*
 * dtp_backoff_ceiling_ms is the un-jittered delay after attempt (1-based;
 * values below 1 count as 1): min(max_ms, base_ms * 2^(attempt - 1)),
 * computed without overflow for any attempt.
 */
int64_t dtp_backoff_ceiling_ms(const dtp_backoff *b, int attempt);

/*
 * dtp_backoff_delay_ms is the jittered delay after attempt, drawn with the
 * random number rnd (any 64-bit value, e.g. from dtp_backoff_random).
 */
int64_t dtp_backoff_delay_ms(const dtp_backoff *b, int attempt, uint64_t rnd);

/*
 * dtp_backoff_random advances *state (a per-thread seed, any value) and
 * returns the next number of a splitmix64 sequence. Not for secrets.
 */
uint64_t dtp_backoff_random(uint64_t *state);

/* dtp_backoff_parse_jitter parses "full" or "equal"; false otherwise. */
bool dtp_backoff_parse_jitter(dtp_jitter *out, const char *s);

#endif /* SCHEDULER_BACKOFF_H */
