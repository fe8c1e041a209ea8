/*
 * nng_floor: the raw nng REQ/REP round trip, the floor the RPC figures are
 * measured against. A server process (forked before any nng call) answers
 * every request at once with a reply of --rep-bytes; the client keeps
 * --inflight requests of --req-bytes outstanding (one req0 context each,
 * driven by aio callbacks) and reports the throughput and latency
 * percentiles of the round trips as one JSON line on stdout.
 *
 * No protobuf, no database, no worker threads: whatever our RPC path costs
 * above this is ours. The defaults are the size of a GetTask call (13 bytes
 * of request, 128 of reply for a task with a 32-byte payload and result).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "common/histogram.h"

typedef struct opts {
	const char *url;
	int         inflight;
	int         seconds;
	int         warmup_s;
	size_t      req_bytes;
	size_t      rep_bytes;
	int         server_ctxs;
} opts;

/* --- the server (child process) ----------------------------------------- */

typedef struct srv_ctx {
	nng_ctx  ctx;
	nng_aio *aio;
	bool     sending;
	size_t   rep_bytes;
} srv_ctx;

static void
srv_cb(void *arg)
{
	srv_ctx *s = arg;
	nng_msg *m;

	if (nng_aio_result(s->aio) != 0) {
		if (s->sending) {
			nng_msg_free(nng_aio_get_msg(s->aio));
		}
		if (nng_aio_result(s->aio) == NNG_ECLOSED) {
			return;
		}
		s->sending = false;
		nng_ctx_recv(s->ctx, s->aio);
		return;
	}
	if (s->sending) {
		s->sending = false;
		nng_ctx_recv(s->ctx, s->aio);
		return;
	}
	m = nng_aio_get_msg(s->aio);
	/* The reply reuses the request's message: only its body changes. */
	nng_msg_clear(m);
	if (nng_msg_realloc(m, s->rep_bytes) != 0) {
		nng_msg_free(m);
		nng_ctx_recv(s->ctx, s->aio);
		return;
	}
	memset(nng_msg_body(m), 'r', s->rep_bytes);
	nng_aio_set_msg(s->aio, m);
	s->sending = true;
	nng_ctx_send(s->ctx, s->aio);
}

static int
serve(const opts *o, int ready_fd)
{
	nng_socket sock;
	srv_ctx   *ctxs;
	sigset_t   set;
	int        sig, rv;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if ((rv = nng_rep0_open(&sock)) != 0
	    || (rv = nng_listen(sock, o->url, NULL, 0)) != 0) {
		fprintf(stderr, "nng_floor: could not listen on %s: %s\n",
		    o->url, nng_strerror(rv));
		return 1;
	}
	ctxs = calloc((size_t) o->server_ctxs, sizeof(*ctxs));
	if (ctxs == NULL) {
		return 1;
	}
	for (int i = 0; i < o->server_ctxs; i++) {
		ctxs[i].rep_bytes = o->rep_bytes;
		if (nng_ctx_open(&ctxs[i].ctx, sock) != 0
		    || nng_aio_alloc(&ctxs[i].aio, srv_cb, &ctxs[i]) != 0) {
			return 1;
		}
		nng_ctx_recv(ctxs[i].ctx, ctxs[i].aio);
	}
	if (write(ready_fd, "r", 1) != 1) {
		return 1;
	}
	close(ready_fd);
	sigwait(&set, &sig);
	nng_close(sock);
	for (int i = 0; i < o->server_ctxs; i++) {
		nng_aio_stop(ctxs[i].aio);
	}
	for (int i = 0; i < o->server_ctxs; i++) {
		nng_aio_free(ctxs[i].aio);
	}
	free(ctxs);
	return 0;
}

/* --- the client ------------------------------------------------------------
 */

typedef struct cli_ctx {
	nng_ctx      ctx;
	nng_aio     *aio;
	bool         receiving;
	int64_t      sent_us;
	tp_hist      hist; /* callbacks of one context never overlap */
	uint64_t     errors;
	const opts  *o;
	int64_t      measure_us;
	int64_t      end_us;
	atomic_bool *stop;
} cli_ctx;

static int64_t
mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
cli_send(cli_ctx *c)
{
	nng_msg *m;

	if (atomic_load(c->stop)) {
		return;
	}
	if (nng_msg_alloc(&m, c->o->req_bytes) != 0) {
		c->errors++;
		return;
	}
	memset(nng_msg_body(m), 'q', c->o->req_bytes);
	nng_aio_set_msg(c->aio, m);
	c->receiving = false;
	c->sent_us   = mono_us();
	nng_ctx_send(c->ctx, c->aio);
}

static void
cli_cb(void *arg)
{
	cli_ctx *c  = arg;
	int      rv = nng_aio_result(c->aio);

	if (rv != 0) {
		if (!c->receiving) {
			nng_msg_free(nng_aio_get_msg(c->aio));
		}
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
			return;
		}
		c->errors++;
		cli_send(c);
		return;
	}
	if (!c->receiving) {
		c->receiving = true;
		nng_ctx_recv(c->ctx, c->aio);
		return;
	}
	{
		int64_t now = mono_us();
		nng_msg_free(nng_aio_get_msg(c->aio));
		if (c->sent_us >= c->measure_us && c->sent_us < c->end_us) {
			tp_hist_record(&c->hist, now - c->sent_us);
		}
		if (now >= c->end_us) {
			atomic_store(c->stop, true);
			return;
		}
	}
	cli_send(c);
}

static int
measure(const opts *o)
{
	nng_socket  sock;
	cli_ctx    *ctxs;
	tp_hist    *total;
	atomic_bool stop   = false;
	uint64_t    errors = 0;
	int64_t     t0;
	int         rv;

	if ((rv = nng_req0_open(&sock)) != 0
	    || (rv = nng_socket_set_ms(
	            sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_ZERO))
	        != 0
	    || (rv = nng_dial(sock, o->url, NULL, 0)) != 0) {
		fprintf(stderr, "nng_floor: could not dial %s: %s\n", o->url,
		    nng_strerror(rv));
		return 1;
	}
	ctxs  = calloc((size_t) o->inflight, sizeof(*ctxs));
	total = malloc(sizeof(*total));
	if (ctxs == NULL || total == NULL) {
		return 1;
	}
	tp_hist_init(total);
	t0 = mono_us();
	for (int i = 0; i < o->inflight; i++) {
		cli_ctx *c    = &ctxs[i];
		c->o          = o;
		c->stop       = &stop;
		c->measure_us = t0 + (int64_t) o->warmup_s * 1000000;
		c->end_us     = c->measure_us + (int64_t) o->seconds * 1000000;
		tp_hist_init(&c->hist);
		if (nng_ctx_open(&c->ctx, sock) != 0
		    || nng_aio_alloc(&c->aio, cli_cb, c) != 0) {
			return 1;
		}
		nng_aio_set_timeout(c->aio, 5000);
	}
	for (int i = 0; i < o->inflight; i++) {
		cli_send(&ctxs[i]);
	}
	while (!atomic_load(&stop)) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		if (mono_us() > ctxs[0].end_us + 10 * 1000000) {
			fprintf(stderr, "nng_floor: no progress: giving up\n");
			atomic_store(&stop, true);
		}
	}
	for (int i = 0; i < o->inflight; i++) {
		nng_aio_stop(ctxs[i].aio);
	}
	for (int i = 0; i < o->inflight; i++) {
		tp_hist_merge(total, &ctxs[i].hist);
		errors += ctxs[i].errors;
		nng_aio_free(ctxs[i].aio);
		nng_ctx_close(ctxs[i].ctx);
	}
	nng_close(sock);
	printf("{\"url\":\"%s\",\"inflight\":%d,\"reqBytes\":%zu,"
	       "\"repBytes\":%zu,\"seconds\":%d,\"ops\":%" PRIu64
	       ",\"errors\":%" PRIu64 ",\"throughput\":%.1f,\"p50Ms\":%.3f,"
	       "\"p99Ms\":%.3f,\"meanMs\":%.3f}\n",
	    o->url, o->inflight, o->req_bytes, o->rep_bytes, o->seconds,
	    total->total, errors, (double) total->total / o->seconds,
	    (double) tp_hist_percentile(total, 50) / 1000.0,
	    (double) tp_hist_percentile(total, 99) / 1000.0,
	    tp_hist_mean(total) / 1000.0);
	rv = errors > 0 || total->total == 0 ? 1 : 0;
	free(total);
	free(ctxs);
	return rv;
}

/* --- main ---------------------------------------------------------------- */

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: nng_floor [--url URL] [--inflight N] [--seconds S] "
	    "[--warmup S]\n"
	    "                 [--req-bytes N] [--rep-bytes N] "
	    "[--server-ctxs N]\n"
	    "The raw nng req/rep round trip: a forked server answers at once; "
	    "prints one\nJSON line. Defaults: tcp://127.0.0.1:0 is not allowed "
	    "(give a port),\n--url tcp://127.0.0.1:19999 --inflight 1 "
	    "--seconds 3 "
	    "--warmup 1\n--req-bytes 13 --rep-bytes 128 --server-ctxs "
	    "max(inflight, 8).\n");
}

static bool
parse_int(const char *s, long min, long max, long *out)
{
	char *end;
	long  v;

	errno = 0;
	v     = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
		return false;
	}
	*out = v;
	return true;
}

int
main(int argc, char **argv)
{
	opts  o = { "tcp://127.0.0.1:19999", 1, 3, 1, 13, 128, 0 };
	int   ready[2];
	pid_t pid;
	char  c;
	int   rc, status;

	for (int i = 1; i < argc; i++) {
		long        v;
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		}
		if (i + 1 >= argc) {
			usage(stderr);
			return 2;
		}
		if (strcmp(a, "--url") == 0) {
			o.url = argv[++i];
			continue;
		}
		if (!parse_int(argv[i + 1], 0, 1L << 24, &v)) {
			fprintf(stderr,
			    "nng_floor: invalid value for %s: \"%s\"\n", a,
			    argv[i + 1]);
			return 2;
		}
		i++;
		if (strcmp(a, "--inflight") == 0 && v >= 1) {
			o.inflight = (int) v;
		} else if (strcmp(a, "--seconds") == 0 && v >= 1) {
			o.seconds = (int) v;
		} else if (strcmp(a, "--warmup") == 0) {
			o.warmup_s = (int) v;
		} else if (strcmp(a, "--req-bytes") == 0) {
			o.req_bytes = (size_t) v;
		} else if (strcmp(a, "--rep-bytes") == 0) {
			o.rep_bytes = (size_t) v;
		} else if (strcmp(a, "--server-ctxs") == 0 && v >= 1) {
			o.server_ctxs = (int) v;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (o.server_ctxs == 0) {
		o.server_ctxs = o.inflight > 8 ? o.inflight : 8;
	}
	signal(SIGPIPE, SIG_IGN);
	if (pipe(ready) != 0) {
		perror("nng_floor: pipe");
		return 1;
	}
	/* Fork before any nng call: nng's threads do not survive a fork. */
	pid = fork();
	if (pid < 0) {
		perror("nng_floor: fork");
		return 1;
	}
	if (pid == 0) {
		close(ready[0]);
		_exit(serve(&o, ready[1]));
	}
	close(ready[1]);
	if (read(ready[0], &c, 1) != 1) {
		fprintf(stderr, "nng_floor: the server did not start\n");
		waitpid(pid, NULL, 0);
		return 1;
	}
	close(ready[0]);
	rc = measure(&o);
	kill(pid, SIGTERM);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)
	    || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "nng_floor: the server did not stop cleanly\n");
		rc = 1;
	}
	return rc;
}
