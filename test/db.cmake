# db: the SQLSTATE table and the migration file names (unit); the migration
# runner, tpmigrate and the connection helpers against real PostgreSQL
# (integration).
tp_add_unit_test(migrate LIBS tp_db)
tp_add_unit_test(db_status LIBS tp_db)
tp_add_integration_test(migrate TIMEOUT 180 LIBS tp_db)
tp_add_integration_test(db_conn TIMEOUT 120 LIBS tp_db)
if(TARGET migrate_itest)
	# It runs the tpmigrate binary too.
	add_dependencies(migrate_itest tpmigrate)
endif()
# The harness itself: databases, processes, HTTP, the RPC health wait.
tp_add_integration_test(harness TIMEOUT 60 LIBS tp_db tp_rpc Threads::Threads)
