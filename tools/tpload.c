/*
 * tpload: the load-testing harness, in the spirit of ghz and wrk2. It drives
 * DTP or TaskPilot over RPC, or the gateway over REST (keep-alive HTTP/1.1),
 * in a closed loop (N in flight) or an open loop (a fixed arrival rate, each
 * latency measured from the operation's intended start, so a slow server
 * cannot hide its queueing), and reports throughput, errors by status and
 * latency percentiles from a log-linear histogram.
 *
 * Client models. Over RPC, when every operation of the mix is create, get or
 * cancel (one call, or two for a cancel and for a get with nothing to read
 * yet), the calls are asynchronous (rpc_client_call_async), as in
 * bench/nng_floor.c: --concurrency slots, each with at most one call in
 * flight, and no thread of ours per slot. In the closed loop each slot's
 * completion callback, on an nng thread, records the operation and starts
 * the slot's next one at once; in the open loop one scheduler thread starts
 * operations at their intended times on idle slots, and a completing slot
 * itself takes the next operation already due (queued, since every slot
 * was busy when it fell due). Callbacks record into a histogram of their
 * own thread (thread_stats), merged into the totals by the main thread once
 * a second. The other operations (bind, e2e: several dependent calls and a
 * poll) and the REST target run one thread per slot, each with its own
 * connection (REST) or sharing the thread-safe RPC client, and its own
 * histogram, flushed under the stats lock every 100 ms.
 *
 * Lock order: shared.mu, then a thread_stats' mu. shared.qmu (the open
 * loop's queue) is never held with either.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <pb_decode.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/histogram.h"
#include "common/log.h"
#include "common/mem.h"
#include "rpc/client.h"

typedef enum op_kind {
	OP_CREATE,
	OP_GET,
	OP_CANCEL,
	OP_BIND,
	OP_E2E,
	OP_COUNT,
} op_kind;

static const char *const op_names[OP_COUNT]
    = { "create", "get", "cancel", "bind", "e2e" };

/* A cancel's task is due this far ahead, so the cancel finds it PENDING. */
#define CANCEL_RUN_DELAY_MS (3600 * 1000)

typedef struct config {
	const char *target;
	const char *url;
	const char *pilot_url;
	const char *op;
	const char *mix;
	long long   concurrency;
	long long   rate;
	long long   duration_s;
	long long   requests;
	long long   warmup_s;
	long long   timeout_ms;
	long long   payload_bytes;
	const char *type;
	const char *json_out;
	long long   e2e_wait_ms;
	const char *ids;
	const char *record;
	long long   run_delay_ms;
} config;

static const tp_cfg_opt opts[] = {
	{ "target", "TPLOAD_TARGET", NULL, TP_CFG_STR, "dtp", 0, 0,
	    offsetof(config, target),
	    "dtp or pilot (RPC), or rest (the gateway over HTTP)" },
	{ "url", "TPLOAD_URL", NULL, TP_CFG_STR, NULL, 0, 0,
	    offsetof(config, url),
	    "DTP RPC URL(s), comma-separated, or the gateway's DTP "
	    "http://host:port (default per target)" },
	{ "pilot-url", "TPLOAD_PILOT_URL", NULL, TP_CFG_STR, NULL, 0, 0,
	    offsetof(config, pilot_url),
	    "TaskPilot RPC URL, or the gateway's TaskPilot http://host:port" },
	{ "op", "TPLOAD_OP", NULL, TP_CFG_STR, "create", 0, 0,
	    offsetof(config, op), "create, get, cancel, bind or e2e" },
	{ "mix", "TPLOAD_MIX", NULL, TP_CFG_STR, NULL, 0, 0,
	    offsetof(config, mix),
	    "weighted mix instead of --op, e.g. create=70,get=30" },
	{ "concurrency", "TPLOAD_CONCURRENCY", NULL, TP_CFG_INT, "16", 1, 4096,
	    offsetof(config, concurrency), "operations in flight at most" },
	{ "rate", "TPLOAD_RATE", NULL, TP_CFG_INT, "0", 0, 10000000,
	    offsetof(config, rate),
	    "open loop: operations per second (0: closed loop)" },
	{ "duration", "TPLOAD_DURATION", NULL, TP_CFG_INT, "10", 0, 86400,
	    offsetof(config, duration_s),
	    "seconds to measure, after the warm-up (0: use --requests)" },
	{ "requests", "TPLOAD_REQUESTS", NULL, TP_CFG_INT, "0", 0, 1000000000,
	    offsetof(config, requests),
	    "operations to measure (0: use --duration)" },
	{ "warmup", "TPLOAD_WARMUP", NULL, TP_CFG_INT, "1", 0, 3600,
	    offsetof(config, warmup_s), "seconds of warm-up, not counted" },
	{ "timeout-ms", "TPLOAD_TIMEOUT_MS", NULL, TP_CFG_INT, "5000", 1,
	    600000, offsetof(config, timeout_ms), "per-operation timeout" },
	{ "payload-bytes", "TPLOAD_PAYLOAD_BYTES", NULL, TP_CFG_INT, "32", 0,
	    262144, offsetof(config, payload_bytes),
	    "size of each created task's payload" },
	{ "type", "TPLOAD_TYPE", NULL, TP_CFG_STR, "demo", 0, 0,
	    offsetof(config, type), "task type to create" },
	{ "json", "TPLOAD_JSON", NULL, TP_CFG_STR, NULL, 0, 0,
	    offsetof(config, json_out),
	    "also write the summary as JSON to this file (- for stdout)" },
	{ "e2e-wait-ms", "TPLOAD_E2E_WAIT_MS", NULL, TP_CFG_INT, "30000", 1,
	    3600000, offsetof(config, e2e_wait_ms),
	    "e2e: how long to wait for a created task to succeed" },
	{ "ids", "TPLOAD_IDS", NULL, TP_CFG_STR, NULL, 0, 0,
	    offsetof(config, ids),
	    "get: task ids to read, N or LO-HI (picked uniformly), until "
	    "this run has created tasks; without it, a get with nothing to "
	    "read creates its task first" },
	{ "record", "TPLOAD_RECORD", NULL, TP_CFG_STR, NULL, 0, 0,
	    offsetof(config, record),
	    "create and e2e: write one line per measured task, \"ID "
	    "INTENDED_UNIX_US\" (its intended start, wall clock), to this "
	    "file" },
	{ "run-delay-ms", "TPLOAD_RUN_DELAY_MS", NULL, TP_CFG_INT, "0", 0,
	    86400000LL * 365, offsetof(config, run_delay_ms),
	    "create: make each task due this long after its creation "
	    "(runAt; 0: at once)" },
};

static const tp_cfg_spec spec = {
	.prog    = "tpload",
	.summary = "Load-test DTP, TaskPilot or the gateway. Closed loop by "
	           "default (--concurrency operations in flight); --rate R "
	           "switches to an open loop whose latencies count from each "
	           "operation's intended start. Progress once a second on "
	           "stderr, a summary on stdout at the end.",
	.usage   = "[flags]",
	.opts    = opts,
	.n_opts  = sizeof(opts) / sizeof(opts[0]),
};

/* The outcome of one operation: a status, or an HTTP code for REST. */
#define N_CODES (TP_STATUS_MAX + 1)

typedef struct stats {
	tp_hist  lat_us;   /* operation latency */
	tp_hist  start_us; /* e2e: create -> RUNNING (server clock) */
	uint64_t errors[N_CODES];
	uint64_t ok;
} stats;

typedef struct slot         slot;
typedef struct thread_stats thread_stats;

typedef struct shared {
	const config *cfg;
	bool          rest;
	op_kind       mix[100]; /* weighted op table, 100 slots */
	rpc_client   *dtp;
	rpc_client   *pilot;
	char          rest_host[128];
	int           rest_port;
	int           rest_pilot_port;
	char         *payload;
	int64_t       t0_us;      /* start of the run (monotonic) */
	int64_t       measure_us; /* start of measurement */
	int64_t       end_us;     /* end of measurement (duration mode) */
	atomic_llong  next_op;    /* open loop: next operation's index */
	atomic_llong  measured;   /* operations counted so far */
	atomic_bool   stop;
	atomic_int    running;   /* threads, or async: busy slots + sched */
	long long     unstarted; /* open loop: due in the window, never run */
	int64_t       ids_lo;    /* --ids: fallback range for get (0: none) */
	int64_t       ids_hi;
	FILE         *record;   /* --record, or NULL (stdio locks it) */
	int64_t       unix0_us; /* wall clock at t0_us, for --record */
	bool          async;    /* the asynchronous model (the top) */
	slot         *slots;    /* its slots, --concurrency of them */
	/* Ids created, for get and cancel to use (ring, guarded by mu). */
	pthread_mutex_t mu;
	int64_t         ids[4096]; // guarded by mu
	size_t          n_ids;     // guarded by mu
	stats           total;     // guarded by mu
	stats           window; // guarded by mu: since the last progress line
	thread_stats   *tstats; // guarded by mu: the async callbacks' stats
	/*
	 * The asynchronous open loop: qmu guards the schedule, next_op
	 * included (atomic for the thread model's sake). The scheduler
	 * waits on qcv (on the monotonic clock) for an operation's time, or
	 * for an idle slot when sched_wants_slot; stop broadcasts it.
	 */
	pthread_mutex_t qmu;
	pthread_cond_t  qcv;
	slot           *idle;             // guarded by qmu: nothing in flight
	bool            sched_wants_slot; // guarded by qmu
} shared;

typedef struct worker {
	pthread_t thr;
	shared   *sh;
	int       index;
	int       fd;       /* REST: keep-alive connection to the DTP port */
	int       pilot_fd; /* REST: keep-alive connection to the pilot port */
	unsigned  seed;
	stats     local; /* flushed into sh->total and sh->window */
	int64_t   last_flush_us;
} worker;

static void
stats_init(stats *s)
{
	memset(s, 0, sizeof(*s));
	tp_hist_init(&s->lat_us);
	tp_hist_init(&s->start_us);
}

static void
stats_merge(stats *dst, const stats *src)
{
	tp_hist_merge(&dst->lat_us, &src->lat_us);
	tp_hist_merge(&dst->start_us, &src->start_us);
	for (int i = 0; i < N_CODES; i++) {
		dst->errors[i] += src->errors[i];
	}
	dst->ok += src->ok;
}

static void
remember_id(shared *sh, int64_t id)
{
	pthread_mutex_lock(&sh->mu);
	sh->ids[sh->n_ids % (sizeof(sh->ids) / sizeof(sh->ids[0]))] = id;
	sh->n_ids++;
	pthread_mutex_unlock(&sh->mu);
}

static int64_t
pick_id(shared *sh, unsigned *seed)
{
	int64_t id = 0;
	pthread_mutex_lock(&sh->mu);
	if (sh->n_ids > 0) {
		size_t cap = sizeof(sh->ids) / sizeof(sh->ids[0]);
		size_t n   = sh->n_ids < cap ? sh->n_ids : cap;
		id         = sh->ids[(size_t) rand_r(seed) % n];
	}
	pthread_mutex_unlock(&sh->mu);
	if (id == 0 && sh->ids_lo > 0) {
		/* Two draws: rand_r gives only 31 bits. */
		uint64_t r
		    = ((uint64_t) rand_r(seed) << 31) ^ (uint64_t) rand_r(seed);
		id = sh->ids_lo
		    + (int64_t) (r % (uint64_t) (sh->ids_hi - sh->ids_lo + 1));
	}
	return id;
}

/* --- REST: a minimal keep-alive HTTP/1.1 client ------------------------ */

static int
http_connect(const char *host, int port)
{
	struct sockaddr_in sa;
	int                fd  = socket(AF_INET, SOCK_STREAM, 0);
	int                one = 1;
	if (fd < 0) {
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port   = htons((uint16_t) port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1
	    || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* HTTP_TIMEOUT: http_call's answer when no response came in time. */
#define HTTP_TIMEOUT (-1)

/*
 * http_call sends one request on *fd (reconnecting when needed) and reads
 * the response. Returns the HTTP status, 0 on a transport failure, or
 * HTTP_TIMEOUT; the body in a malloc'd *out_body (caller frees).
 *
 * A keep-alive connection the server closed while it was idle (its idle
 * timeout, or "Connection: close" on the previous response) fails on send,
 * or yields no byte at all: then the request is sent once more on a new
 * connection. Once any byte of a response has come, it is never resent.
 */
static int
http_call(int *fd, const char *host, int port, const char *method,
    const char *path, const char *body, char **out_body, int timeout_ms)
{
	char           req[512];
	size_t         blen = body != NULL ? strlen(body) : 0;
	char          *buf  = NULL;
	size_t         cap = 0, len = 0;
	int            status  = 0;
	size_t         hdr_end = 0, content_len = 0;
	bool           must_close = false;
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	int            n;

	*out_body = NULL;
	for (int attempt = 0; attempt < 2; attempt++) {
		bool reused    = *fd >= 0;
		bool timed_out = false;
		if (*fd < 0) {
			*fd = http_connect(host, port);
			if (*fd < 0) {
				return 0;
			}
			setsockopt(
			    *fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		}
		n = snprintf(req, sizeof(req),
		    "%s %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: "
		    "application/json\r\nContent-Length: %zu\r\n\r\n",
		    method, path, host, port, blen);
		if (send(*fd, req, (size_t) n,
		        MSG_NOSIGNAL | (blen ? MSG_MORE : 0))
		        != n
		    || (blen > 0
		        && send(*fd, body, blen, MSG_NOSIGNAL)
		            != (ssize_t) blen)) {
			close(*fd);
			*fd = -1;
			if (reused) {
				continue; /* the server closed it while idle */
			}
			break;
		}
		len         = 0;
		hdr_end     = 0;
		content_len = 0;
		for (;;) {
			ssize_t r;
			if (cap - len < 4096) {
				cap = cap ? cap * 2 : 8192;
				buf = tp_xrealloc(buf, cap);
			}
			r = recv(*fd, buf + len, cap - len - 1, 0);
			if (r < 0 && errno == EINTR) {
				continue;
			}
			if (r < 0
			    && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				timed_out = true;
			}
			if (r <= 0) {
				break;
			}
			len += (size_t) r;
			buf[len] = '\0';
			if (hdr_end == 0) {
				char *e = strstr(buf, "\r\n\r\n");
				char *cl;
				char *conn;
				if (e == NULL) {
					continue;
				}
				hdr_end = (size_t) (e - buf) + 4;
				status  = atoi(buf + 9);
				cl = strcasestr(buf, "\r\ncontent-length:");
				content_len = cl != NULL && cl < e
				    ? (size_t) strtoul(cl + 17, NULL, 10)
				    : 0;
				conn = strcasestr(buf, "\r\nconnection: close");
				must_close = conn != NULL && conn < e;
			}
			if (hdr_end != 0 && len >= hdr_end + content_len) {
				break;
			}
		}
		if (hdr_end == 0 || len < hdr_end + content_len) {
			close(*fd);
			*fd    = -1;
			status = timed_out ? HTTP_TIMEOUT : 0;
			if (len == 0 && reused && !timed_out) {
				continue; /* closed before answering: once more
				           */
			}
			break;
		}
		*out_body = tp_xstrndup(buf + hdr_end, content_len);
		if (must_close) {
			close(*fd);
			*fd = -1;
		}
		break;
	}
	free(buf);
	return status;
}

/* rest_status maps an HTTP status back to the call's status, for counting. */
static tp_status
rest_status(int http, const char *body)
{
	json_t   *j;
	tp_status code = TP_UNAVAILABLE;
	if (http >= 200 && http < 300) {
		return TP_OK;
	}
	if (http == 0) {
		return TP_UNAVAILABLE;
	}
	if (http == HTTP_TIMEOUT) {
		return TP_DEADLINE_EXCEEDED;
	}
	j = body != NULL ? json_loads(body, 0, NULL) : NULL;
	if (j != NULL && json_is_integer(json_object_get(j, "code"))) {
		long long c = json_integer_value(json_object_get(j, "code"));
		code
		    = c >= 0 && c <= TP_STATUS_MAX ? (tp_status) c : TP_UNKNOWN;
	} else {
		code = TP_UNKNOWN;
	}
	json_decref(j);
	return code;
}

static int64_t
body_int(const char *body, const char *key, const char *outer)
{
	json_t *j = body != NULL ? json_loads(body, 0, NULL) : NULL;
	json_t *o = j;
	int64_t v = 0;
	if (j != NULL && outer != NULL) {
		o = json_object_get(j, outer);
	}
	if (o != NULL && json_is_integer(json_object_get(o, key))) {
		v = (int64_t) json_integer_value(json_object_get(o, key));
	}
	json_decref(j);
	return v;
}

/* --- RPC operations ----------------------------------------------------- */

/* create_req fills *req with a CreateTask due run_delay_ms from now. */
static void
create_req(dtp_v1_Request *req, const shared *sh, int64_t run_delay_ms)
{
	memset(req, 0, sizeof(*req));
	req->which_call = dtp_v1_Request_create_task_tag;
	snprintf(req->call.create_task.type, sizeof(req->call.create_task.type),
	    "%s", sh->cfg->type);
	req->call.create_task.payload = sh->payload;
	if (run_delay_ms > 0) {
		req->call.create_task.has_run_at_ms = true;
		req->call.create_task.run_at_ms
		    = tp_clock_unix_ms() + run_delay_ms;
	}
}

/* task_req fills *req with a GetTask or a CancelTask (call) of task id. */
static void
task_req(dtp_v1_Request *req, pb_size_t call, int64_t id)
{
	memset(req, 0, sizeof(*req));
	req->which_call = call;
	if (call == dtp_v1_Request_get_task_tag) {
		req->call.get_task.id = id;
	} else {
		req->call.cancel_task.id = id;
	}
}

static tp_status
rpc_create(shared *sh, int64_t run_delay_ms, int64_t *id, tp_err *err)
{
	dtp_v1_Request req;
	dtp_v1_Reply   rep;
	rpc_call_opts  co = { .timeout_ms = (int) sh->cfg->timeout_ms };
	tp_status      rc;

	create_req(&req, sh, run_delay_ms);
	memset(&rep, 0, sizeof(rep));
	rc = rpc_client_call(sh->dtp, &req, &rep, &co, err);
	if (rc == TP_OK) {
		*id = rep.result.create_task.task.id;
		pb_release(dtp_v1_Reply_fields, &rep);
	}
	return rc;
}

/* rpc_task runs GetTask or CancelTask; *final tells whether it is final. */
static tp_status
rpc_task(shared *sh, pb_size_t call, int64_t id, dtp_v1_Task *out, tp_err *err)
{
	dtp_v1_Request req;
	dtp_v1_Reply   rep;
	rpc_call_opts  co
	    = { .timeout_ms = (int) sh->cfg->timeout_ms, .idempotent = true };
	tp_status rc;

	task_req(&req, call, id);
	memset(&rep, 0, sizeof(rep));
	rc = rpc_client_call(sh->dtp, &req, &rep, &co, err);
	if (rc == TP_OK) {
		const dtp_v1_Task *t = call == dtp_v1_Request_get_task_tag
		    ? &rep.result.get_task
		    : &rep.result.cancel_task;
		if (out != NULL) {
			*out         = *t;
			out->payload = NULL;
			out->result  = NULL;
		}
		pb_release(dtp_v1_Reply_fields, &rep);
	}
	return rc;
}

static tp_status
rpc_bind(shared *sh, tp_err *err)
{
	pilot_v1_Request req;
	pilot_v1_Reply   rep;
	rpc_call_opts    co = { .timeout_ms = (int) sh->cfg->timeout_ms };
	tp_status        rc;
	int64_t          web_id;

	memset(&req, 0, sizeof(req));
	memset(&rep, 0, sizeof(rep));
	req.which_call = pilot_v1_Request_create_web_task_tag;
	snprintf(req.call.create_web_task.type,
	    sizeof(req.call.create_web_task.type), "%s", sh->cfg->type);
	req.call.create_web_task.payload = sh->payload;
	rc = rpc_client_call(sh->pilot, &req, &rep, &co, err);
	if (rc != TP_OK) {
		return rc;
	}
	web_id = rep.result.create_web_task.id;
	pb_release(pilot_v1_Reply_fields, &rep);
	memset(&req, 0, sizeof(req));
	memset(&rep, 0, sizeof(rep));
	req.which_call             = pilot_v1_Request_bind_scheduler_tag;
	req.call.bind_scheduler.id = web_id;
	co.idempotent              = true; /* the bind key makes it safe */
	rc = rpc_client_call(sh->pilot, &req, &rep, &co, err);
	if (rc == TP_OK) {
		pb_release(pilot_v1_Reply_fields, &rep);
	}
	return rc;
}

/* --- REST operations ---------------------------------------------------- */

static tp_status
rest_create(worker *w, int64_t run_delay_ms, int64_t *id)
{
	shared   *sh = w->sh;
	json_t   *j  = json_object();
	char     *body;
	char     *resp = NULL;
	int       http;
	tp_status rc;

	json_object_set_new(j, "type", json_string(sh->cfg->type));
	json_object_set_new(j, "payload", json_string(sh->payload));
	if (run_delay_ms > 0) {
		char ts[64];
		tp_clock_format_rfc3339(ts, tp_clock_unix_ms() + run_delay_ms);
		json_object_set_new(j, "runAt", json_string(ts));
	}
	body = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	http = http_call(&w->fd, sh->rest_host, sh->rest_port, "POST", "/tasks",
	    body, &resp, (int) sh->cfg->timeout_ms);
	free(body);
	rc = rest_status(http, resp);
	if (rc == TP_OK) {
		*id = body_int(resp, "id", NULL);
	}
	free(resp);
	return rc;
}

static tp_status
rest_task(worker *w, const char *method, int64_t id, const char *suffix,
    dtp_v1_TaskStatus *status)
{
	shared   *sh = w->sh;
	char      path[128];
	char     *resp = NULL;
	int       http;
	tp_status rc;

	snprintf(path, sizeof(path), "/tasks/%" PRId64 "%s", id, suffix);
	http = http_call(&w->fd, sh->rest_host, sh->rest_port, method, path,
	    NULL, &resp, (int) sh->cfg->timeout_ms);
	rc   = rest_status(http, resp);
	if (rc == TP_OK && status != NULL) {
		json_t     *j = json_loads(resp, 0, NULL);
		const char *s = json_string_value(json_object_get(j, "status"));
		*status       = dtp_v1_TaskStatus_TASK_STATUS_UNSPECIFIED;
		if (s != NULL && strcmp(s, "SUCCEEDED") == 0) {
			*status = dtp_v1_TaskStatus_TASK_STATUS_SUCCEEDED;
		} else if (s != NULL
		    && (strcmp(s, "FAILED") == 0
		        || strcmp(s, "CANCELLED") == 0)) {
			*status = dtp_v1_TaskStatus_TASK_STATUS_FAILED;
		}
		json_decref(j);
	}
	free(resp);
	return rc;
}

static tp_status
rest_bind(worker *w)
{
	shared   *sh = w->sh;
	json_t   *j  = json_object();
	char     *body;
	char     *resp = NULL;
	char      path[96];
	int       http;
	int64_t   id;
	tp_status rc;

	json_object_set_new(j, "type", json_string(sh->cfg->type));
	json_object_set_new(j, "payload", json_string(sh->payload));
	body = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	http = http_call(&w->pilot_fd, sh->rest_host, sh->rest_pilot_port,
	    "POST", "/api/tasks", body, &resp, (int) sh->cfg->timeout_ms);
	free(body);
	rc = rest_status(http, resp);
	id = body_int(resp, "id", NULL);
	free(resp);
	if (rc != TP_OK) {
		return rc;
	}
	snprintf(path, sizeof(path), "/api/tasks/%" PRId64 "/scheduler", id);
	http = http_call(&w->pilot_fd, sh->rest_host, sh->rest_pilot_port,
	    "POST", path, NULL, &resp, (int) sh->cfg->timeout_ms);
	rc   = rest_status(http, resp);
	free(resp);
	return rc;
}

/* --- one operation ------------------------------------------------------ */

static bool
is_final(dtp_v1_TaskStatus s)
{
	return s == dtp_v1_TaskStatus_TASK_STATUS_SUCCEEDED
	    || s == dtp_v1_TaskStatus_TASK_STATUS_FAILED
	    || s == dtp_v1_TaskStatus_TASK_STATUS_CANCELLED;
}

/*
 * run_op performs one operation. *start_lag_us is set for e2e (create ->
 * RUNNING by the server's clock), -1 otherwise. *prep_end_us is set when
 * the operation needs preparation that is not the measured operation (the
 * task a cancel cancels) to when the preparation ended, else left alone.
 * *id_out is the task created (create, e2e), else 0.
 */
static tp_status
run_op(worker *w, op_kind op, int64_t *prep_end_us, int64_t *start_lag_us,
    int64_t *id_out)
{
	shared   *sh = w->sh;
	tp_err    err;
	int64_t   id       = 0;
	tp_status rc       = TP_OK;
	int64_t   delay_ms = sh->cfg->run_delay_ms;

	*start_lag_us = -1;
	*id_out       = 0;
	switch (op) {
	case OP_CREATE:
		rc = sh->rest ? rest_create(w, delay_ms, &id)
		              : rpc_create(sh, delay_ms, &id, &err);
		if (rc == TP_OK) {
			remember_id(sh, id);
			*id_out = id;
		}
		return rc;
	case OP_GET:
		id = pick_id(sh, &w->seed);
		if (id == 0) {
			/* Nothing to read yet (a mix's first operations): the
			 * task to read is made first, as a cancel's is. */
			rc = sh->rest ? rest_create(w, delay_ms, &id)
			              : rpc_create(sh, delay_ms, &id, &err);
			if (rc != TP_OK) {
				return rc;
			}
			remember_id(sh, id);
			*prep_end_us = tp_clock_mono_us();
		}
		return sh->rest
		    ? rest_task(w, "GET", id, "", NULL)
		    : rpc_task(sh, dtp_v1_Request_get_task_tag, id, NULL, &err);
	case OP_CANCEL: {
		rc = sh->rest ? rest_create(w, CANCEL_RUN_DELAY_MS, &id)
		              : rpc_create(sh, CANCEL_RUN_DELAY_MS, &id, &err);
		if (rc != TP_OK) {
			return rc;
		}
		*prep_end_us = tp_clock_mono_us();
		return sh->rest ? rest_task(w, "PUT", id, "/cancel", NULL)
		                : rpc_task(sh, dtp_v1_Request_cancel_task_tag,
		                    id, NULL, &err);
	}
	case OP_BIND:
		return sh->rest ? rest_bind(w) : rpc_bind(sh, &err);
	case OP_E2E: {
		int64_t deadline
		    = tp_clock_mono_us() + sh->cfg->e2e_wait_ms * 1000;
		rc = sh->rest ? rest_create(w, delay_ms, &id)
		              : rpc_create(sh, delay_ms, &id, &err);
		if (rc != TP_OK) {
			return rc;
		}
		*id_out = id;
		for (;;) {
			dtp_v1_Task       t;
			dtp_v1_TaskStatus st
			    = dtp_v1_TaskStatus_TASK_STATUS_UNSPECIFIED;
			if (sh->rest) {
				rc = rest_task(w, "GET", id, "", &st);
			} else {
				rc = rpc_task(sh, dtp_v1_Request_get_task_tag,
				    id, &t, &err);
				if (rc == TP_OK) {
					st = t.status;
					if (t.started_at_ms > 0) {
						*start_lag_us
						    = (t.started_at_ms
						          - t.created_at_ms)
						    * 1000;
					}
				}
			}
			if (rc != TP_OK) {
				return rc;
			}
			if (is_final(st)) {
				return st
				        == dtp_v1_TaskStatus_TASK_STATUS_SUCCEEDED
				    ? TP_OK
				    : TP_ABORTED;
			}
			if (tp_clock_mono_us() > deadline) {
				return TP_DEADLINE_EXCEEDED;
			}
			usleep(200);
		}
	}
	case OP_COUNT:
		break;
	}
	return TP_INTERNAL;
}

static void
flush_local(worker *w, int64_t now_us)
{
	shared *sh = w->sh;
	pthread_mutex_lock(&sh->mu);
	stats_merge(&sh->total, &w->local);
	stats_merge(&sh->window, &w->local);
	pthread_mutex_unlock(&sh->mu);
	stats_init(&w->local);
	w->last_flush_us = now_us;
}

static void *
worker_main(void *arg)
{
	worker   *w     = arg;
	shared   *sh    = w->sh;
	long long n_req = sh->cfg->requests;

	while (!atomic_load(&sh->stop)) {
		int64_t   intended = 0, t0, t1, lag, prep_end = 0, id;
		op_kind   op = sh->mix[(unsigned) rand_r(&w->seed) % 100];
		tp_status rc;
		bool      counted;

		if (sh->cfg->rate > 0) {
			/* Open loop: operation i is due at t0 + i / rate. */
			long long i = atomic_fetch_add(&sh->next_op, 1);
			intended    = sh->t0_us
			    + (int64_t) ((double) i * 1e6
			        / (double) sh->cfg->rate);
			t0 = tp_clock_mono_us();
			if (intended > t0) {
				int64_t         wait = intended - t0;
				struct timespec ts
				    = { (time_t) (wait / 1000000),
					      (long) (wait % 1000000) * 1000 };
				nanosleep(&ts, NULL);
			}
			if (sh->end_us > 0 && intended >= sh->end_us) {
				break;
			}
		}
		t0 = tp_clock_mono_us();
		if (sh->cfg->rate == 0) {
			intended = t0;
		}
		rc = run_op(w, op, &prep_end, &lag, &id);
		t1 = tp_clock_mono_us();
		/*
		 * Whether an operation counts depends on its intended start
		 * alone, so the open loop measures exactly rate * duration
		 * operations however slowly they complete.
		 */
		counted = intended >= sh->measure_us
		    && (sh->end_us == 0 || intended < sh->end_us);
		if (sh->cfg->rate == 0 && prep_end > 0) {
			/* Closed loop: the measured part starts after the
			 * preparation. In the open loop it counts, from the
			 * intended start, like any other delay. */
			intended = prep_end;
		}
		if (counted && n_req > 0
		    && atomic_fetch_add(&sh->measured, 1) >= n_req) {
			atomic_store(&sh->stop, true);
			break;
		}
		if (counted) {
			if (rc == TP_OK) {
				w->local.ok++;
				tp_hist_record(&w->local.lat_us, t1 - intended);
				if (lag >= 0) {
					tp_hist_record(&w->local.start_us, lag);
				}
				if (sh->record != NULL && id > 0) {
					fprintf(sh->record,
					    "%" PRId64 " %" PRId64 "\n", id,
					    sh->unix0_us
					        + (intended - sh->t0_us));
				}
			} else {
				w->local.errors[rc]++;
			}
		}
		if (t1 - w->last_flush_us > 100000) {
			flush_local(w, t1);
		}
		if (sh->end_us > 0 && t1 >= sh->end_us && sh->cfg->rate == 0) {
			break;
		}
	}
	flush_local(w, tp_clock_mono_us());
	atomic_fetch_sub(&sh->running, 1);
	return NULL;
}

/* --- the asynchronous model ---------------------------------------------- */

/*
 * thread_stats: what the completion callbacks that ran on one thread
 * recorded since collect() last took it. A thread runs one callback at a
 * time, so mu is contended only by collect(), once a second.
 */
struct thread_stats {
	thread_stats   *next; /* guarded by shared.mu */
	pthread_mutex_t mu;
	stats           s;       // guarded by mu
	int64_t        *rec;     // guarded by mu: --record, id and unix us
	size_t          n_rec;   // guarded by mu: pairs in rec
	size_t          cap_rec; // guarded by mu: pairs rec can hold
};

/* This thread's stats; one run per process, so no owner to check. */
static _Thread_local thread_stats *my_stats;

static thread_stats *
thread_stats_get(shared *sh)
{
	thread_stats *t = my_stats;

	if (t == NULL) {
		t = tp_xcalloc(1, sizeof(*t));
		pthread_mutex_init(&t->mu, NULL);
		stats_init(&t->s);
		pthread_mutex_lock(&sh->mu);
		t->next    = sh->tstats;
		sh->tstats = t;
		pthread_mutex_unlock(&sh->mu);
		my_stats = t;
	}
	return t;
}

/*
 * collect moves what the callbacks recorded into the totals and the
 * progress window, and writes their --record lines: here, on the main
 * thread, so that no callback waits on the file.
 */
static void
collect(shared *sh)
{
	int64_t *rec = NULL;
	size_t   n = 0, cap = 0;

	pthread_mutex_lock(&sh->mu);
	for (thread_stats *t = sh->tstats; t != NULL; t = t->next) {
		pthread_mutex_lock(&t->mu);
		stats_merge(&sh->total, &t->s);
		stats_merge(&sh->window, &t->s);
		stats_init(&t->s);
		if (t->n_rec > 0) {
			if (n + t->n_rec > cap) {
				cap = (n + t->n_rec) * 2;
				rec = tp_xrealloc(rec, cap * 2 * sizeof(*rec));
			}
			memcpy(
			    rec + 2 * n, t->rec, t->n_rec * 2 * sizeof(*rec));
			n += t->n_rec;
			t->n_rec = 0;
		}
		pthread_mutex_unlock(&t->mu);
	}
	pthread_mutex_unlock(&sh->mu);
	for (size_t i = 0; i < n; i++) {
		fprintf(sh->record, "%" PRId64 " %" PRId64 "\n", rec[2 * i],
		    rec[2 * i + 1]);
	}
	free(rec);
}

static void
thread_stats_free_all(shared *sh)
{
	thread_stats *t = sh->tstats;

	while (t != NULL) {
		thread_stats *next = t->next;
		pthread_mutex_destroy(&t->mu);
		free(t->rec);
		free(t);
		t = next;
	}
	sh->tstats = NULL;
}

/*
 * slot: one of the --concurrency operations in flight, with at most one
 * call in flight. Its fields are written by whoever starts its operation
 * or call (the main thread, the scheduler, or the slot's own callback) and
 * read by the callback of that call: the RPC client orders the two.
 */
struct slot {
	shared      *sh;
	slot        *next_idle; // guarded by sh->qmu
	unsigned     seed;
	op_kind      op;
	bool         prep;     /* the call in flight makes the task to use */
	int64_t      intended; /* open loop: its due time; closed: its start */
	int64_t      prep_end; /* when the preparation ended, or 0 */
	int64_t      id;       /* the task created or used, or 0 */
	dtp_v1_Reply rep;      /* the call's reply, until its callback */
};

static void slot_done_cb(
    void *arg, tp_status code, const tp_err *err, void *rep);

/*
 * slot_call starts the slot's next call: the create that prepares a get or
 * a cancel, or the operation's own call. Returns TP_OK when the callback
 * will run, else the status the call ended with at once.
 */
static tp_status
slot_call(slot *s)
{
	shared        *sh = s->sh;
	dtp_v1_Request req;
	rpc_call_opts  co = { .timeout_ms = (int) sh->cfg->timeout_ms };
	tp_err         err;

	if (s->op == OP_CREATE) {
		create_req(&req, sh, sh->cfg->run_delay_ms);
	} else if (s->prep) {
		create_req(&req, sh,
		    s->op == OP_CANCEL ? CANCEL_RUN_DELAY_MS
		                       : sh->cfg->run_delay_ms);
	} else {
		task_req(&req,
		    s->op == OP_GET ? dtp_v1_Request_get_task_tag
		                    : dtp_v1_Request_cancel_task_tag,
		    s->id);
		co.idempotent = true;
	}
	return rpc_client_call_async(
	    sh->dtp, &req, &s->rep, &co, slot_done_cb, s, &err);
}

/*
 * slot_begin starts an operation on the slot, intended at intended:
 * returns as slot_call does.
 */
static tp_status
slot_begin(slot *s, int64_t intended)
{
	shared *sh = s->sh;

	s->op       = sh->mix[(unsigned) rand_r(&s->seed) % 100];
	s->intended = intended;
	s->prep_end = 0;
	s->id       = 0;
	s->prep     = s->op == OP_CANCEL;
	if (s->op == OP_GET) {
		/* Nothing to read yet (a mix's first operations): the task
		 * to read is made first, as a cancel's is. */
		s->id   = pick_id(sh, &s->seed);
		s->prep = s->id == 0;
	}
	return slot_call(s);
}

/*
 * slot_park: the slot has nothing to do. The open loop's scheduler may
 * start it again; the main thread waits for every slot to park.
 */
static void
slot_park(slot *s)
{
	shared *sh = s->sh;

	pthread_mutex_lock(&sh->qmu);
	s->next_idle = sh->idle;
	sh->idle     = s;
	if (sh->sched_wants_slot) {
		pthread_cond_signal(&sh->qcv);
	}
	/* The last touch of sh by this callback: main may then tear down. */
	atomic_fetch_sub(&sh->running, 1);
	pthread_mutex_unlock(&sh->qmu);
}

/* due_us: when the open loop's operation i is due. */
static int64_t
due_us(const shared *sh, long long i)
{
	return sh->t0_us
	    + (int64_t) ((double) i * 1e6 / (double) sh->cfg->rate);
}

/*
 * op_done counts the slot's operation, ended with rc, exactly as
 * worker_main does, and tells whether the slot goes on with another one
 * (s->intended then set), or parked. The open loop's next operation goes
 * to this slot when it is already due: it queued while every slot was
 * busy, and its latency counts from its due time.
 */
static bool
op_done(slot *s, tp_status rc)
{
	shared   *sh    = s->sh;
	int64_t   t1    = tp_clock_mono_us();
	int64_t   from  = s->intended;
	long long n_req = sh->cfg->requests;
	bool      counted;

	counted = s->intended >= sh->measure_us
	    && (sh->end_us == 0 || s->intended < sh->end_us);
	if (sh->cfg->rate == 0 && s->prep_end > 0) {
		from = s->prep_end; /* as worker_main */
	}
	if (counted && n_req > 0
	    && atomic_fetch_add(&sh->measured, 1) >= n_req) {
		atomic_store(&sh->stop, true);
		slot_park(s);
		return false;
	}
	if (counted) {
		thread_stats *t = thread_stats_get(sh);

		pthread_mutex_lock(&t->mu);
		if (rc == TP_OK) {
			t->s.ok++;
			tp_hist_record(&t->s.lat_us, t1 - from);
			if (sh->record != NULL && s->op == OP_CREATE
			    && s->id > 0) {
				if (t->n_rec == t->cap_rec) {
					t->cap_rec = t->cap_rec ? t->cap_rec * 2
					                        : 1024;
					t->rec     = tp_xrealloc(t->rec,
					        t->cap_rec * 2 * sizeof(*t->rec));
				}
				t->rec[2 * t->n_rec] = s->id;
				t->rec[2 * t->n_rec + 1]
				    = sh->unix0_us + (from - sh->t0_us);
				t->n_rec++;
			}
		} else {
			t->s.errors[rc]++;
		}
		pthread_mutex_unlock(&t->mu);
	}
	if (sh->cfg->rate == 0) {
		if (atomic_load(&sh->stop)
		    || (sh->end_us > 0 && t1 >= sh->end_us)) {
			slot_park(s);
			return false;
		}
		s->intended = tp_clock_mono_us();
		return true;
	}
	pthread_mutex_lock(&sh->qmu);
	{
		long long i        = atomic_load(&sh->next_op);
		int64_t   intended = due_us(sh, i);

		if (!atomic_load(&sh->stop)
		    && (sh->end_us == 0 || intended < sh->end_us)
		    && intended <= tp_clock_mono_us()) {
			atomic_store(&sh->next_op, i + 1);
			pthread_mutex_unlock(&sh->qmu);
			s->intended = intended;
			return true;
		}
	}
	pthread_mutex_unlock(&sh->qmu);
	slot_park(s);
	return false;
}

/*
 * slot_run carries the slot on from a call that ended with rc (in its
 * callback, or at once when it could not start): to the operation's
 * second call, or to its end and then to the slot's next operation, until
 * a call is in flight or the slot is parked. A loop, so that calls failing
 * at once do not recurse.
 */
static void
slot_run(slot *s, tp_status rc)
{
	shared *sh = s->sh;

	for (;;) {
		if (rc == TP_OK) {
			if (s->prep || s->op == OP_CREATE) {
				s->id = s->rep.result.create_task.task.id;
				remember_id(sh, s->id);
			}
			pb_release(dtp_v1_Reply_fields, &s->rep);
			if (s->prep) {
				s->prep     = false;
				s->prep_end = tp_clock_mono_us();
				rc          = slot_call(s);
				if (rc == TP_OK) {
					return;
				}
				continue; /* the operation's own call failed */
			}
		}
		if (!op_done(s, rc)) {
			return;
		}
		if ((rc = slot_begin(s, s->intended)) == TP_OK) {
			return;
		}
	}
}

/*
 * slot_done_cb: a slot's call ended. On an nng thread: nothing here waits
 * but for a lock held briefly (the id ring, the thread's stats, the open
 * loop's schedule), and the next call is started without waiting.
 */
static void
slot_done_cb(void *arg, tp_status code, const tp_err *err, void *rep)
{
	(void) err;
	(void) rep;
	slot_run(arg, code);
}

/* slot_start starts an operation on a slot that had none in flight. */
static void
slot_start(slot *s, int64_t intended)
{
	tp_status rc = slot_begin(s, intended);

	if (rc != TP_OK) {
		slot_run(s, rc);
	}
}

/*
 * sched_main: the open loop's scheduler. Operation i is due at t0 + i /
 * rate; it starts on an idle slot at that time, or, when every slot is
 * busy, on the first slot to finish (op_done). Counts for one in running
 * until it ends: at the window's end, or at stop.
 */
static void *
sched_main(void *arg)
{
	shared *sh = arg;

	pthread_mutex_lock(&sh->qmu);
	while (!atomic_load(&sh->stop)) {
		long long i        = atomic_load(&sh->next_op);
		int64_t   intended = due_us(sh, i);
		slot     *s;

		if (sh->end_us > 0 && intended >= sh->end_us) {
			break;
		}
		if (intended > tp_clock_mono_us()) {
			struct timespec ts = { (time_t) (intended / 1000000),
				(long) (intended % 1000000) * 1000 };
			/* Woken early by stop; a timeout is the usual end. */
			(void) pthread_cond_timedwait(&sh->qcv, &sh->qmu, &ts);
			continue;
		}
		if ((s = sh->idle) == NULL) {
			/* Due with every slot busy: queued. The first slot to
			 * finish takes it; a slot parks (and wakes us) only
			 * when nothing is due. */
			sh->sched_wants_slot = true;
			pthread_cond_wait(&sh->qcv, &sh->qmu);
			sh->sched_wants_slot = false;
			continue;
		}
		sh->idle = s->next_idle;
		atomic_store(&sh->next_op, i + 1);
		atomic_fetch_add(&sh->running, 1);
		pthread_mutex_unlock(&sh->qmu);
		slot_start(s, intended);
		pthread_mutex_lock(&sh->qmu);
	}
	atomic_fetch_sub(&sh->running, 1);
	pthread_mutex_unlock(&sh->qmu);
	return NULL;
}

/* mix_is_async: every operation of the mix is a single-call one (the top). */
static bool
mix_is_async(const shared *sh)
{
	for (int i = 0; i < 100; i++) {
		if (sh->mix[i] != OP_CREATE && sh->mix[i] != OP_GET
		    && sh->mix[i] != OP_CANCEL) {
			return false;
		}
	}
	return true;
}

/* --- setup, progress and the summary ------------------------------------ */

static bool
parse_op(op_kind *out, const char *s, size_t len)
{
	for (int i = 0; i < OP_COUNT; i++) {
		if (strlen(op_names[i]) == len
		    && strncmp(op_names[i], s, len) == 0) {
			*out = (op_kind) i;
			return true;
		}
	}
	return false;
}

/* build_mix fills the 100-slot table from --op or --mix "create=70,get=30". */
static bool
build_mix(shared *sh, const config *cfg)
{
	const char *p      = cfg->mix;
	int         filled = 0;

	if (p == NULL) {
		op_kind op;
		if (!parse_op(&op, cfg->op, strlen(cfg->op))) {
			fprintf(stderr,
			    "tpload: invalid value for --op: \"%s\": "
			    "expected create, get, cancel, bind or e2e\n",
			    cfg->op);
			return false;
		}
		for (int i = 0; i < 100; i++) {
			sh->mix[i] = op;
		}
		return true;
	}
	while (*p != '\0') {
		const char *eq  = strchr(p, '=');
		const char *end = strchr(p, ',');
		op_kind     op;
		long        w;
		char       *num_end;
		if (end == NULL) {
			end = p + strlen(p);
		}
		if (eq == NULL || eq > end
		    || !parse_op(&op, p, (size_t) (eq - p))) {
			fprintf(stderr,
			    "tpload: invalid value for --mix: \"%s\": "
			    "expected op=weight,... with weights summing "
			    "to 100\n",
			    cfg->mix);
			return false;
		}
		w = strtol(eq + 1, &num_end, 10);
		if (num_end != end || w < 0 || filled + w > 100) {
			fprintf(stderr,
			    "tpload: invalid value for --mix: \"%s\": "
			    "weights must be integers summing to 100\n",
			    cfg->mix);
			return false;
		}
		for (long i = 0; i < w; i++) {
			sh->mix[filled++] = op;
		}
		p = *end == ',' ? end + 1 : end;
	}
	if (filled != 100) {
		fprintf(stderr,
		    "tpload: invalid value for --mix: \"%s\": weights "
		    "must sum to 100\n",
		    cfg->mix);
		return false;
	}
	return true;
}

/* parse_ids reads --ids: "N" or "LO-HI". */
static bool
parse_ids(shared *sh, const char *s)
{
	char     *end;
	long long lo, hi;

	errno = 0;
	lo    = strtoll(s, &end, 10);
	if (errno != 0 || end == s || lo < 1) {
		return false;
	}
	hi = lo;
	if (*end == '-') {
		const char *p = end + 1;
		hi            = strtoll(p, &end, 10);
		if (errno != 0 || end == p || hi < lo) {
			return false;
		}
	}
	if (*end != '\0') {
		return false;
	}
	sh->ids_lo = lo;
	sh->ids_hi = hi;
	return true;
}

/* unix_us: the wall clock in microseconds, for --record. */
static int64_t
unix_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static bool
parse_http_url(const char *url, char *host, size_t host_size, int *port)
{
	const char *p = url;
	const char *colon;
	if (strncmp(p, "http://", 7) != 0) {
		return false;
	}
	p += 7;
	colon = strchr(p, ':');
	if (colon == NULL || (size_t) (colon - p) >= host_size) {
		return false;
	}
	snprintf(host, host_size, "%.*s", (int) (colon - p), p);
	*port = atoi(colon + 1);
	return *port > 0 && *port < 65536;
}

static void
print_hist_ms(FILE *f, const char *what, const tp_hist *h)
{
	if (h->total == 0) {
		return;
	}
	fprintf(f,
	    "%-22s min %.3f  p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  "
	    "max %.3f  mean %.3f ms\n",
	    what, (double) h->min / 1000.0,
	    (double) tp_hist_percentile(h, 50) / 1000.0,
	    (double) tp_hist_percentile(h, 90) / 1000.0,
	    (double) tp_hist_percentile(h, 99) / 1000.0,
	    (double) tp_hist_percentile(h, 99.9) / 1000.0,
	    (double) h->max / 1000.0, tp_hist_mean(h) / 1000.0);
}

static json_t *
hist_json(const tp_hist *h)
{
	return json_pack("{s:I,s:f,s:f,s:f,s:f,s:f,s:f,s:f}", "count",
	    (json_int_t) h->total, "minMs",
	    (double) (h->total ? h->min : 0) / 1000.0, "p50Ms",
	    (double) tp_hist_percentile(h, 50) / 1000.0, "p90Ms",
	    (double) tp_hist_percentile(h, 90) / 1000.0, "p99Ms",
	    (double) tp_hist_percentile(h, 99) / 1000.0, "p999Ms",
	    (double) tp_hist_percentile(h, 99.9) / 1000.0, "maxMs",
	    (double) h->max / 1000.0, "meanMs", tp_hist_mean(h) / 1000.0);
}

static void
report(const config *cfg, const shared *sh, double secs)
{
	const stats *s      = &sh->total;
	uint64_t     errors = 0;
	json_t      *by     = json_object();
	FILE        *jf;
	/* With --json -, stdout is the JSON's alone. */
	FILE *out = cfg->json_out != NULL && strcmp(cfg->json_out, "-") == 0
	    ? stderr
	    : stdout;

	for (int i = 0; i < N_CODES; i++) {
		errors += s->errors[i];
		if (s->errors[i] > 0) {
			json_object_set_new(by, tp_status_name(i),
			    json_integer((json_int_t) s->errors[i]));
		}
	}
	fprintf(out, "target %s  url %s  op %s  %s\n", cfg->target,
	    sh->rest ? cfg->url : (cfg->url ? cfg->url : "(default)"),
	    cfg->mix ? cfg->mix : cfg->op,
	    cfg->rate > 0 ? "open loop" : "closed loop");
	if (cfg->rate > 0) {
		fprintf(out, "rate %lld/s, at most %lld in flight\n", cfg->rate,
		    cfg->concurrency);
	} else {
		fprintf(out, "%lld in flight\n", cfg->concurrency);
	}
	fprintf(out,
	    "measured %.2f s  ok %" PRIu64 "  errors %" PRIu64
	    "  throughput %.1f ops/s\n",
	    secs, s->ok, errors, secs > 0 ? (double) s->ok / secs : 0.0);
	for (int i = 0; i < N_CODES; i++) {
		if (s->errors[i] > 0) {
			fprintf(out, "  %-20s %" PRIu64 "\n", tp_status_name(i),
			    s->errors[i]);
		}
	}
	if (sh->unstarted > 0) {
		fprintf(out,
		    "  unstarted %lld: due in the window but not started "
		    "within the drain time (the server fell behind)\n",
		    sh->unstarted);
	}
	print_hist_ms(out, "latency", &s->lat_us);
	print_hist_ms(out, "create->start (server)", &s->start_us);
	fflush(out);
	if (cfg->json_out == NULL) {
		json_decref(by);
		return;
	}
	{
		json_t *j = json_pack(
		    "{s:s,s:s,s:s,s:I,s:I,s:f,s:I,s:I,s:f,s:o,s:o}", "target",
		    cfg->target, "op", cfg->mix ? cfg->mix : cfg->op, "mode",
		    cfg->rate > 0 ? "open" : "closed", "concurrency",
		    (json_int_t) cfg->concurrency, "rate",
		    (json_int_t) cfg->rate, "seconds", secs, "ok",
		    (json_int_t) s->ok, "errors", (json_int_t) errors,
		    "throughput", secs > 0 ? (double) s->ok / secs : 0.0,
		    "errorsByStatus", by, "latency", hist_json(&s->lat_us));
		json_object_set_new(
		    j, "unstarted", json_integer((json_int_t) sh->unstarted));
		if (s->start_us.total > 0) {
			json_object_set_new(
			    j, "createToStart", hist_json(&s->start_us));
		}
		jf = strcmp(cfg->json_out, "-") == 0
		    ? stdout
		    : fopen(cfg->json_out, "w");
		if (jf == NULL) {
			fprintf(stderr, "tpload: could not write %s: %s\n",
			    cfg->json_out, strerror(errno));
		} else {
			json_dumpf(j, jf, JSON_INDENT(2));
			fputc('\n', jf);
			if (jf != stdout) {
				fclose(jf);
			}
		}
		json_decref(j);
	}
}

int
main(int argc, char **argv)
{
	config             cfg;
	shared            *sh;
	worker            *ws = NULL;
	pthread_t          sched;
	pthread_condattr_t ca;
	rpc_client_opts    ro = { 0 };
	tp_err             err;
	int                rc;
	int64_t            last_us, drain_us;
	double             secs;

	rc = tp_cfg_parse(&spec, &cfg, argc, argv, NULL, NULL);
	if (rc >= 0) {
		return rc;
	}
	signal(SIGPIPE, SIG_IGN);
	tp_log_set_level(TP_LOG_WARN);
	if (cfg.duration_s == 0 && cfg.requests == 0) {
		fprintf(stderr, "tpload: give --duration or --requests\n");
		return 2;
	}
	sh      = tp_xcalloc(1, sizeof(*sh));
	sh->cfg = &cfg;
	pthread_mutex_init(&sh->mu, NULL);
	pthread_mutex_init(&sh->qmu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* sched_main */
	pthread_cond_init(&sh->qcv, &ca);
	pthread_condattr_destroy(&ca);
	stats_init(&sh->total);
	stats_init(&sh->window);
	if (!build_mix(sh, &cfg)) {
		return 2;
	}
	if (cfg.ids != NULL && !parse_ids(sh, cfg.ids)) {
		fprintf(stderr,
		    "tpload: invalid value for --ids (TPLOAD_IDS): "
		    "\"%s\": expected N or LO-HI with 1 <= LO <= HI\n",
		    cfg.ids);
		return 2;
	}
	if (cfg.record != NULL) {
		sh->record = fopen(cfg.record, "w");
		if (sh->record == NULL) {
			fprintf(stderr, "tpload: could not open %s: %s\n",
			    cfg.record, strerror(errno));
			return 1;
		}
	}
	sh->payload = tp_xmalloc((size_t) cfg.payload_bytes + 1);
	memset(sh->payload, 'x', (size_t) cfg.payload_bytes);
	sh->payload[cfg.payload_bytes] = '\0';

	if (strcmp(cfg.target, "rest") == 0) {
		char pilot_host[128];
		sh->rest = true;
		if (cfg.url == NULL) {
			cfg.url = "http://127.0.0.1:8080";
		}
		if (cfg.pilot_url == NULL) {
			cfg.pilot_url = "http://127.0.0.1:8081";
		}
		if (!parse_http_url(cfg.url, sh->rest_host,
		        sizeof(sh->rest_host), &sh->rest_port)
		    || !parse_http_url(cfg.pilot_url, pilot_host,
		        sizeof(pilot_host), &sh->rest_pilot_port)) {
			fprintf(stderr,
			    "tpload: invalid value for --url/--pilot-url: "
			    "expected http://IPv4:PORT\n");
			return 2;
		}
	} else if (strcmp(cfg.target, "dtp") == 0
	    || strcmp(cfg.target, "pilot") == 0) {
		ro.env        = &proto_dtp_envelope;
		ro.timeout_ms = (int) cfg.timeout_ms;
		if (rpc_client_open(&sh->dtp,
		        cfg.url ? cfg.url : "tcp://127.0.0.1:9090", &ro, &err)
		    != TP_OK) {
			fprintf(stderr, "tpload: --url: %s\n", err.msg);
			return 2;
		}
		ro.env = &proto_pilot_envelope;
		if (rpc_client_open(&sh->pilot,
		        cfg.pilot_url ? cfg.pilot_url : "tcp://127.0.0.1:9091",
		        &ro, &err)
		    != TP_OK) {
			fprintf(stderr, "tpload: --pilot-url: %s\n", err.msg);
			return 2;
		}
	} else {
		fprintf(stderr,
		    "tpload: invalid value for --target: \"%s\": "
		    "expected dtp, pilot or rest\n",
		    cfg.target);
		return 2;
	}

	sh->t0_us      = tp_clock_mono_us();
	sh->unix0_us   = unix_us();
	sh->measure_us = sh->t0_us + cfg.warmup_s * 1000000;
	sh->end_us     = cfg.duration_s > 0 && cfg.requests == 0
	        ? sh->measure_us + cfg.duration_s * 1000000
	        : 0;
	sh->async      = !sh->rest && mix_is_async(sh);
	if (sh->async) {
		sh->slots
		    = tp_xcalloc((size_t) cfg.concurrency, sizeof(*sh->slots));
		for (long long i = 0; i < cfg.concurrency; i++) {
			sh->slots[i].sh   = sh;
			sh->slots[i].seed = (unsigned) (i * 7919 + 17);
		}
		if (cfg.rate > 0) {
			/* Every slot idle; the scheduler counts as running. */
			for (long long i = cfg.concurrency - 1; i >= 0; i--) {
				sh->slots[i].next_idle = sh->idle;
				sh->idle               = &sh->slots[i];
			}
			atomic_store(&sh->running, 1);
			pthread_create(&sched, NULL, sched_main, sh);
		} else {
			atomic_store(&sh->running, (int) cfg.concurrency);
			for (long long i = 0; i < cfg.concurrency; i++) {
				slot_start(&sh->slots[i], tp_clock_mono_us());
			}
		}
	} else {
		ws = tp_xcalloc((size_t) cfg.concurrency, sizeof(*ws));
		atomic_store(&sh->running, (int) cfg.concurrency);
		for (long long i = 0; i < cfg.concurrency; i++) {
			ws[i].sh       = sh;
			ws[i].index    = (int) i;
			ws[i].fd       = -1;
			ws[i].pilot_fd = -1;
			ws[i].seed     = (unsigned) (i * 7919 + 17);
			stats_init(&ws[i].local);
			ws[i].last_flush_us = sh->t0_us;
			pthread_create(&ws[i].thr, NULL, worker_main, &ws[i]);
		}
	}

	/*
	 * Progress once a second; stop at the end or after --requests. The
	 * open loop then lets the operations due in the window finish, each
	 * counted from its intended start, for up to as long again as the
	 * window (at least 10 s) plus the timeout; the ones still not started
	 * by then are reported as unstarted.
	 */
	last_us  = tp_clock_mono_us();
	drain_us = sh->end_us
	    + (cfg.duration_s > 10 ? cfg.duration_s : 10) * 1000000
	    + cfg.timeout_ms * 1000;
	for (;;) {
		int64_t now;
		bool    done = false;
		usleep(100000);
		now = tp_clock_mono_us();
		if (sh->end_us > 0 && now >= sh->end_us
		    && (cfg.rate == 0 || now >= drain_us)) {
			done = true;
		}
		if (atomic_load(&sh->stop) || atomic_load(&sh->running) == 0) {
			done = true;
		}
		if (now - last_us >= 1000000 || done) {
			stats    w;
			uint64_t errs = 0;
			collect(sh);
			pthread_mutex_lock(&sh->mu);
			w = sh->window;
			stats_init(&sh->window);
			pthread_mutex_unlock(&sh->mu);
			for (int i = 0; i < N_CODES; i++) {
				errs += w.errors[i];
			}
			fprintf(stderr,
			    "tpload: %6.1fs %s rate %.0f/s errors %" PRIu64
			    " p50 %.3f ms p99 %.3f ms\n",
			    (double) (now - sh->t0_us) / 1e6,
			    now < sh->measure_us ? "warm-up" : "measure",
			    (double) w.ok * 1e6 / (double) (now - last_us),
			    errs,
			    (double) tp_hist_percentile(&w.lat_us, 50) / 1000.0,
			    (double) tp_hist_percentile(&w.lat_us, 99)
			        / 1000.0);
			last_us = now;
		}
		if (done) {
			break;
		}
	}
	secs = (double) (tp_clock_mono_us() - sh->measure_us) / 1e6;
	atomic_store(&sh->stop, true);
	if (sh->async) {
		/* The scheduler, if any, may wait for a slot or a due time. */
		pthread_mutex_lock(&sh->qmu);
		pthread_cond_broadcast(&sh->qcv);
		pthread_mutex_unlock(&sh->qmu);
		if (cfg.rate > 0) {
			pthread_join(sched, NULL);
		}
		/* The calls in flight end by their deadline at the latest. */
		while (atomic_load(&sh->running) > 0) {
			usleep(1000);
		}
		collect(sh);
	}
	for (long long i = 0; ws != NULL && i < cfg.concurrency; i++) {
		pthread_join(ws[i].thr, NULL);
		if (ws[i].fd >= 0) {
			close(ws[i].fd);
		}
		if (ws[i].pilot_fd >= 0) {
			close(ws[i].pilot_fd);
		}
	}
	if (sh->end_us > 0 && cfg.rate == 0) {
		secs = (double) (sh->end_us - sh->measure_us) / 1e6;
	} else if (sh->end_us > 0) {
		/* Open loop: until the last operation due in the window ended,
		 * but never less than the window. Operation i counts when
		 * warmup <= i / rate < warmup + duration: duration * rate. */
		long long ran = (long long) sh->total.ok;
		for (int i = 0; i < N_CODES; i++) {
			ran += (long long) sh->total.errors[i];
		}
		sh->unstarted = cfg.duration_s * cfg.rate - ran;
		if (sh->unstarted < 0) {
			sh->unstarted = 0;
		}
		if (secs < (double) cfg.duration_s) {
			secs = (double) cfg.duration_s;
		}
	}
	report(&cfg, sh, secs);
	if (sh->record != NULL && fclose(sh->record) != 0) {
		fprintf(stderr, "tpload: could not write %s: %s\n", cfg.record,
		    strerror(errno));
		rc = 1;
	}
	/* After every callback has returned (rpc_client_free waits). */
	rpc_client_free(sh->dtp);
	rpc_client_free(sh->pilot);
	thread_stats_free_all(sh);
	free(sh->slots);
	free(sh->payload);
	free(ws);
	pthread_cond_destroy(&sh->qcv);
	pthread_mutex_destroy(&sh->qmu);
	pthread_mutex_destroy(&sh->mu);
	free(sh);
	return rc < 0 ? 0 : rc;
}
