/*
 * harness.c: the integration tests' shared helpers (see harness.h): a
 * private database per test binary, service binaries as child processes, a
 * blocking HTTP/1.1 client, the TLS tests' certificates, and polling with a
 * deadline.
 *
 * Failures inside a helper fail the running cmocka test (fail_msg), except
 * in th_pki_make, which may run in main() before any test. Child
 * processes get their own process group (so a SIGKILL reaches what they
 * started) and PR_SET_PDEATHSIG, so a test killed by ctest's timeout leaves
 * no service running behind it.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/close_range.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>

#include <cmocka.h>
#include <pb_decode.h>

#include "common/status.h"
#include "db/conn.h"
#include "db/migrate.h"
#include "proto/envelope.h"
#include "rpc/client.h"

extern char **environ;

#define URL_MAX        1024
#define HTTP_TIMEOUT_S 10
#define HTTP_MAX_BYTES (64 * 1024 * 1024)

static char  pg_url[URL_MAX];
static char  db_url[URL_MAX];
static char  db_name[64];
static pid_t db_owner;
static char  tmpdir[256];
static pid_t tmpdir_owner;
static bool  keep_tmpdir;

/* th_fail prints the reason and fails the running test. */
static void th_fail(const char *fmt, ...) TP_PRINTF(1, 2);

static void
th_fail(const char *fmt, ...)
{
	char    msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	keep_tmpdir = true;
	fail_msg("harness: %s", msg);
}

long long
th_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) { }
}

bool
th_poll_until(bool (*pred)(void *arg), void *arg, int timeout_ms)
{
	long long deadline = th_now_ms() + timeout_ms;

	for (;;) {
		if (pred(arg)) {
			return true;
		}
		if (th_now_ms() >= deadline) {
			/* One last look: the deadline may have passed in pred
			 * itself. */
			return pred(arg);
		}
		sleep_ms(5);
	}
}

static void
trim_end(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && isspace((unsigned char) s[n - 1])) {
		s[--n] = '\0';
	}
}

const char *
th_pg_url(void)
{
	const char *env = getenv("DATABASE_URL");
	const char *dir = getenv("TP_TEST_PG_DIR");
	char        path[512];
	FILE       *f;

	if (pg_url[0] != '\0') {
		return pg_url;
	}
	if (env != NULL && *env != '\0') {
		snprintf(pg_url, sizeof(pg_url), "%s", env);
		return pg_url;
	}
	if (dir == NULL || *dir == '\0') {
		th_fail(
		    "neither DATABASE_URL nor TP_TEST_PG_DIR is set (run the "
		    "test through ctest, which starts the pg fixture)");
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/url", dir);
	if ((f = fopen(path, "r")) == NULL) {
		th_fail("could not read %s: %s (did the pg_start fixture run?)",
		    path, strerror(errno));
		return NULL;
	}
	if (fgets(pg_url, sizeof(pg_url), f) == NULL) {
		pg_url[0] = '\0';
	}
	fclose(f);
	trim_end(pg_url);
	if (pg_url[0] == '\0') {
		th_fail("%s is empty", path);
	}
	return pg_url;
}

/*
 * url_with_db rewrites a server URL or conninfo string to name database db
 * (an identifier of [a-z0-9_], so it needs no escaping in either form).
 */
static void
url_with_db(char *out, size_t size, const char *url, const char *db)
{
	const char *scheme = strstr(url, "://");
	const char *path;
	const char *query;

	if (scheme == NULL) {
		/* conninfo: a later keyword wins over an earlier one. */
		snprintf(out, size, "%s dbname=%s", url, db);
		return;
	}
	path  = strchr(scheme + 3, '/');
	query = strchr(scheme + 3, '?');
	if (path != NULL && query != NULL && query < path) {
		path = NULL;
	}
	if (path == NULL) {
		size_t host_len
		    = query != NULL ? (size_t) (query - url) : strlen(url);
		snprintf(out, size, "%.*s/%s%s", (int) host_len, url, db,
		    query != NULL ? query : "");
		return;
	}
	snprintf(out, size, "%.*s/%s%s", (int) (path - url), url, db,
	    query != NULL ? query : "");
}

static db_conn *
server_conn(void)
{
	db_conn *c   = NULL;
	tp_err   err = { 0 };

	if (db_conn_open(&c, th_pg_url(), &err) != TP_OK) {
		th_fail("could not connect to the test server: %s", err.msg);
		return NULL;
	}
	return c;
}

static void
db_drop_at_exit(void)
{
	if (db_name[0] != '\0' && getpid() == db_owner) {
		th_db_drop();
	}
}

const char *
th_db_create(const char *name)
{
	static bool registered;
	char        ident[41];
	char        sql[160];
	tp_status   rc;
	size_t      n         = 0;
	db_conn    *c         = NULL;
	tp_err      err       = { 0 };
	const char *schemas[] = { "dtp", "pilot" };

	if (db_name[0] != '\0') {
		th_fail(
		    "th_db_create called twice (database %s exists)", db_name);
		return NULL;
	}
	/* t_<name>_<pid>, the name cut to fit PostgreSQL's 63 bytes. */
	for (const char *p = name;
	     p != NULL && *p != '\0' && n < sizeof(ident) - 1; p++) {
		char ch = (char) tolower((unsigned char) *p);
		ident[n++]
		    = ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'))
		    ? ch
		    : '_';
	}
	ident[n] = '\0';
	snprintf(db_name, sizeof(db_name), "t_%s_%d", ident, (int) getpid());
	db_owner = getpid();

	c = server_conn();
	/* A leftover of an earlier run whose pid we got again. */
	snprintf(sql, sizeof(sql),
	    "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", db_name);
	rc = db_exec_simple(c, sql, &err);
	if (rc == TP_OK) {
		snprintf(sql, sizeof(sql), "CREATE DATABASE \"%s\"", db_name);
		rc = db_exec_simple(c, sql, &err);
	}
	db_conn_free(c);
	if (rc != TP_OK) {
		char failed[64];
		snprintf(failed, sizeof(failed), "%s", db_name);
		db_name[0] = '\0';
		th_fail("could not create database %s: %s", failed, err.msg);
		return NULL;
	}
	if (!registered) {
		atexit(db_drop_at_exit);
		registered = true;
	}
	url_with_db(db_url, sizeof(db_url), th_pg_url(), db_name);

	if (db_conn_open(&c, db_url, &err) != TP_OK) {
		th_fail("could not connect to %s: %s", db_name, err.msg);
		return NULL;
	}
	for (size_t i = 0; i < 2; i++) {
		char dir[512];
		snprintf(dir, sizeof(dir), "%s/db/migrations/%s", TP_SOURCE_DIR,
		    schemas[i]);
		if (db_migrate(c, schemas[i], dir, &err) != TP_OK) {
			db_conn_free(c);
			th_fail("could not migrate schema %s of %s: %s",
			    schemas[i], db_name, err.msg);
			return NULL;
		}
	}
	db_conn_free(c);
	return db_url;
}

void
th_pg_url_for(char *out, size_t size, const char *dbname)
{
	url_with_db(out, size, th_pg_url(), dbname);
}

const char *
th_db_url(void)
{
	return db_name[0] != '\0' ? db_url : NULL;
}

const char *
th_db_name(void)
{
	return db_name[0] != '\0' ? db_name : NULL;
}

void
th_db_drop(void)
{
	char     sql[160];
	db_conn *c   = NULL;
	tp_err   err = { 0 };

	if (db_name[0] == '\0') {
		return;
	}
	if (db_conn_open(&c, th_pg_url(), &err) != TP_OK) {
		fprintf(stderr, "harness: could not drop %s: %s\n", db_name,
		    err.msg);
		return;
	}
	/* WITH (FORCE) terminates the sessions services left behind. */
	snprintf(sql, sizeof(sql),
	    "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", db_name);
	if (db_exec_simple(c, sql, &err) != TP_OK) {
		fprintf(stderr, "harness: could not drop %s: %s\n", db_name,
		    err.msg);
	} else {
		db_name[0] = '\0';
		db_url[0]  = '\0';
	}
	db_conn_free(c);
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void) st;
	(void) flag;
	(void) ftw;
	return remove(path) == 0 ? 0 : 0;
}

/*
 * tmpdir_at_exit removes the directory after a clean run. on_exit, not
 * atexit, because the exit status says whether a test failed (cmocka's
 * main returns the number of failures): then the logs stay.
 */
static void
tmpdir_at_exit(int status, void *arg)
{
	(void) arg;
	if (tmpdir[0] == '\0' || getpid() != tmpdir_owner) {
		return;
	}
	if (status != 0 || keep_tmpdir || getenv("TP_TEST_KEEP") != NULL) {
		fprintf(stderr, "harness: kept %s\n", tmpdir);
		return;
	}
	(void) nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *
th_tmpdir(void)
{
	const char *base = getenv("TMPDIR");

	if (tmpdir[0] != '\0') {
		return tmpdir;
	}
	/* Short: ipc:// paths inside must fit in sun_path. */
	snprintf(tmpdir, sizeof(tmpdir), "%s/tp-test-XXXXXX",
	    base != NULL && *base != '\0' && strlen(base) < 64 ? base : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		int e     = errno;
		tmpdir[0] = '\0';
		th_fail("mkdtemp failed: %s", strerror(e));
		return NULL;
	}
	tmpdir_owner = getpid();
	on_exit(tmpdir_at_exit, NULL);
	return tmpdir;
}

void
th_keep_tmpdir(void)
{
	keep_tmpdir = true;
}

void
th_tmp_path(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", th_tmpdir(), name);
}

/*
 * The extension sections th_pki_make names. Servers get both key usages
 * because a service shows one certificate both when it serves and when it
 * dials another (taskpilot to dtp).
 */
static const char pki_openssl_cnf[]
    = "[req]\n"
      "distinguished_name = dn\n"
      "prompt = no\n"
      "[dn]\n"
      "CN = unused\n"
      "[v3_ca]\n"
      "basicConstraints = critical,CA:TRUE\n"
      "keyUsage = critical,keyCertSign,cRLSign\n"
      "subjectKeyIdentifier = hash\n"
      "[v3_server]\n"
      "basicConstraints = critical,CA:FALSE\n"
      "keyUsage = critical,digitalSignature\n"
      "extendedKeyUsage = serverAuth,clientAuth\n"
      /* mbedTLS 2.28 matches names against DNS entries only. */
      "subjectAltName = DNS:localhost,DNS:127.0.0.1,IP:127.0.0.1\n"
      "[v3_client]\n"
      "basicConstraints = critical,CA:FALSE\n"
      "keyUsage = critical,digitalSignature\n"
      "extendedKeyUsage = clientAuth\n";

/*
 * pki_write runs openssl to write th_pki_make's files into dir. No
 * th_fail here: main() calls it outside any test, where cmocka's fail_msg
 * would abort the process, so it prints why and returns false.
 */
static bool
pki_write(const char *dir)
{
	char  path[512];
	char  cmd[4096];
	FILE *f;

	if (system("openssl version >/dev/null 2>&1") != 0) {
		fprintf(stderr,
		    "harness: the openssl command is not on PATH: it makes "
		    "the test certificates (apt-get install openssl, or "
		    "scripts/deps.sh)\n");
		return false;
	}
	snprintf(path, sizeof(path), "%s/openssl.cnf", dir);
	if ((f = fopen(path, "w")) == NULL) {
		fprintf(stderr, "harness: could not write %s: %s\n", path,
		    strerror(errno));
		return false;
	}
	if (fputs(pki_openssl_cnf, f) == EOF || fclose(f) != 0) {
		fprintf(stderr, "harness: could not write %s\n", path);
		return false;
	}
	snprintf(cmd, sizeof(cmd),
	    "set -e; cd '%s'; exec 2>openssl.log; "
	    "K='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'; "
	    "C='-config openssl.cnf'; "
	    "openssl req $C -x509 $K -keyout ca.key -out ca.crt -days 2 "
	    "  -subj '/CN=tp test CA' -extensions v3_ca; "
	    "openssl req $C -x509 $K -keyout other-ca.key -out other-ca.crt "
	    "  -days 2 -subj '/CN=tp other CA' -extensions v3_ca; "
	    "openssl req $C $K -keyout server.key -out server.csr "
	    "  -subj '/CN=127.0.0.1'; "
	    "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key "
	    "  -set_serial 2 -days 2 -out server.crt "
	    "  -extfile openssl.cnf -extensions v3_server; "
	    "openssl req $C $K -keyout client.key -out client.csr "
	    "  -subj '/CN=tp client'; "
	    "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key "
	    "  -set_serial 3 -days 2 -out client.crt "
	    "  -extfile openssl.cnf -extensions v3_client; "
	    "openssl req $C $K -keyout stranger.key -out stranger.csr "
	    "  -subj '/CN=tp stranger'; "
	    "openssl x509 -req -in stranger.csr -CA other-ca.crt "
	    "  -CAkey other-ca.key -set_serial 4 -days 2 -out stranger.crt "
	    "  -extfile openssl.cnf -extensions v3_client; "
	    /* Keys as the services' --help asks, whatever the umask. */
	    "chmod 600 ca.key other-ca.key server.key client.key "
	    "  stranger.key; "
	    "printf 'this is not a certificate\\n' >garbage.pem",
	    dir);
	if (system(cmd) != 0) {
		snprintf(cmd, sizeof(cmd), "cat '%s/openssl.log' >&2", dir);
		(void) !system(cmd); /* best effort: we fail anyway */
		fprintf(stderr,
		    "harness: openssl could not make the test certificates "
		    "(log above)\n");
		return false;
	}
	return true;
}

bool
th_pki_make(th_pki *out)
{
	static bool made;

	if (!made && !pki_write(th_tmpdir())) {
		keep_tmpdir = true; /* openssl.log and what it made */
		return false;
	}
	made = true;
#define PKI_PATH(field, name) th_tmp_path(out->field, sizeof(out->field), name)
	PKI_PATH(ca_crt, "ca.crt");
	PKI_PATH(ca_key, "ca.key");
	PKI_PATH(other_ca_crt, "other-ca.crt");
	PKI_PATH(other_ca_key, "other-ca.key");
	PKI_PATH(server_crt, "server.crt");
	PKI_PATH(server_key, "server.key");
	PKI_PATH(client_crt, "client.crt");
	PKI_PATH(client_key, "client.key");
	PKI_PATH(stranger_crt, "stranger.crt");
	PKI_PATH(stranger_key, "stranger.key");
	PKI_PATH(garbage_pem, "garbage.pem");
	PKI_PATH(missing_pem, "no-such-file.pem");
#undef PKI_PATH
	return true;
}

const char *
th_bin(const char *name)
{
	/* Interned, so th_bin("a") stays valid after th_bin("b"). */
	static struct {
		char name[64];
		char path[512];
	} bins[32];
	const char *dir = getenv("TP_BIN_DIR");
	size_t      i;

	for (i = 0; i < 32 && bins[i].name[0] != '\0'; i++) {
		if (strcmp(bins[i].name, name) == 0) {
			return bins[i].path;
		}
	}
	if (dir == NULL || *dir == '\0') {
		th_fail("TP_BIN_DIR is not set (run the test through ctest)");
		return NULL;
	}
	if (i == 32) {
		th_fail("too many binaries asked of th_bin");
		return NULL;
	}
	snprintf(bins[i].name, sizeof(bins[i].name), "%s", name);
	snprintf(bins[i].path, sizeof(bins[i].path), "%s/%s", dir, name);
	return bins[i].path;
}

int
th_free_port(void)
{
	/*
	 * Ports below the kernel's ephemeral range (32768..60999 on Linux), so
	 * a client dialing a port before its server listens can never be
	 * handed that port as its own source port and connect to itself.
	 * Ports handed out already are remembered, so two calls never return
	 * the same one.
	 */
	static int         given[256];
	static size_t      n_given;
	static unsigned    seed;
	struct sockaddr_in sa;

	if (seed == 0) {
		seed = (unsigned) getpid() ^ (unsigned) th_now_ms();
	}
	for (int attempt = 0; attempt < 500; attempt++) {
		int  port = 20000 + (int) (rand_r(&seed) % 12000);
		int  fd   = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		bool dup  = false;
		int  rc;

		if (fd < 0) {
			th_fail("socket failed: %s", strerror(errno));
			return 0;
		}
		for (size_t i = 0; i < n_given && i < 256; i++) {
			dup = dup || given[i] == port;
		}
		memset(&sa, 0, sizeof(sa));
		sa.sin_family      = AF_INET;
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sa.sin_port        = htons((uint16_t) port);
		rc = dup ? -1 : bind(fd, (struct sockaddr *) &sa, sizeof(sa));
		close(fd);
		if (rc == 0) {
			given[n_given++ % 256] = port;
			return port;
		}
	}
	th_fail("could not find a free port");
	return 0;
}

/* env_merge: environ with entries of extra replacing those of the same name. */
static char **
env_merge(char *const extra[])
{
	size_t n_env = 0, n_extra = 0, k = 0;
	char **out;

	while (environ[n_env] != NULL) {
		n_env++;
	}
	while (extra != NULL && extra[n_extra] != NULL) {
		n_extra++;
	}
	out = calloc(n_env + n_extra + 1, sizeof(*out));
	if (out == NULL) {
		return NULL;
	}
	for (size_t i = 0; i < n_env; i++) {
		const char *eq       = strchr(environ[i], '=');
		size_t      len      = eq != NULL ? (size_t) (eq - environ[i])
		                                  : strlen(environ[i]);
		bool        replaced = false;
		for (size_t j = 0; j < n_extra && !replaced; j++) {
			replaced = strncmp(extra[j], environ[i], len) == 0
			    && extra[j][len] == '=';
		}
		if (!replaced) {
			out[k++] = environ[i];
		}
	}
	for (size_t j = 0; j < n_extra; j++) {
		out[k++] = extra[j];
	}
	out[k] = NULL;
	return out;
}

void
th_proc_start(
    th_proc *p, const char *name, char *const argv[], char *const env[])
{
	char   **envp = NULL;
	int      pipefd[2];
	int      logfd;
	int      child_errno = 0;
	ssize_t  got;
	sigset_t all;

	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(
	    p->log_path, sizeof(p->log_path), "%s/%s.log", th_tmpdir(), name);
	/* Appended: a restarted service keeps one log with both runs. */
	logfd = open(
	    p->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (logfd < 0) {
		th_fail("could not open %s: %s", p->log_path, strerror(errno));
		return;
	}
	if ((envp = env_merge(env)) == NULL || pipe2(pipefd, O_CLOEXEC) != 0) {
		close(logfd);
		free(envp);
		th_fail("could not start %s: out of resources", name);
		return;
	}
	fflush(NULL);
	p->pid = fork();
	if (p->pid < 0) {
		int e = errno;
		close(logfd);
		close(pipefd[0]);
		close(pipefd[1]);
		free(envp);
		th_fail("fork failed: %s", strerror(e));
		return;
	}
	if (p->pid == 0) {
		/* Child: only async-signal-safe calls until execve. */
		int e;
		int devnull = open("/dev/null", O_RDONLY);
		close(pipefd[0]);
		(void) setpgid(0, 0);
		(void) prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() == 1) {
			_exit(127);
		}
		if (devnull >= 0) {
			(void) dup2(devnull, STDIN_FILENO);
		}
		(void) dup2(logfd, STDOUT_FILENO);
		(void) dup2(logfd, STDERR_FILENO);
		/*
		 * The test's own descriptors (listeners, pipes) must not leak
		 * into the service; CLOEXEC keeps pipefd[1] open until execve.
		 */
		(void) close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
		sigemptyset(&all);
		(void) sigprocmask(SIG_SETMASK, &all, NULL);
		for (int s = 1; s < NSIG; s++) {
			if (s != SIGKILL && s != SIGSTOP) {
				(void) signal(s, SIG_DFL);
			}
		}
		execve(argv[0], argv, envp);
		e = errno;
		(void) write(pipefd[1], &e, sizeof(e));
		_exit(127);
	}
	close(logfd);
	close(pipefd[1]);
	free(envp);
	/* The pipe closes on a successful exec; it carries errno otherwise. */
	do {
		got = read(pipefd[0], &child_errno, sizeof(child_errno));
	} while (got < 0 && errno == EINTR);
	close(pipefd[0]);
	if (got == (ssize_t) sizeof(child_errno)) {
		(void) waitpid(p->pid, NULL, 0);
		p->pid = 0;
		th_fail("could not run %s (%s): %s", name, argv[0],
		    strerror(child_errno));
	}
}

static bool
reap(th_proc *p, bool block)
{
	int   status;
	pid_t r;

	if (p->pid <= 0) {
		return true;
	}
	do {
		r = waitpid(p->pid, &status, block ? 0 : WNOHANG);
	} while (r < 0 && errno == EINTR);
	if (r == p->pid || (r < 0 && errno == ECHILD)) {
		p->exited      = true;
		p->wait_status = r == p->pid ? status : -1;
		p->pid         = 0;
		return true;
	}
	return false;
}

static int
exit_code(const th_proc *p)
{
	if (p->wait_status >= 0 && WIFEXITED(p->wait_status)) {
		return WEXITSTATUS(p->wait_status);
	}
	return -1;
}

int
th_proc_stop(th_proc *p, int timeout_ms)
{
	long long deadline = th_now_ms() + timeout_ms;

	if (p->pid <= 0) {
		return p->exited ? exit_code(p) : -1;
	}
	(void) kill(p->pid, SIGTERM);
	while (!reap(p, false)) {
		if (th_now_ms() >= deadline) {
			fprintf(stderr,
			    "harness: %s did not stop within %d ms after "
			    "SIGTERM; killing it\n",
			    p->name, timeout_ms);
			th_proc_kill(p);
			return -1;
		}
		sleep_ms(5);
	}
	return exit_code(p);
}

void
th_proc_kill(th_proc *p)
{
	if (p->pid <= 0) {
		return;
	}
	(void) kill(-p->pid, SIGKILL);
	(void) kill(p->pid, SIGKILL);
	(void) reap(p, true);
}

bool
th_proc_alive(th_proc *p)
{
	return !reap(p, false);
}

int
th_proc_exit_code(const th_proc *p)
{
	return p->exited ? exit_code(p) : -1;
}

void
th_proc_dump_log(const th_proc *p)
{
	FILE  *f;
	char   buf[4096];
	size_t n;

	keep_tmpdir = true;
	fprintf(stderr, "---- %s log (%s) ----\n", p->name, p->log_path);
	if ((f = fopen(p->log_path, "r")) == NULL) {
		fprintf(stderr, "(could not open: %s)\n", strerror(errno));
	} else {
		while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
			fwrite(buf, 1, n, stderr);
		}
		fclose(f);
	}
	fprintf(stderr, "---- end of %s log ----\n", p->name);
}

/* health_once makes one Health call; true when it answered OK. */
static bool
health_once(rpc_client *c, const proto_envelope *env, int timeout_ms)
{
	rpc_call_opts copts = { .timeout_ms = timeout_ms, .idempotent = false };
	tp_err        err   = { 0 };
	bool          ok    = false;

	if (env == &proto_dtp_envelope) {
		dtp_v1_Request req = dtp_v1_Request_init_zero;
		dtp_v1_Reply   rep = dtp_v1_Reply_init_zero;
		req.which_call     = dtp_v1_Request_health_tag;
		if (rpc_client_call(c, &req, &rep, &copts, &err) == TP_OK) {
			ok = rep.which_result == dtp_v1_Reply_health_tag;
			pb_release(env->rep_fields, &rep);
		}
	} else {
		pilot_v1_Request req = pilot_v1_Request_init_zero;
		pilot_v1_Reply   rep = pilot_v1_Reply_init_zero;
		req.which_call       = pilot_v1_Request_health_tag;
		if (rpc_client_call(c, &req, &rep, &copts, &err) == TP_OK) {
			ok = rep.which_result == pilot_v1_Reply_health_tag;
			pb_release(env->rep_fields, &rep);
		}
	}
	return ok;
}

bool
th_wait_rpc_health(const char *service, const char *url, int timeout_ms)
{
	const proto_envelope *env;
	rpc_client           *c        = NULL;
	rpc_client_opts       opts     = { 0 };
	tp_err                err      = { 0 };
	long long             deadline = th_now_ms() + timeout_ms;
	bool                  ok       = false;

	if (strcmp(service, "dtp") == 0) {
		env = &proto_dtp_envelope;
	} else if (strcmp(service, "taskpilot") == 0
	    || strcmp(service, "pilot") == 0) {
		env = &proto_pilot_envelope;
	} else {
		th_fail("unknown service \"%s\" (expected dtp or taskpilot)",
		    service);
		return false;
	}
	opts.env = env;
	if (rpc_client_open(&c, url, &opts, &err) != TP_OK) {
		th_fail(
		    "could not open an RPC client for %s: %s", url, err.msg);
		return false;
	}
	for (;;) {
		long long left = deadline - th_now_ms();
		if (left <= 0) {
			break;
		}
		if (health_once(c, env, left < 1000 ? (int) left : 1000)) {
			ok = true;
			break;
		}
		sleep_ms(20);
	}
	rpc_client_free(c);
	return ok;
}

/* HTTP */

static int
http_connect(int port)
{
	struct sockaddr_in sa;
	struct timeval     tv = { HTTP_TIMEOUT_S, 0 };
	int                fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		return -1;
	}
	(void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family      = AF_INET;
	sa.sin_port        = htons((uint16_t) port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool
send_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			return false;
		}
		buf += n;
		len -= (size_t) n;
	}
	return true;
}

/* find_header finds "name:" at a line start of a header block; value or NULL.
 */
static const char *
find_header(const char *hdrs, size_t hlen, const char *name, size_t *vlen)
{
	size_t      nlen = strlen(name);
	const char *p    = hdrs;
	const char *end  = hdrs + hlen;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t) (end - p));
		const char *le  = eol != NULL ? eol : end;
		if ((size_t) (le - p) > nlen && strncasecmp(p, name, nlen) == 0
		    && p[nlen] == ':') {
			const char *v = p + nlen + 1;
			while (v < le && (*v == ' ' || *v == '\t')) {
				v++;
			}
			while (le > v
			    && (le[-1] == '\r' || le[-1] == ' '
			        || le[-1] == '\t')) {
				le--;
			}
			*vlen = (size_t) (le - v);
			return v;
		}
		p = eol != NULL ? eol + 1 : end;
	}
	return NULL;
}

/*
 * dechunk decodes a chunked body from in[0..len). Returns 1 with the body
 * in *out when complete, 0 when more bytes are needed, -1 when malformed.
 */
static int
dechunk(char **out, size_t *out_len, const char *in, size_t len)
{
	size_t pos = 0;
	size_t n   = 0;
	char  *buf = malloc(len + 1);

	if (buf == NULL) {
		return -1;
	}
	for (;;) {
		const char   *eol = memchr(in + pos, '\n', len - pos);
		char         *endp;
		unsigned long sz;

		if (eol == NULL) {
			free(buf);
			return 0;
		}
		errno = 0;
		sz    = strtoul(in + pos, &endp, 16);
		if (endp == in + pos || errno != 0 || sz > HTTP_MAX_BYTES) {
			free(buf);
			return -1;
		}
		pos = (size_t) (eol - in) + 1;
		if (sz == 0) {
			/* Trailers end with an empty line. */
			for (;;) {
				const char *e2
				    = memchr(in + pos, '\n', len - pos);
				if (e2 == NULL) {
					free(buf);
					return 0;
				}
				if (e2 == in + pos
				    || (e2 == in + pos + 1
				        && in[pos] == '\r')) {
					break;
				}
				pos = (size_t) (e2 - in) + 1;
			}
			buf[n]   = '\0';
			*out     = buf;
			*out_len = n;
			return 1;
		}
		if (len - pos < sz + 2) {
			free(buf);
			return 0;
		}
		memcpy(buf + n, in + pos, sz);
		n += sz;
		pos += sz;
		if (in[pos] == '\r') {
			pos++;
		}
		if (pos >= len || in[pos] != '\n') {
			free(buf);
			return -1;
		}
		pos++;
	}
}

/*
 * parse_response tries to parse a complete response from buf. Returns 1
 * when done (out filled), 0 when more bytes are needed, -1 when malformed.
 * at_eof: the peer closed, so a body without a length ends here.
 */
static int
parse_response(
    th_http_resp *out, const char *buf, size_t len, bool at_eof, bool is_head)
{
	const char *hend = NULL;
	size_t      hlen, vlen;
	const char *v;
	const char *body;
	size_t      avail;
	int         status;

	for (size_t i = 0; i + 3 < len; i++) {
		if (memcmp(buf + i, "\r\n\r\n", 4) == 0) {
			hend = buf + i + 4;
			break;
		}
	}
	if (hend == NULL) {
		return at_eof ? -1 : 0;
	}
	if (len < 12 || strncmp(buf, "HTTP/1.", 7) != 0
	    || sscanf(buf + 9, "%3d", &status) != 1) {
		return -1;
	}
	hlen  = (size_t) (hend - buf);
	body  = hend;
	avail = len - hlen;
	{
		/* The whole block, status line included, cut to fit. */
		size_t cp = hlen < sizeof(out->headers) - 1
		    ? hlen
		    : sizeof(out->headers) - 1;
		memcpy(out->headers, buf, cp);
		out->headers[cp] = '\0';
	}
	if (is_head || status == 204 || status == 304
	    || (status >= 100 && status < 200)) {
		out->body     = calloc(1, 1);
		out->body_len = 0;
		out->status   = status;
		return out->body != NULL ? 1 : -1;
	}
	if ((v = find_header(buf, hlen, "Transfer-Encoding", &vlen)) != NULL
	    && vlen >= 7 && strncasecmp(v + vlen - 7, "chunked", 7) == 0) {
		int r = dechunk(&out->body, &out->body_len, body, avail);
		if (r == 0 && at_eof) {
			return -1;
		}
		if (r == 1) {
			out->status = status;
		}
		return r;
	}
	if ((v = find_header(buf, hlen, "Content-Length", &vlen)) != NULL) {
		char          num[32];
		unsigned long cl;
		char         *endp;
		snprintf(
		    num, sizeof(num), "%.*s", (int) (vlen < 31 ? vlen : 31), v);
		cl = strtoul(num, &endp, 10);
		if (endp == num || *endp != '\0' || cl > HTTP_MAX_BYTES) {
			return -1;
		}
		if (avail < cl) {
			return at_eof ? -1 : 0;
		}
		avail = cl;
	} else if (!at_eof) {
		return 0;
	}
	if ((out->body = malloc(avail + 1)) == NULL) {
		return -1;
	}
	memcpy(out->body, body, avail);
	out->body[avail] = '\0';
	out->body_len    = avail;
	out->status      = status;
	return 1;
}

int
th_http(th_http_resp *out, int port, const char *method, const char *path,
    const char *body, const char *extra_headers)
{
	char       *req = NULL;
	char       *buf = NULL;
	size_t      len = 0, cap = 0, blen = body != NULL ? strlen(body) : 0;
	int         fd = -1;
	int         r  = 0;
	bool        has_ct;
	int         n;
	size_t      req_cap;
	bool        is_head = strcmp(method, "HEAD") == 0;
	const char *extra   = extra_headers != NULL ? extra_headers : "";

	memset(out, 0, sizeof(*out));
	has_ct
	    = find_header(extra, strlen(extra), "Content-Type", &(size_t) { 0 })
	    != NULL;
	req_cap = strlen(method) + strlen(path) + strlen(extra) + blen + 256;
	if ((req = malloc(req_cap)) == NULL) {
		return 0;
	}
	n = snprintf(req, req_cap,
	    "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
	    "%s%s",
	    method, path, port, extra,
	    body != NULL && !has_ct ? "Content-Type: application/json\r\n"
	                            : "");
	if (body != NULL || strcmp(method, "POST") == 0
	    || strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0) {
		n += snprintf(req + n, req_cap - (size_t) n,
		    "Content-Length: %zu\r\n", blen);
	}
	n += snprintf(req + n, req_cap - (size_t) n, "\r\n");
	if (blen > 0) {
		memcpy(req + n, body, blen);
	}
	if ((fd = http_connect(port)) < 0
	    || !send_all(fd, req, (size_t) n + blen)) {
		goto out;
	}
	for (;;) {
		ssize_t got;
		if (cap - len < 4096) {
			char *nb;
			cap = cap == 0 ? 16384 : cap * 2;
			if (cap > HTTP_MAX_BYTES
			    || (nb = realloc(buf, cap)) == NULL) {
				r = -1;
				break;
			}
			buf = nb;
		}
		/* One byte kept for a NUL: parse_response scans with sscanf. */
		got = recv(fd, buf + len, cap - len - 1, 0);
		if (got < 0 && errno == EINTR) {
			continue;
		}
		if (got < 0) {
			r = -1; /* timeout (SO_RCVTIMEO) or reset */
			break;
		}
		len += (size_t) got;
		buf[len] = '\0';
		r = parse_response(out, buf, len, got == 0, is_head);
		if (r != 0 || got == 0) {
			break;
		}
	}
	if (r != 1) {
		free(out->body);
		memset(out, 0, sizeof(*out));
	}
out:
	if (fd >= 0) {
		close(fd);
	}
	free(req);
	free(buf);
	return out->status;
}

void
th_http_free(th_http_resp *r)
{
	if (r == NULL) {
		return;
	}
	free(r->body);
	r->body     = NULL;
	r->body_len = 0;
}

bool
th_http_header(const th_http_resp *r, const char *name, char *buf, size_t size)
{
	size_t      vlen;
	const char *v
	    = find_header(r->headers, strlen(r->headers), name, &vlen);

	if (v == NULL || size == 0) {
		return false;
	}
	snprintf(buf, size, "%.*s", (int) vlen, v);
	return true;
}

bool
th_wait_http(int port, const char *path, int timeout_ms)
{
	long long deadline = th_now_ms() + timeout_ms;

	for (;;) {
		th_http_resp r;
		int          st = th_http(&r, port, "GET", path, NULL, "");
		th_http_free(&r);
		if (st == 200) {
			return true;
		}
		if (th_now_ms() >= deadline) {
			return false;
		}
		sleep_ms(20);
	}
}
