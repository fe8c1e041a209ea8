/*
 * tpctl: the command-line client of DTP and TaskPilot. It speaks RPC directly
 * (nng + protobuf, like any client) and prints a short human form, or with
 * --json the JSON the gateway gives. Exit 0 on OK, 1 when the call fails
 * (`tpctl: NOT_FOUND: task 9 not found` on stderr), 2 on bad usage.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pb_decode.h>

#include "common/config.h"
#include "common/mem.h"
#include "common/status.h"
#include "proto/json.h"
#include "rpc/client.h"
#include "tpctl_int.h"

typedef tpctl_config config;

static const tp_cfg_opt cfg_opts[] = {
	{ "url", "TPCTL_DTP_URL", NULL, TP_CFG_STR, "tcp://127.0.0.1:9090", 0,
	    0, offsetof(config, url),
	    "DTP RPC URLs, comma-separated (several nodes)" },
	{ "pilot-url", "TPCTL_PILOT_URL", NULL, TP_CFG_STR,
	    "tcp://127.0.0.1:9091", 0, 0, offsetof(config, pilot_url),
	    "TaskPilot RPC URLs, comma-separated" },
	{ "timeout", "TPCTL_TIMEOUT_MS", NULL, TP_CFG_INT, "5000", 1, 600000,
	    offsetof(config, timeout_ms),
	    "deadline of a call in ms, retries included" },
	{ "json", NULL, NULL, TP_CFG_BOOL, "false", 0, 0,
	    offsetof(config, json),
	    "print the JSON the gateway gives instead of text" },
	/* TLS, as rpc/README.md ("Flags for the binaries") names them. */
	{ "tls-ca", "TP_TLS_CA", NULL, TP_CFG_STR, NULL, 0, 0,
	    offsetof(config, tls_ca),
	    "tls+tcp:// URLs: PEM CA the servers' certificates must verify "
	    "against" },
	{ "tls-cert", "TP_TLS_CERT", NULL, TP_CFG_STR, NULL, 0, 0,
	    offsetof(config, tls_cert),
	    "PEM client certificate, for servers that require one" },
	{ "tls-key", "TP_TLS_KEY", NULL, TP_CFG_STR, NULL, 0, 0,
	    offsetof(config, tls_key), "PEM private key of --tls-cert" },
	{ "tls-server-name", "TP_TLS_SERVER_NAME", NULL, TP_CFG_STR, NULL, 0, 0,
	    offsetof(config, tls_server_name),
	    "name the servers' certificates must hold (default: each URL's "
	    "host)" },
};

static const char summary[]
    = "tpctl talks to DTP and TaskPilot over RPC.\n"
      "\n"
      "commands:\n"
      "  dtp create TYPE [PAYLOAD] [--max-attempts N] [--timeout-ms N]\n"
      "             [--key KEY] [--run-at RFC3339]\n"
      "                          create a scheduler task; PAYLOAD \"-\" reads\n"
      "                          stdin; a repeat with --key returns the first\n"
      "                          task\n"
      "  dtp get ID              show a scheduler task\n"
      "  dtp cancel ID           cancel a scheduler task\n"
      "  dtp list [--status S] [--type T] [--limit N] [--after ID] [--desc]\n"
      "                          list scheduler tasks (S: PENDING, RUNNING,\n"
      "                          SUCCEEDED, FAILED, CANCELLED)\n"
      "  dtp health              check a DTP node\n"
      "  dtp metrics             print a DTP node's metrics (Prometheus\n"
      "                          text, as they come, also with --json)\n"
      "  pilot create TYPE PAYLOAD [--title T]\n"
      "                          create a web task (PAYLOAD \"-\": stdin)\n"
      "  pilot get ID            show a web task\n"
      "  pilot list [--type T] [--limit N] [--after ID] [--desc]\n"
      "             [--bound | --unbound]\n"
      "                          list web tasks\n"
      "  pilot bind ID           hand a web task to DTP for execution\n"
      "  pilot execution ID      show the DTP task of a web task\n"
      "  pilot cancel ID         cancel the execution of a web task\n"
      "  pilot watch ID          follow the execution of a web task until\n"
      "                          it is final, printing each change with\n"
      "                          the time it was seen; waits up to\n"
      "                          --timeout for an unbound task to be\n"
      "                          bound, and for an answer while calls\n"
      "                          fail UNAVAILABLE; --json: the changes go\n"
      "                          to stderr, the final task to stdout\n"
      "  pilot health            check TaskPilot\n"
      "  pilot metrics           print TaskPilot's metrics\n"
      "\n"
      "Flags may come before or after the command; \"--\" ends the flags.\n"
      "Exit status: 0 on success, 1 when the call fails (the status and its\n"
      "reason on stderr, e.g. \"tpctl: NOT_FOUND: task 9 not found\"), 2 on\n"
      "bad usage. health exits 1 when the node cannot reach its database;\n"
      "watch exits 0 when the execution SUCCEEDED, 1 when it ended FAILED\n"
      "or CANCELLED.";

static const tp_cfg_spec cfg_spec = {
	.prog       = "tpctl",
	.summary    = summary,
	.usage      = "[flags] dtp|pilot COMMAND [ARGS...]",
	.opts       = cfg_opts,
	.n_opts     = sizeof(cfg_opts) / sizeof(cfg_opts[0]),
	.positional = true,
};

/* The arguments of one command: positionals and its own --flags. */
typedef struct sub_flag {
	const char  *name;
	bool         has_value;
	const char **value; /* has_value: the text; else NULL */
	bool        *set;   /* !has_value: set to true */
} sub_flag;

typedef struct args {
	int    n;
	char **v;
} args;

static int usage(const char *fmt, ...) TP_PRINTF(1, 2);

/* usage prints one line about bad usage to stderr and returns 2. */
static int
usage(const char *fmt, ...)
{
	char    msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "tpctl: %s (try tpctl --help)\n", msg);
	return TPCTL_EXIT_USAGE;
}

/*
 * parse_sub splits a command's arguments into positionals (at most max_pos,
 * at least min_pos) and the flags it knows. Returns -1 to go on, or 2.
 */
static int
parse_sub(args *pos, const args *in, const sub_flag *flags, size_t n_flags,
    int min_pos, int max_pos)
{
	bool only_pos = false;

	pos->n = 0;
	for (int i = 0; i < in->n; i++) {
		const char     *a = in->v[i];
		const char     *eq;
		size_t          len;
		const sub_flag *f = NULL;

		if (!only_pos && strcmp(a, "--") == 0) {
			only_pos = true;
			continue;
		}
		if (only_pos || strncmp(a, "--", 2) != 0) {
			if (pos->n >= max_pos) {
				return usage("unexpected argument \"%s\"", a);
			}
			pos->v[pos->n++] = in->v[i];
			continue;
		}
		eq  = strchr(a + 2, '=');
		len = eq != NULL ? (size_t) (eq - a - 2) : strlen(a + 2);
		for (size_t j = 0; j < n_flags; j++) {
			if (strlen(flags[j].name) == len
			    && strncmp(flags[j].name, a + 2, len) == 0) {
				f = &flags[j];
				break;
			}
		}
		if (f == NULL) {
			return usage("unknown flag \"%s\" for this command", a);
		}
		if (!f->has_value) {
			if (eq != NULL) {
				return usage("flag \"%s\" takes no value", a);
			}
			*f->set = true;
		} else if (eq != NULL) {
			*f->value = eq + 1;
		} else if (i + 1 < in->n) {
			*f->value = in->v[++i];
		} else {
			return usage("flag \"%s\" needs a value", a);
		}
	}
	if (pos->n < min_pos) {
		return usage("missing arguments");
	}
	return -1;
}

static int
parse_num(long long *out, const char *s, const char *what, long long min,
    long long max)
{
	tp_err err;

	if (tp_cfg_parse_int(out, s, min, max, &err) != TP_OK) {
		fprintf(
		    stderr, "tpctl: invalid %s \"%s\": %s\n", what, s, err.msg);
		return TPCTL_EXIT_USAGE;
	}
	return -1;
}

/* read_payload returns arg, or stdin's whole text for "-" (caller frees *buf).
 */
static const char *
read_payload(char **buf, const char *arg)
{
	size_t n = 0, cap = 4096;

	*buf = NULL;
	if (strcmp(arg, "-") != 0) {
		return arg;
	}
	*buf = tp_xmalloc(cap);
	for (;;) {
		size_t got = fread(*buf + n, 1, cap - n - 1, stdin);
		n += got;
		if (got == 0) {
			break;
		}
		if (cap - n - 1 == 0) {
			cap *= 2;
			*buf = tp_xrealloc(*buf, cap);
		}
	}
	(*buf)[n] = '\0';
	return *buf;
}

/* nonempty: s, or NULL when it is empty (an empty variable is not set). */
static const char *
nonempty(const char *s)
{
	return s != NULL && *s != '\0' ? s : NULL;
}

int
tpctl_client_open(rpc_client **out, const tpctl_config *cfg,
    const proto_envelope *env, const char *urls)
{
	rpc_client_opts opts
	    = { .env = env, .timeout_ms = (int) cfg->timeout_ms };
	rpc_tls_opts tls = { .ca_file = nonempty(cfg->tls_ca),
		.cert_file            = nonempty(cfg->tls_cert),
		.key_file             = nonempty(cfg->tls_key),
		.server_name          = nonempty(cfg->tls_server_name) };
	tp_err       err = { 0 };

	/*
	 * TLS options only when a file is given, so that a tls+tcp:// URL
	 * without them fails with the client's "needs TLS options".
	 */
	if (tls.ca_file != NULL || tls.cert_file != NULL
	    || tls.key_file != NULL) {
		opts.tls = &tls;
	}
	if (rpc_client_open(out, urls, &opts, &err) != TP_OK) {
		fprintf(stderr, "tpctl: cannot use URL \"%s\": %s\n", urls,
		    err.msg);
		return TPCTL_EXIT_USAGE;
	}
	return -1;
}

tp_status
tpctl_call(rpc_client *c, const tpctl_config *cfg, void *req, void *rep,
    bool idempotent, tp_err *err)
{
	rpc_call_opts copts
	    = { .timeout_ms = (int) cfg->timeout_ms, .idempotent = idempotent };

	return rpc_client_call(c, req, rep, &copts, err);
}

int
tpctl_report(tp_status rc, const tp_err *err)
{
	if (err != NULL && err->msg[0] != '\0') {
		fprintf(
		    stderr, "tpctl: %s: %s\n", tp_status_name(rc), err->msg);
	} else {
		fprintf(stderr, "tpctl: %s\n", tp_status_name(rc));
	}
	return TPCTL_EXIT_FAIL;
}

/*
 * call opens a client on urls, sends req and waits for rep. Returns -1 on
 * OK (rep then holds the reply, released by the caller), else an exit code
 * after printing the status and its reason.
 */
static int
call(const config *cfg, const proto_envelope *env, const char *urls, void *req,
    void *rep, bool idempotent)
{
	rpc_client *c   = NULL;
	tp_err      err = { 0 };
	tp_status   rc;
	int         ec;

	if ((ec = tpctl_client_open(&c, cfg, env, urls)) >= 0) {
		return ec;
	}
	rc = tpctl_call(c, cfg, req, rep, idempotent, &err);
	rpc_client_free(c);
	if (rc != TP_OK) {
		return tpctl_report(rc, &err);
	}
	return -1;
}

/* Requests. Each returns -1 when req is ready, else an exit status. */

/* copy_str copies an argument into a bounded request field. */
static int
copy_str(char *dst, size_t size, const char *src, const char *what)
{
	if (strlen(src) >= size) {
		return usage("%s \"%.40s...\" is longer than %zu bytes", what,
		    src, size - 1);
	}
	snprintf(dst, size, "%s", src);
	return -1;
}

/* id_request parses the one argument ID of get, cancel, bind, execution. */
static int
id_request(int64_t *id, const args *in)
{
	char     *argv[1];
	args      pos = { 0, argv };
	long long v;
	int       rc;

	if ((rc = parse_sub(&pos, in, NULL, 0, 1, 1)) >= 0
	    || (rc = parse_num(&v, pos.v[0], "id", 1, INT64_MAX)) >= 0) {
		return rc;
	}
	*id = v;
	return -1;
}

/* page_flags applies the flags list commands share. */
static int
page_flags(char *type, size_t type_size, int32_t *limit, int64_t *after,
    const char *type_s, const char *limit_s, const char *after_s)
{
	long long v;
	int       rc;

	if (type_s != NULL
	    && (rc = copy_str(type, type_size, type_s, "type")) >= 0) {
		return rc;
	}
	if (limit_s != NULL) {
		if ((rc = parse_num(&v, limit_s, "--limit", 1, 1000)) >= 0) {
			return rc;
		}
		*limit = (int32_t) v;
	}
	if (after_s != NULL) {
		if ((rc = parse_num(&v, after_s, "--after", 0, INT64_MAX))
		    >= 0) {
			return rc;
		}
		*after = v;
	}
	return -1;
}

static int
dtp_create_request(dtp_v1_CreateTaskRequest *c, char **buf, const args *in)
{
	const char    *max_attempts = NULL, *timeout = NULL, *key = NULL;
	const char    *run_at  = NULL;
	const sub_flag flags[] = {
		{ "max-attempts", true, &max_attempts, NULL },
		{ "timeout-ms", true, &timeout, NULL },
		{ "key", true, &key, NULL },
		{ "run-at", true, &run_at, NULL },
	};
	char     *argv[2];
	args      pos = { 0, argv };
	long long v;
	int       rc;

	if ((rc = parse_sub(&pos, in, flags, 4, 1, 2)) >= 0
	    || (rc = copy_str(c->type, sizeof(c->type), pos.v[0], "type"))
	        >= 0) {
		return rc;
	}
	if (max_attempts != NULL) {
		if ((rc = parse_num(
		         &v, max_attempts, "--max-attempts", 1, INT32_MAX))
		    >= 0) {
			return rc;
		}
		c->has_max_attempts = true;
		c->max_attempts     = (int32_t) v;
	}
	if (timeout != NULL) {
		if ((rc = parse_num(&v, timeout, "--timeout-ms", 1, INT64_MAX))
		    >= 0) {
			return rc;
		}
		c->has_timeout_ms = true;
		c->timeout_ms     = v;
	}
	if (key != NULL) {
		if (*key == '\0') {
			return usage("--key must not be empty");
		}
		if ((rc = copy_str(c->idempotency_key,
		         sizeof(c->idempotency_key), key, "--key"))
		    >= 0) {
			return rc;
		}
		c->has_idempotency_key = true;
	}
	if (run_at != NULL) {
		if (proto_json_time_parse(&c->run_at_ms, run_at, NULL)
		    != TP_OK) {
			return usage(
			    "invalid --run-at \"%s\": expected RFC 3339 such "
			    "as 2026-01-02T15:04:05Z",
			    run_at);
		}
		c->has_run_at_ms = true;
	}
	/* Borrowed for the call: the request is encoded, never released. */
	c->payload = (char *) (pos.n > 1 ? read_payload(buf, pos.v[1]) : "");
	return -1;
}

static int
dtp_list_request(dtp_v1_ListTasksRequest *l, const args *in)
{
	const char *status = NULL, *type = NULL, *limit = NULL, *after = NULL;
	const sub_flag flags[] = {
		{ "status", true, &status, NULL },
		{ "type", true, &type, NULL },
		{ "limit", true, &limit, NULL },
		{ "after", true, &after, NULL },
		{ "desc", false, NULL, &l->newest_first },
	};
	args pos    = { 0, NULL };
	char up[16] = "";
	int  rc;

	if ((rc = parse_sub(&pos, in, flags, 5, 0, 0)) >= 0
	    || (rc = page_flags(l->type, sizeof(l->type), &l->limit,
	            &l->after_id, type, limit, after))
	        >= 0) {
		return rc;
	}
	if (status != NULL) {
		for (size_t i = 0; i + 1 < sizeof(up) && status[i] != '\0';
		     i++) {
			up[i] = (char) toupper((unsigned char) status[i]);
		}
		if (!proto_json_task_status_parse(&l->status, up)) {
			return usage(
			    "invalid --status \"%s\": expected PENDING, "
			    "RUNNING, SUCCEEDED, FAILED or CANCELLED",
			    status);
		}
		l->has_status = true;
	}
	return -1;
}

static int
dtp_command(const config *cfg, const char *cmd, const args *in)
{
	dtp_v1_Request req        = dtp_v1_Request_init_zero;
	dtp_v1_Reply   rep        = dtp_v1_Reply_init_zero;
	char          *buf        = NULL;
	bool           idempotent = true;
	args           none       = { 0, NULL };
	int            rc;

	if (strcmp(cmd, "create") == 0) {
		req.which_call = dtp_v1_Request_create_task_tag;
		rc = dtp_create_request(&req.call.create_task, &buf, in);
		/* Only a keyed create is safe to send twice. */
		idempotent = req.call.create_task.has_idempotency_key;
	} else if (strcmp(cmd, "get") == 0) {
		req.which_call = dtp_v1_Request_get_task_tag;
		rc             = id_request(&req.call.get_task.id, in);
	} else if (strcmp(cmd, "cancel") == 0) {
		req.which_call = dtp_v1_Request_cancel_task_tag;
		rc             = id_request(&req.call.cancel_task.id, in);
	} else if (strcmp(cmd, "list") == 0) {
		req.which_call = dtp_v1_Request_list_tasks_tag;
		rc             = dtp_list_request(&req.call.list_tasks, in);
	} else if (strcmp(cmd, "health") == 0) {
		req.which_call = dtp_v1_Request_health_tag;
		rc             = parse_sub(&none, in, NULL, 0, 0, 0);
	} else if (strcmp(cmd, "metrics") == 0) {
		req.which_call = dtp_v1_Request_metrics_tag;
		rc             = parse_sub(&none, in, NULL, 0, 0, 0);
	} else {
		rc = usage("unknown command \"dtp %s\"", cmd);
	}
	if (rc < 0
	    && (rc = call(
	            cfg, &proto_dtp_envelope, cfg->url, &req, &rep, idempotent))
	        < 0) {
		rc = tpctl_print_dtp_reply(&rep, cfg->json);
		pb_release(dtp_v1_Reply_fields, &rep);
	}
	free(buf);
	return rc;
}

static int
pilot_create_request(
    pilot_v1_CreateWebTaskRequest *c, char **buf, const args *in)
{
	const char    *title   = NULL;
	const sub_flag flags[] = { { "title", true, &title, NULL } };
	char          *argv[2];
	args           pos = { 0, argv };
	int            rc;

	if ((rc = parse_sub(&pos, in, flags, 1, 2, 2)) >= 0
	    || (rc = copy_str(c->type, sizeof(c->type), pos.v[0], "type"))
	        >= 0) {
		return rc;
	}
	if (title != NULL) {
		if ((rc = copy_str(c->title, sizeof(c->title), title, "title"))
		    >= 0) {
			return rc;
		}
		c->has_title = true;
	}
	/* Borrowed for the call: the request is encoded, never released. */
	c->payload = (char *) read_payload(buf, pos.v[1]);
	return -1;
}

static int
pilot_list_request(pilot_v1_ListWebTasksRequest *l, const args *in)
{
	const char    *type = NULL, *limit = NULL, *after = NULL;
	bool           unbound = false;
	const sub_flag flags[] = {
		{ "type", true, &type, NULL },
		{ "limit", true, &limit, NULL },
		{ "after", true, &after, NULL },
		{ "desc", false, NULL, &l->newest_first },
		{ "bound", false, NULL, &l->bound },
		{ "unbound", false, NULL, &unbound },
	};
	args pos = { 0, NULL };
	int  rc;

	if ((rc = parse_sub(&pos, in, flags, 6, 0, 0)) >= 0
	    || (rc = page_flags(l->type, sizeof(l->type), &l->limit,
	            &l->after_id, type, limit, after))
	        >= 0) {
		return rc;
	}
	if (l->bound && unbound) {
		return usage("--bound and --unbound: choose one");
	}
	l->has_bound = l->bound || unbound;
	return -1;
}

static int
pilot_command(const config *cfg, const char *cmd, const args *in)
{
	pilot_v1_Request req        = pilot_v1_Request_init_zero;
	pilot_v1_Reply   rep        = pilot_v1_Reply_init_zero;
	char            *buf        = NULL;
	bool             idempotent = true;
	args             none       = { 0, NULL };
	int64_t          id         = 0;
	int              rc;

	if (strcmp(cmd, "watch") == 0) {
		/* Many calls on one client: tpctl_watch.c. */
		if ((rc = id_request(&id, in)) >= 0) {
			return rc;
		}
		return tpctl_watch(cfg, id);
	}
	if (strcmp(cmd, "create") == 0) {
		req.which_call = pilot_v1_Request_create_web_task_tag;
		rc = pilot_create_request(&req.call.create_web_task, &buf, in);
		idempotent = false;
	} else if (strcmp(cmd, "get") == 0) {
		req.which_call = pilot_v1_Request_get_web_task_tag;
		rc             = id_request(&req.call.get_web_task.id, in);
	} else if (strcmp(cmd, "bind") == 0) {
		req.which_call = pilot_v1_Request_bind_scheduler_tag;
		rc             = id_request(&req.call.bind_scheduler.id, in);
		/*
		 * DTP deduplicates a resent bind, but its answer would be
		 * "already bound" and hide the first one: send it once.
		 */
		idempotent = false;
	} else if (strcmp(cmd, "execution") == 0) {
		req.which_call = pilot_v1_Request_get_execution_tag;
		rc             = id_request(&req.call.get_execution.id, in);
	} else if (strcmp(cmd, "cancel") == 0) {
		req.which_call = pilot_v1_Request_cancel_execution_tag;
		rc             = id_request(&req.call.cancel_execution.id, in);
	} else if (strcmp(cmd, "list") == 0) {
		req.which_call = pilot_v1_Request_list_web_tasks_tag;
		rc = pilot_list_request(&req.call.list_web_tasks, in);
	} else if (strcmp(cmd, "health") == 0) {
		req.which_call = pilot_v1_Request_health_tag;
		rc             = parse_sub(&none, in, NULL, 0, 0, 0);
	} else if (strcmp(cmd, "metrics") == 0) {
		req.which_call = pilot_v1_Request_metrics_tag;
		rc             = parse_sub(&none, in, NULL, 0, 0, 0);
	} else {
		rc = usage("unknown command \"pilot %s\"", cmd);
	}
	if (rc < 0
	    && (rc = call(cfg, &proto_pilot_envelope, cfg->pilot_url, &req,
	            &rep, idempotent))
	        < 0) {
		rc = tpctl_print_pilot_reply(&rep, cfg->json);
		pb_release(pilot_v1_Reply_fields, &rep);
	}
	free(buf);
	return rc;
}

/*
 * is_global_flag says whether a --flag belongs to tpctl itself (they may
 * come anywhere), and whether it takes the next argument as its value.
 */
static bool
is_global_flag(const char *a, bool *takes_next)
{
	const char *name = a + 2;
	const char *eq   = strchr(name, '=');
	size_t      len  = eq != NULL ? (size_t) (eq - name) : strlen(name);

	*takes_next = false;
	if ((len == 4 && strncmp(name, "help", 4) == 0)
	    || (len == 7 && strncmp(name, "version", 7) == 0)) {
		return true;
	}
	for (size_t i = 0; i < cfg_spec.n_opts; i++) {
		if (strlen(cfg_opts[i].flag) == len
		    && strncmp(cfg_opts[i].flag, name, len) == 0) {
			*takes_next
			    = eq == NULL && cfg_opts[i].type != TP_CFG_BOOL;
			return true;
		}
	}
	return false;
}

int
main(int argc, char **argv)
{
	config cfg;
	char **global   = tp_xcalloc((size_t) argc + 1, sizeof(*global));
	char **rest     = tp_xcalloc((size_t) argc + 1, sizeof(*rest));
	int    n_global = 0, n_rest = 0, rc;
	args   in;

	/* Split tpctl's own flags from the command and its flags. */
	global[n_global++] = argv[0];
	for (int i = 1; i < argc; i++) {
		bool takes_next;
		if (strcmp(argv[i], "--") == 0) {
			for (; i < argc; i++) {
				rest[n_rest++] = argv[i];
			}
			break;
		}
		if (strcmp(argv[i], "-h") == 0) {
			global[n_global++] = (char *) "--help";
		} else if (strncmp(argv[i], "--", 2) == 0
		    && is_global_flag(argv[i], &takes_next)) {
			global[n_global++] = argv[i];
			if (takes_next && i + 1 < argc) {
				global[n_global++] = argv[++i];
			}
		} else {
			rest[n_rest++] = argv[i];
		}
	}
	rc = tp_cfg_parse(&cfg_spec, &cfg, n_global, global, NULL, NULL);
	if (rc >= 0) {
		goto out;
	}
	if (n_rest == 0 || strncmp(rest[0], "--", 2) == 0) {
		rc = usage("missing command: dtp or pilot");
		goto out;
	}
	if (n_rest == 1 || strncmp(rest[1], "--", 2) == 0) {
		rc = usage("missing command after \"%s\"", rest[0]);
		goto out;
	}
	in.n = n_rest - 2;
	in.v = rest + 2;
	if (strcmp(rest[0], "dtp") == 0) {
		rc = dtp_command(&cfg, rest[1], &in);
	} else if (strcmp(rest[0], "pilot") == 0) {
		rc = pilot_command(&cfg, rest[1], &in);
	} else {
		rc = usage(
		    "unknown service \"%s\": expected dtp or pilot", rest[0]);
	}
out:
	free(global);
	free(rest);
	return rc;
}
