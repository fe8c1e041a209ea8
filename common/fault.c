/*
 * fault.c: the fault point registry (see fault.h). The configuration is
 * parsed once from TP_FAULTS (or replaced by tp_fault_configure) into a
 * small fixed table guarded by mu; hits are counted under mu, and the
 * action runs after mu is released (a delay must not hold the lock).
 */
#include "common/fault.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

#define MAX_POINTS 16

typedef enum kind {
	KIND_CRASH,
	KIND_DELAY,
	KIND_FAIL,
	KIND_DROP,
} kind;

typedef struct point {
	char      name[64];
	kind      what;
	long      arg;   /* delay ms */
	long      nth;   /* first hit that fires, 1-based */
	long      times; /* fires at most this often; 0: unlimited */
	long      hits;  // guarded by mu
	long      fired; // guarded by mu
} point;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static point           points[MAX_POINTS]; // guarded by mu
static int             n_points;           // guarded by mu
static int             loaded;             // guarded by mu

static int
parse_long(long *out, const char *s, const char *end)
{
	char *e = NULL;
	long  v;
	if (s == end) {
		return -1;
	}
	v = strtol(s, &e, 10);
	if (e != end || v < 0) {
		return -1;
	}
	*out = v;
	return 0;
}

/* parse_entry parses "name=action[:arg][@nth][*times]" of [s, end). */
static int
parse_entry(point *p, const char *s, const char *end)
{
	const char *eq = memchr(s, '=', (size_t) (end - s));
	const char *a, *a_end, *q;

	memset(p, 0, sizeof(*p));
	p->nth = 1;
	if (eq == NULL || eq == s || (size_t) (eq - s) >= sizeof(p->name)) {
		return -1;
	}
	memcpy(p->name, s, (size_t) (eq - s));
	a     = eq + 1;
	a_end = a;
	while (a_end < end && *a_end != ':' && *a_end != '@' && *a_end != '*') {
		a_end++;
	}
	if (a_end - a == 5 && strncmp(a, "crash", 5) == 0) {
		p->what = KIND_CRASH;
	} else if (a_end - a == 5 && strncmp(a, "delay", 5) == 0) {
		p->what = KIND_DELAY;
	} else if (a_end - a == 4 && strncmp(a, "fail", 4) == 0) {
		p->what = KIND_FAIL;
	} else if (a_end - a == 4 && strncmp(a, "drop", 4) == 0) {
		p->what = KIND_DROP;
	} else {
		return -1;
	}
	q = a_end;
	while (q < end) {
		char        c = *q++;
		const char *v = q;
		while (q < end && *q != ':' && *q != '@' && *q != '*') {
			q++;
		}
		if ((c == ':' && parse_long(&p->arg, v, q) != 0) ||
		    (c == '@' && (parse_long(&p->nth, v, q) != 0 || p->nth < 1)) ||
		    (c == '*' && parse_long(&p->times, v, q) != 0)) {
			return -1;
		}
	}
	if (p->what == KIND_DELAY && p->arg <= 0) {
		return -1;
	}
	return 0;
}

static int
parse_all(point *out, int *n_out, const char *spec)
{
	const char *s = spec;
	int         n = 0;

	while (s != NULL && *s != '\0') {
		const char *end = strchr(s, ',');
		if (end == NULL) {
			end = s + strlen(s);
		}
		if (end > s) {
			if (n == MAX_POINTS || parse_entry(&out[n], s, end) != 0) {
				return -1;
			}
			n++;
		}
		s = *end == ',' ? end + 1 : end;
	}
	*n_out = n;
	return 0;
}

int
tp_fault_configure(const char *spec)
{
	point parsed[MAX_POINTS];
	int   n = 0;

	if (parse_all(parsed, &n, spec) != 0) {
		return -1;
	}
	pthread_mutex_lock(&mu);
	memcpy(points, parsed, sizeof(parsed));
	n_points = n;
	loaded   = 1;
	pthread_mutex_unlock(&mu);
	return 0;
}

tp_fault_action
tp_fault_hit(const char *name)
{
	int  fire = 0;
	kind what = KIND_FAIL;
	long arg  = 0;

	pthread_mutex_lock(&mu);
	if (!loaded) {
		const char *spec = getenv("TP_FAULTS");
		loaded           = 1;
		if (parse_all(points, &n_points, spec) != 0) {
			n_points = 0;
			tp_log_error("fault", "ignoring TP_FAULTS: cannot parse it");
		}
	}
	for (int i = 0; i < n_points; i++) {
		point *p = &points[i];
		if (strcmp(p->name, name) != 0) {
			continue;
		}
		p->hits++;
		if (p->hits >= p->nth && (p->times == 0 || p->fired < p->times)) {
			p->fired++;
			fire = 1;
			what = p->what;
			arg  = p->arg;
		}
		break;
	}
	pthread_mutex_unlock(&mu);
	if (!fire) {
		return TP_FAULT_NONE;
	}
	tp_log_warn("fault", "fault point fired name=%s", name);
	switch (what) {
	case KIND_CRASH:
		kill(getpid(), SIGKILL);
		pause();
		return TP_FAULT_NONE;
	case KIND_DELAY: {
		struct timespec ts = {arg / 1000, (arg % 1000) * 1000000L};
		nanosleep(&ts, NULL);
		return TP_FAULT_NONE;
	}
	case KIND_FAIL:
		return TP_FAULT_FAIL;
	case KIND_DROP:
		return TP_FAULT_DROP;
	}
	return TP_FAULT_NONE;
}
