/*
 * citasctl create-staff --email E --name N --role R [--office CODE] [--password-file F] [--dsn DSN]
 *
 * Creates a verified staff account (roles consular_staff, consular_admin, helpdesk, sysadmin). The password
 * comes from the first line of F, or of standard input without --password-file; it is hashed here with
 * libsodium's Argon2id at the server's default cost (--opslimit/--memlimit-kib change it, as the server's
 * auth_pwhash_* keys do). consular_staff needs --office; consular_admin may have one (then it is bound
 * to that office); the other roles have none.
 */
#include "ctl.h"
#include "citas/auth.h"

#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(void)
{
    fprintf(stderr, "usage: citasctl create-staff --email E --name N --role R [--office CODE]\n"
                    "         [--password-file F] [--dsn DSN] [--opslimit N] [--memlimit-kib N]\n"
                    "roles: consular_staff (needs --office), consular_admin, helpdesk, sysadmin\n"
                    "The password is read from the first line of F, or of standard input.\n");
}

static int read_password(const char *path, char *out, size_t cap, size_t *len)
{
    FILE *f = path != NULL ? fopen(path, "r") : stdin;
    if (f == NULL) {
        perror(path);
        return -1;
    }
    int rc = fgets(out, (int)cap, f) != NULL ? 0 : -1;
    if (path != NULL)
        fclose(f);
    if (rc != 0) {
        fprintf(stderr, "citasctl create-staff: no password given\n");
        return -1;
    }
    size_t n = strlen(out);
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        out[--n] = '\0';
    *len = n;
    return 0;
}

int ctl_create_staff(int argc, char **argv)
{
    static const struct option opts[] = {
        {"email", required_argument, NULL, 'e'},
        {"name", required_argument, NULL, 'n'},
        {"role", required_argument, NULL, 'r'},
        {"office", required_argument, NULL, 'o'},
        {"password-file", required_argument, NULL, 'p'},
        {"dsn", required_argument, NULL, 'd'},
        {"opslimit", required_argument, NULL, 'O'},
        {"memlimit-kib", required_argument, NULL, 'M'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *email = NULL, *name = NULL, *role = NULL, *office = NULL, *pwfile = NULL, *dsn = NULL;
    unsigned long long ops = 2, mem_kib = 65536;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'e':
            email = optarg;
            break;
        case 'n':
            name = optarg;
            break;
        case 'r':
            role = optarg;
            break;
        case 'o':
            office = optarg;
            break;
        case 'p':
            pwfile = optarg;
            break;
        case 'd':
            dsn = optarg;
            break;
        case 'O':
            ops = strtoull(optarg, NULL, 10);
            break;
        case 'M':
            mem_kib = strtoull(optarg, NULL, 10);
            break;
        case 'h':
            usage();
            return 0;
        default:
            usage();
            return 2;
        }
    }
    if (email == NULL || name == NULL || role == NULL || optind != argc) {
        usage();
        return 2;
    }
    const char *why;
    char addr[AUTH_EMAIL_MAX + 1];
    if (auth_email_parse(email, strlen(email), addr, &why) != 0) {
        fprintf(stderr, "citasctl create-staff: --email %s\n", why);
        return 2;
    }
    if (auth_name_check(name, strlen(name), &why) != 0) {
        fprintf(stderr, "citasctl create-staff: --name %s\n", why);
        return 2;
    }
    int r = auth_role_parse(role);
    if (r < 0 || r == AUTH_ROLE_CITIZEN) {
        fprintf(stderr, "citasctl create-staff: --role must be consular_staff, consular_admin, helpdesk or "
                        "sysadmin\n");
        return 2;
    }
    if (r == AUTH_ROLE_CONSULAR_STAFF && office == NULL) {
        fprintf(stderr, "citasctl create-staff: consular_staff needs --office\n");
        return 2;
    }
    if (office != NULL && r != AUTH_ROLE_CONSULAR_STAFF && r != AUTH_ROLE_CONSULAR_ADMIN) {
        fprintf(stderr, "citasctl create-staff: only consular_staff and consular_admin have an office\n");
        return 2;
    }
    if (office != NULL && !auth_office_code_valid(office, strlen(office))) {
        fprintf(stderr, "citasctl create-staff: --office must be 1-32 letters, digits, '_' or '-'\n");
        return 2;
    }
    if (ops < crypto_pwhash_OPSLIMIT_MIN || mem_kib < 8) {
        fprintf(stderr, "citasctl create-staff: --opslimit or --memlimit-kib too small\n");
        return 2;
    }
    char password[AUTH_PASSWORD_MAX + 2];
    size_t plen = 0;
    if (read_password(pwfile, password, sizeof(password), &plen) != 0)
        return 1;
    if (auth_password_check(password, plen, &why) != 0) {
        fprintf(stderr, "citasctl create-staff: the password %s\n", why);
        sodium_memzero(password, sizeof(password));
        return 2;
    }
    char hash[128];
    int hrc = auth_password_hash_blocking(password, plen, ops, (size_t)mem_kib * 1024, hash);
    sodium_memzero(password, sizeof(password));
    if (hrc != 0) {
        fprintf(stderr, "citasctl create-staff: hashing failed (out of memory?)\n");
        return 1;
    }
    PGconn *conn = ctl_connect(ctl_dsn(dsn));
    if (conn == NULL)
        return 1;
    const char *v[] = {addr, hash, name, role, office};
    PGresult *res = NULL;
    int rc =
        ctl_exec(conn,
                 "INSERT INTO accounts (email, password_hash, full_name, role, office_code, verified_at) "
                 "VALUES ($1, $2, $3, $4, $5, now()) RETURNING id",
                 5, v, &res);
    if (rc == 0) {
        printf("created %s account %s (id %s)%s%s\n", role, addr, PQgetvalue(res, 0, 0),
               office != NULL ? " for office " : "", office != NULL ? office : "");
        PQclear(res);
    }
    PQfinish(conn);
    return rc == 0 ? 0 : 1;
}
