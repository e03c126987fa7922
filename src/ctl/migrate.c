/*
 * citasctl migrate [--dir DIR] [--dsn DSN]: applies DIR/NNN_name.sql in numeric order, each once, each in
 * its own transaction together with its row in schema_migrations. DIR defaults to env CITAS_SQL_DIR, else
 * "sql" (relative to the working directory). An advisory lock serialises concurrent runs.
 *
 * A migration file must not contain transaction control (BEGIN/COMMIT): it runs inside ours.
 */
#include "ctl.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* pg_advisory_lock key of migrations ("cita" in ASCII) */
#define MIGRATE_LOCK_KEY "1668855905"

struct migration {
    long version;
    char name[256];
};

static int by_version(const void *a, const void *b)
{
    const struct migration *x = a, *y = b;
    return (x->version > y->version) - (x->version < y->version);
}

/* "NNN_anything.sql" → version NNN; -1 for other names. */
static long parse_name(const char *name)
{
    size_t digits = 0;
    while (isdigit((unsigned char)name[digits]))
        digits++;
    size_t len = strlen(name);
    if (digits == 0 || digits > 9 || name[digits] != '_' || len < digits + 5 ||
        strcmp(name + len - 4, ".sql") != 0)
        return -1;
    return strtol(name, NULL, 10);
}

static int list_migrations(const char *dir, struct migration **out, size_t *count)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "citasctl migrate: cannot open %s: %s\n", dir, strerror(errno));
        return -1;
    }
    struct migration *list = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long v = parse_name(e->d_name);
        if (v < 0)
            continue;
        if (strlen(e->d_name) >= sizeof(list->name)) {
            fprintf(stderr, "citasctl migrate: file name too long: %s\n", e->d_name);
            goto fail;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            struct migration *l = realloc(list, cap * sizeof(*l));
            if (l == NULL) {
                fprintf(stderr, "citasctl migrate: out of memory\n");
                goto fail;
            }
            list = l;
        }
        list[n].version = v;
        snprintf(list[n].name, sizeof(list[n].name), "%s", e->d_name);
        n++;
    }
    closedir(d);
    if (n > 0)
        qsort(list, n, sizeof(*list), by_version);
    for (size_t i = 1; i < n; i++) {
        if (list[i].version == list[i - 1].version) {
            fprintf(stderr, "citasctl migrate: two migrations with version %ld: %s and %s\n", list[i].version,
                    list[i - 1].name, list[i].name);
            free(list);
            return -1;
        }
    }
    *out = list;
    *count = n;
    return 0;
fail:
    closedir(d);
    free(list);
    return -1;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "citasctl migrate: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        if (len + 1 >= cap) {
            char *b = realloc(buf, cap * 2);
            if (b == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = b;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0)
            break;
    }
    int failed = ferror(f);
    fclose(f);
    if (buf == NULL || failed) {
        fprintf(stderr, "citasctl migrate: cannot read %s\n", path);
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    if (strlen(buf) != len) {
        fprintf(stderr, "citasctl migrate: %s contains a NUL byte\n", path);
        free(buf);
        return NULL;
    }
    return buf;
}

/* 1 if applied, 0 if not, -1 on error. */
static int is_applied(PGconn *conn, long version)
{
    char v[24];
    snprintf(v, sizeof(v), "%ld", version);
    const char *params[] = {v};
    PGresult *res;
    if (ctl_exec(conn, "SELECT 1 FROM schema_migrations WHERE version = $1::int", 1, params, &res) < 0)
        return -1;
    int applied = PQntuples(res) > 0;
    PQclear(res);
    return applied;
}

/* Runs one migration and records it, all in one transaction. */
static int apply(PGconn *conn, const char *dir, const struct migration *m)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, m->name);
    char *sql = read_file(path);
    if (sql == NULL)
        return -1;
    if (ctl_exec(conn, "BEGIN", 0, NULL, NULL) < 0) {
        free(sql);
        return -1;
    }
    /* the simple protocol runs every statement of the file; the first error stops it */
    PGresult *res = PQexec(conn, sql);
    free(sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
        fprintf(stderr, "citasctl migrate: %s failed, nothing of it was applied: %s", m->name,
                res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(conn));
        PQclear(res);
        PQclear(PQexec(conn, "ROLLBACK"));
        return -1;
    }
    PQclear(res);
    char v[24];
    snprintf(v, sizeof(v), "%ld", m->version);
    const char *params[] = {v, m->name};
    if (ctl_exec(conn, "INSERT INTO schema_migrations (version, name) VALUES ($1::int, $2)", 2, params,
                 NULL) < 0 ||
        ctl_exec(conn, "COMMIT", 0, NULL, NULL) < 0) {
        fprintf(stderr, "citasctl migrate: %s not applied\n", m->name);
        PQclear(PQexec(conn, "ROLLBACK"));
        return -1;
    }
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: citasctl migrate [--dir DIR] [--dsn DSN]\n"
                    "  DIR: env CITAS_SQL_DIR, else ./sql; DSN: env CITAS_PG_DSN overrides --dsn\n");
}

int ctl_migrate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"dsn", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = getenv("CITAS_SQL_DIR"), *dsn_flag = NULL;
    if (dir == NULL || dir[0] == '\0')
        dir = "sql";
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'd':
            dir = optarg;
            break;
        case 'c':
            dsn_flag = optarg;
            break;
        case 'h':
            usage();
            return 0;
        default:
            usage();
            return 2;
        }
    }
    if (optind != argc) {
        usage();
        return 2;
    }

    struct migration *list = NULL;
    size_t n = 0;
    if (list_migrations(dir, &list, &n) < 0)
        return 1;
    PGconn *conn = ctl_connect(ctl_dsn(dsn_flag));
    if (conn == NULL) {
        free(list);
        return 1;
    }
    int rc = 1, applied = 0;
    /* held until the connection closes; a second migrate waits here, then finds nothing to do */
    if (ctl_exec(conn, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", 0, NULL, NULL) < 0)
        goto out;
    if (ctl_exec(conn,
                 "CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, name text NOT NULL, "
                 "applied_at timestamptz NOT NULL DEFAULT now())",
                 0, NULL, NULL) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        int done = is_applied(conn, list[i].version);
        if (done < 0)
            goto out;
        if (done)
            continue;
        if (apply(conn, dir, &list[i]) < 0)
            goto out;
        printf("applied %s\n", list[i].name);
        applied++;
    }
    if (applied == 0)
        printf("nothing to apply (%zu migration%s already applied)\n", n, n == 1 ? "" : "s");
    rc = 0;
out:
    PQfinish(conn);
    free(list);
    return rc;
}
