/*
 * expo.h: a strict parser of the Prometheus text exposition format (0.0.4).
 * The gateway checks a service's Metrics text with it before serving it
 * (a scrape with one bad line is lost whole), and the tests check the
 * gateway's own exposition with it, so that they do not depend on promtool
 * being installed. It refuses what `promtool check metrics` refuses and
 * more. Pure; any thread.
 *
 * Refused (each with a message naming the line): a line not ending in
 * "\n", "\r", blank lines; metric names outside [a-zA-Z_:][a-zA-Z0-9_:]*;
 * label names outside [a-zA-Z_][a-zA-Z0-9_]* or starting with "__"; a
 * label given twice; escapes other than \\, \" and \n in label values (\\
 * and \n in HELP text); text that is not UTF-8; values that are not Go
 * floats ("NaN", "+Inf", "-Inf", decimals); a HELP or TYPE given twice, or
 * after the family's first sample; an unknown type; samples of one family
 * not in one group; the same series twice; a negative or NaN counter; a
 * histogram series whose buckets are not in increasing le order, not
 * cumulative, do not end with le="+Inf", or whose _count differs from the
 * +Inf bucket or lacks _sum; histogram samples other than _bucket, _sum and
 * _count; a counter's name not ending in "_total"; and past this parser's
 * limits: names of 128 bytes or more, label values of 256 bytes or more,
 * more than 8 labels on a sample, HELP text of 512 bytes or more.
 */
#ifndef SHIM_EXPO_H
#define SHIM_EXPO_H

#include <stdbool.h>
#include <stddef.h>

#include "common/status.h"

#define SHIM_EXPO_NAME_MAX   128
#define SHIM_EXPO_VALUE_MAX  256
#define SHIM_EXPO_LABELS_MAX 8
#define SHIM_EXPO_HELP_MAX   512

typedef struct shim_expo_label {
	char name[SHIM_EXPO_NAME_MAX];
	char value[SHIM_EXPO_VALUE_MAX]; /* unescaped */
} shim_expo_label;

typedef struct shim_expo_sample {
	char            name[SHIM_EXPO_NAME_MAX];
	shim_expo_label labels[SHIM_EXPO_LABELS_MAX];
	int             n_labels;
	double          value;
} shim_expo_sample;

typedef struct shim_expo_family {
	char              name[SHIM_EXPO_NAME_MAX];
	char              type[16]; /* "untyped" when no TYPE line */
	char              help[SHIM_EXPO_HELP_MAX];
	bool              has_help;
	bool              has_type;
	shim_expo_sample *samples;
	size_t            n_samples;
} shim_expo_family;

typedef struct shim_expo_doc {
	shim_expo_family *families;
	size_t            n_families;
} shim_expo_doc;

/*
 * shim_expo_parse parses text (len bytes, need not be NUL-terminated) into
 * *out (caller frees with shim_expo_free). Returns TP_OK, or
 * TP_INVALID_ARGUMENT with the reason ("line 3: bad escape in label a")
 * when the text breaks a rule above; *out is written only on success.
 */
TP_MUST_CHECK tp_status shim_expo_parse(
    shim_expo_doc *out, const char *text, size_t len, tp_err *err);

/* shim_expo_free frees what shim_expo_parse allocated; empties doc. */
void shim_expo_free(shim_expo_doc *doc);

/* shim_expo_family_get returns the family called name (borrowed), or NULL. */
const shim_expo_family *shim_expo_family_get(
    const shim_expo_doc *doc, const char *name);

/*
 * shim_expo_get finds the sample called name whose labels include every "k=v"
 * of the NULL-terminated list (other labels may be there too) and returns its
 * value in *out. Returns the number of such samples (the caller wants 1).
 */
int shim_expo_get(const shim_expo_doc *doc, double *out, const char *name, ...);

#endif /* SHIM_EXPO_H */
