/*
 * surge-check: the surge harness's checker and report (loadtest/surge/run calls it after a surge).
 *
 * It reads the answer log written by surge-gen (a TSV line per HTTP answer or failed exchange:
 * t_ms user bot route status latency_us slot code note [queue_us]; see loadtest/surge/gen_log.c: latency_us
 * is the server's time, written .. answered, queue_us the generator's, wanted .. written; older 9-field logs
 * have no queue_us),
 * the accounts file of the run (line i = user i: email, password, document), and compares what users were
 * told with PostgreSQL and Redis (check_db.c). It also aggregates the log into the report (check_report.c).
 * A tool, not a server: synchronous libpq and hiredis, one thread.
 */
#ifndef SURGE_CHECK_H
#define SURGE_CHECK_H

#include <stdint.h>
#include <stdio.h>

enum { ROUTE_LOGIN, ROUTE_LOGIN_CODE, ROUTE_AVAILABILITY, ROUTE_BOOK, ROUTE_CAPTCHA, ROUTE_OTHER, ROUTE_N };
extern const char *const check_route_names[ROUTE_N];

/* Status classes of the time series and the plot. */
enum { CLASS_2XX, CLASS_409, CLASS_429, CLASS_4XX, CLASS_5XX, CLASS_FAIL, CLASS_OTHER, CLASS_N };
extern const char *const check_class_names[CLASS_N];

/* Log-linear latency histogram in microseconds: exact below 256, then 128 buckets per power of two
 * (< 0.8% error); enough for p50..p99.9 over millions of answers in a few kilobytes. */
#define HIST_BUCKETS (256 + 24 * 128)
struct hist {
    uint32_t b[HIST_BUCKETS];
    uint64_t n;
    uint32_t max;
};
void hist_add(struct hist *h, uint32_t us);
/* The q-quantile (0..1) in microseconds; 0 for an empty histogram. */
double hist_quantile(const struct hist *h, double q);

/* One second of the run (t_ms / 1000, rounded down). */
struct second {
    uint32_t by_route[ROUTE_N];
    uint32_t by_class[CLASS_N];
    uint32_t booked;           /* 201s of book */
    struct hist *avail, *book; /* NULL until an answer of the route falls in this second */
};

/* A 201 of the log (each winner's claim, checked against PostgreSQL). */
struct win {
    int64_t t_ms, slot;
    uint32_t user;
    char code[16];
};

/* What the log says about one user. */
struct user_log {
    uint8_t seen, bot;
    uint8_t book_uncertain;  /* a book ended with no answer (status 0) or 503: its commit may have happened */
    uint8_t captcha_refused; /* a book answer refused the captcha (note "captcha") */
    uint16_t wins;
    uint32_t book_tries;
    int64_t first_book_ms; /* t_ms of the first book answer (INT64_MAX: none) */
};

struct answers {
    uint64_t lines, bad_lines;
    int64_t t_min, t_max; /* of all answers */
    struct hist route[ROUTE_N];
    struct hist queue[ROUTE_N]; /* queue_us: time inside the generator before the request was written */
    uint64_t lines_with_queue;
    uint64_t by_status[600]; /* [0] transport failures */
    uint64_t route_status[ROUTE_N][600];
    uint64_t notes_fail[8]; /* transport failure notes: timeout, reset, refused, other */
    int64_t sec0;           /* second index of seconds[0] */
    size_t nsec;
    struct second *seconds;
    struct win *wins;
    size_t nwins, capwins;
    struct user_log *users;
    uint32_t nusers; /* the accounts file's line count (log lines with a larger user number are bad) */
};

/* Reads the log into a (a->nusers set by the caller); 0, or -1 with a message in err. */
int check_log_read(const char *path, struct answers *a, char *err, size_t errlen);
void check_log_free(struct answers *a);

/* The accounts file, line i = user i: "email<TAB>password<TAB>document". */
struct account {
    char *email, *document;
    int64_t id; /* PostgreSQL's, filled by check_db_run (0: not found) */
};
int check_accounts_read(const char *path, struct account **out, uint32_t *n, char *err, size_t errlen);

/* What the database check found (for the report). */
struct db_result {
    int64_t seats, slots, active_rows, rows_without_201, rows_uncertain, bot_rows, capt_bot_rows;
    int64_t redis_live_holds;
    int64_t first_row_ms, last_row_ms; /* created_at of the run's rows relative to T */
};

struct check_opts {
    const char *pg_dsn, *redis_host, *office, *procedure;
    int redis_port;
    int faults;         /* fault modes ran: 5xx and transport failures are reported, not violations */
    int hold_wait_ms;   /* how long to wait for live holds to go before comparing Redis */
    int64_t release_ms; /* T, epoch ms */
    int64_t window_id;  /* 0: every slot of office+procedure */
};

/* Every violation is printed as one "VIOLATION: ..." line on out; returns how many (or -1 with err set
 * when a backend could not be read). */
long check_db_run(const struct check_opts *o, const struct answers *a, struct account *acc, uint32_t nacc,
                  struct db_result *res, FILE *out, char *err, size_t errlen);

struct report_opts {
    const char *dir;
    double wrk_rps, wrk_p99_ms;
    int64_t seats;
    long violations;
    int faults;
    const char *faults_desc; /* e.g. "kill-server-at=20" */
};
/* Writes DIR/report.txt, DIR/report.json, DIR/series.tsv; prints report.txt on out. 0 or -1. */
int check_report_write(const struct report_opts *o, const struct answers *a, const struct db_result *db,
                       FILE *out);

#endif
