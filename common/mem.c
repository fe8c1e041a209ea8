/* mem.c: aborting allocators (see mem.h). */
#include "common/mem.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
oom(void)
{
	static const char line[] = "fatal: out of memory\n";
	(void) !write(2, line, sizeof(line) - 1);
	abort();
}

void *
tp_xmalloc(size_t n)
{
	void *p = malloc(n == 0 ? 1 : n);
	if (p == NULL) {
		oom();
	}
	return p;
}

void *
tp_xcalloc(size_t count, size_t size)
{
	void *p = calloc(count == 0 ? 1 : count, size == 0 ? 1 : size);
	if (p == NULL) {
		oom();
	}
	return p;
}

void *
tp_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n == 0 ? 1 : n);
	if (q == NULL) {
		oom();
	}
	return q;
}

char *
tp_xstrdup(const char *s)
{
	if (s == NULL) {
		return NULL;
	}
	return tp_xstrndup(s, strlen(s));
}

char *
tp_xstrndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char  *p   = tp_xmalloc(len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}
