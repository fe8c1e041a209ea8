/*
 * migrate.h: the Flyway-style migration runner. Each schema has a folder of
 * versioned files `V<n>__<description>.sql` and a history table
 * `<schema>.schema_history` (version, description, script, checksum,
 * installed_on, execution_time, success). Each migration runs in its own
 * transaction; a session advisory lock per schema makes two processes
 * starting together apply each migration once; a start is refused when an
 * applied file's checksum changed or an applied version's file is missing.
 */
#ifndef DB_MIGRATE_H
#define DB_MIGRATE_H

#include <stdint.h>
#include <stdio.h>

#include "common/status.h"
#include "db/conn.h"

#define DB_MIGRATION_DESC_MAX 128

/*
 * db_migration_parse_name parses "V2__add_scheduler_task_id.sql" into its
 * version (2) and description ("add scheduler task id", underscores as
 * spaces, as Flyway shows it). TP_INVALID_ARGUMENT for any other form
 * (version 1..2^31-1, no leading zeros, description non-empty, [A-Za-z0-9_]).
 */
TP_MUST_CHECK tp_status db_migration_parse_name(int *version, char *desc,
    size_t desc_size, const char *filename, tp_err *err);

/* db_migration_checksum is the CRC-32 of a file's bytes, as a signed int. */
int32_t db_migration_checksum(const char *data, size_t len);

/*
 * db_migrate applies the pending migrations of schema from dir (creating the
 * schema and its history table when absent). TP_OK when the schema is up to
 * date; TP_FAILED_PRECONDITION when an applied file changed or is missing
 * (nothing applied); the database's status when a migration fails (that
 * migration rolled back, the ones before it kept). Blocks.
 */
TP_MUST_CHECK tp_status db_migrate(
    db_conn *c, const char *schema, const char *dir, tp_err *err);

/*
 * db_migrate_info writes a Flyway-like table of every version of schema, in
 * dir or in the history, with its state (Success, Pending, Failed, Missing,
 * Changed) to out.
 */
TP_MUST_CHECK tp_status db_migrate_info(
    db_conn *c, const char *schema, const char *dir, FILE *out, tp_err *err);

#endif /* DB_MIGRATE_H */
