/* backoff.c: exponential backoff with jitter for task retries (backoff.h). */
#include "scheduler/backoff.h"

#include <string.h>

int64_t
dtp_backoff_ceiling_ms(const dtp_backoff *b, int attempt)
{
	int64_t base = b->base_ms < 1 ? 1 : b->base_ms;
	int64_t max  = b->max_ms < base ? base : b->max_ms;
	int64_t d    = base;

	/* Double until the cap: at most 63 steps, and never past max. */
	for (int i = 1; i < attempt && d < max; i++) {
		if (d > max / 2) {
			d = max;
		} else {
			d *= 2;
		}
	}
	return d < max ? d : max;
}

int64_t
dtp_backoff_delay_ms(const dtp_backoff *b, int attempt, uint64_t rnd)
{
	int64_t cap = dtp_backoff_ceiling_ms(b, attempt);

	if (b->jitter == DTP_JITTER_EQUAL) {
		int64_t half = cap / 2;
		return half + (int64_t) (rnd % (uint64_t) (cap - half + 1));
	}
	return (int64_t) (rnd % (uint64_t) (cap + 1));
}

uint64_t
dtp_backoff_random(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

bool
dtp_backoff_parse_jitter(dtp_jitter *out, const char *s)
{
	if (s != NULL && strcmp(s, "full") == 0) {
		*out = DTP_JITTER_FULL;
		return true;
	}
	if (s != NULL && strcmp(s, "equal") == 0) {
		*out = DTP_JITTER_EQUAL;
		return true;
	}
	return false;
}
