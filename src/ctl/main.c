/*
 * citasctl: operations tool. `citasctl <command> [options]`; each command lives in its own file and is
 * listed here.
 */
#include "ctl.h"

#include <stdio.h>
#include <string.h>

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"migrate", ctl_migrate, "apply sql/NNN_*.sql migrations not applied yet ([--dir DIR] [--dsn DSN])"},
    {"create-staff", ctl_create_staff,
     "create a staff account (--email E --name N --role R [--office CODE] [--password-file F])"},
    {"demo-windows", ctl_demo_windows,
     "open demo calendar windows (LAX, MAD, CHI; next 14 days) and load them into Redis ([--office CODE]...)"},
    {"rebuild-redis", ctl_rebuild_redis, "recompute Redis booking state from PostgreSQL ([--office CODE] [--redis H:P])"},
    {"verify-audit", ctl_verify_audit, "check the audit log's hash chain and signed heads (--public-key PEM)"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: citasctl <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-13s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nPostgreSQL: env CITAS_PG_DSN (libpq conninfo) overrides --dsn.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "citasctl: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
