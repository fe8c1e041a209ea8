/*
 * main.c: the dtp binary: the built-in task types (and the exec types of
 * --exec) on a DTP node; run.c does the rest.
 */
#include "scheduler/handler.h"
#include "scheduler/run.h"

int
main(int argc, char **argv)
{
	return dtp_run_main(argc, argv, dtp_registry_new());
}
