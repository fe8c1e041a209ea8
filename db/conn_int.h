/*
 * conn_int.h: what db/ itself needs from a connection beyond conn.h (the
 * migration runner reports the server's own words for a failed file).
 * Private to db/.
 */
#ifndef DB_CONN_INT_H
#define DB_CONN_INT_H

#include "db/conn.h"

/*
 * db_conn_last_error returns the primary message of the last failed
 * statement on c ("" when none), borrowed until the next call on c. It may
 * hold values from the statement, so it is for operators (tpmigrate, logs),
 * never for RPC clients.
 */
const char *db_conn_last_error(const db_conn *c);

/* db_conn_last_sqlstate is the SQLSTATE of the last failed statement, or "". */
const char *db_conn_last_sqlstate(const db_conn *c);

/*
 * db_conn_usable: connected and not marked lost. Unlike db_conn_ensure it
 * never reconnects (a new session would not hold our locks).
 */
bool db_conn_usable(const db_conn *c);

/*
 * db_conn_hold sets whether c may reconnect: while held, a lost connection
 * stays lost and every call returns TP_UNAVAILABLE, because a new session
 * holds neither the open transaction nor the session's advisory locks.
 * Returns the previous setting, for the caller to restore.
 */
bool db_conn_hold(db_conn *c, bool hold);

/* db_conn_rollback ends an open transaction, without reconnecting. */
void db_conn_rollback(db_conn *c);

#endif /* DB_CONN_INT_H */
