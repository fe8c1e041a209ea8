/*
 * expo.c: the strict Prometheus text-format parser (see expo.h). Written
 * for clarity over speed: the documents are a service's metrics, a few
 * hundred lines; the duplicate check is quadratic in a family's samples.
 */
#include "shim/expo.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

typedef struct parser {
	shim_expo_doc doc;
	long          current; /* the family whose group is open, -1: none */
	int           line_no;
	tp_err       *err;
} parser;

static bool fail(parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static bool
fail(parser *p, const char *fmt, ...)
{
	char    msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->line_no > 0) {
		(void) tp_err_set(p->err, TP_INVALID_ARGUMENT, "line %d: %s",
		    p->line_no, msg);
	} else {
		(void) tp_err_set(p->err, TP_INVALID_ARGUMENT, "%s", msg);
	}
	return false;
}

/* utf8_ok tells whether s[0..len) is valid UTF-8 (no overlongs, no
 * surrogates, nothing past U+10FFFF). */
static bool
utf8_ok(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint32_t cp;
		size_t   n;
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if (s[i] >= 0xc2 && s[i] <= 0xdf) {
			n  = 2;
			cp = s[i] & 0x1f;
		} else if (s[i] >= 0xe0 && s[i] <= 0xef) {
			n  = 3;
			cp = s[i] & 0x0f;
		} else if (s[i] >= 0xf0 && s[i] <= 0xf4) {
			n  = 4;
			cp = s[i] & 0x07;
		} else {
			return false;
		}
		if (i + n > len) {
			return false;
		}
		for (size_t k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80) {
				return false;
			}
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000)
		    || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
			return false;
		}
		i += n;
	}
	return true;
}

static bool
is_name_start(char c, bool colon_ok)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'
	    || (colon_ok && c == ':');
}

static bool
is_name_char(char c, bool colon_ok)
{
	return is_name_start(c, colon_ok) || (c >= '0' && c <= '9');
}

/*
 * read_name reads a metric name (colon_ok) or label name at *s into out;
 * false when there is none or it is too long.
 */
static bool
read_name(parser *p, char *out, const char **s, const char *end, bool colon_ok,
    const char *what)
{
	const char *q = *s;
	size_t      n;

	if (q >= end || !is_name_start(*q, colon_ok)) {
		return fail(p, "expected a %s", what);
	}
	while (q < end && is_name_char(*q, colon_ok)) {
		q++;
	}
	n = (size_t) (q - *s);
	if (n >= SHIM_EXPO_NAME_MAX) {
		return fail(p, "%s too long", what);
	}
	memcpy(out, *s, n);
	out[n] = '\0';
	*s     = q;
	return true;
}

static const char *
skip_blanks(const char *s, const char *end)
{
	while (s < end && (*s == ' ' || *s == '\t')) {
		s++;
	}
	return s;
}

/*
 * parse_float accepts what Go's ParseFloat accepts in practice in this
 * format: NaN, [+-]Inf, and decimal numbers with an optional exponent.
 */
static bool
parse_float(double *out, const char *s, size_t n)
{
	char        buf[64];
	const char *q;
	bool        digits = false;

	if (n == 0 || n >= sizeof(buf)) {
		return false;
	}
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (strcmp(buf, "NaN") == 0) {
		*out = NAN;
		return true;
	}
	if (strcmp(buf, "+Inf") == 0 || strcmp(buf, "Inf") == 0) {
		*out = INFINITY;
		return true;
	}
	if (strcmp(buf, "-Inf") == 0) {
		*out = -INFINITY;
		return true;
	}
	q = buf;
	if (*q == '+' || *q == '-') {
		q++;
	}
	while (*q >= '0' && *q <= '9') {
		q++;
		digits = true;
	}
	if (*q == '.') {
		q++;
		while (*q >= '0' && *q <= '9') {
			q++;
			digits = true;
		}
	}
	if (!digits) {
		return false;
	}
	if (*q == 'e' || *q == 'E') {
		q++;
		if (*q == '+' || *q == '-') {
			q++;
		}
		if (*q < '0' || *q > '9') {
			return false;
		}
		while (*q >= '0' && *q <= '9') {
			q++;
		}
	}
	if (*q != '\0') {
		return false;
	}
	*out = strtod(buf, NULL);
	return true;
}

static shim_expo_family *
family_find(parser *p, const char *name)
{
	for (size_t i = 0; i < p->doc.n_families; i++) {
		if (strcmp(p->doc.families[i].name, name) == 0) {
			return &p->doc.families[i];
		}
	}
	return NULL;
}

static shim_expo_family *
family_add(parser *p, const char *name)
{
	shim_expo_family *f;

	p->doc.families = tp_xrealloc(p->doc.families,
	    (p->doc.n_families + 1) * sizeof(*p->doc.families));
	f               = &p->doc.families[p->doc.n_families];
	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", name);
	snprintf(f->type, sizeof(f->type), "untyped");
	p->current = (long) p->doc.n_families;
	p->doc.n_families++;
	return f;
}

/*
 * family_for_meta returns the family a HELP or TYPE line of name is about:
 * a new one, or the open one while it has no samples yet.
 */
static shim_expo_family *
family_for_meta(parser *p, const char *name, const char *what)
{
	shim_expo_family *f = family_find(p, name);

	if (f == NULL) {
		return family_add(p, name);
	}
	if (p->current < 0 || &p->doc.families[p->current] != f) {
		fail(p, "%s for %s after its group ended", what, name);
		return NULL;
	}
	if (f->n_samples > 0) {
		fail(p, "%s for %s after its samples", what, name);
		return NULL;
	}
	return f;
}

static bool
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/*
 * belongs: whether sample name belongs to family f (name itself, or a
 * histogram's or summary's _bucket/_sum/_count).
 */
static bool
belongs(const shim_expo_family *f, const char *name)
{
	size_t n = strlen(f->name);

	if (strcmp(f->name, name) == 0) {
		return true;
	}
	if (strncmp(f->name, name, n) != 0) {
		return false;
	}
	if (strcmp(f->type, "histogram") == 0) {
		return strcmp(name + n, "_bucket") == 0
		    || strcmp(name + n, "_sum") == 0
		    || strcmp(name + n, "_count") == 0;
	}
	if (strcmp(f->type, "summary") == 0) {
		return strcmp(name + n, "_sum") == 0
		    || strcmp(name + n, "_count") == 0;
	}
	return false;
}

static bool
parse_help(parser *p, const char *s, const char *end)
{
	char              name[SHIM_EXPO_NAME_MAX];
	shim_expo_family *f;
	size_t            n = 0;

	if (!read_name(p, name, &s, end, true, "metric name after HELP")) {
		return false;
	}
	if ((f = family_for_meta(p, name, "HELP")) == NULL) {
		return false;
	}
	if (f->has_help) {
		return fail(p, "HELP for %s given twice", name);
	}
	if (s < end && *s != ' ') {
		return fail(p, "expected a space after the name");
	}
	if (s < end) {
		s++;
	}
	for (; s < end; s++) {
		char c = *s;
		if (c == '\\') {
			if (s + 1 >= end || (s[1] != '\\' && s[1] != 'n')) {
				return fail(p, "bad escape in HELP text");
			}
			c = s[1] == 'n' ? '\n' : '\\';
			s++;
		}
		if (n + 1 >= sizeof(f->help)) {
			return fail(p, "HELP text too long");
		}
		f->help[n++] = c;
	}
	f->help[n]  = '\0';
	f->has_help = true;
	return true;
}

static bool
parse_type(parser *p, const char *s, const char *end)
{
	static const char *const types[]
	    = { "counter", "gauge", "histogram", "summary", "untyped" };
	char              name[SHIM_EXPO_NAME_MAX];
	shim_expo_family *f;
	size_t            n;
	bool              known = false;

	if (!read_name(p, name, &s, end, true, "metric name after TYPE")) {
		return false;
	}
	if (s >= end || *s != ' ') {
		return fail(p, "expected a space and a type after the name");
	}
	s++;
	n = (size_t) (end - s);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		known |= strlen(types[i]) == n && memcmp(types[i], s, n) == 0;
	}
	if (!known) {
		return fail(p, "unknown type \"%.*s\"", (int) n, s);
	}
	if ((f = family_for_meta(p, name, "TYPE")) == NULL) {
		return false;
	}
	if (f->has_type) {
		return fail(p, "TYPE for %s given twice", name);
	}
	memcpy(f->type, s, n);
	f->type[n]  = '\0';
	f->has_type = true;
	return true;
}

static bool
parse_labels(parser *p, shim_expo_sample *smp, const char **sp, const char *end)
{
	const char *s = *sp + 1; /* past '{' */

	for (;;) {
		shim_expo_label *l;
		size_t           n = 0;
		s                  = skip_blanks(s, end);
		if (s < end && *s == '}') {
			s++;
			break;
		}
		if (smp->n_labels == SHIM_EXPO_LABELS_MAX) {
			return fail(p, "too many labels");
		}
		l = &smp->labels[smp->n_labels];
		if (!read_name(p, l->name, &s, end, false, "label name")) {
			return false;
		}
		if (strncmp(l->name, "__", 2) == 0) {
			return fail(p, "label name %s is reserved", l->name);
		}
		for (int i = 0; i < smp->n_labels; i++) {
			if (strcmp(smp->labels[i].name, l->name) == 0) {
				return fail(p, "label %s given twice", l->name);
			}
		}
		s = skip_blanks(s, end);
		if (s >= end || *s != '=') {
			return fail(p, "expected = after label %s", l->name);
		}
		s = skip_blanks(s + 1, end);
		if (s >= end || *s != '"') {
			return fail(
			    p, "expected a quoted value for label %s", l->name);
		}
		for (s++;; s++) {
			char c;
			if (s >= end) {
				return fail(p, "unterminated value of label %s",
				    l->name);
			}
			c = *s;
			if (c == '"') {
				s++;
				break;
			}
			if (c == '\\') {
				if (s + 1 >= end
				    || (s[1] != '\\' && s[1] != '"'
				        && s[1] != 'n')) {
					return fail(p, "bad escape in label %s",
					    l->name);
				}
				c = s[1] == 'n' ? '\n' : s[1];
				s++;
			}
			if (n + 1 >= sizeof(l->value)) {
				return fail(p, "label value too long");
			}
			l->value[n++] = c;
		}
		l->value[n] = '\0';
		smp->n_labels++;
		s = skip_blanks(s, end);
		if (s < end && *s == ',') {
			s++;
			continue;
		}
		if (s < end && *s == '}') {
			s++;
			break;
		}
		return fail(p, "expected , or } after label %s", l->name);
	}
	*sp = s;
	return true;
}

static bool
parse_sample(parser *p, const char *s, const char *end)
{
	shim_expo_sample  smp;
	shim_expo_family *f = NULL;
	const char       *v;

	memset(&smp, 0, sizeof(smp));
	if (!read_name(p, smp.name, &s, end, true, "metric name")) {
		return false;
	}
	if (s < end && *s == '{' && !parse_labels(p, &smp, &s, end)) {
		return false;
	}
	if (s >= end || (*s != ' ' && *s != '\t')) {
		return fail(p, "expected a blank before the value");
	}
	s = skip_blanks(s, end);
	v = s;
	while (s < end && *s != ' ' && *s != '\t') {
		s++;
	}
	if (!parse_float(&smp.value, v, (size_t) (s - v))) {
		return fail(p, "bad value \"%.*s\"", (int) (s - v), v);
	}
	s = skip_blanks(s, end);
	if (s < end) {
		const char *t = s;
		if (*t == '-') {
			t++;
		}
		if (t >= end) {
			return fail(p, "bad timestamp");
		}
		for (; t < end; t++) {
			if (*t < '0' || *t > '9') {
				return fail(p, "bad timestamp");
			}
		}
	}

	if (p->current >= 0
	    && belongs(&p->doc.families[p->current], smp.name)) {
		f = &p->doc.families[p->current];
	} else {
		for (size_t i = 0; i < p->doc.n_families; i++) {
			if (belongs(&p->doc.families[i], smp.name)) {
				return fail(p,
				    "%s: samples of family %s are not in one "
				    "group",
				    smp.name, p->doc.families[i].name);
			}
		}
		f = family_add(p, smp.name);
	}
	if (strcmp(f->type, "histogram") == 0
	    && strcmp(f->name, smp.name) == 0) {
		return fail(p,
		    "histogram %s: a sample must be _bucket, _sum "
		    "or _count",
		    f->name);
	}
	f->samples = tp_xrealloc(f->samples, (f->n_samples + 1) * sizeof(smp));
	f->samples[f->n_samples++] = smp;
	return true;
}

static const char *
label_value(const shim_expo_sample *s, const char *name)
{
	for (int i = 0; i < s->n_labels; i++) {
		if (strcmp(s->labels[i].name, name) == 0) {
			return s->labels[i].value;
		}
	}
	return NULL;
}

/* same_labels compares label sets, ignoring the label named skip. */
static bool
same_labels(
    const shim_expo_sample *a, const shim_expo_sample *b, const char *skip)
{
	int na = 0, nb = 0;

	for (int i = 0; i < a->n_labels; i++) {
		const char *v;
		if (skip != NULL && strcmp(a->labels[i].name, skip) == 0) {
			continue;
		}
		na++;
		v = label_value(b, a->labels[i].name);
		if (v == NULL || strcmp(v, a->labels[i].value) != 0) {
			return false;
		}
	}
	for (int i = 0; i < b->n_labels; i++) {
		if (skip == NULL || strcmp(b->labels[i].name, skip) != 0) {
			nb++;
		}
	}
	return na == nb;
}

static bool
check_histogram(parser *p, const shim_expo_family *f)
{
	char bucket[SHIM_EXPO_NAME_MAX + 8], sum[SHIM_EXPO_NAME_MAX + 8],
	    count[SHIM_EXPO_NAME_MAX + 8];

	snprintf(bucket, sizeof(bucket), "%s_bucket", f->name);
	snprintf(sum, sizeof(sum), "%s_sum", f->name);
	snprintf(count, sizeof(count), "%s_count", f->name);
	for (size_t i = 0; i < f->n_samples; i++) {
		const shim_expo_sample *s       = &f->samples[i];
		double                  last_le = -INFINITY, last_v = 0;
		int                     n_buckets = 0, n_sum = 0, n_count = 0;
		double                  count_v     = 0;
		bool                    seen_before = false;

		/* Each series (labels without le) is checked once. */
		for (size_t j = 0; j < i && !seen_before; j++) {
			seen_before = same_labels(s, &f->samples[j], "le");
		}
		if (seen_before) {
			continue;
		}
		for (size_t j = i; j < f->n_samples; j++) {
			const shim_expo_sample *t = &f->samples[j];
			const char             *le;
			double                  le_v;
			if (!same_labels(s, t, "le")) {
				continue;
			}
			le = label_value(t, "le");
			if (strcmp(t->name, bucket) == 0) {
				if (le == NULL
				    || !parse_float(&le_v, le, strlen(le))
				    || isnan(le_v)) {
					return fail(p,
					    "%s: bucket without a "
					    "numeric le",
					    f->name);
				}
				if (n_buckets > 0 && le_v <= last_le) {
					return fail(p, "%s: le %s out of order",
					    f->name, le);
				}
				if (!(t->value >= last_v)) {
					return fail(p,
					    "%s: bucket le=%s is "
					    "not cumulative",
					    f->name, le);
				}
				last_le = le_v;
				last_v  = t->value;
				n_buckets++;
				continue;
			}
			if (le != NULL) {
				return fail(p, "%s has an le label", t->name);
			}
			if (strcmp(t->name, sum) == 0) {
				n_sum++;
			} else {
				n_count++;
				count_v = t->value;
			}
		}
		if (n_buckets == 0 || !isinf(last_le) || last_le < 0) {
			return fail(p,
			    "%s: buckets do not end with le=\"+Inf\"", f->name);
		}
		if (n_sum != 1 || n_count != 1) {
			return fail(p,
			    "%s: a series needs one _sum and one "
			    "_count",
			    f->name);
		}
		if (count_v != last_v) {
			return fail(p,
			    "%s: _count %g differs from the +Inf "
			    "bucket %g",
			    f->name, count_v, last_v);
		}
	}
	return true;
}

static bool
check_family(parser *p, const shim_expo_family *f)
{
	for (size_t i = 0; i < f->n_samples; i++) {
		for (size_t j = i + 1; j < f->n_samples; j++) {
			if (strcmp(f->samples[i].name, f->samples[j].name) == 0
			    && same_labels(
			        &f->samples[i], &f->samples[j], NULL)) {
				return fail(p, "series %s given twice",
				    f->samples[i].name);
			}
		}
	}
	if (strcmp(f->type, "counter") == 0) {
		if (!ends_with(f->name, "_total")) {
			return fail(
			    p, "counter %s does not end in _total", f->name);
		}
		for (size_t i = 0; i < f->n_samples; i++) {
			if (!(f->samples[i].value >= 0)) {
				return fail(p, "counter %s is negative or NaN",
				    f->name);
			}
		}
	}
	if (strcmp(f->type, "histogram") == 0) {
		return check_histogram(p, f);
	}
	return true;
}

tp_status
shim_expo_parse(shim_expo_doc *out, const char *text, size_t len, tp_err *err)
{
	parser      p;
	const char *s   = text;
	const char *end = text + len;
	bool        ok  = true;

	memset(&p, 0, sizeof(p));
	p.current = -1;
	p.err     = err;
	if (!utf8_ok((const unsigned char *) text, len)) {
		ok = fail(&p, "the text is not UTF-8");
	}
	while (ok && s < end) {
		const char *nl = memchr(s, '\n', (size_t) (end - s));
		p.line_no++;
		if (nl == NULL) {
			ok = fail(
			    &p, "the last line does not end in a newline");
			break;
		}
		if (memchr(s, '\r', (size_t) (nl - s)) != NULL) {
			ok = fail(&p, "carriage return");
		} else if (nl == s) {
			ok = fail(&p, "blank line");
		} else if (strncmp(s, "# HELP ", 7) == 0) {
			ok = parse_help(&p, s + 7, nl);
		} else if (strncmp(s, "# TYPE ", 7) == 0) {
			ok = parse_type(&p, s + 7, nl);
		} else if (*s == '#') {
			ok = true; /* a comment */
		} else {
			ok = parse_sample(&p, s, nl);
		}
		s = nl + 1;
	}
	p.line_no = 0;
	for (size_t i = 0; ok && i < p.doc.n_families; i++) {
		ok = check_family(&p, &p.doc.families[i]);
	}
	if (!ok) {
		shim_expo_free(&p.doc);
		return TP_INVALID_ARGUMENT;
	}
	*out = p.doc;
	return TP_OK;
}

void
shim_expo_free(shim_expo_doc *doc)
{
	for (size_t i = 0; i < doc->n_families; i++) {
		free(doc->families[i].samples);
	}
	free(doc->families);
	doc->families   = NULL;
	doc->n_families = 0;
}

const shim_expo_family *
shim_expo_family_get(const shim_expo_doc *doc, const char *name)
{
	for (size_t i = 0; i < doc->n_families; i++) {
		if (strcmp(doc->families[i].name, name) == 0) {
			return &doc->families[i];
		}
	}
	return NULL;
}

int
shim_expo_get(const shim_expo_doc *doc, double *out, const char *name, ...)
{
	int found = 0;

	for (size_t i = 0; i < doc->n_families; i++) {
		const shim_expo_family *f = &doc->families[i];
		for (size_t j = 0; j < f->n_samples; j++) {
			const shim_expo_sample *s = &f->samples[j];
			bool        match         = strcmp(s->name, name) == 0;
			va_list     ap;
			const char *kv;
			va_start(ap, name);
			while (
			    match && (kv = va_arg(ap, const char *)) != NULL) {
				const char *eq = strchr(kv, '=');
				char        key[SHIM_EXPO_NAME_MAX];
				const char *v;
				snprintf(key, sizeof(key), "%.*s",
				    (int) (eq - kv), kv);
				v     = label_value(s, key);
				match = v != NULL && strcmp(v, eq + 1) == 0;
			}
			va_end(ap);
			if (match) {
				*out = s->value;
				found++;
			}
		}
	}
	return found;
}
