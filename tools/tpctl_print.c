/*
 * tpctl_print.c: how tpctl shows a reply: a short human form (a summary line,
 * then one "name: value" line per field that is set), or with --json the
 * gateway's own JSON mapping (proto/json.h), compact, on one line. Metrics
 * are Prometheus text, printed as they come.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "proto/json.h"
#include "tpctl_int.h"

/*
 * print_json prints v (taking its reference) as the gateway does: the
 * mapping of proto/json.h, compact, on one line. Returns exit status 0.
 */
static int
print_json(json_t *v)
{
	char *text = proto_json_dump_compact(v);

	printf("%s\n", text);
	free(text);
	json_decref(v);
	return 0;
}

/* Human output. */

static const char *
status_name(dtp_v1_TaskStatus s)
{
	const char *name = proto_json_task_status_name(s);

	return name != NULL ? name : "UNSPECIFIED";
}

static void
print_time(const char *name, int64_t ms)
{
	char buf[64];

	if (ms != 0) {
		printf("  %-18s%s\n", name, tp_clock_format_rfc3339(buf, ms));
	}
}

static void
print_task_line(const dtp_v1_Task *t)
{
	printf("task %" PRId64 " %s attempts=%" PRId32 "/%" PRId32 " type=%s\n",
	    t->id, status_name(t->status), t->attempts, t->max_attempts,
	    t->type);
}

static void
print_task(const dtp_v1_Task *t)
{
	print_task_line(t);
	printf("  %-18s%s\n", "payload:", t->payload != NULL ? t->payload : "");
	if (t->result != NULL) {
		printf("  %-18s%s\n", "result:", t->result);
	}
	if (t->last_error[0] != '\0') {
		printf("  %-18s%s\n", "lastError:", t->last_error);
	}
	if (t->cancel_requested) {
		printf("  %-18strue\n", "cancelRequested:");
	}
	if (t->idempotency_key[0] != '\0') {
		printf("  %-18s%s\n", "idempotencyKey:", t->idempotency_key);
	}
	if (t->locked_by[0] != '\0') {
		printf("  %-18s%s\n", "lockedBy:", t->locked_by);
	}
	printf("  %-18s%" PRId64 "\n", "timeoutMs:", t->timeout_ms);
	print_time("runAt:", t->run_at_ms);
	print_time("createdAt:", t->created_at_ms);
	print_time("updatedAt:", t->updated_at_ms);
	print_time("startedAt:", t->started_at_ms);
	print_time("finishedAt:", t->finished_at_ms);
}

static void
print_webtask_line(const pilot_v1_WebTask *w)
{
	printf("web task %" PRId64 " type=%s", w->id, w->type);
	if (w->has_scheduler_task_id) {
		printf(" schedulerTaskId=%" PRId64, w->scheduler_task_id);
	} else {
		printf(" unbound");
	}
	if (w->execution_seen_at_ms != 0) {
		printf(" execution=%s", status_name(w->execution_status));
	}
	if (w->title[0] != '\0') {
		printf(" title=\"%s\"", w->title);
	}
	printf("\n");
}

static void
print_webtask(const pilot_v1_WebTask *w)
{
	print_webtask_line(w);
	printf("  %-18s%s\n", "payload:", w->payload != NULL ? w->payload : "");
	print_time("executionSeenAt:", w->execution_seen_at_ms);
	print_time("createdAt:", w->created_at_ms);
	print_time("updatedAt:", w->updated_at_ms);
}

/* print_next tells how to get the next page of a list. */
static void
print_next(int64_t next_after_id)
{
	if (next_after_id != 0) {
		printf("more: --after %" PRId64 "\n", next_after_id);
	}
}

/*
 * print_health prints a Health reply. A node that answers but cannot reach
 * its database is not healthy: exit status 1.
 */
static int
print_health(bool json, const tp_v1_HealthReply *h)
{
	if (json) {
		(void) print_json(proto_json_health_new(h)); /* always 0 */
	} else {
		printf("%s %s version=%s node=%s\n", h->service,
		    h->db_ok ? "ok" : "unavailable", h->version, h->node);
	}
	if (!h->db_ok) {
		fprintf(stderr,
		    "tpctl: UNAVAILABLE: %s cannot reach its database\n",
		    h->service);
		return TPCTL_EXIT_FAIL;
	}
	return 0;
}

/*
 * print_metrics prints a Metrics reply's Prometheus text as it came, ending
 * with a newline. It is text already, so --json does not change it.
 */
static int
print_metrics(const tp_v1_MetricsReply *m)
{
	size_t len = m->text != NULL ? strlen(m->text) : 0;

	if (len > 0) {
		fputs(m->text, stdout);
		if (m->text[len - 1] != '\n') {
			putchar('\n');
		}
	}
	return 0;
}

void
tpctl_print_task_json(const dtp_v1_Task *t)
{
	(void) print_json(proto_json_task_new(t)); /* always 0 */
}

/* Replies: one printer per service, by the reply's result tag. */

int
tpctl_print_dtp_reply(const dtp_v1_Reply *rep, bool json)
{
	const dtp_v1_Task *t = NULL;

	switch (rep->which_result) {
	case dtp_v1_Reply_create_task_tag:
		t = &rep->result.create_task.task;
		break;
	case dtp_v1_Reply_get_task_tag:
		t = &rep->result.get_task;
		break;
	case dtp_v1_Reply_cancel_task_tag:
		t = &rep->result.cancel_task;
		break;
	case dtp_v1_Reply_list_tasks_tag:
		if (json) {
			return print_json(
			    proto_json_task_list_new(&rep->result.list_tasks));
		}
		for (pb_size_t i = 0; i < rep->result.list_tasks.tasks_count;
		     i++) {
			print_task_line(&rep->result.list_tasks.tasks[i]);
		}
		print_next(rep->result.list_tasks.next_after_id);
		return 0;
	case dtp_v1_Reply_health_tag:
		return print_health(json, &rep->result.health);
	case dtp_v1_Reply_metrics_tag:
		return print_metrics(&rep->result.metrics);
	default:
		fprintf(stderr, "tpctl: INTERNAL: reply without a result\n");
		return TPCTL_EXIT_FAIL;
	}
	if (json) {
		return print_json(proto_json_task_new(t));
	}
	print_task(t);
	if (rep->which_result == dtp_v1_Reply_create_task_tag
	    && rep->result.create_task.replayed) {
		printf("  %-18strue\n", "replayed:");
	}
	return 0;
}

int
tpctl_print_pilot_reply(const pilot_v1_Reply *rep, bool json)
{
	const pilot_v1_WebTask *w = NULL;
	const dtp_v1_Task      *t = NULL;

	switch (rep->which_result) {
	case pilot_v1_Reply_create_web_task_tag:
		w = &rep->result.create_web_task;
		break;
	case pilot_v1_Reply_get_web_task_tag:
		w = &rep->result.get_web_task;
		break;
	case pilot_v1_Reply_bind_scheduler_tag:
		w = &rep->result.bind_scheduler;
		break;
	case pilot_v1_Reply_get_execution_tag:
		t = &rep->result.get_execution;
		break;
	case pilot_v1_Reply_cancel_execution_tag:
		t = &rep->result.cancel_execution;
		break;
	case pilot_v1_Reply_list_web_tasks_tag: {
		const pilot_v1_ListWebTasksReply *l
		    = &rep->result.list_web_tasks;
		if (json) {
			return print_json(proto_json_web_task_list_new(l));
		}
		for (pb_size_t i = 0; i < l->tasks_count; i++) {
			print_webtask_line(&l->tasks[i]);
		}
		print_next(l->next_after_id);
		return 0;
	}
	case pilot_v1_Reply_health_tag:
		return print_health(json, &rep->result.health);
	case pilot_v1_Reply_metrics_tag:
		return print_metrics(&rep->result.metrics);
	default:
		fprintf(stderr, "tpctl: INTERNAL: reply without a result\n");
		return TPCTL_EXIT_FAIL;
	}
	if (json) {
		return print_json(w != NULL ? proto_json_web_task_new(w)
		                            : proto_json_task_new(t));
	}
	if (w != NULL) {
		print_webtask(w);
	} else {
		print_task(t);
	}
	return 0;
}
