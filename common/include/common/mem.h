/*
 * mem.h: allocation that never returns NULL. These are services, not
 * libraries: on out-of-memory we log one line and abort().
 */
#ifndef COMMON_MEM_H
#define COMMON_MEM_H

#include <stddef.h>

/* tp_xmalloc and friends: like malloc, but abort on failure. */
void *tp_xmalloc(size_t n);
void *tp_xcalloc(size_t count, size_t size);
void *tp_xrealloc(void *p, size_t n);
/* tp_xstrdup: s may be NULL (returns NULL). Caller frees with free(). */
char *tp_xstrdup(const char *s);
/* tp_xstrndup copies at most n bytes and NUL-terminates. */
char *tp_xstrndup(const char *s, size_t n);

#endif /* COMMON_MEM_H */
