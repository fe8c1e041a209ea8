/*
 * harness.h: what integration tests share: a private database per test
 * binary with the real migrations applied, the real service binaries as
 * child processes, a small HTTP/1.1 client, a throwaway PKI for the TLS
 * tests, and polling with a deadline (never fixed sleeps). Used from the
 * test's main thread.
 */
#ifndef TEST_HARNESS_H
#define TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * th_pg_url returns the server URL: DATABASE_URL when set, else the one the
 * ctest fixture wrote to $TP_TEST_PG_DIR/url. Fails the test when neither.
 */
const char *th_pg_url(void);

/*
 * th_db_create creates database t_<name>_<pid> on that server, applies the
 * dtp and pilot migrations with the real runner, and returns its URL
 * (static storage, valid until th_db_drop).
 */
const char *th_db_create(const char *name);

/* th_db_drop drops the database th_db_create made (terminating sessions). */
void th_db_drop(void);

/*
 * th_db_url returns the URL th_db_create returned, or NULL before it (or
 * after th_db_drop); th_db_name the database's name. The database is also
 * dropped at exit if the test did not drop it (in the creating process
 * only: a forked child must leave with _exit).
 */
const char *th_db_url(void);
const char *th_db_name(void);

/*
 * th_pg_url_for writes th_pg_url() with its database replaced by dbname (an
 * identifier of [a-z0-9_]) into out: for tests that make more databases.
 */
void th_pg_url_for(char *out, size_t size, const char *dbname);

/* th_tmpdir returns a per-process mkdtemp directory (created on first use). */
const char *th_tmpdir(void);

/*
 * th_keep_tmpdir keeps th_tmpdir() at exit. It is removed at exit only
 * after a clean run: exit status 0, TP_TEST_KEEP unset, no harness check
 * failed and no log was dumped (th_proc_dump_log).
 */
void th_keep_tmpdir(void);

/*
 * th_tmp_path writes "<th_tmpdir()>/<name>" into out (truncated to size):
 * the path of a file in the per-process directory, existing or not.
 */
void th_tmp_path(char *out, size_t size, const char *name);

/* The paths of th_pki_make's files, all in th_tmpdir(). */
typedef struct th_pki {
	char ca_crt[512]; /* the CA the tests trust */
	char ca_key[512];
	char other_ca_crt[512]; /* a second CA nobody trusts */
	char other_ca_key[512];
	char server_crt[512]; /* 127.0.0.1 and localhost, from ca */
	char server_key[512];
	char client_crt[512]; /* a client certificate from ca */
	char client_key[512];
	char stranger_crt[512]; /* a client certificate from other_ca */
	char stranger_key[512];
	char garbage_pem[512]; /* not PEM at all */
	char missing_pem[512]; /* never written: a file that is missing */
} th_pki;

/*
 * th_pki_make writes a throwaway PKI for the TLS tests into th_tmpdir(),
 * running the openssl command (scripts/deps.sh installs it), and fills out
 * with the files' paths. Every key is EC P-256, unencrypted, mode 0600;
 * every certificate is valid for two days from now. The files:
 *
 *   ca.crt, ca.key              the CA the tests trust: CN "tp test CA",
 *                               self-signed, CA:TRUE, keyCertSign+cRLSign
 *   other-ca.crt, other-ca.key  a second CA nobody trusts: CN "tp other
 *                               CA", same extensions
 *   server.crt, server.key      from ca, serial 2, CN "127.0.0.1",
 *                               subjectAltName DNS:localhost, DNS:127.0.0.1
 *                               (mbedTLS 2.28 matches names against DNS
 *                               entries only), IP:127.0.0.1; extended key
 *                               usage serverAuth and clientAuth, so a
 *                               service can also show it when it dials
 *   client.crt, client.key      from ca, serial 3, CN "tp client",
 *                               clientAuth only, no subjectAltName
 *   stranger.crt, stranger.key  from other-ca, serial 4, CN "tp stranger",
 *                               clientAuth: a client certificate that a
 *                               server trusting ca.crt must refuse
 *   garbage.pem                 one line of text, not PEM at all
 *   no-such-file.pem            never written (missing_pem)
 *
 * plus openssl.cnf, openssl.log and the *.csr files on the way.
 *
 * Returns true and fills out when the files are there; a second call only
 * fills out. Returns false, leaving out alone, having printed why to stderr
 * and marked th_tmpdir() to be kept, when the openssl command is not on
 * PATH ("the openssl command is not on PATH: it makes the test
 * certificates") or fails (its log is printed). Unlike the other helpers
 * it does not fail the running test, so main() may call it before any test
 * runs. Blocks for the openssl runs (well under a second).
 */
bool th_pki_make(th_pki *out);

/* th_bin returns the path of a built binary: "<TP_BIN_DIR>/<name>". Static. */
const char *th_bin(const char *name);

/*
 * th_free_port returns a TCP port on 127.0.0.1 that was free just now, below
 * the ephemeral range (so no client socket can be handed it meanwhile).
 */
int th_free_port(void);

typedef struct th_proc {
	pid_t pid; /* 0 once reaped */
	char  name[64];
	char  log_path[512]; /* stderr and stdout go here */
	bool  exited;        /* reaped (by th_proc_stop, _kill or _alive) */
	int   wait_status;   /* waitpid's status once exited, -1 if unknown */
} th_proc;

/*
 * th_proc_start runs argv[0] (a path) with argv, its environment the test's
 * plus env (NULL-terminated "K=V" list, may be NULL). Fails the test when
 * the fork/exec fails.
 */
void th_proc_start(
    th_proc *p, const char *name, char *const argv[], char *const env[]);

/* th_proc_stop sends SIGTERM, waits up to timeout_ms, returns the exit status
 * (or -1 when it had to be SIGKILLed or died by a signal). */
int th_proc_stop(th_proc *p, int timeout_ms);

/*
 * th_proc_exit_code is the exit status of a reaped process, or -1 while it
 * runs or when a signal ended it.
 */
int th_proc_exit_code(const th_proc *p);

/* th_proc_kill sends SIGKILL (to its process group too) and reaps it. */
void th_proc_kill(th_proc *p);

/* th_proc_alive: whether the process still runs (reaps it if not). */
bool th_proc_alive(th_proc *p);

/* th_proc_dump_log prints the process's log to stderr (for failures). */
void th_proc_dump_log(const th_proc *p);

/*
 * th_wait_rpc_health waits until the service at url (an nng URL; "dtp" or
 * "taskpilot" envelope by service) answers Health OK, up to timeout_ms.
 */
bool th_wait_rpc_health(const char *service, const char *url, int timeout_ms);

/* th_wait_http waits until GET path on 127.0.0.1:port answers 200. */
bool th_wait_http(int port, const char *path, int timeout_ms);

typedef struct th_http_resp {
	int    status;        /* 0 when the request failed */
	char   headers[8192]; /* raw header block, status line first */
	char  *body; /* NUL-terminated, malloc'd; free with th_http_free */
	size_t body_len;
} th_http_resp;

/*
 * th_http sends one HTTP/1.1 request (Connection: close) to 127.0.0.1:port.
 * body may be NULL; extra_headers is "" or "Name: value\r\n..." lines.
 * Returns the status code (0 on a transport failure).
 */
int  th_http(th_http_resp *out, int port, const char *method, const char *path,
     const char *body, const char *extra_headers);
void th_http_free(th_http_resp *r);

/* th_http_header copies the value of header name (case-insensitive) or returns
 * false. */
bool th_http_header(
    const th_http_resp *r, const char *name, char *buf, size_t size);

/* th_poll_until calls pred(arg) every few ms until true or timeout_ms passes.
 */
bool th_poll_until(bool (*pred)(void *arg), void *arg, int timeout_ms);

/* th_now_ms is a monotonic clock in milliseconds. */
long long th_now_ms(void);

#endif /* TEST_HARNESS_H */
