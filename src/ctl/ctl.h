/*
 * citasctl internals: one file per subcommand, each exporting `int ctl_<name>(int argc, char **argv)`
 * (argv[0] is the subcommand's name; returns the process exit status), listed in main.c's table.
 * citasctl is a command-line tool: synchronous libpq is fine here, and errors go to stderr.
 */
#ifndef CITAS_CTL_H
#define CITAS_CTL_H

#include <libpq-fe.h>

int ctl_migrate(int argc, char **argv);
int ctl_rebuild_redis(int argc, char **argv);
int ctl_create_staff(int argc, char **argv);
int ctl_demo_windows(int argc, char **argv);
int ctl_verify_audit(int argc, char **argv);

/* The conninfo to use: env CITAS_PG_DSN overrides `flag` (from --dsn); "" means libpq's defaults. */
const char *ctl_dsn(const char *flag);

/* Connects, quiets notices; prints the reason and returns NULL on failure. */
PGconn *ctl_connect(const char *dsn);

/* Runs a parameterised statement; prints the error and returns -1 unless it succeeded. The result is
 * stored in *out (caller PQclear()s) when out is not NULL, else cleared. */
int ctl_exec(PGconn *conn, const char *sql, int nparams, const char *const *values, PGresult **out);

#endif
