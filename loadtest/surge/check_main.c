/*
 * surge-check: after a surge, compares the answer log with PostgreSQL and Redis and writes the report.
 * Exit status: 0 no violation, 1 violations (each printed as "VIOLATION: ..."), 2 bad usage or a backend
 * that could not be read. See check.h and loadtest/surge/run.
 */
#include "check.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: surge-check --log FILE --accounts FILE --pg DSN --redis HOST:PORT --office CODE\n"
            "         --procedure CODE --release-epoch-ms T [--window ID] [--faults DESCRIPTION]\n"
            "         [--hold-wait-ms N] [--report DIR --wrk-rps X --wrk-p99-ms Y]\n"
            "  --faults: fault modes ran (5xx answers are reported, not violations)\n"
            "  --hold-wait-ms: wait this long for live holds to expire before comparing Redis (default 0)\n"
            "  --report DIR: write DIR/report.txt, report.json and series.tsv (for report.gp)\n");
}

int main(int argc, char **argv)
{
    enum {
        O_LOG = 1,
        O_ACC,
        O_PG,
        O_REDIS,
        O_OFFICE,
        O_PROC,
        O_T,
        O_WIN,
        O_FAULTS,
        O_WAIT,
        O_REPORT,
        O_WRK,
        O_WRK99
    };
    static const struct option opts[] = {{"log", required_argument, 0, O_LOG},
                                         {"accounts", required_argument, 0, O_ACC},
                                         {"pg", required_argument, 0, O_PG},
                                         {"redis", required_argument, 0, O_REDIS},
                                         {"office", required_argument, 0, O_OFFICE},
                                         {"procedure", required_argument, 0, O_PROC},
                                         {"release-epoch-ms", required_argument, 0, O_T},
                                         {"window", required_argument, 0, O_WIN},
                                         {"faults", required_argument, 0, O_FAULTS},
                                         {"hold-wait-ms", required_argument, 0, O_WAIT},
                                         {"report", required_argument, 0, O_REPORT},
                                         {"wrk-rps", required_argument, 0, O_WRK},
                                         {"wrk-p99-ms", required_argument, 0, O_WRK99},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *log = NULL, *accounts = NULL, *redis = NULL, *faults = NULL;
    struct check_opts o = {.procedure = NULL};
    struct report_opts ro = {.dir = NULL};
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case O_LOG:
            log = optarg;
            break;
        case O_ACC:
            accounts = optarg;
            break;
        case O_PG:
            o.pg_dsn = optarg;
            break;
        case O_REDIS:
            redis = optarg;
            break;
        case O_OFFICE:
            o.office = optarg;
            break;
        case O_PROC:
            o.procedure = optarg;
            break;
        case O_T:
            o.release_ms = strtoll(optarg, NULL, 10);
            break;
        case O_WIN:
            o.window_id = strtoll(optarg, NULL, 10);
            break;
        case O_FAULTS:
            faults = optarg;
            break;
        case O_WAIT:
            o.hold_wait_ms = atoi(optarg);
            break;
        case O_REPORT:
            ro.dir = optarg;
            break;
        case O_WRK:
            ro.wrk_rps = strtod(optarg, NULL);
            break;
        case O_WRK99:
            ro.wrk_p99_ms = strtod(optarg, NULL);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    static char host[256];
    const char *colon = redis != NULL ? strrchr(redis, ':') : NULL;
    if (optind != argc || log == NULL || accounts == NULL || o.pg_dsn == NULL || colon == NULL ||
        o.office == NULL || o.procedure == NULL || o.release_ms <= 0 ||
        (size_t)(colon - redis) >= sizeof(host)) {
        usage(stderr);
        return 2;
    }
    memcpy(host, redis, (size_t)(colon - redis));
    o.redis_host = host;
    o.redis_port = atoi(colon + 1);
    o.faults = faults != NULL && faults[0] != '\0';

    char err[512] = "";
    struct account *acc = NULL;
    uint32_t nacc = 0;
    if (check_accounts_read(accounts, &acc, &nacc, err, sizeof(err)) != 0) {
        fprintf(stderr, "surge-check: %s\n", err);
        return 2;
    }
    struct answers a;
    memset(&a, 0, sizeof(a));
    a.nusers = nacc;
    if (check_log_read(log, &a, err, sizeof(err)) != 0) {
        fprintf(stderr, "surge-check: %s\n", err);
        return 2;
    }
    struct db_result db;
    long v = check_db_run(&o, &a, acc, nacc, &db, stdout, err, sizeof(err));
    if (v < 0) {
        fprintf(stderr, "surge-check: %s\n", err);
        return 2;
    }
    printf("surge-check: %" PRIu64 " answers, %zu answered 201, %" PRId64
           " active appointments, %ld violation(s)\n",
           a.lines, a.nwins, db.active_rows, v);
    int rc = v > 0 ? 1 : 0;
    if (ro.dir != NULL) {
        ro.violations = v;
        ro.faults = o.faults;
        ro.faults_desc = faults != NULL ? faults : "";
        ro.seats = db.seats;
        fputc('\n', stdout);
        if (check_report_write(&ro, &a, &db, stdout) != 0) {
            fprintf(stderr, "surge-check: could not write the report in %s\n", ro.dir);
            rc = 2;
        }
    }
    check_log_free(&a);
    for (uint32_t i = 0; i < nacc; i++) {
        free(acc[i].email);
        free(acc[i].document);
    }
    free(acc);
    return rc;
}
