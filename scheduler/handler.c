/*
 * handler.c: the registry of task handlers by type name (handler.h). Filled
 * on the main thread before the node starts, read-only afterwards.
 */
#include "scheduler/handler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

#define TYPE_MAX 64

typedef struct entry {
	char           type[TYPE_MAX + 1];
	dtp_handler_cb cb;
	void          *arg;
	void (*free_cb)(void *); /* NULL: arg is borrowed */
} entry;

struct dtp_registry {
	entry *entries;
	size_t n;
	size_t cap;
};

bool
dtp_type_is_valid(const char *s)
{
	size_t n = 0;

	if (s == NULL) {
		return false;
	}
	for (; s[n] != '\0'; n++) {
		char c = s[n];
		if (n >= TYPE_MAX) {
			return false;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
		        || c == '_' || c == '.' || c == '-')) {
			return false;
		}
	}
	return n > 0;
}

dtp_registry *
dtp_registry_new(void)
{
	return tp_xcalloc(1, sizeof(dtp_registry));
}

void
dtp_registry_free(dtp_registry *r)
{
	if (r == NULL) {
		return;
	}
	for (size_t i = 0; i < r->n; i++) {
		if (r->entries[i].free_cb != NULL) {
			r->entries[i].free_cb(r->entries[i].arg);
		}
	}
	free(r->entries);
	free(r);
}

tp_status
dtp_registry_add(dtp_registry *r, const char *type, dtp_handler_cb cb,
    void *arg, tp_err *err)
{
	return dtp_registry_add_owned(r, type, cb, arg, NULL, err);
}

tp_status
dtp_registry_add_owned(dtp_registry *r, const char *type, dtp_handler_cb cb,
    void *arg, void (*free_cb)(void *), tp_err *err)
{
	tp_status rc = TP_OK;

	if (!dtp_type_is_valid(type)) {
		rc = tp_err_set(err, TP_INVALID_ARGUMENT,
		    "invalid handler type \"%.64s\": expected 1 to 64 "
		    "characters of [a-z0-9_.-]",
		    type != NULL ? type : "");
		goto out;
	}
	if (cb == NULL) {
		rc = tp_err_set(err, TP_INVALID_ARGUMENT,
		    "handler for type \"%s\" is NULL", type);
		goto out;
	}
	if (dtp_registry_find(r, type, NULL, NULL)) {
		rc = tp_err_set(err, TP_ALREADY_EXISTS,
		    "a handler for type \"%s\" is already registered", type);
		goto out;
	}
	if (r->n == r->cap) {
		r->cap     = r->cap == 0 ? 8 : r->cap * 2;
		r->entries = tp_xrealloc(r->entries, r->cap * sizeof(entry));
	}
	strcpy(r->entries[r->n].type, type);
	r->entries[r->n].cb      = cb;
	r->entries[r->n].arg     = arg;
	r->entries[r->n].free_cb = free_cb;
	r->n++;
out:
	return rc;
}

bool
dtp_registry_find(
    const dtp_registry *r, const char *type, dtp_handler_cb *cb, void **arg)
{
	for (size_t i = 0; i < r->n; i++) {
		if (strcmp(r->entries[i].type, type) == 0) {
			if (cb != NULL) {
				*cb = r->entries[i].cb;
			}
			if (arg != NULL) {
				*arg = r->entries[i].arg;
			}
			return true;
		}
	}
	return false;
}

char *
dtp_registry_types(const dtp_registry *r, char *buf, size_t size)
{
	size_t used = 0;

	if (size == 0) {
		return buf;
	}
	buf[0] = '\0';
	for (size_t i = 0; i < r->n && used < size; i++) {
		int w = snprintf(buf + used, size - used, "%s%s",
		    i > 0 ? "," : "", r->entries[i].type);
		if (w < 0) {
			break;
		}
		used += (size_t) w;
	}
	return buf;
}
