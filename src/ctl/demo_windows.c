/*
 * citasctl demo-windows [--office CODE]... [--procedure P] [--days N] [--slot-minutes M] [--seats S]
 *                       [--redis HOST:PORT] [--dsn DSN]
 * Opens a demo calendar window per office (default LAX, MAD and CHI; passport_renewal; from tomorrow in
 * the office's zone for 14 days; 30-minute slots of 4 seats; released now) in PostgreSQL, then loads its
 * slots into Redis with calendar's loader script when a Redis is given (--redis, or env CITAS_REDIS_HOST
 * and CITAS_REDIS_PORT). An office that already has an open window of the procedure over those days is
 * left as it is, so running it twice is harmless.
 */
#include "ctl.h"
#include "citas/calendar.h"

#include <getopt.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OFFICES 32

static const char sql_open[] =
    "SELECT window_id, nslots FROM calendar_open_window($1, $2,"
    " (SELECT (now() AT TIME ZONE time_zone)::date + 1 FROM offices WHERE code = $1),"
    " (SELECT (now() AT TIME ZONE time_zone)::date + $3::integer FROM offices WHERE code = $1),"
    " $4::integer, $5::integer, '{}', now(), NULL)";

static void usage(void)
{
    fprintf(stderr, "usage: citasctl demo-windows [--office CODE]... [--procedure P] [--days N]"
                    " [--slot-minutes M] [--seats S] [--redis HOST:PORT] [--dsn DSN]\n");
}

/* Loads window `id` into Redis; returns the slots loaded or -1. */
static long load(PGconn *conn, redisContext *rc, const char *id)
{
    PGresult *res;
    const char *v[] = {id};
    if (ctl_exec(conn, calendar_sql_load_window, 1, v, &res) != 0)
        return -1;
    int n = PQntuples(res);
    const char **argv = malloc(sizeof(*argv) * (3 + 6 + 6 * CALENDAR_LOAD_BATCH));
    long loaded = argv != NULL ? 0 : -1;
    char key[96];
    for (int from = 0; loaded >= 0 && from < n; from += CALENDAR_LOAD_BATCH) {
        int to = from + CALENDAR_LOAD_BATCH < n ? from + CALENDAR_LOAD_BATCH : n;
        argv[0] = "EVAL";
        argv[1] = calendar_load_lua;
        argv[2] = "1";
        int argc = calendar_load_args(res, from, to, key, argv + 3);
        redisReply *r = argc > 0 ? redisCommandArgv(rc, argc + 3, argv, NULL) : NULL;
        if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
            fprintf(stderr, "citasctl demo-windows: Redis: %s\n",
                    r != NULL && r->type == REDIS_REPLY_ERROR ? r->str : rc->errstr);
            loaded = -1;
        } else {
            loaded += (long)r->integer;
        }
        freeReplyObject(r);
    }
    free(argv);
    PQclear(res);
    return loaded;
}

int ctl_demo_windows(int argc, char **argv)
{
    static const struct option opts[] = {
        {"office", required_argument, NULL, 'o'}, {"procedure", required_argument, NULL, 'p'},
        {"days", required_argument, NULL, 'n'},   {"slot-minutes", required_argument, NULL, 'm'},
        {"seats", required_argument, NULL, 's'},  {"redis", required_argument, NULL, 'r'},
        {"dsn", required_argument, NULL, 'd'},    {NULL, 0, NULL, 0},
    };
    const char *offices[MAX_OFFICES], *procedure = "passport_renewal", *days = "14", *minutes = "30",
                                      *seats = "4", *dsn = NULL;
    size_t noffices = 0;
    char redis_host[256] = "";
    int redis_port = 0, c;
    const char *env_host = getenv("CITAS_REDIS_HOST"), *env_port = getenv("CITAS_REDIS_PORT");
    if (env_port != NULL && env_port[0] != '\0') {
        snprintf(redis_host, sizeof(redis_host), "%s",
                 env_host != NULL && env_host[0] ? env_host : "127.0.0.1");
        redis_port = atoi(env_port);
    }
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            if (noffices == MAX_OFFICES) {
                usage();
                return 2;
            }
            offices[noffices++] = optarg;
            break;
        case 'p':
            procedure = optarg;
            break;
        case 'n':
            days = optarg;
            break;
        case 'm':
            minutes = optarg;
            break;
        case 's':
            seats = optarg;
            break;
        case 'd':
            dsn = optarg;
            break;
        case 'r': {
            const char *colon = strrchr(optarg, ':');
            if (colon == NULL || colon == optarg || (size_t)(colon - optarg) >= sizeof(redis_host)) {
                usage();
                return 2;
            }
            memcpy(redis_host, optarg, (size_t)(colon - optarg));
            redis_host[colon - optarg] = '\0';
            redis_port = atoi(colon + 1);
            break;
        }
        default:
            usage();
            return 2;
        }
    }
    if (optind != argc || atoi(days) < 1 || atoi(days) > 180) {
        usage();
        return 2;
    }
    if (noffices == 0) {
        offices[noffices++] = "LAX";
        offices[noffices++] = "MAD";
        offices[noffices++] = "CHI";
    }
    PGconn *conn = ctl_connect(ctl_dsn(dsn));
    if (conn == NULL)
        return 1;
    redisContext *rc = NULL;
    if (redis_port > 0) {
        rc = redisConnect(redis_host, redis_port);
        if (rc == NULL || rc->err) {
            fprintf(stderr, "citasctl demo-windows: cannot connect to Redis %s:%d: %s\n", redis_host,
                    redis_port, rc != NULL ? rc->errstr : "out of memory");
            redisFree(rc);
            PQfinish(conn);
            return 1;
        }
    }
    int status = 0;
    for (size_t i = 0; i < noffices; i++) {
        const char *v[] = {offices[i], procedure, days, minutes, seats};
        PGresult *res = PQexecParams(conn, sql_open, 5, NULL, v, NULL, NULL, 0);
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
            const char *id = PQgetvalue(res, 0, 0);
            printf("%s: window %s with %s slots of %s\n", offices[i], id, PQgetvalue(res, 0, 1), procedure);
            if (rc != NULL) {
                long n = load(conn, rc, id);
                if (n < 0)
                    status = 1;
                else
                    printf("%s: %ld slots loaded into Redis\n", offices[i], n);
            }
        } else if (state != NULL && strcmp(state, "CA409") == 0) {
            printf("%s: already has an open %s window over these days\n", offices[i], procedure);
        } else {
            fprintf(stderr, "citasctl demo-windows: %s: %s", offices[i], PQresultErrorMessage(res));
            status = 1;
        }
        PQclear(res);
    }
    redisFree(rc);
    PQfinish(conn);
    return status;
}
