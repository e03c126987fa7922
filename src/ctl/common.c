/* Helpers shared by the citasctl subcommands. */
#include "ctl.h"

#include <stdio.h>
#include <stdlib.h>

const char *ctl_dsn(const char *flag)
{
    const char *env = getenv("CITAS_PG_DSN");
    if (env != NULL && env[0] != '\0')
        return env;
    return flag != NULL ? flag : "";
}

static void on_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

PGconn *ctl_connect(const char *dsn)
{
    PGconn *conn = PQconnectdb(dsn);
    if (conn == NULL) {
        fprintf(stderr, "citasctl: out of memory\n");
        return NULL;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "citasctl: cannot connect to PostgreSQL: %s", PQerrorMessage(conn));
        PQfinish(conn);
        return NULL;
    }
    PQsetNoticeProcessor(conn, on_notice, NULL);
    return conn;
}

int ctl_exec(PGconn *conn, const char *sql, int nparams, const char *const *values, PGresult **out)
{
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, values, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        fprintf(stderr, "citasctl: %s", res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(conn));
        PQclear(res);
        return -1;
    }
    if (out != NULL)
        *out = res;
    else
        PQclear(res);
    return 0;
}
