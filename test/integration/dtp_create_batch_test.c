/*
 * dtp_create_batch_test.c: the group commit of CreateTask
 * (scheduler/create_batch.c) end to end, with the real dtp binary and
 * PostgreSQL, and client threads calling CreateTask at once: every create
 * gets its own id and a row holding exactly what it sent (payloads with
 * quotes, backslashes, commas, braces, the word NULL, empty, multibyte
 * UTF-8), in fewer transactions than tasks (rows inserted together share
 * their xmin); creates with one idempotency key at once get one task (one
 * of them not replayed) or ALREADY_EXISTS for another payload; a create
 * the database refuses fails alone. With -DTP_FAULTS=ON the fault point
 * dtp.create.batch delays each batch so that the next one fills up, and
 * the checks that batches held several creates are stricter.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <inttypes.h>
#include <pb_decode.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "db/conn.h"
#include "dtp_helpers.h"
#include "dtp_metric.h"
#include "harness.h"
#include "proto/envelope.h"
#include "rpc/client.h"

#define STOP_MS 15000
/* The concurrent creates: THREADS client threads, PER_THREAD each. */
#define THREADS    16
#define PER_THREAD 200
#define N_TASKS    (THREADS * PER_THREAD)
/* The key races: ROUNDS keys, each raced by THREADS threads. */
#define ROUNDS 20
/* The refused creates: every BAD_EVERY-th of each thread's BAD_PER. */
#define BAD_PER   50
#define BAD_EVERY 10
/* run_at of the tasks that set one: an hour ahead, never run. */
#define LATER_MS 3600000LL

static const char *db_url;
static db_conn    *db;
static th_proc     node;
static rpc_client *client;
static char        node_url[64];

/*
 * The payloads, one per create in turn; '#' becomes the create's thread
 * and number, so that a row written for the wrong create shows. Each is a
 * trap for a text[] literal: quotes, backslashes (one before a quote too),
 * commas, braces, the bare word NULL, the empty string, spaces and
 * newlines, UTF-8 of two, three and four bytes.
 */
static const char *const payloads[] = {
	"{\"n\":\"#\",\"s\":\"a \\\"quoted\\\" \\\\ word, {brace} [x]\"}",
	"NULL",
	"",
	"caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9d\x84\x9e #",
	"\"#",
	"\\#\\",
	"  spaced # \t\n{}  ",
	"\\\",}{#",
	"{#,NULL}",
	"null",
};
#define N_PAYLOADS (sizeof(payloads) / sizeof(payloads[0]))

/* SQL on the test's own connection. */

static void
db_open(void)
{
	tp_err err;

	if (db == NULL && db_conn_open(&db, db_url, &err) != TP_OK) {
		fail_msg("db_conn_open: %s", err.msg);
	}
}

static db_rows *
sql_rows(const char *sql, int n, const char *const *params)
{
	db_rows *rows = NULL;
	tp_err   err;

	db_open();
	if (db_exec(db, &rows, sql, n, params, &err) != TP_OK) {
		fail_msg("%s: %s", sql, err.msg);
	}
	return rows;
}

static int64_t
sql_int(const char *sql, int n, const char *const *params)
{
	db_rows *rows = sql_rows(sql, n, params);
	int64_t  v;

	assert_int_equal(db_rows_count(rows), 1);
	v = db_rows_int64(rows, 0, 0);
	db_rows_free(rows);
	return v;
}

static void
sql_do(const char *sql)
{
	tp_err err;

	db_open();
	if (db_exec_simple(db, sql, &err) != TP_OK) {
		fail_msg("%s: %s", sql, err.msg);
	}
}

static int64_t
max_id(void)
{
	return sql_int("SELECT coalesce(max(id), 0) FROM dtp.task", 0, NULL);
}

/*
 * xmins counts the transactions that inserted the tasks above lo: rows a
 * statement inserted together carry the same xmin.
 */
static int64_t
xmins(int64_t lo)
{
	char        los[24];
	const char *params[1] = { los };

	snprintf(los, sizeof(los), "%" PRId64, lo);
	return sql_int("SELECT count(DISTINCT xmin::text) FROM dtp.task"
	               " WHERE id > $1::int8",
	    1, params);
}

/* The creates, made by client threads. */

/* One create and its answer. */
typedef struct create_call {
	char       *payload; /* malloc'd */
	char        type[32];
	char        key[64]; /* "": none */
	int32_t     max_attempts;
	int64_t     timeout_ms;
	int64_t     run_at_ms; /* 0: none */
	int64_t     backoff_base_ms;
	int64_t     backoff_max_ms;
	tp_status   rc;
	tp_err      err;
	dtp_v1_Task task; /* rc == TP_OK */
	bool        replayed;
} create_call;

/*
 * create_one calls CreateTask for call, from any thread: no cmocka
 * assertion here (they belong to the main thread); a reply of the wrong
 * kind is recorded as TP_INTERNAL.
 */
static void
create_one(rpc_client *c, create_call *call)
{
	dtp_v1_Request            req = dtp_v1_Request_init_zero;
	dtp_v1_CreateTaskRequest *ct  = &req.call.create_task;
	dtp_v1_Reply              rep;

	memset(&rep, 0, sizeof(rep));
	tp_err_clear(&call->err);
	req.which_call = dtp_v1_Request_create_task_tag;
	snprintf(ct->type, sizeof(ct->type), "%s", call->type);
	ct->payload          = call->payload;
	ct->has_max_attempts = true;
	ct->max_attempts     = call->max_attempts;
	ct->has_timeout_ms   = true;
	ct->timeout_ms       = call->timeout_ms;
	if (call->run_at_ms != 0) {
		ct->has_run_at_ms = true;
		ct->run_at_ms     = call->run_at_ms;
	}
	if (call->backoff_base_ms != 0) {
		ct->has_backoff_base_ms = true;
		ct->backoff_base_ms     = call->backoff_base_ms;
	}
	if (call->backoff_max_ms != 0) {
		ct->has_backoff_max_ms = true;
		ct->backoff_max_ms     = call->backoff_max_ms;
	}
	if (call->key[0] != '\0') {
		ct->has_idempotency_key = true;
		snprintf(ct->idempotency_key, sizeof(ct->idempotency_key), "%s",
		    call->key);
	}
	call->rc = rpc_client_call(c, &req, &rep, NULL, &call->err);
	if (call->rc != TP_OK) {
		return;
	}
	if (rep.which_result != dtp_v1_Reply_create_task_tag
	    || !rep.result.create_task.has_task) {
		pb_release(dtp_v1_Reply_fields, &rep);
		call->rc = tp_err_set(
		    &call->err, TP_INTERNAL, "not a CreateTask reply");
		return;
	}
	call->task     = rep.result.create_task.task;
	call->replayed = rep.result.create_task.replayed;
}

/* A client thread: its calls, made one after the other. */
typedef struct runner {
	pthread_t          thread;
	pthread_barrier_t *start;
	rpc_client        *client;
	create_call       *calls;
	int                n;
} runner;

static void *
runner_main(void *arg)
{
	runner *r = arg;

	pthread_barrier_wait(r->start);
	for (int i = 0; i < r->n; i++) {
		create_one(r->client, &r->calls[i]);
	}
	return NULL;
}

/*
 * run_all makes the calls of calls[t * per .. (t + 1) * per) from thread t,
 * the threads starting together, and waits for all of them.
 */
static void
run_all(create_call *calls, int threads, int per)
{
	runner            r[THREADS];
	pthread_barrier_t start;

	assert_true(threads <= THREADS);
	pthread_barrier_init(&start, NULL, (unsigned) threads);
	for (int t = 0; t < threads; t++) {
		r[t].start  = &start;
		r[t].client = client;
		r[t].calls  = calls + (size_t) t * (size_t) per;
		r[t].n      = per;
		if (pthread_create(&r[t].thread, NULL, runner_main, &r[t])
		    != 0) {
			fail_msg("could not start a client thread");
		}
	}
	for (int t = 0; t < threads; t++) {
		pthread_join(r[t].thread, NULL);
	}
	pthread_barrier_destroy(&start);
}

static void
calls_free(create_call *calls, int n)
{
	for (int i = 0; i < n; i++) {
		free(calls[i].payload);
		if (calls[i].rc == TP_OK) {
			pb_release(dtp_v1_Task_fields, &calls[i].task);
		}
	}
	free(calls);
}

/* payload_for writes payloads[k] with '#' as "<thread>-<i>". Caller frees. */
static char *
payload_for(size_t k, int thread, int i)
{
	const char *p = payloads[k % N_PAYLOADS];
	char        tag[32];
	size_t      cap;
	char       *out;
	size_t      n = 0;

	snprintf(tag, sizeof(tag), "%d-%d", thread, i);
	cap = strlen(p) + strlen(tag) + 1;
	out = malloc(cap);
	assert_non_null(out);
	for (; *p != '\0'; p++) {
		if (*p == '#') {
			memcpy(out + n, tag, strlen(tag));
			n += strlen(tag);
		} else {
			out[n++] = *p;
		}
	}
	out[n] = '\0';
	return out;
}

/* The node: a type no handler has keeps every task PENDING, unchanged. */

static int
group_setup(void **state)
{
	static const char *const args[] = { "--workers", "1", "--rpc-threads",
		"16", "--poll-ms", "60000", NULL };
	static char *const       env[]
	    = { "TP_FAULTS=dtp.create.batch=delay:2", NULL };

	(void) state;
	db_url = th_db_create("dtp_create_batch");
	snprintf(
	    node_url, sizeof(node_url), "tcp://127.0.0.1:%d", th_free_port());
	dtp_h_start(&node, "node-create", node_url, db_url, args, env);
	client = dtp_h_client(node_url);
	return 0;
}

static int
group_teardown(void **state)
{
	(void) state;
	rpc_client_free(client);
	client = NULL;
	if (th_proc_stop(&node, STOP_MS) != 0) {
		th_proc_dump_log(&node);
		fail_msg("dtp did not exit 0 on SIGTERM");
	}
	db_conn_free(db);
	db = NULL;
	th_db_drop();
	return 0;
}

static void
test_dtp_create_batch_concurrent_creates_keep_their_rows(void **state)
{
	create_call *calls = calloc(N_TASKS, sizeof(*calls));
	int64_t      lo, before_ms, after_ms, tx;
	double       batches0, rows0, batches, rows;
	char         los[24];
	const char  *params[1] = { los };
	db_rows     *got;
	int64_t     *ids;

	(void) state;
	assert_non_null(calls);
	lo        = max_id();
	before_ms = tp_clock_unix_ms();
	for (int t = 0; t < THREADS; t++) {
		for (int i = 0; i < PER_THREAD; i++) {
			create_call *c = &calls[t * PER_THREAD + i];
			c->payload     = payload_for((size_t) (t + i), t, i);
			snprintf(c->type, sizeof(c->type), "nobody.batch%d",
			    (t + i) % 3);
			c->max_attempts = 1 + (t + i) % 5;
			c->timeout_ms   = 1000 + i;
			if (i % 3 == 1) {
				c->run_at_ms
				    = before_ms + LATER_MS + t * 1000 + i;
			}
			if (i % 4 == 2) {
				c->backoff_base_ms = 10 + t;
				c->backoff_max_ms  = 1000 + i;
			} else if (i % 4 == 3) {
				c->backoff_max_ms = 500 + t;
			}
		}
	}
	batches0 = dtp_h_metric(client, "dtp_create_batches_total", NULL);
	rows0    = dtp_h_metric(client, "dtp_create_batch_rows_total", NULL);

	run_all(calls, THREADS, PER_THREAD);
	after_ms = tp_clock_unix_ms();

	/* Each create answered with what it sent. */
	ids = calloc(N_TASKS, sizeof(*ids));
	assert_non_null(ids);
	for (int k = 0; k < N_TASKS; k++) {
		const create_call *c = &calls[k];
		if (c->rc != TP_OK) {
			th_proc_dump_log(&node);
			fail_msg("create %d: %s: %s", k, tp_status_name(c->rc),
			    c->err.msg);
		}
		assert_false(c->replayed);
		assert_true(c->task.id > lo);
		assert_string_equal(c->task.payload, c->payload);
		assert_string_equal(c->task.type, c->type);
		assert_int_equal(c->task.max_attempts, c->max_attempts);
		assert_int_equal(c->task.timeout_ms, c->timeout_ms);
		assert_int_equal(
		    c->task.status, dtp_v1_TaskStatus_TASK_STATUS_PENDING);
		assert_int_equal(c->task.backoff_base_ms, c->backoff_base_ms);
		assert_int_equal(c->task.backoff_max_ms, c->backoff_max_ms);
		if (c->run_at_ms != 0) {
			assert_int_equal(c->task.run_at_ms, c->run_at_ms);
		} else {
			/* now(), in the database's clock (same host). */
			assert_true(c->task.run_at_ms >= before_ms - 1000);
			assert_true(c->task.run_at_ms <= after_ms + 1000);
		}
		assert_string_equal(c->task.idempotency_key, "");
		ids[k] = c->task.id;
	}

	/* The rows, in id order, hold exactly that: one per create. */
	snprintf(los, sizeof(los), "%" PRId64, lo);
	got = sql_rows("SELECT id, type, payload, max_attempts, timeout_ms,"
	               " floor(extract(epoch FROM run_at) * 1000)::int8,"
	               " coalesce(backoff_base_ms, 0),"
	               " coalesce(backoff_max_ms, 0),"
	               " idempotency_key IS NULL AND fingerprint IS NULL,"
	               " status"
	               " FROM dtp.task WHERE id > $1::int8 ORDER BY id",
	    1, params);
	assert_int_equal(db_rows_count(got), N_TASKS);
	for (int r = 0; r < N_TASKS; r++) {
		int64_t            id = db_rows_int64(got, r, 0);
		const create_call *c  = NULL;
		for (int k = 0; k < N_TASKS; k++) {
			if (ids[k] == id) {
				assert_null(c); /* ids are distinct */
				c = &calls[k];
			}
		}
		assert_non_null(c);
		assert_string_equal(db_rows_get(got, r, 1), c->type);
		assert_string_equal(db_rows_get(got, r, 2), c->payload);
		assert_int_equal(db_rows_int64(got, r, 3), c->max_attempts);
		assert_int_equal(db_rows_int64(got, r, 4), c->timeout_ms);
		assert_int_equal(db_rows_int64(got, r, 5), c->task.run_at_ms);
		assert_int_equal(db_rows_int64(got, r, 6), c->backoff_base_ms);
		assert_int_equal(db_rows_int64(got, r, 7), c->backoff_max_ms);
		assert_true(db_rows_bool(got, r, 8));
		assert_string_equal(db_rows_get(got, r, 9), "PENDING");
	}
	db_rows_free(got);
	free(ids);

	/*
	 * The batches happened: fewer inserting transactions than tasks,
	 * and the node's counters agree.
	 */
	tx = xmins(lo);
	batches
	    = dtp_h_metric(client, "dtp_create_batches_total", NULL) - batches0;
	rows
	    = dtp_h_metric(client, "dtp_create_batch_rows_total", NULL) - rows0;
	print_message("%d creates by %d threads: %" PRId64
	              " inserting transactions, %.0f statements"
	              " (%.1f creates each)\n",
	    N_TASKS, THREADS, tx, batches, rows / batches);
	assert_true(rows == N_TASKS);
	assert_true(batches == (double) tx);
	assert_true(tx < N_TASKS);
#ifdef TP_FAULTS
	/* With each batch delayed, the others pile up behind the two
	 * being written: two creates a batch at least, on average. */
	assert_true(tx <= N_TASKS / 2);
#endif
	calls_free(calls, N_TASKS);
}

/*
 * race_key has THREADS threads create with key at once, thread t with
 * payload payload_a or, for odd t when payload_b is not NULL, payload_b.
 * Fills calls (THREADS of them).
 */
static void
race_key(create_call *calls, const char *key, const char *payload_a,
    const char *payload_b)
{
	for (int t = 0; t < THREADS; t++) {
		create_call *c = &calls[t];
		memset(c, 0, sizeof(*c));
		c->payload = strdup(
		    payload_b != NULL && t % 2 == 1 ? payload_b : payload_a);
		assert_non_null(c->payload);
		snprintf(c->type, sizeof(c->type), "nobody.key");
		snprintf(c->key, sizeof(c->key), "%s", key);
		c->max_attempts = 3;
		c->timeout_ms   = 1000;
	}
	run_all(calls, THREADS, 1);
}

static void
test_dtp_create_batch_same_key_at_once_makes_one_task(void **state)
{
	int64_t lo = max_id();

	(void) state;
	for (int round = 0; round < ROUNDS; round++) {
		create_call *calls = calloc(THREADS, sizeof(*calls));
		char         key[64];
		int64_t      id    = 0;
		int          fresh = 0;

		assert_non_null(calls);
		snprintf(key, sizeof(key), "same-%d", round);
		race_key(
		    calls, key, "{\"same\":\"payload, \\\"quoted\\\"\"}", NULL);
		for (int t = 0; t < THREADS; t++) {
			const create_call *c = &calls[t];
			if (c->rc != TP_OK) {
				th_proc_dump_log(&node);
				fail_msg("key %s, thread %d: %s: %s", key, t,
				    tp_status_name(c->rc), c->err.msg);
			}
			if (id == 0) {
				id = c->task.id;
			}
			assert_int_equal(c->task.id, id);
			assert_string_equal(c->task.idempotency_key, key);
			assert_string_equal(c->task.payload, c->payload);
			fresh += c->replayed ? 0 : 1;
		}
		assert_int_equal(fresh, 1);
		calls_free(calls, THREADS);
	}
	/* One row per key. */
	{
		char        los[24];
		const char *params[1] = { los };
		snprintf(los, sizeof(los), "%" PRId64, lo);
		assert_int_equal(
		    sql_int("SELECT count(*) FROM dtp.task WHERE id > $1::int8",
		        1, params),
		    ROUNDS);
	}
}

static void
test_dtp_create_batch_same_key_other_payload_already_exists(void **state)
{
	int64_t lo = max_id();

	(void) state;
	for (int round = 0; round < ROUNDS; round++) {
		create_call *calls = calloc(THREADS, sizeof(*calls));
		char         key[64];
		char         kp[1][64];
		const char  *params[1] = { kp[0] };
		const char  *won       = NULL;
		int64_t      id        = 0;
		int          fresh = 0, ok = 0, exists = 0;
		db_rows     *row;

		assert_non_null(calls);
		snprintf(key, sizeof(key), "other-%d", round);
		race_key(calls, key, "payload \"a\"", "payload \\b\\");
		for (int t = 0; t < THREADS; t++) {
			const create_call *c = &calls[t];
			if (c->rc == TP_OK) {
				if (won == NULL) {
					won = c->payload;
					id  = c->task.id;
				}
				/* Everyone answered OK sent the winner's. */
				assert_string_equal(c->payload, won);
				assert_int_equal(c->task.id, id);
				fresh += c->replayed ? 0 : 1;
				ok++;
			} else if (c->rc == TP_ALREADY_EXISTS) {
				assert_non_null(strstr(c->err.msg, key));
				exists++;
			} else {
				th_proc_dump_log(&node);
				fail_msg("key %s, thread %d: %s: %s", key, t,
				    tp_status_name(c->rc), c->err.msg);
			}
		}
		/* Half sent each payload: the winner's half got the task. */
		assert_int_equal(fresh, 1);
		assert_int_equal(ok, THREADS / 2);
		assert_int_equal(exists, THREADS / 2);
		snprintf(kp[0], sizeof(kp[0]), "%s", key);
		row = sql_rows("SELECT id, payload FROM dtp.task"
		               " WHERE idempotency_key = $1::text",
		    1, params);
		assert_int_equal(db_rows_count(row), 1);
		assert_int_equal(db_rows_int64(row, 0, 0), id);
		assert_string_equal(db_rows_get(row, 0, 1), won);
		db_rows_free(row);
		/* Named in the error: "... used by task <id> ...". */
		for (int t = 0; t < THREADS; t++) {
			char named[64];
			if (calls[t].rc != TP_ALREADY_EXISTS) {
				continue;
			}
			snprintf(named, sizeof(named), "task %" PRId64 " ", id);
			assert_non_null(strstr(calls[t].err.msg, named));
		}
		calls_free(calls, THREADS);
	}
	{
		char        los[24];
		const char *params[1] = { los };
		snprintf(los, sizeof(los), "%" PRId64, lo);
		assert_int_equal(
		    sql_int("SELECT count(*) FROM dtp.task WHERE id > $1::int8",
		        1, params),
		    ROUNDS);
	}
}

static void
test_dtp_create_batch_refused_create_fails_alone(void **state)
{
	const int    n     = THREADS * BAD_PER;
	create_call *calls = calloc((size_t) n, sizeof(*calls));
	int64_t      lo    = max_id();
	int          bad = 0, good = 0;
	char         los[24];
	const char  *params[1] = { los };

	(void) state;
	assert_non_null(calls);
	/* The database refuses one payload (SQLSTATE 22023, a data error). */
	sql_do("CREATE FUNCTION public.refuse_poison() RETURNS trigger"
	       " LANGUAGE plpgsql AS $$ BEGIN"
	       " IF NEW.payload = 'poison' THEN"
	       " RAISE EXCEPTION 'poison refused' USING ERRCODE = '22023';"
	       " END IF; RETURN NEW; END $$;"
	       " CREATE TRIGGER refuse_poison BEFORE INSERT ON dtp.task"
	       " FOR EACH ROW EXECUTE FUNCTION public.refuse_poison()");
	for (int t = 0; t < THREADS; t++) {
		for (int i = 0; i < BAD_PER; i++) {
			create_call *c = &calls[t * BAD_PER + i];
			c->payload     = (t + i) % BAD_EVERY == 0
			        ? strdup("poison")
			        : payload_for((size_t) i, t, i);
			assert_non_null(c->payload);
			snprintf(c->type, sizeof(c->type), "nobody.refused");
			c->max_attempts = 1;
			c->timeout_ms   = 1000;
		}
	}
	run_all(calls, THREADS, BAD_PER);
	sql_do("DROP TRIGGER refuse_poison ON dtp.task;"
	       " DROP FUNCTION public.refuse_poison()");

	for (int k = 0; k < n; k++) {
		const create_call *c = &calls[k];
		if (strcmp(c->payload, "poison") == 0) {
			assert_int_equal(c->rc, TP_INVALID_ARGUMENT);
			assert_non_null(strstr(c->err.msg, "poison refused"));
			bad++;
			continue;
		}
		if (c->rc != TP_OK) {
			th_proc_dump_log(&node);
			fail_msg("create %d: %s: %s", k, tp_status_name(c->rc),
			    c->err.msg);
		}
		assert_string_equal(c->task.payload, c->payload);
		good++;
	}
	assert_true(bad > 0);
	snprintf(los, sizeof(los), "%" PRId64, lo);
	assert_int_equal(
	    sql_int(
	        "SELECT count(*) FROM dtp.task WHERE id > $1::int8", 1, params),
	    good);
	assert_int_equal(sql_int("SELECT count(*) FROM dtp.task"
	                         " WHERE id > $1::int8 AND payload = 'poison'",
	                     1, params),
	    0);
#ifdef TP_FAULTS
	/* With the delay each refused create shares a batch with others. */
	if (dtp_h_log_max_after(&node, "could not write a batch of creates n=")
	    < 2) {
		th_proc_dump_log(&node);
		fail_msg("no refused batch of several creates was logged");
	}
#else
	print_message("no fault points: whether a refused create shared a "
	              "batch is not checked (largest refused batch: %d)\n",
	    dtp_h_log_max_after(
	        &node, "could not write a batch of creates n="));
#endif
	calls_free(calls, n);
}

static void
test_dtp_create_batch_lone_creates_go_one_by_one(void **state)
{
	double batches0, rows0;

	(void) state;
	batches0 = dtp_h_metric(client, "dtp_create_batches_total", NULL);
	rows0    = dtp_h_metric(client, "dtp_create_batch_rows_total", NULL);
	for (int i = 0; i < 10; i++) {
		(void) dtp_h_must_create(client, "nobody.lone", "{}", NULL);
	}
	/* Nobody else creates: each waited for no one. */
	assert_true(
	    dtp_h_metric(client, "dtp_create_batches_total", NULL) - batches0
	    == 10);
	assert_true(
	    dtp_h_metric(client, "dtp_create_batch_rows_total", NULL) - rows0
	    == 10);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_dtp_create_batch_concurrent_creates_keep_their_rows),
		cmocka_unit_test(
		    test_dtp_create_batch_same_key_at_once_makes_one_task),
		cmocka_unit_test(
		    test_dtp_create_batch_same_key_other_payload_already_exists),
		cmocka_unit_test(
		    test_dtp_create_batch_refused_create_fails_alone),
		cmocka_unit_test(
		    test_dtp_create_batch_lone_creates_go_one_by_one),
	};

	return cmocka_run_group_tests_name(
	    "dtp_create_batch", tests, group_setup, group_teardown);
}
