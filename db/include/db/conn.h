/*
 * conn.h: the libpq helpers every service uses. One db_conn is owned by one
 * thread at a time (never shared). Every statement is parameterised; results
 * are handed out as db_rows (libpq's PGresult never leaves db/). SQLSTATEs
 * are mapped to tp_status here and nowhere else:
 *   23505 -> ALREADY_EXISTS, 57014 -> DEADLINE_EXCEEDED, class 22 ->
 *   INVALID_ARGUMENT, 40001/40P01 -> retried by db_tx, then UNAVAILABLE,
 *   connection lost -> UNAVAILABLE (the next call reconnects),
 *   anything else -> INTERNAL (full message logged, "internal error" returned).
 */
#ifndef DB_CONN_H
#define DB_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

typedef struct db_conn db_conn;
typedef struct db_rows db_rows;

/*
 * db_conn_open connects with a libpq connection string or URL. Returns TP_OK
 * and *out (caller frees with db_conn_free), or TP_UNAVAILABLE with the
 * reason (password redacted). Blocks.
 */
TP_MUST_CHECK tp_status db_conn_open(
    db_conn **out, const char *conninfo, tp_err *err);

/* db_conn_free closes the connection. NULL is a no-op. */
void db_conn_free(db_conn *c);

/*
 * db_conn_ensure reconnects when the connection was lost (and re-issues its
 * LISTENs). TP_OK when usable, TP_UNAVAILABLE otherwise. Blocks.
 */
TP_MUST_CHECK tp_status db_conn_ensure(db_conn *c, tp_err *err);

/*
 * db_exec runs one parameterised statement. params are text values (NULL
 * for SQL NULL), borrowed. Statements are prepared once per connection and
 * cached by their SQL text, so pass the same string for the same statement.
 * On TP_OK and out != NULL, *out holds the rows (caller frees with
 * db_rows_free). On failure nothing is returned and the status is mapped as
 * above. Reconnects first when the connection was lost. Blocks.
 */
TP_MUST_CHECK tp_status db_exec(db_conn *c, db_rows **out, const char *sql,
    int n_params, const char *const *params, tp_err *err);

/*
 * db_exec_simple runs SQL text without parameters (several statements
 * allowed: migrations, BEGIN/COMMIT). Never pass input-derived text.
 */
TP_MUST_CHECK tp_status db_exec_simple(db_conn *c, const char *sql, tp_err *err);

/* db_rows_count is the number of rows; db_rows_affected the command's row count. */
int       db_rows_count(const db_rows *r);
long long db_rows_affected(const db_rows *r);
/* db_rows_get returns the text of a field, "" for NULL; borrowed until db_rows_free. */
const char *db_rows_get(const db_rows *r, int row, int col);
bool        db_rows_is_null(const db_rows *r, int row, int col);
/* db_rows_int64 parses a field as an integer; 0 for NULL. */
int64_t db_rows_int64(const db_rows *r, int row, int col);
/* db_rows_bool is true for 't'. */
bool db_rows_bool(const db_rows *r, int row, int col);
/* db_rows_free releases the rows. NULL is a no-op. */
void db_rows_free(db_rows *r);

/*
 * db_tx runs fn inside BEGIN ... COMMIT on c, rolling back when fn fails.
 * A serialization failure or deadlock (40001, 40P01) reruns the whole
 * transaction up to 3 times, then returns TP_UNAVAILABLE. fn must only use
 * c and must be safe to rerun.
 */
typedef tp_status (*db_tx_cb)(db_conn *c, void *arg, tp_err *err);
TP_MUST_CHECK tp_status db_tx(db_conn *c, db_tx_cb fn, void *arg, tp_err *err);

/*
 * db_listen issues LISTEN on channel (an identifier we choose, never input)
 * and remembers it, so a reconnect listens again.
 */
TP_MUST_CHECK tp_status db_listen(db_conn *c, const char *channel, tp_err *err);

/* db_conn_socket is the connection's socket for poll(), or -1. */
int db_conn_socket(db_conn *c);

/*
 * db_conn_next_notify reads what arrived on the socket without blocking and
 * returns one pending notification: TP_OK with *got set (and channel and
 * payload copied, truncated to their sizes; payload may be NULL), or
 * TP_UNAVAILABLE when the connection was lost.
 */
TP_MUST_CHECK tp_status db_conn_next_notify(db_conn *c, bool *got,
    char *channel, size_t channel_size, char *payload, size_t payload_size,
    tp_err *err);

/*
 * db_status_from_sqlstate maps a five-character SQLSTATE to a status (the
 * table above). NULL maps to TP_UNAVAILABLE (no server answer).
 */
tp_status db_status_from_sqlstate(const char *sqlstate);

#endif /* DB_CONN_H */
