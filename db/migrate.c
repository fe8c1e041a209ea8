/*
 * migrate.c: the Flyway-style migration runner (see migrate.h and
 * db/README.md for the design).
 *
 * DESIGN
 * - Everything that can be checked without the database is checked first:
 *   every file name in the folder parses, versions are unique, files read.
 * - A session advisory lock, pg_advisory_lock(hashtext('tp.migrate.' ||
 *   schema)), serialises runners of one schema across processes. It is
 *   taken before the schema and history table are created (two first starts
 *   would otherwise race on CREATE SCHEMA) and released on every path; if
 *   the connection dies the server releases it with the session.
 * - Under the lock the history is read and validated as a whole before
 *   anything runs: a changed or missing applied file, a failed row, or a
 *   pending file older than the newest applied one refuses the run with
 *   FAILED_PRECONDITION and applies nothing.
 * - Each pending file then runs in its own transaction together with its
 *   history row, in ascending version order, so a file is either applied
 *   and recorded or neither. The first failure stops the run; the files
 *   before it stay applied.
 * - The schema name becomes part of SQL text, so it must be [a-z_]{1,63}
 *   and is always double-quoted. Nothing else is ever spliced into SQL.
 */
#include "db/migrate.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "conn_int.h"

#define SCHEMA_MAX 63
/* No migration of ours comes near this; a bigger file is a mistake. */
#define FILE_MAX_BYTES (16 * 1024 * 1024)
#define SQL_MAX        1024

typedef struct mfile {
	int     version;
	char    desc[DB_MIGRATION_DESC_MAX];
	char   *name; /* file name, e.g. "V1__create_task.sql" */
	char   *sql;  /* the file's bytes, NUL-terminated */
	int32_t checksum;
} mfile;

typedef struct applied {
	int     version;
	char    desc[DB_MIGRATION_DESC_MAX];
	char    script[256];
	char    installed_on[40];
	int32_t checksum;
	bool    success;
} applied;

static bool
is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static bool
is_desc_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
	    || is_digit(ch) || ch == '_';
}

tp_status
db_migration_parse_name(int *version, char *desc, size_t desc_size,
    const char *filename, tp_err *err)
{
	const char *p = filename;
	const char *d;
	size_t      len;
	long long   v = 0;
	char        buf[DB_MIGRATION_DESC_MAX];

	if (filename == NULL) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "invalid migration file name: none given");
	}
	len = strlen(filename);
	if (len < 4 || strcmp(filename + len - 4, ".sql") != 0) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "invalid migration file name \"%s\": expected "
		    "V<version>__<description>.sql",
		    filename);
	}
	if (*p++ != 'V') {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "invalid migration file name \"%s\": must start with "
		    "an upper-case V",
		    filename);
	}
	if (!is_digit(*p) || *p == '0') {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "invalid migration file name \"%s\": the version must be "
		    "a number from 1 without leading zeros",
		    filename);
	}
	for (; is_digit(*p); p++) {
		v = v * 10 + (*p - '0');
		if (v > INT32_MAX) {
			return tp_err_set(err, TP_INVALID_ARGUMENT,
			    "invalid migration file name \"%s\": the version "
			    "is larger than %d",
			    filename, INT32_MAX);
		}
	}
	if (p[0] != '_' || p[1] != '_') {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "invalid migration file name \"%s\": expected \"__\" "
		    "after the version",
		    filename);
	}
	p += 2;
	d   = p;
	len = (size_t) (filename + strlen(filename) - 4 - d);
	if (len == 0) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "invalid migration file name \"%s\": the description is "
		    "empty",
		    filename);
	}
	if (len >= sizeof(buf) || len >= desc_size) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "invalid migration file name \"%s\": the description is "
		    "longer than %zu bytes",
		    filename,
		    (desc_size < sizeof(buf) ? desc_size : sizeof(buf)) - 1);
	}
	if (d[0] == '_' || d[len - 1] == '_') {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "invalid migration file name \"%s\": the description must "
		    "not start or end with \"_\"",
		    filename);
	}
	for (size_t i = 0; i < len; i++) {
		if (!is_desc_char(d[i])) {
			return tp_err_set(err, TP_INVALID_ARGUMENT,
			    "invalid migration file name \"%s\": the "
			    "description may hold only letters, digits and "
			    "\"_\"",
			    filename);
		}
		buf[i] = d[i] == '_' ? ' ' : d[i];
	}
	buf[len] = '\0';
	*version = (int) v;
	memcpy(desc, buf, len + 1);
	return TP_OK;
}

int32_t
db_migration_checksum(const char *data, size_t len)
{
	/* CRC-32 (IEEE 802.3, reflected, as zlib's crc32()). */
	uint32_t crc = 0xFFFFFFFFu;

	for (size_t i = 0; i < len; i++) {
		crc ^= (unsigned char) data[i];
		for (int k = 0; k < 8; k++) {
			crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
		}
	}
	crc ^= 0xFFFFFFFFu;
	return (int32_t) crc;
}

static tp_status
check_schema(const char *schema, tp_err *err)
{
	size_t n = schema != NULL ? strlen(schema) : 0;

	if (n == 0 || n > SCHEMA_MAX) {
		return tp_err_set(err, TP_INVALID_ARGUMENT,
		    "invalid schema name \"%s\": expected [a-z_]{1,63}",
		    schema != NULL ? schema : "");
	}
	for (size_t i = 0; i < n; i++) {
		if (!((schema[i] >= 'a' && schema[i] <= 'z')
		        || schema[i] == '_')) {
			return tp_err_set(err, TP_INVALID_ARGUMENT,
			    "invalid schema name \"%s\": expected [a-z_]{1,63}",
			    schema);
		}
	}
	return TP_OK;
}

static void
free_files(mfile *files, size_t n)
{
	for (size_t i = 0; files != NULL && i < n; i++) {
		free(files[i].name);
		free(files[i].sql);
	}
	free(files);
}

static int
cmp_file(const void *a, const void *b)
{
	const mfile *x = a;
	const mfile *y = b;
	return (x->version > y->version) - (x->version < y->version);
}

/*
 * is_candidate: names we treat as migrations and therefore hold to the
 * strict form, so that "v1__x.sql" or "V1__x.SQL" is an error rather than
 * silently skipped. Other files (README.md) are left alone.
 */
static bool
is_candidate(const char *name)
{
	size_t n = strlen(name);

	if (name[0] == '.') {
		return false;
	}
	if ((name[0] == 'V' || name[0] == 'v') && is_digit(name[1])) {
		return true;
	}
	return n >= 4 && strcasecmp(name + n - 4, ".sql") == 0;
}

static tp_status
read_file(char **out, const char *path, tp_err *err)
{
	FILE  *f   = NULL;
	char  *buf = NULL;
	size_t n   = 0;
	size_t cap = 0;
	size_t got;

	if ((f = fopen(path, "rb")) == NULL) {
		return tp_err_set(err, TP_FAILED_PRECONDITION,
		    "could not read migration \"%s\": %s", path,
		    strerror(errno));
	}
	do {
		if (cap - n < 4096) {
			cap = cap == 0 ? 8192 : cap * 2;
			buf = tp_xrealloc(buf, cap + 1);
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
	} while (got > 0 && n <= FILE_MAX_BYTES);
	if (ferror(f) || n > FILE_MAX_BYTES) {
		tp_status rc = tp_err_set(err, TP_FAILED_PRECONDITION,
		    "could not read migration \"%s\": %s", path,
		    ferror(f) ? "read error" : "larger than 16 MiB");
		fclose(f);
		free(buf);
		return rc;
	}
	fclose(f);
	if (buf == NULL) {
		buf = tp_xmalloc(1);
	}
	buf[n] = '\0';
	if (memchr(buf, '\0', n) != NULL) {
		free(buf);
		return tp_err_set(err, TP_FAILED_PRECONDITION,
		    "cannot apply migration \"%s\": it contains a NUL byte",
		    path);
	}
	*out = buf;
	return TP_OK;
}

/* load_dir reads and checks every migration file of dir, sorted by version. */
static tp_status
load_dir(mfile **out, size_t *n_out, const char *dir, tp_err *err)
{
	tp_status      rc    = TP_OK;
	DIR           *d     = NULL;
	mfile         *files = NULL;
	size_t         n     = 0;
	struct dirent *e;

	if ((d = opendir(dir)) == NULL) {
		return tp_err_set(err, TP_FAILED_PRECONDITION,
		    "could not open migrations directory \"%s\": %s", dir,
		    strerror(errno));
	}
	while ((e = readdir(d)) != NULL) {
		mfile       f    = { 0 };
		tp_err      perr = { 0 };
		char        path[PATH_MAX];
		struct stat st;

		if (!is_candidate(e->d_name)) {
			continue;
		}
		if (db_migration_parse_name(
		        &f.version, f.desc, sizeof(f.desc), e->d_name, &perr)
		    != TP_OK) {
			rc = tp_err_set(err, TP_FAILED_PRECONDITION,
			    "%s in \"%s\"", perr.msg, dir);
			goto out;
		}
		if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name)
		    >= (int) sizeof(path)) {
			rc = tp_err_set(err, TP_FAILED_PRECONDITION,
			    "migration path too long in \"%s\"", dir);
			goto out;
		}
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
			rc = tp_err_set(err, TP_FAILED_PRECONDITION,
			    "migration \"%s\" is not a regular file", path);
			goto out;
		}
		if ((rc = read_file(&f.sql, path, err)) != TP_OK) {
			goto out;
		}
		f.name     = tp_xstrdup(e->d_name);
		f.checksum = db_migration_checksum(f.sql, strlen(f.sql));
		files      = tp_xrealloc(files, (n + 1) * sizeof(*files));
		files[n++] = f;
	}
	qsort(files, n, sizeof(*files), cmp_file);
	for (size_t i = 1; i < n; i++) {
		if (files[i].version == files[i - 1].version) {
			rc = tp_err_set(err, TP_FAILED_PRECONDITION,
			    "two migrations with version %d in \"%s\": \"%s\" "
			    "and \"%s\"",
			    files[i].version, dir, files[i - 1].name,
			    files[i].name);
			goto out;
		}
	}
	*out   = files;
	*n_out = n;
	files  = NULL;
	n      = 0;
out:
	free_files(files, n);
	closedir(d);
	return rc;
}

static void
lock_key(char *buf, size_t size, const char *schema)
{
	snprintf(buf, size, "tp.migrate.%s", schema);
}

/* history_exists: whether <schema>.schema_history is there (no lock needed). */
static tp_status
history_exists(bool *out, db_conn *c, const char *schema, tp_err *err)
{
	char        name[SCHEMA_MAX + 32];
	const char *params[1] = { name };
	db_rows    *rows      = NULL;
	tp_status   rc;

	snprintf(name, sizeof(name), "\"%s\".schema_history", schema);
	rc = db_exec(
	    c, &rows, "SELECT to_regclass($1) IS NOT NULL", 1, params, err);
	if (rc == TP_OK) {
		*out = db_rows_bool(rows, 0, 0);
	}
	db_rows_free(rows);
	return rc;
}

static tp_status
load_history(
    applied **out, size_t *n_out, db_conn *c, const char *schema, tp_err *err)
{
	char      sql[SQL_MAX];
	db_rows  *rows = NULL;
	applied  *h    = NULL;
	int       n;
	tp_status rc;

	snprintf(sql, sizeof(sql),
	    "SELECT version, description, script, checksum, success, "
	    "to_char(installed_on AT TIME ZONE 'UTC', "
	    "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') "
	    "FROM \"%s\".schema_history ORDER BY version",
	    schema);
	if ((rc = db_exec(c, &rows, sql, 0, NULL, err)) != TP_OK) {
		return rc;
	}
	n = db_rows_count(rows);
	h = tp_xcalloc((size_t) n + 1, sizeof(*h));
	for (int i = 0; i < n; i++) {
		h[i].version  = (int) db_rows_int64(rows, i, 0);
		h[i].checksum = (int32_t) db_rows_int64(rows, i, 3);
		h[i].success  = db_rows_bool(rows, i, 4);
		snprintf(h[i].desc, sizeof(h[i].desc), "%s",
		    db_rows_get(rows, i, 1));
		snprintf(h[i].script, sizeof(h[i].script), "%s",
		    db_rows_get(rows, i, 2));
		snprintf(h[i].installed_on, sizeof(h[i].installed_on), "%s",
		    db_rows_get(rows, i, 5));
	}
	db_rows_free(rows);
	*out   = h;
	*n_out = (size_t) n;
	return TP_OK;
}

static const mfile *
find_file(const mfile *files, size_t n, int version)
{
	for (size_t i = 0; i < n; i++) {
		if (files[i].version == version) {
			return &files[i];
		}
	}
	return NULL;
}

static const applied *
find_applied(const applied *h, size_t n, int version)
{
	for (size_t i = 0; i < n; i++) {
		if (h[i].version == version) {
			return &h[i];
		}
	}
	return NULL;
}

/* validate refuses the run when the history and the folder disagree. */
static tp_status
validate(const char *schema, const char *dir, const mfile *files, size_t nf,
    const applied *h, size_t nh, tp_err *err)
{
	int latest = 0;

	for (size_t i = 0; i < nh; i++) {
		const mfile *f = find_file(files, nf, h[i].version);
		if (!h[i].success) {
			return tp_err_set(err, TP_FAILED_PRECONDITION,
			    "migration V%d (%s) of schema %s is recorded as "
			    "failed in %s.schema_history: repair it by hand",
			    h[i].version, h[i].script, schema, schema);
		}
		if (f == NULL) {
			return tp_err_set(err, TP_FAILED_PRECONDITION,
			    "applied migration V%d (%s) of schema %s is "
			    "missing from \"%s\"",
			    h[i].version, h[i].script, schema, dir);
		}
		if (f->checksum != h[i].checksum) {
			return tp_err_set(err, TP_FAILED_PRECONDITION,
			    "migration %s of schema %s was changed after it "
			    "was applied (checksum %" PRId32 ", applied "
			    "%" PRId32 ")",
			    f->name, schema, f->checksum, h[i].checksum);
		}
		if (h[i].version > latest) {
			latest = h[i].version;
		}
	}
	for (size_t i = 0; i < nf; i++) {
		if (files[i].version < latest
		    && find_applied(h, nh, files[i].version) == NULL) {
			return tp_err_set(err, TP_FAILED_PRECONDITION,
			    "migration %s of schema %s is older than the "
			    "latest applied version V%d and was never applied",
			    files[i].name, schema, latest);
		}
	}
	return TP_OK;
}

/* apply runs one file and records it, in one transaction. */
static tp_status
apply(db_conn *c, const char *schema, const mfile *f, tp_err *err)
{
	char        sql[SQL_MAX];
	char        version[16];
	char        checksum[16];
	char        ms[24];
	const char *params[5] = { version, f->desc, f->name, checksum, ms };
	long long   t0        = tp_clock_mono_ms();
	tp_status   rc;

	tp_log_info("db.migrate",
	    "applying migration schema=%s version=%d file=%s", schema,
	    f->version, f->name);
	if ((rc = db_exec_simple(c, "BEGIN", err)) != TP_OK) {
		return rc;
	}
	if ((rc = db_exec_simple(c, f->sql, err)) != TP_OK) {
		rc = tp_err_set(err, rc,
		    "could not apply migration %s of schema %s: %s (SQLSTATE "
		    "%s)",
		    f->name, schema, db_conn_last_error(c),
		    *db_conn_last_sqlstate(c) ? db_conn_last_sqlstate(c)
		                              : "none");
		db_conn_rollback(c);
		return rc;
	}
	snprintf(version, sizeof(version), "%d", f->version);
	snprintf(checksum, sizeof(checksum), "%" PRId32, f->checksum);
	snprintf(ms, sizeof(ms), "%lld", tp_clock_mono_ms() - t0);
	snprintf(sql, sizeof(sql),
	    "INSERT INTO \"%s\".schema_history (version, description, script, "
	    "checksum, execution_time, success) "
	    "VALUES ($1, $2, $3, $4, $5, true)",
	    schema);
	if ((rc = db_exec(c, NULL, sql, 5, params, err)) == TP_OK) {
		rc = db_exec_simple(c, "COMMIT", err);
	}
	if (rc != TP_OK) {
		rc = tp_err_set(err, rc,
		    "could not record migration %s of schema %s: %s", f->name,
		    schema, db_conn_last_error(c));
		db_conn_rollback(c);
		return rc;
	}
	tp_log_info("db.migrate",
	    "applied migration schema=%s version=%d file=%s ms=%lld", schema,
	    f->version, f->name, tp_clock_mono_ms() - t0);
	return TP_OK;
}

tp_status
db_migrate(db_conn *c, const char *schema, const char *dir, tp_err *err)
{
	tp_status   rc       = TP_OK;
	mfile      *files    = NULL;
	size_t      nf       = 0;
	applied    *hist     = NULL;
	size_t      nh       = 0;
	bool        locked   = false;
	bool        hold_set = false;
	bool        was_held = false;
	int         done     = 0;
	int         latest   = 0;
	char        key[SCHEMA_MAX + 16];
	const char *params[1] = { key };
	char        sql[SQL_MAX];

	if ((rc = check_schema(schema, err)) != TP_OK) {
		goto out;
	}
	if ((rc = load_dir(&files, &nf, dir, err)) != TP_OK) {
		goto out;
	}
	lock_key(key, sizeof(key), schema);
	if ((rc = db_conn_ensure(c, err)) != TP_OK) {
		goto out;
	}
	/* From the lock on, a reconnect would lose it: fail instead. */
	was_held = db_conn_hold(c, true);
	hold_set = true;
	if ((rc = db_exec(c, NULL, "SELECT pg_advisory_lock(hashtext($1))", 1,
	         params, err))
	    != TP_OK) {
		goto out;
	}
	locked = true;
	snprintf(sql, sizeof(sql),
	    "CREATE SCHEMA IF NOT EXISTS \"%s\";\n"
	    "CREATE TABLE IF NOT EXISTS \"%s\".schema_history (\n"
	    "    installed_rank serial PRIMARY KEY,\n"
	    "    version        integer NOT NULL UNIQUE,\n"
	    "    description    text NOT NULL,\n"
	    "    script         text NOT NULL,\n"
	    "    checksum       integer NOT NULL,\n"
	    "    installed_by   text NOT NULL DEFAULT current_user,\n"
	    "    installed_on   timestamptz NOT NULL DEFAULT now(),\n"
	    "    execution_time integer NOT NULL,\n"
	    "    success        boolean NOT NULL\n"
	    ")",
	    schema, schema);
	if ((rc = db_exec_simple(c, sql, err)) != TP_OK) {
		goto out;
	}
	if ((rc = load_history(&hist, &nh, c, schema, err)) != TP_OK) {
		goto out;
	}
	if ((rc = validate(schema, dir, files, nf, hist, nh, err)) != TP_OK) {
		tp_log_error("db.migrate",
		    "refusing to migrate schema=%s reason=\"%s\"", schema,
		    err != NULL ? err->msg : "");
		goto out;
	}
	for (size_t i = 0; i < nh; i++) {
		latest = hist[i].version > latest ? hist[i].version : latest;
	}
	for (size_t i = 0; i < nf; i++) {
		if (find_applied(hist, nh, files[i].version) != NULL) {
			continue;
		}
		if ((rc = apply(c, schema, &files[i], err)) != TP_OK) {
			tp_log_error("db.migrate",
			    "migration failed schema=%s file=%s", schema,
			    files[i].name);
			goto out;
		}
		latest = files[i].version;
		done++;
	}
	tp_log_info("db.migrate",
	    "schema up to date schema=%s version=%d applied=%d", schema, latest,
	    done);
out:
	if (locked && db_conn_usable(c)) {
		tp_err uerr;
		if (db_exec(c, NULL, "SELECT pg_advisory_unlock(hashtext($1))",
		        1, params, &uerr)
		    != TP_OK) {
			tp_log_warn("db.migrate",
			    "could not release the migration lock schema=%s "
			    "error=\"%s\"",
			    schema, uerr.msg);
		}
	}
	if (hold_set) {
		db_conn_hold(c, was_held);
	}
	free(hist);
	free_files(files, nf);
	return rc;
}

typedef struct info_row {
	char        version[16];
	const char *desc;
	const char *installed_on;
	const char *state;
} info_row;

static void
rule(FILE *out, const size_t *w)
{
	fputc('+', out);
	for (int i = 0; i < 4; i++) {
		for (size_t k = 0; k < w[i] + 2; k++) {
			fputc('-', out);
		}
		fputc('+', out);
	}
	fputc('\n', out);
}

static void
row(FILE *out, const size_t *w, const char *a, const char *b, const char *c,
    const char *d)
{
	fprintf(out, "| %-*s | %-*s | %-*s | %-*s |\n", (int) w[0], a,
	    (int) w[1], b, (int) w[2], c, (int) w[3], d);
}

static size_t
max_sz(size_t a, size_t b)
{
	return a > b ? a : b;
}

tp_status
db_migrate_info(
    db_conn *c, const char *schema, const char *dir, FILE *out, tp_err *err)
{
	tp_status rc     = TP_OK;
	mfile    *files  = NULL;
	size_t    nf     = 0;
	applied  *hist   = NULL;
	size_t    nh     = 0;
	info_row *rows   = NULL;
	size_t    nr     = 0;
	bool      exists = false;
	size_t    w[4]   = { 7, 11, 12, 5 };
	size_t    i = 0, j = 0;

	if ((rc = check_schema(schema, err)) != TP_OK) {
		goto out;
	}
	if ((rc = load_dir(&files, &nf, dir, err)) != TP_OK) {
		goto out;
	}
	if ((rc = history_exists(&exists, c, schema, err)) != TP_OK) {
		goto out;
	}
	if (exists
	    && (rc = load_history(&hist, &nh, c, schema, err)) != TP_OK) {
		goto out;
	}
	/* Merge the two version-sorted lists. */
	rows = tp_xcalloc(nf + nh + 1, sizeof(*rows));
	while (i < nf || j < nh) {
		info_row *r = &rows[nr++];
		if (j >= nh || (i < nf && files[i].version < hist[j].version)) {
			snprintf(r->version, sizeof(r->version), "%d",
			    files[i].version);
			r->desc         = files[i].desc;
			r->installed_on = "";
			r->state        = "Pending";
			i++;
			continue;
		}
		snprintf(r->version, sizeof(r->version), "%d", hist[j].version);
		r->desc         = hist[j].desc;
		r->installed_on = hist[j].installed_on;
		if (!hist[j].success) {
			r->state = "Failed";
		} else if (i >= nf || files[i].version != hist[j].version) {
			r->state = "Missing";
		} else if (files[i].checksum != hist[j].checksum) {
			r->state = "Changed";
		} else {
			r->state = "Success";
		}
		if (i < nf && files[i].version == hist[j].version) {
			i++;
		}
		j++;
	}
	for (size_t k = 0; k < nr; k++) {
		w[0] = max_sz(w[0], strlen(rows[k].version));
		w[1] = max_sz(w[1], strlen(rows[k].desc));
		w[2] = max_sz(w[2], strlen(rows[k].installed_on));
		w[3] = max_sz(w[3], strlen(rows[k].state));
	}
	if (nr == 0) {
		w[1] = max_sz(w[1], strlen("No migrations found"));
	}
	fprintf(out, "Schema %s (%s)\n", schema, dir);
	rule(out, w);
	row(out, w, "Version", "Description", "Installed on", "State");
	rule(out, w);
	if (nr == 0) {
		row(out, w, "", "No migrations found", "", "");
	}
	for (size_t k = 0; k < nr; k++) {
		row(out, w, rows[k].version, rows[k].desc, rows[k].installed_on,
		    rows[k].state);
	}
	rule(out, w);
	if (fflush(out) != 0) {
		rc = tp_err_set(err, TP_INTERNAL,
		    "could not write the table: %s", strerror(errno));
	}
out:
	free(rows);
	free(hist);
	free_files(files, nf);
	return rc;
}
