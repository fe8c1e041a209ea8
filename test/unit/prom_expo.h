/*
 * prom_expo.h: a strict parser of the Prometheus text exposition format
 * (0.0.4), for tests: it checks what `promtool check metrics` checks and
 * more, so that the tests do not depend on promtool being installed. Pure;
 * no I/O.
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
 * _count; a counter's name not ending in "_total".
 */
#ifndef TEST_PROM_EXPO_H
#define TEST_PROM_EXPO_H

#include <stdbool.h>
#include <stddef.h>

#define PE_NAME_MAX   128
#define PE_VALUE_MAX  256
#define PE_LABELS_MAX 8
#define PE_HELP_MAX   512

typedef struct pe_label {
	char name[PE_NAME_MAX];
	char value[PE_VALUE_MAX]; /* unescaped */
} pe_label;

typedef struct pe_sample {
	char     name[PE_NAME_MAX];
	pe_label labels[PE_LABELS_MAX];
	int      n_labels;
	double   value;
} pe_sample;

typedef struct pe_family {
	char       name[PE_NAME_MAX];
	char       type[16]; /* "untyped" when no TYPE line */
	char       help[PE_HELP_MAX];
	bool       has_help;
	bool       has_type;
	pe_sample *samples;
	size_t     n_samples;
} pe_family;

typedef struct pe_doc {
	pe_family *families;
	size_t     n_families;
} pe_doc;

/*
 * pe_parse parses text (len bytes) into *out (free with pe_free). Returns
 * false with the reason in err ("line 3: ...") when the text breaks a rule
 * above; *out is then empty.
 */
bool pe_parse(pe_doc *out, const char *text, size_t len, char *err,
    size_t err_size);

/* pe_free frees what pe_parse allocated. */
void pe_free(pe_doc *doc);

/* pe_family_get returns the family called name, or NULL. */
const pe_family *pe_family_get(const pe_doc *doc, const char *name);

/*
 * pe_get finds the sample called name whose labels include every "k=v" of
 * the NULL-terminated list (other labels may be there too) and returns its
 * value in *out. Returns the number of such samples (the caller wants 1).
 */
int pe_get(const pe_doc *doc, double *out, const char *name, ...);

#endif /* TEST_PROM_EXPO_H */
