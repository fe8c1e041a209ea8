/*
 * expo.c: fuzz target for the strict Prometheus text parser (shim/expo.c),
 * which the gateway runs on the Metrics text a service sends. Properties:
 * what it accepts keeps its promises (names and types as the format says,
 * counters not negative, histogram series cumulative up to +Inf and equal
 * to their _count); everything is released.
 */
#include <string.h>

#include "fuzz.h"
#include "shim/expo.h"

static bool
name_ok(const char *s, bool colon_ok)
{
	if (*s == '\0' || (*s >= '0' && *s <= '9')) {
		return false;
	}
	for (; *s != '\0'; s++) {
		bool ok = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')
		    || (*s >= '0' && *s <= '9') || *s == '_'
		    || (colon_ok && *s == ':');
		if (!ok) {
			return false;
		}
	}
	return true;
}

static const char *
label(const shim_expo_sample *s, const char *name)
{
	for (int k = 0; k < s->n_labels; k++) {
		if (strcmp(s->labels[k].name, name) == 0) {
			return s->labels[k].value;
		}
	}
	return NULL;
}

/* check_counts: each _count equals its series' +Inf bucket. */
static void
check_counts(const shim_expo_family *f)
{
	char count[SHIM_EXPO_NAME_MAX + 8], bucket[SHIM_EXPO_NAME_MAX + 8];

	snprintf(count, sizeof(count), "%s_count", f->name);
	snprintf(bucket, sizeof(bucket), "%s_bucket", f->name);
	for (size_t i = 0; i < f->n_samples; i++) {
		const shim_expo_sample *c     = &f->samples[i];
		int                     found = 0;
		if (strcmp(c->name, count) != 0) {
			continue;
		}
		for (size_t j = 0; j < f->n_samples; j++) {
			const shim_expo_sample *b  = &f->samples[j];
			const char             *le = label(b, "le");
			bool                    same;
			if (strcmp(b->name, bucket) != 0 || le == NULL
			    || strcmp(le, "+Inf") != 0
			    || b->n_labels != c->n_labels + 1) {
				continue;
			}
			same = true;
			for (int k = 0; k < c->n_labels && same; k++) {
				const char *v = label(b, c->labels[k].name);
				same          = v != NULL
				    && strcmp(v, c->labels[k].value) == 0;
			}
			if (same) {
				FUZZ_CHECK(b->value == c->value);
				found++;
			}
		}
		FUZZ_CHECK(found == 1);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	shim_expo_doc doc;
	tp_err        err;

	if (shim_expo_parse(&doc, (const char *) data, size, &err) != TP_OK) {
		FUZZ_CHECK(err.code == TP_INVALID_ARGUMENT);
		FUZZ_CHECK(err.msg[0] != '\0');
		return 0;
	}
	for (size_t i = 0; i < doc.n_families; i++) {
		const shim_expo_family *f = &doc.families[i];
		FUZZ_CHECK(name_ok(f->name, true));
		FUZZ_CHECK(strcmp(f->type, "counter") == 0
		    || strcmp(f->type, "gauge") == 0
		    || strcmp(f->type, "histogram") == 0
		    || strcmp(f->type, "summary") == 0
		    || strcmp(f->type, "untyped") == 0);
		for (size_t j = 0; j < f->n_samples; j++) {
			const shim_expo_sample *s = &f->samples[j];
			FUZZ_CHECK(name_ok(s->name, true));
			FUZZ_CHECK(
			    strncmp(s->name, f->name, strlen(f->name)) == 0);
			for (int k = 0; k < s->n_labels; k++) {
				FUZZ_CHECK(name_ok(s->labels[k].name, false));
				FUZZ_CHECK(
				    strncmp(s->labels[k].name, "__", 2) != 0);
			}
			if (strcmp(f->type, "counter") == 0) {
				FUZZ_CHECK(s->value >= 0);
			}
			if (strcmp(f->type, "histogram") == 0
			    && strstr(s->name, "_bucket") != NULL) {
				FUZZ_CHECK(s->value >= 0);
			}
		}
		if (strcmp(f->type, "histogram") == 0) {
			check_counts(f);
		}
	}
	shim_expo_free(&doc);
	return 0;
}
