/* config.c: table-driven flags and environment (see config.h). */
#include "common/config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mem.h"

tp_status
tp_cfg_parse_int(
    long long *out, const char *s, long long min, long long max, tp_err *err)
{
	char     *end = NULL;
	long long v;

	errno = 0;
	if (s == NULL || *s == '\0') {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "expected an integer from %lld to %lld", min, max);
	}
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "expected an integer from %lld to %lld", min, max);
	}
	*out = v;
	return TP_OK;
}

static bool
parse_bool(bool *out, const char *s)
{
	if (strcmp(s, "1") == 0 || strcmp(s, "true") == 0 ||
	    strcmp(s, "yes") == 0 || strcmp(s, "on") == 0) {
		*out = true;
		return true;
	}
	if (strcmp(s, "0") == 0 || strcmp(s, "false") == 0 ||
	    strcmp(s, "no") == 0 || strcmp(s, "off") == 0) {
		*out = false;
		return true;
	}
	return false;
}

static void
usage_error(const tp_cfg_spec *spec, const tp_cfg_opt *o, const char *value,
    const char *why)
{
	if (o->env != NULL) {
		fprintf(stderr, "%s: invalid value for --%s (%s): \"%s\": %s\n",
		    spec->prog, o->flag, o->env, value, why);
	} else {
		fprintf(stderr, "%s: invalid value for --%s: \"%s\": %s\n",
		    spec->prog, o->flag, value, why);
	}
}

/* set stores one textual value into the field; false on a bad value. */
static bool
set(const tp_cfg_spec *spec, const tp_cfg_opt *o, void *cfg, const char *value)
{
	char  *field = (char *) cfg + o->offset;
	tp_err err;

	switch (o->type) {
	case TP_CFG_INT: {
		long long v;
		if (tp_cfg_parse_int(&v, value, o->min, o->max, &err) != TP_OK) {
			usage_error(spec, o, value, err.msg);
			return false;
		}
		memcpy(field, &v, sizeof(v));
		return true;
	}
	case TP_CFG_BOOL: {
		bool v;
		if (!parse_bool(&v, value)) {
			usage_error(spec, o, value, "expected true or false");
			return false;
		}
		memcpy(field, &v, sizeof(v));
		return true;
	}
	case TP_CFG_STR:
	case TP_CFG_DSN:
	case TP_CFG_SECRET:
		memcpy(field, &value, sizeof(value));
		return true;
	}
	return false;
}

static void
print_help(const tp_cfg_spec *spec)
{
	printf("usage: %s %s\n\n%s\n\nflags (flag > environment > default):\n",
	    spec->prog, spec->usage != NULL ? spec->usage : "[flags]",
	    spec->summary);
	for (size_t i = 0; i < spec->n_opts; i++) {
		const tp_cfg_opt *o = &spec->opts[i];
		char              name[96];
		bool              has_env, has_def;
		if (o->type == TP_CFG_SECRET) {
			snprintf(name, sizeof(name), "(env only)");
		} else if (o->type == TP_CFG_BOOL) {
			snprintf(name, sizeof(name), "--%s", o->flag);
		} else {
			snprintf(name, sizeof(name), "--%s=%s", o->flag,
			    o->type == TP_CFG_INT ? "N" : "VALUE");
		}
		printf("  %-28s %s", name, o->help);
		if (o->type == TP_CFG_INT) {
			printf(" (%lld..%lld)", o->min, o->max);
		}
		printf("\n");
		/* A second line: "env X[, then Y][; default D]" or "default D". */
		has_env = o->env != NULL || o->env2 != NULL;
		has_def = o->def != NULL && o->type != TP_CFG_SECRET;
		if (!has_env && !has_def) {
			continue;
		}
		printf("  %-28s ", "");
		if (has_env) {
			printf("env %s%s%s", o->env != NULL ? o->env : "",
			    o->env2 != NULL ? ", then " : "",
			    o->env2 != NULL ? o->env2 : "");
		}
		if (has_def) {
			printf("%sdefault %s", has_env ? "; " : "",
			    *o->def ? o->def : "\"\"");
		}
		printf("\n");
	}
	printf("  %-28s print this help\n  %-28s print the version\n", "--help",
	    "--version");
}

int
tp_cfg_parse(const tp_cfg_spec *spec, void *cfg, int argc, char **argv,
    int *n_rest, char ***rest)
{
	char **pos   = NULL;
	int    n_pos = 0;

	/* Defaults, then the environment. */
	for (size_t i = 0; i < spec->n_opts; i++) {
		const tp_cfg_opt *o = &spec->opts[i];
		const char       *v = NULL;
		if (o->env != NULL) {
			v = getenv(o->env);
		}
		if ((v == NULL || *v == '\0') && o->env2 != NULL) {
			v = getenv(o->env2);
		}
		if (v != NULL && *v == '\0' && o->type != TP_CFG_STR) {
			v = NULL;
		}
		if (v == NULL) {
			v = o->def;
		}
		if (v == NULL) {
			void       *field = (char *) cfg + o->offset;
			long long   zero  = 0;
			bool        no    = false;
			const char *unset = NULL;
			if (o->type == TP_CFG_INT) {
				memcpy(field, &zero, sizeof(zero));
			} else if (o->type == TP_CFG_BOOL) {
				memcpy(field, &no, sizeof(no));
			} else {
				memcpy(field, &unset, sizeof(unset));
			}
			continue;
		}
		if (!set(spec, o, cfg, v)) {
			return 2;
		}
	}

	/* Then the flags. */
	for (int i = 1; i < argc; i++) {
		const char       *a = argv[i];
		const tp_cfg_opt *o = NULL;
		const char       *eq;
		size_t            len;

		if (strcmp(a, "--") == 0) {
			for (i++; i < argc; i++) {
				if (!spec->positional) {
					fprintf(stderr, "%s: unexpected argument \"%s\"\n",
					    spec->prog, argv[i]);
					free(pos);
					return 2;
				}
				pos          = tp_xrealloc(pos, sizeof(*pos) * (size_t) (n_pos + 1));
				pos[n_pos++] = argv[i];
			}
			break;
		}
		if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
			if (!spec->positional) {
				fprintf(stderr,
				    "%s: unexpected argument \"%s\" (try --help)\n",
				    spec->prog, a);
				free(pos);
				return 2;
			}
			pos          = tp_xrealloc(pos, sizeof(*pos) * (size_t) (n_pos + 1));
			pos[n_pos++] = argv[i];
			continue;
		}
		a += 2;
		if (strcmp(a, "help") == 0) {
			print_help(spec);
			free(pos);
			return 0;
		}
		if (strcmp(a, "version") == 0) {
			printf("%s %s\n", spec->prog, TP_VERSION);
			free(pos);
			return 0;
		}
		eq  = strchr(a, '=');
		len = eq != NULL ? (size_t) (eq - a) : strlen(a);
		for (size_t j = 0; j < spec->n_opts; j++) {
			if (spec->opts[j].type != TP_CFG_SECRET &&
			    strlen(spec->opts[j].flag) == len &&
			    strncmp(spec->opts[j].flag, a, len) == 0) {
				o = &spec->opts[j];
				break;
			}
		}
		if (o == NULL) {
			fprintf(stderr, "%s: unknown flag --%.*s (try --help)\n",
			    spec->prog, (int) len, a);
			free(pos);
			return 2;
		}
		if (eq != NULL) {
			if (!set(spec, o, cfg, eq + 1)) {
				free(pos);
				return 2;
			}
		} else if (o->type == TP_CFG_BOOL) {
			if (!set(spec, o, cfg, "true")) {
				free(pos);
				return 2;
			}
		} else if (i + 1 < argc) {
			if (!set(spec, o, cfg, argv[++i])) {
				free(pos);
				return 2;
			}
		} else {
			fprintf(stderr, "%s: flag --%s needs a value\n", spec->prog,
			    o->flag);
			free(pos);
			return 2;
		}
	}
	if (n_rest != NULL) {
		*n_rest = n_pos;
	}
	if (rest != NULL) {
		*rest = pos;
	} else {
		free(pos);
	}
	return -1;
}

char *
tp_cfg_redact_dsn(char *buf, size_t size, const char *dsn)
{
	const char *p;
	size_t      n;

	if (dsn == NULL) {
		snprintf(buf, size, "(unset)");
		return buf;
	}
	p = strstr(dsn, "://");
	if (p != NULL) {
		const char *at    = strchr(p + 3, '@');
		const char *colon = strchr(p + 3, ':');
		if (at != NULL && colon != NULL && colon < at) {
			snprintf(buf, size, "%.*s:***%s", (int) (colon - dsn), dsn, at);
			return buf;
		}
		snprintf(buf, size, "%s", dsn);
		return buf;
	}
	p = strstr(dsn, "password=");
	if (p == NULL) {
		snprintf(buf, size, "%s", dsn);
		return buf;
	}
	n = (size_t) (p - dsn) + strlen("password=");
	{
		const char *end = strchr(p, ' ');
		snprintf(buf, size, "%.*s***%s", (int) n, dsn, end != NULL ? end : "");
	}
	return buf;
}

void
tp_cfg_log(const tp_cfg_spec *spec, const void *cfg, const char *component)
{
	char   line[3000];
	size_t n = 0;
	int    w;

	w = snprintf(line, sizeof(line), "version=%s pid=%d", TP_VERSION,
	    (int) getpid());
	n = (size_t) w;
	for (size_t i = 0; i < spec->n_opts && n < sizeof(line); i++) {
		const tp_cfg_opt *o     = &spec->opts[i];
		const char       *field = (const char *) cfg + o->offset;
		char              val[512];
		switch (o->type) {
		case TP_CFG_INT: {
			long long v;
			memcpy(&v, field, sizeof(v));
			snprintf(val, sizeof(val), "%lld", v);
			break;
		}
		case TP_CFG_BOOL: {
			bool v;
			memcpy(&v, field, sizeof(v));
			snprintf(val, sizeof(val), "%s", v ? "true" : "false");
			break;
		}
		case TP_CFG_STR: {
			const char *v;
			memcpy(&v, field, sizeof(v));
			snprintf(val, sizeof(val), "%s", v != NULL ? v : "(unset)");
			break;
		}
		case TP_CFG_DSN: {
			const char *v;
			memcpy(&v, field, sizeof(v));
			tp_cfg_redact_dsn(val, sizeof(val), v);
			break;
		}
		case TP_CFG_SECRET: {
			const char *v;
			memcpy(&v, field, sizeof(v));
			snprintf(val, sizeof(val), "%s",
			    v != NULL && *v ? "(set)" : "(unset)");
			break;
		}
		}
		w = snprintf(line + n, sizeof(line) - n, " %s=%s",
		    o->type == TP_CFG_SECRET ? o->env : o->flag, val);
		if (w < 0) {
			break;
		}
		n += (size_t) w;
	}
	tp_log_info(component, "starting %s", line);
}
