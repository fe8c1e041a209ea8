/*
 * chaos_util.h: what the chaos scenarios (chaos_*_test.c) share: DTP nodes
 * that can be killed and restarted on the same address, RPC calls that
 * record their answers in an invariants ledger (safe from any thread: they
 * never use cmocka's asserts), a paced load generator, a private
 * PostgreSQL cluster the test may restart, and a TCP proxy that can cut a
 * service off its database. docs/RELIABILITY.md describes the scenarios.
 */
#ifndef TEST_CHAOS_UTIL_H
#define TEST_CHAOS_UTIL_H

#include <stdbool.h>
#include <stdint.h>

#include "common/status.h"
#include "db/conn.h"
#include "harness.h"
#include "invariants.h"
#include "rpc/client.h"

#define CHAOS_START_MS 30000 /* a service answers Health within this */
#define CHAOS_STOP_MS  20000 /* a service exits after SIGTERM within this */

#ifdef TP_FAULTS
#define CHAOS_NEED_FAULTS() ((void) 0)
#else
#define CHAOS_NEED_FAULTS()                                                \
	do {                                                               \
		print_message("skipped: built without fault points; "      \
		              "configure with -DTP_FAULTS=ON (as "         \
		              "scripts/test.sh does) to run this test\n"); \
		skip();                                                    \
	} while (0)
#endif

/* A DTP node: its name, its address (kept across restarts) and flags. */
typedef struct chaos_node {
	th_proc     proc;
	char        name[32];
	char        url[64];
	char        db_url[1024];
	const char *args[24]; /* extra flags, NULL-terminated */
	char       *env[4];   /* extra environment, NULL-terminated */
	int         starts;
} chaos_node;

/*
 * chaos_node_init names a node, picks its address and copies its flags
 * (args NULL-terminated, borrowed for the node's lifetime). Main thread.
 */
void chaos_node_init(chaos_node *n, const char *name, const char *db_url,
    const char *const *args);
/* chaos_node_start (re)starts the node and waits for Health. */
void chaos_node_start(chaos_node *n);
/* chaos_node_kill sends SIGKILL and reaps it. */
void chaos_node_kill(chaos_node *n);
/* chaos_node_stop sends SIGTERM and fails the test unless it exits 0. */
void chaos_node_stop(chaos_node *n);

/*
 * chaos_pilot_start starts a taskpilot on a free address (written to url,
 * 64 bytes) with the test database, the DTP URL list dtp_urls, and the
 * extra "K=V" settings in env (NULL-terminated, may be NULL; they win).
 * Waits for Health. Main thread.
 */
void chaos_pilot_start(th_proc *p, const char *name, char *url,
    const char *db_url, const char *dtp_urls, const char *const *env);

/* chaos_client opens a client of service "dtp" or "taskpilot" for urls. */
rpc_client *chaos_client(const char *service, const char *urls);

/*
 * Calls. Each records its answer in l (when not NULL) and returns its
 * status; err (may be NULL) gets the reason. Any thread.
 *
 * chaos_create: CreateTask (idempotent when key is not NULL); *id on OK.
 * max_attempts 0: the node's default.
 */
tp_status chaos_create(rpc_client *c, inv_ledger *l, int64_t *id,
    const char *type, const char *payload, const char *key, int max_attempts,
    int timeout_ms, tp_err *err);
/* chaos_cancel: CancelTask; *status (may be NULL) the answered status. */
tp_status chaos_cancel(rpc_client *c, inv_ledger *l, int64_t id, int *status,
    int timeout_ms, tp_err *err);
/* chaos_web_create: CreateWebTask; *id on OK. */
tp_status chaos_web_create(rpc_client *c, inv_ledger *l, int64_t *id,
    const char *type, const char *payload, int timeout_ms, tp_err *err);
/* chaos_bind: BindScheduler; *sched on OK. */
tp_status chaos_bind(rpc_client *c, inv_ledger *l, int64_t web_id,
    int64_t *sched, int timeout_ms, tp_err *err);

/*
 * The load: `threads` producer threads, each starting one iteration every
 * period_ms (paced: a slow call delays the next, never stacks up). An
 * iteration creates a `sleep` task of 50..200 ms, or every 4th a `demo`
 * task; every key_every-th with an idempotency key (a retried create);
 * every cancel_every-th a `sleep` of 3 s that it cancels at once; with a
 * pilot client, every bind_every-th a web task that it binds. Tasks have
 * max_attempts attempts.
 */
typedef struct chaos_load_opts {
	const char *name; /* prefix of the idempotency keys */
	rpc_client *dtp;
	rpc_client *pilot; /* NULL: no web tasks */
	inv_ledger *ledger;
	int         threads;
	int         period_ms;
	int         call_timeout_ms;
	int         max_attempts;
	int         key_every;    /* 0: never */
	int         cancel_every; /* 0: never */
	int         bind_every;   /* 0: never */
} chaos_load_opts;

typedef struct chaos_load chaos_load;

/* chaos_load_start starts the threads (opts copied; clients borrowed). */
chaos_load *chaos_load_start(const chaos_load_opts *opts);
/* chaos_load_iterations: iterations done so far (any thread). */
int64_t chaos_load_iterations(chaos_load *l);
/* chaos_load_stop stops and joins the threads, and frees the load. */
void chaos_load_stop(chaos_load *l);

/*
 * chaos_wait_accepted waits until the ledger holds at least n more
 * accepted creates than it did at `from`, up to timeout_ms: proof the
 * system serves again.
 */
bool chaos_wait_accepted(
    inv_ledger *l, int64_t from, int64_t n, int timeout_ms);

/* CHAOS_BIT(code): a status in a mask of allowed answers. */
#define CHAOS_BIT(code) (1u << (unsigned) (code))
/* The answers a call may get while a dependency is down. */
#define CHAOS_TRANSIENT                               \
	(CHAOS_BIT(TP_OK) | CHAOS_BIT(TP_UNAVAILABLE) \
	    | CHAOS_BIT(TP_DEADLINE_EXCEEDED))

/*
 * chaos_expect_answers fails the test when the ledger holds an answer of
 * call whose status is not in allowed (a mask of CHAOS_BIT). Main thread.
 */
void chaos_expect_answers(inv_ledger *l, const char *call, unsigned allowed);

/* SQL for the checks of a scenario (fails the test on error). */
int64_t chaos_sql_int(db_conn *c, const char *sql, const char *param);
/* chaos_db_open opens a connection to url (fails the test on error). */
db_conn *chaos_db_open(const char *url);

/*
 * chaos_terminate_backends runs pg_terminate_backend on every session of
 * c's database but c's own; returns how many it ended.
 */
int64_t chaos_terminate_backends(db_conn *c);

/*
 * A private PostgreSQL cluster (scripts/pg.sh in a folder of the test's
 * tmpdir), for a test that restarts its server: never the shared fixture
 * cluster, which other tests use at the same time.
 */
typedef struct chaos_pg {
	char dir[512];
	char root[512]; /* the cluster's folder (DIR, or a /tmp one) */
	char data[600];
	char url[256];
	char log[600];
} chaos_pg;

/* chaos_pg_start creates and starts the cluster; url is its server URL. */
void chaos_pg_start(chaos_pg *pg);
/*
 * chaos_pg_ctl runs pg_ctl <action> ("restart", "stop" or "start") on the
 * cluster, stopping with -m fast and waiting (-w); the port stays the same.
 * Returns how long it took, in ms.
 */
long long chaos_pg_ctl(chaos_pg *pg, const char *action);
/* chaos_pg_stop stops the cluster (also done at exit after a failure). */
void chaos_pg_stop(chaos_pg *pg);

/*
 * The proxy: a thread forwarding 127.0.0.1:<port> to a TCP server. cut
 * closes every connection with a reset and refuses (resets) new ones: the
 * server is gone. stall keeps every connection open but forwards nothing
 * and accepts nothing new: the network is silent (a partition). heal
 * forwards again. Each returns once the proxy thread applied it.
 */
typedef struct chaos_proxy chaos_proxy;

chaos_proxy *chaos_proxy_start(const char *host, int port);
int          chaos_proxy_port(const chaos_proxy *p);
void         chaos_proxy_cut(chaos_proxy *p);
void         chaos_proxy_stall(chaos_proxy *p);
void         chaos_proxy_heal(chaos_proxy *p);
/* chaos_proxy_connections: connections accepted so far. */
int64_t chaos_proxy_connections(chaos_proxy *p);
void    chaos_proxy_free(chaos_proxy *p);

/*
 * chaos_url_port returns the port of a postgresql://...:PORT/... URL and
 * writes its host to host (64 bytes); fails the test when there is none.
 */
int chaos_url_port(const char *url, char *host);

/*
 * chaos_log_time_ms finds the first line of p's log holding needle and
 * returns its timestamp (Unix ms), or -1 when there is none.
 */
int64_t chaos_log_time_ms(const th_proc *p, const char *needle);

/* chaos_log_has: whether p's log holds needle. */
bool chaos_log_has(const th_proc *p, const char *needle);

/* chaos_dtp_has_flag: whether `dtp --help` lists flag (e.g. "--exec="). */
bool chaos_dtp_has_flag(const char *flag);

/* chaos_unix_ms is the wall clock in Unix ms. */
int64_t chaos_unix_ms(void);

/* chaos_sleep_ms sleeps (for pacing loads and chaos, never to wait). */
void chaos_sleep_ms(int ms);

#endif /* TEST_CHAOS_UTIL_H */
