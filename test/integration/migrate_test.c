/*
 * migrate_test.c: the migration runner and tpmigrate against a real
 * PostgreSQL: the real migrations apply and show as Success; concurrent
 * runners apply each version exactly once; a changed or missing applied
 * file is refused with nothing applied; a failing file rolls back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "db/conn.h"
#include "db/migrate.h"
#include "harness.h"

#define MAX_DBS 16

static db_conn *admin; /* to the server's postgres database */
static char     dbs[MAX_DBS][64];
static int      n_dbs;

/* fresh_db creates an empty database for one test and writes its URL. */
static void
fresh_db(char *url, size_t size, const char *tag)
{
	char   sql[256];
	tp_err err = { 0 };
	char  *name;

	assert_true(n_dbs < MAX_DBS);
	name = dbs[n_dbs++];
	snprintf(name, sizeof(dbs[0]), "t_mig_%s_%d", tag, (int) getpid());
	snprintf(sql, sizeof(sql),
	    "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", name);
	assert_int_equal(db_exec_simple(admin, sql, &err), TP_OK);
	snprintf(sql, sizeof(sql), "CREATE DATABASE \"%s\"", name);
	if (db_exec_simple(admin, sql, &err) != TP_OK) {
		fail_msg("could not create %s: %s", name, err.msg);
	}
	th_pg_url_for(url, size, name);
}

static db_conn *
connect_to(const char *url)
{
	db_conn *c   = NULL;
	tp_err   err = { 0 };

	if (db_conn_open(&c, url, &err) != TP_OK) {
		fail_msg("could not connect: %s", err.msg);
	}
	return c;
}

static void
write_file(const char *path, const char *text, const char *mode)
{
	FILE *f = fopen(path, mode);

	if (f == NULL) {
		fail_msg("could not open %s: %s", path, strerror(errno));
	}
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static char *
read_all(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long  n;

	if (f == NULL) {
		fail_msg("could not open %s: %s", path, strerror(errno));
	}
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	buf = malloc((size_t) n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t) n, f), (size_t) n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* copy_migrations copies the real migration folders to <tmpdir>/<tag>. */
static void
copy_migrations(char *dst, size_t size, const char *tag)
{
	static const char *const files[] = {
		"dtp/V1__create_task.sql",
		"pilot/V1__create_web_task.sql",
		"pilot/V2__add_scheduler_task_id.sql",
	};
	char path[1024];

	snprintf(dst, size, "%s/%s", th_tmpdir(), tag);
	assert_int_equal(mkdir(dst, 0755), 0);
	snprintf(path, sizeof(path), "%s/dtp", dst);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/pilot", dst);
	assert_int_equal(mkdir(path, 0755), 0);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char  src[1024];
		char *text;
		snprintf(src, sizeof(src), "%s/db/migrations/%s", TP_SOURCE_DIR,
		    files[i]);
		snprintf(path, sizeof(path), "%s/%s", dst, files[i]);
		text = read_all(src);
		write_file(path, text, "wb");
		free(text);
	}
}

static void
add_file(const char *dir, const char *name, const char *text)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	write_file(path, text, "wb");
}

/* query_int runs a one-value query with up to one parameter. */
static long long
query_int(db_conn *c, const char *sql, const char *param)
{
	db_rows    *rows      = NULL;
	tp_err      err       = { 0 };
	const char *params[1] = { param };
	long long   v;

	if (db_exec(c, &rows, sql, param != NULL ? 1 : 0, params, &err)
	    != TP_OK) {
		fail_msg("%s: %s", sql, err.msg);
	}
	assert_int_equal(db_rows_count(rows), 1);
	v = db_rows_int64(rows, 0, 0);
	db_rows_free(rows);
	return v;
}

static bool
table_exists(db_conn *c, const char *name)
{
	return query_int(c, "SELECT (to_regclass($1) IS NOT NULL)::int", name)
	    == 1;
}

static char *
info_text(db_conn *c, const char *schema, const char *dir)
{
	char     *buf = NULL;
	size_t    len = 0;
	FILE     *f   = open_memstream(&buf, &len);
	tp_err    err = { 0 };
	tp_status rc;

	assert_non_null(f);
	rc = db_migrate_info(c, schema, dir, f, &err);
	fclose(f);
	if (rc != TP_OK) {
		fail_msg("info %s: %s", schema, err.msg);
	}
	return buf;
}

static bool
proc_exited_cb(void *arg)
{
	return !th_proc_alive(arg);
}

/* run_tpmigrate runs tpmigrate to its end; returns its exit status. */
static int
run_tpmigrate(th_proc *p, const char *name, const char *url, const char *dir,
    const char *command)
{
	char  url_flag[1200];
	char  dir_flag[1200];
	char *argv[] = { (char *) th_bin("tpmigrate"), url_flag, dir_flag,
		(char *) command, NULL };

	snprintf(url_flag, sizeof(url_flag), "--database-url=%s", url);
	snprintf(dir_flag, sizeof(dir_flag), "--dir=%s", dir);
	th_proc_start(p, name, argv, NULL);
	if (!th_poll_until(proc_exited_cb, p, 30000)) {
		th_proc_dump_log(p);
		fail_msg("%s did not finish within 30 s", name);
	}
	return th_proc_exit_code(p);
}

static int
group_setup(void **state)
{
	tp_err err = { 0 };

	(void) state;
	if (db_conn_open(&admin, th_pg_url(), &err) != TP_OK) {
		fprintf(stderr, "could not connect to the test server: %s\n",
		    err.msg);
		return -1;
	}
	return 0;
}

static int
group_teardown(void **state)
{
	(void) state;
	for (int i = 0; i < n_dbs; i++) {
		char   sql[256];
		tp_err err = { 0 };
		snprintf(sql, sizeof(sql),
		    "DROP DATABASE IF EXISTS \"%.63s\" WITH (FORCE)", dbs[i]);
		if (db_exec_simple(admin, sql, &err) != TP_OK) {
			fprintf(
			    stderr, "could not drop %s: %s\n", dbs[i], err.msg);
		}
	}
	db_conn_free(admin);
	return 0;
}

/* real_versions counts the migration files of a schema in the source tree. */
static int
real_versions(const char *schema)
{
	char           dir[1024];
	DIR           *d;
	struct dirent *e;
	int            n = 0;

	snprintf(dir, sizeof(dir), "%s/db/migrations/%s", TP_SOURCE_DIR, schema);
	d = opendir(dir);
	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (e->d_name[0] == 'V' && len > 4 &&
		    strcmp(e->d_name + len - 4, ".sql") == 0) {
			n++;
		}
	}
	closedir(d);
	return n;
}

static void
test_migrate_applies_real_migrations(void **state)
{
	char     url[1024];
	char     dir[1024];
	db_conn *c;
	tp_err   err = { 0 };
	char    *text;
	char    *v1;
	th_proc  p;

	(void) state;
	fresh_db(url, sizeof(url), "real");
	c = connect_to(url);
	snprintf(dir, sizeof(dir), "%s/db/migrations/dtp", TP_SOURCE_DIR);
	assert_int_equal(db_migrate(c, "dtp", dir, &err), TP_OK);
	snprintf(dir, sizeof(dir), "%s/db/migrations/pilot", TP_SOURCE_DIR);
	assert_int_equal(db_migrate(c, "pilot", dir, &err), TP_OK);

	assert_true(table_exists(c, "dtp.task"));
	assert_true(table_exists(c, "pilot.web_task"));
	assert_int_equal(query_int(c,
	                     "SELECT count(*) FROM information_schema.columns "
	                     "WHERE table_schema = 'pilot' AND table_name = "
	                     "'web_task' AND column_name = $1",
	                     "scheduler_task_id"),
	    1);
	assert_int_equal(query_int(c,
	                     "SELECT count(*) FROM dtp.schema_history WHERE "
	                     "success AND installed_by = current_user",
	                     NULL),
	    real_versions("dtp"));
	assert_int_equal(query_int(c,
	                     "SELECT count(*) FROM pilot.schema_history WHERE "
	                     "success AND version IN (1, 2)",
	                     NULL),
	    2);
	/* The recorded checksum is the file's CRC-32. */
	snprintf(dir, sizeof(dir), "%s/db/migrations/dtp/V1__create_task.sql",
	    TP_SOURCE_DIR);
	v1 = read_all(dir);
	assert_int_equal(query_int(c,
	                     "SELECT checksum FROM dtp.schema_history WHERE "
	                     "version = 1 AND script = $1",
	                     "V1__create_task.sql"),
	    db_migration_checksum(v1, strlen(v1)));
	free(v1);

	/* A second run has nothing to do. */
	snprintf(dir, sizeof(dir), "%s/db/migrations/pilot", TP_SOURCE_DIR);
	assert_int_equal(db_migrate(c, "pilot", dir, &err), TP_OK);
	assert_int_equal(
	    query_int(c, "SELECT count(*) FROM pilot.schema_history", NULL),
	    real_versions("pilot"));

	text = info_text(c, "pilot", dir);
	assert_non_null(strstr(text, "| 1       | create web task "));
	assert_non_null(strstr(text, "add scheduler task id"));
	assert_null(strstr(text, "Pending"));
	assert_non_null(strstr(strstr(text, "create web task"), "Success"));
	assert_non_null(
	    strstr(strstr(text, "add scheduler task id"), "Success"));
	free(text);

	/* tpmigrate info over both schemas: three rows, all Success. */
	snprintf(dir, sizeof(dir), "%s/db/migrations", TP_SOURCE_DIR);
	assert_int_equal(run_tpmigrate(&p, "info-real", url, dir, "info"), 0);
	text = read_all(p.log_path);
	{
		int         n = 0;
		const char *s = text;
		while ((s = strstr(s, "| Success |")) != NULL) {
			n++;
			s++;
		}
		if (n != real_versions("dtp") + real_versions("pilot")) {
			th_proc_dump_log(&p);
		}
		assert_int_equal(n, real_versions("dtp") + real_versions("pilot"));
	}
	assert_non_null(strstr(text, "Schema dtp"));
	assert_non_null(strstr(text, "Schema pilot"));
	free(text);
	db_conn_free(c);
}

static void
test_migrate_tpmigrate_cli(void **state)
{
	char     url[1024];
	char     dir[1024];
	th_proc  p;
	char    *text;
	db_conn *c;

	(void) state;
	fresh_db(url, sizeof(url), "cli");
	snprintf(dir, sizeof(dir), "%s/db/migrations", TP_SOURCE_DIR);
	assert_int_equal(
	    run_tpmigrate(&p, "cli-migrate", url, dir, "migrate"), 0);
	c = connect_to(url);
	assert_int_equal(
	    query_int(c, "SELECT count(*) FROM dtp.schema_history", NULL),
	    real_versions("dtp"));
	assert_int_equal(
	    query_int(c, "SELECT count(*) FROM pilot.schema_history", NULL),
	    real_versions("pilot"));
	db_conn_free(c);

	/* Usage errors exit 2. */
	assert_int_equal(
	    run_tpmigrate(&p, "cli-usage", url, dir, "upgrade"), 2);
	text = read_all(p.log_path);
	assert_non_null(strstr(text, "expected one command"));
	free(text);
	{
		char *argv[] = { (char *) th_bin("tpmigrate"), "--schema=nope",
			"--database-url=postgresql://127.0.0.1:1/x", "migrate",
			NULL };
		th_proc_start(&p, "cli-schema", argv, NULL);
		assert_true(th_poll_until(proc_exited_cb, &p, 30000));
		assert_int_equal(th_proc_exit_code(&p), 2);
		text = read_all(p.log_path);
		assert_non_null(strstr(text, "invalid value for --schema"));
		free(text);
	}
	/* An unreachable server exits 1 and never shows the password. */
	assert_int_equal(
	    run_tpmigrate(&p, "cli-down", "postgresql://u:sekrit@127.0.0.1:1/x",
	        dir, "migrate"),
	    1);
	text = read_all(p.log_path);
	assert_non_null(strstr(text, "could not connect"));
	assert_null(strstr(text, "sekrit"));
	free(text);
}

/* Children leave with _exit: the harness's atexit hooks are the parent's. */
static void
child_migrate(const char *url, const char *dir)
{
	db_conn *c   = NULL;
	tp_err   err = { 0 };
	char     sub[1100];
	int      code = 0;

	if (db_conn_open(&c, url, &err) != TP_OK) {
		fprintf(stderr, "child: %s\n", err.msg);
		_exit(3);
	}
	snprintf(sub, sizeof(sub), "%s/dtp", dir);
	if (db_migrate(c, "dtp", sub, &err) != TP_OK) {
		fprintf(stderr, "child: dtp: %s\n", err.msg);
		code = 1;
	}
	snprintf(sub, sizeof(sub), "%s/pilot", dir);
	if (code == 0 && db_migrate(c, "pilot", sub, &err) != TP_OK) {
		fprintf(stderr, "child: pilot: %s\n", err.msg);
		code = 1;
	}
	db_conn_free(c);
	_exit(code);
}

static void
assert_each_version_once(const char *url)
{
	db_conn *c = connect_to(url);

	assert_int_equal(
	    query_int(c, "SELECT count(*) FROM dtp.schema_history", NULL), 2);
	assert_int_equal(query_int(c,
	                     "SELECT count(DISTINCT version) FROM "
	                     "dtp.schema_history WHERE success",
	                     NULL),
	    2);
	assert_int_equal(
	    query_int(c, "SELECT count(*) FROM pilot.schema_history", NULL), 2);
	assert_true(table_exists(c, "dtp.slow_marker"));
	db_conn_free(c);
}

static void
test_migrate_concurrent_runners_apply_once(void **state)
{
	enum { N = 4 };
	char    url[1024];
	char    dir[1024];
	th_proc procs[N];
	pid_t   kids[N];

	(void) state;
	/*
	 * A slow second migration keeps the first runner inside the lock
	 * while the others arrive: without the lock they would apply V1 or V2
	 * again and fail on the history's unique version.
	 */
	copy_migrations(dir, sizeof(dir), "concurrent");
	{
		char sub[1100];
		snprintf(sub, sizeof(sub), "%s/dtp", dir);
		add_file(sub, "V2__slow.sql",
		    "SELECT pg_sleep(0.3);\n"
		    "CREATE TABLE dtp.slow_marker (id int);\n");
	}

	/* Separate tpmigrate processes. */
	fresh_db(url, sizeof(url), "conc_proc");
	for (int i = 0; i < N; i++) {
		char  name[32];
		char  url_flag[1200];
		char  dir_flag[1200];
		char *argv[] = { (char *) th_bin("tpmigrate"), url_flag,
			dir_flag, "migrate", NULL };
		snprintf(name, sizeof(name), "concurrent-%d", i);
		snprintf(url_flag, sizeof(url_flag), "--database-url=%s", url);
		snprintf(dir_flag, sizeof(dir_flag), "--dir=%s", dir);
		th_proc_start(&procs[i], name, argv, NULL);
	}
	for (int i = 0; i < N; i++) {
		assert_true(th_poll_until(proc_exited_cb, &procs[i], 60000));
		if (th_proc_exit_code(&procs[i]) != 0) {
			th_proc_dump_log(&procs[i]);
		}
		assert_int_equal(th_proc_exit_code(&procs[i]), 0);
	}
	assert_each_version_once(url);

	/* The library itself, from forked processes. */
	fresh_db(url, sizeof(url), "conc_fork");
	fflush(NULL);
	for (int i = 0; i < N; i++) {
		kids[i] = fork();
		assert_true(kids[i] >= 0);
		if (kids[i] == 0) {
			child_migrate(url, dir);
		}
	}
	for (int i = 0; i < N; i++) {
		int st = 0;
		assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	assert_each_version_once(url);
}

static void
assert_lock_free(const char *url, const char *schema)
{
	db_conn *c = connect_to(url);
	char     key[64];

	snprintf(key, sizeof(key), "tp.migrate.%s", schema);
	assert_int_equal(
	    query_int(c, "SELECT pg_try_advisory_lock(hashtext($1))::int", key),
	    1);
	db_conn_free(c);
}

static void
test_migrate_refuses_changed_file(void **state)
{
	char     url[1024];
	char     dir[1024];
	char     sub[1100];
	char     path[1200];
	db_conn *c;
	tp_err   err = { 0 };
	char    *text;
	th_proc  p;

	(void) state;
	copy_migrations(dir, sizeof(dir), "changed");
	snprintf(sub, sizeof(sub), "%s/dtp", dir);
	fresh_db(url, sizeof(url), "changed");
	c = connect_to(url);
	assert_int_equal(db_migrate(c, "dtp", sub, &err), TP_OK);

	snprintf(path, sizeof(path), "%s/V1__create_task.sql", sub);
	write_file(path, "-- an edit after the fact\n", "ab");
	add_file(
	    sub, "V2__next.sql", "CREATE TABLE dtp.next_marker (id int);\n");

	assert_int_equal(
	    db_migrate(c, "dtp", sub, &err), TP_FAILED_PRECONDITION);
	assert_int_equal(err.code, TP_FAILED_PRECONDITION);
	assert_non_null(strstr(err.msg, "V1__create_task.sql"));
	assert_non_null(strstr(err.msg, "changed"));
	/* Nothing else was applied, and the lock was given back. */
	assert_false(table_exists(c, "dtp.next_marker"));
	assert_int_equal(
	    query_int(c, "SELECT count(*) FROM dtp.schema_history", NULL), 1);
	assert_lock_free(url, "dtp");

	text = info_text(c, "dtp", sub);
	assert_non_null(strstr(strstr(text, "create task"), "Changed"));
	assert_non_null(strstr(strstr(text, "next"), "Pending"));
	free(text);

	/* tpmigrate says so and exits 1. */
	assert_int_equal(run_tpmigrate(&p, "changed", url, dir, "migrate"), 1);
	text = read_all(p.log_path);
	assert_non_null(strstr(text, "FAILED_PRECONDITION"));
	assert_non_null(strstr(text, "V1__create_task.sql"));
	free(text);
	db_conn_free(c);
}

static void
test_migrate_refuses_missing_file(void **state)
{
	char     url[1024];
	char     dir[1024];
	char     sub[1100];
	char     path[1200];
	db_conn *c;
	tp_err   err = { 0 };
	char    *text;

	(void) state;
	copy_migrations(dir, sizeof(dir), "missing");
	snprintf(sub, sizeof(sub), "%s/pilot", dir);
	fresh_db(url, sizeof(url), "missing");
	c = connect_to(url);
	assert_int_equal(db_migrate(c, "pilot", sub, &err), TP_OK);

	snprintf(path, sizeof(path), "%s/V2__add_scheduler_task_id.sql", sub);
	assert_int_equal(unlink(path), 0);
	add_file(sub, "V3__later.sql", "CREATE TABLE pilot.later (id int);\n");

	assert_int_equal(
	    db_migrate(c, "pilot", sub, &err), TP_FAILED_PRECONDITION);
	assert_non_null(strstr(err.msg, "V2"));
	assert_non_null(strstr(err.msg, "missing"));
	assert_false(table_exists(c, "pilot.later"));
	assert_int_equal(
	    query_int(c, "SELECT count(*) FROM pilot.schema_history", NULL), 2);
	assert_lock_free(url, "pilot");

	text = info_text(c, "pilot", sub);
	assert_non_null(
	    strstr(strstr(text, "add scheduler task id"), "Missing"));
	free(text);
	db_conn_free(c);
}

static void
test_migrate_failing_file_rolls_back(void **state)
{
	char      url[1024];
	char      dir[1024];
	char      sub[1100];
	db_conn  *c;
	tp_err    err = { 0 };
	tp_status rc;

	(void) state;
	copy_migrations(dir, sizeof(dir), "failing");
	snprintf(sub, sizeof(sub), "%s/dtp", dir);
	add_file(sub, "V2__bad.sql",
	    "CREATE TABLE dtp.half_done (id int);\n"
	    "SELECT * FROM dtp.no_such_table;\n");
	add_file(
	    sub, "V3__after.sql", "CREATE TABLE dtp.after_bad (id int);\n");
	fresh_db(url, sizeof(url), "failing");
	c = connect_to(url);

	rc = db_migrate(c, "dtp", sub, &err);
	assert_int_not_equal(rc, TP_OK);
	assert_int_equal(err.code, rc);
	assert_non_null(strstr(err.msg, "V2__bad.sql"));
	assert_non_null(strstr(err.msg, "no_such_table"));
	/* V1 stays applied; V2's first statement is rolled back; V3 never ran.
	 */
	assert_true(table_exists(c, "dtp.task"));
	assert_false(table_exists(c, "dtp.half_done"));
	assert_false(table_exists(c, "dtp.after_bad"));
	assert_int_equal(query_int(c,
	                     "SELECT count(*) FROM dtp.schema_history WHERE "
	                     "version > 1",
	                     NULL),
	    0);
	assert_lock_free(url, "dtp");

	/* Fixed, it applies, and so does what came after it. */
	add_file(sub, "V2__bad.sql", "CREATE TABLE dtp.half_done (id int);\n");
	assert_int_equal(db_migrate(c, "dtp", sub, &err), TP_OK);
	assert_true(table_exists(c, "dtp.half_done"));
	assert_true(table_exists(c, "dtp.after_bad"));
	assert_int_equal(
	    query_int(c, "SELECT count(*) FROM dtp.schema_history", NULL), 3);
	db_conn_free(c);
}

static void
test_migrate_refuses_out_of_order_and_bad_names(void **state)
{
	char     url[1024];
	char     dir[1024];
	char     sub[1100];
	char     path[1200];
	db_conn *c;
	tp_err   err = { 0 };

	(void) state;
	copy_migrations(dir, sizeof(dir), "order");
	snprintf(sub, sizeof(sub), "%s/dtp", dir);
	fresh_db(url, sizeof(url), "order");
	c = connect_to(url);

	/* A misnamed file is an error, not silently skipped; nothing runs. */
	add_file(sub, "v2__lower.sql", "CREATE TABLE dtp.lower (id int);\n");
	assert_int_equal(
	    db_migrate(c, "dtp", sub, &err), TP_FAILED_PRECONDITION);
	assert_non_null(strstr(err.msg, "v2__lower.sql"));
	assert_false(table_exists(c, "dtp.schema_history"));
	snprintf(path, sizeof(path), "%s/v2__lower.sql", sub);
	assert_int_equal(unlink(path), 0);
	/* Other files (notes) are left alone. */
	add_file(sub, "README.md", "notes\n");

	add_file(sub, "V3__c.sql", "CREATE TABLE dtp.c (id int);\n");
	assert_int_equal(db_migrate(c, "dtp", sub, &err), TP_OK);
	add_file(sub, "V2__b.sql", "CREATE TABLE dtp.b (id int);\n");
	assert_int_equal(
	    db_migrate(c, "dtp", sub, &err), TP_FAILED_PRECONDITION);
	assert_non_null(strstr(err.msg, "V2__b.sql"));
	assert_non_null(strstr(err.msg, "older"));
	assert_false(table_exists(c, "dtp.b"));

	/* The schema name is an identifier we choose, checked. */
	assert_int_equal(db_migrate(c, "dtp\"; DROP TABLE x; --", sub, &err),
	    TP_INVALID_ARGUMENT);
	assert_int_equal(db_migrate(c, "Dtp", sub, &err), TP_INVALID_ARGUMENT);
	/* A folder that is not there. */
	assert_int_equal(db_migrate(c, "dtp", "/nonexistent/tp", &err),
	    TP_FAILED_PRECONDITION);
	assert_non_null(strstr(err.msg, "/nonexistent/tp"));
	db_conn_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_migrate_applies_real_migrations),
		cmocka_unit_test(test_migrate_tpmigrate_cli),
		cmocka_unit_test(test_migrate_concurrent_runners_apply_once),
		cmocka_unit_test(test_migrate_refuses_changed_file),
		cmocka_unit_test(test_migrate_refuses_missing_file),
		cmocka_unit_test(test_migrate_failing_file_rolls_back),
		cmocka_unit_test(
		    test_migrate_refuses_out_of_order_and_bad_names),
	};
	return cmocka_run_group_tests_name(
	    "migrate", tests, group_setup, group_teardown);
}
