/*
 * surge-gen: plays an opening day against a running citas (see gen.h). Usage: surge-gen --help.
 * Exit status: 0 when the run went through (whatever the server answered), 1 when the server could not be
 * reached at all or the log could not be written, 2 on bad arguments.
 */
#include "gen.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

struct gen_opts gen_o;
struct gen_user *gen_users;
int64_t gen_t0_mono, gen_T_mono;
char gen_run_id[17];
uint64_t gen_active;
int gen_stopping;

static uint64_t rng_state;
static volatile sig_atomic_t interrupted;

int64_t gen_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t gen_now_ms(void)
{
    return gen_now_us() / 1000;
}

int64_t gen_rel_ms(int64_t mono_ms)
{
    return mono_ms - gen_T_mono;
}

uint64_t gen_rand(void)
{
    uint64_t x = rng_state; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 2685821657736338717ull;
}

int64_t gen_rand_range(int64_t lo, int64_t hi)
{
    if (hi <= lo)
        return lo;
    return lo + (int64_t)(gen_rand() % (uint64_t)(hi - lo + 1));
}

static double rand01(void)
{
    return (double)(gen_rand() >> 11) / 9007199254740992.0;
}

/* --- options --- */

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: surge-gen --url http://127.0.0.1:PORT --accounts FILE --smtp-dir DIR --office CODE\n"
        "                 --procedure P --release-epoch-ms T --log FILE [options]\n"
        "  --users U               users (default: every line of the accounts file)\n"
        "  --bot-share F           share of bots among users (0.1)\n"
        "  --bots-bad-captcha F    share of bots sending invalid captcha responses when booking (0.5)\n"
        "  --curve default|B,A,R   shares of arrivals before T, just after T, in the tail (0.3,0.5,0.2)\n"
        "  --before-s S --after-s S --tail-s S   the three periods (60, 30, 120)\n"
        "  --captcha-pass-prefix P responses the siteverify stub accepts start with P (pass-)\n"
        "  --max-conns N           connections in all (2000); humans and bots share them, one FIFO\n"
        "  --src-ips N             source addresses 127.1.x.y (1: the kernel's); --bot-src-ips N > 1:\n"
        "                          bots apart in 127.2.x.y; connections per address by its users\n"
        "  --timeout-ms N          no answer after N ms: status 0 \"timeout\" (10000)\n"
        "  --max-tries K           a human's booking attempts (5); --bot-max-tries K (30)\n"
        "  --login-tries K         login attempts per user (5)\n"
        "  --duration-s S          hard bound on the run (default: until T + after + tail + 120 s)\n"
        "  --first-days D          slots are picked among the first D days with seats (3)\n"
        "  --poll-min-ms/--poll-max-ms N       humans' polling before T (2000/5000)\n"
        "  --bot-poll-min-ms/--bot-poll-max-ms N  bots' polling (100/200)\n"
        "  --react-ms N            humans book within N ms after T (1500); --think-ms N (800)\n"
        "  --bot-early-ms N        bots start booking N ms before T (500)\n"
        "  --idle-close-ms N       close connections idle this long (4000)\n"
        "  --mail-wait-ms N        wait this long for a login code mail before logging in again (60000)\n"
        "  --seed N                PRNG seed (default: random)\n"
        "  --quiet                 no progress lines on stderr\n"
        "  --no-gzip               no Accept-Encoding: gzip (browsers send it; answers are inflated)\n"
        "  --no-preverify          humans do not send their captcha to POST /api/v1/captcha when they first\n"
        "                          see the calendar: each booking attempt is verified at booking time\n");
}

static int parse_url(const char *url)
{
    static char host[64];
    const char *p = url;
    if (strncmp(p, "http://", 7) != 0)
        return -1;
    p += 7;
    const char *colon = strchr(p, ':');
    if (colon == NULL || (size_t)(colon - p) >= sizeof(host))
        return -1;
    memcpy(host, p, (size_t)(colon - p));
    host[colon - p] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (port <= 0 || port > 65535 || (*end != '\0' && strcmp(end, "/") != 0))
        return -1;
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    struct in_addr a;
    if (inet_pton(AF_INET, host, &a) != 1 || (ntohl(a.s_addr) >> 24) != 127)
        return -2; /* loopback only */
    gen_o.host = host;
    gen_o.port = (int)port;
    snprintf(gen_o.hostport, sizeof(gen_o.hostport), "%s:%ld", host, port);
    return 0;
}

static int parse_args(int argc, char **argv)
{
    enum {
        O_URL = 256,
        O_USERS,
        O_BOTSHARE,
        O_BAD,
        O_OFFICE,
        O_PROC,
        O_REL,
        O_CURVE,
        O_BEFORE,
        O_AFTER,
        O_TAIL,
        O_ACCOUNTS,
        O_SMTP,
        O_PREFIX,
        O_MAXCONNS,
        O_TIMEOUT,
        O_LOG,
        O_TRIES,
        O_BOTTRIES,
        O_LOGINTRIES,
        O_DURATION,
        O_DAYS,
        O_PMIN,
        O_PMAX,
        O_BPMIN,
        O_BPMAX,
        O_REACT,
        O_THINK,
        O_EARLY,
        O_IDLE,
        O_MAILWAIT,
        O_SRC,
        O_BOTSRC,
        O_SEED,
        O_QUIET,
        O_NOGZIP,
        O_NOPRE,
        O_HELP
    };
    static const struct option opts[] = {
        {"url", 1, 0, O_URL},
        {"users", 1, 0, O_USERS},
        {"bot-share", 1, 0, O_BOTSHARE},
        {"bots-bad-captcha", 1, 0, O_BAD},
        {"office", 1, 0, O_OFFICE},
        {"procedure", 1, 0, O_PROC},
        {"release-epoch-ms", 1, 0, O_REL},
        {"curve", 1, 0, O_CURVE},
        {"before-s", 1, 0, O_BEFORE},
        {"after-s", 1, 0, O_AFTER},
        {"tail-s", 1, 0, O_TAIL},
        {"accounts", 1, 0, O_ACCOUNTS},
        {"smtp-dir", 1, 0, O_SMTP},
        {"captcha-pass-prefix", 1, 0, O_PREFIX},
        {"max-conns", 1, 0, O_MAXCONNS},
        {"timeout-ms", 1, 0, O_TIMEOUT},
        {"log", 1, 0, O_LOG},
        {"max-tries", 1, 0, O_TRIES},
        {"bot-max-tries", 1, 0, O_BOTTRIES},
        {"login-tries", 1, 0, O_LOGINTRIES},
        {"duration-s", 1, 0, O_DURATION},
        {"first-days", 1, 0, O_DAYS},
        {"poll-min-ms", 1, 0, O_PMIN},
        {"poll-max-ms", 1, 0, O_PMAX},
        {"bot-poll-min-ms", 1, 0, O_BPMIN},
        {"bot-poll-max-ms", 1, 0, O_BPMAX},
        {"react-ms", 1, 0, O_REACT},
        {"think-ms", 1, 0, O_THINK},
        {"bot-early-ms", 1, 0, O_EARLY},
        {"idle-close-ms", 1, 0, O_IDLE},
        {"mail-wait-ms", 1, 0, O_MAILWAIT},
        {"src-ips", 1, 0, O_SRC},
        {"bot-src-ips", 1, 0, O_BOTSRC},
        {"seed", 1, 0, O_SEED},
        {"quiet", 0, 0, O_QUIET},
        {"no-gzip", 0, 0, O_NOGZIP},
        {"no-preverify", 0, 0, O_NOPRE},
        {"help", 0, 0, O_HELP},
        {0, 0, 0, 0},
    };
    gen_o = (struct gen_opts){
        .bot_share = 0.1,
        .bots_bad_captcha = 0.5,
        .before_s = 60,
        .after_s = 30,
        .tail_s = 120,
        .before_share = 0.3,
        .after_share = 0.5,
        .captcha_pass_prefix = "pass-",
        .max_conns = 2000,
        .gzip = 1,
        .preverify = 1,
        .timeout_ms = 10000,
        .max_tries = 5,
        .bot_max_tries = 30,
        .login_tries = 5,
        .first_days = 3,
        .poll_min_ms = 2000,
        .poll_max_ms = 5000,
        .bot_poll_min_ms = 100,
        .bot_poll_max_ms = 200,
        .react_ms = 1500,
        .think_ms = 800,
        .bot_early_ms = 500,
        .idle_close_ms = 4000,
        .mail_wait_ms = 60000,
        .src_ips = 1,
        .bot_src_ips = 1,
        .release_ms = -1,
    };
    const char *url = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        const char *a = optarg;
        switch (c) {
        case O_URL:
            url = a;
            break;
        case O_USERS:
            gen_o.users = (uint32_t)strtoul(a, NULL, 10);
            break;
        case O_BOTSHARE:
            gen_o.bot_share = atof(a);
            break;
        case O_BAD:
            gen_o.bots_bad_captcha = atof(a);
            break;
        case O_OFFICE:
            gen_o.office = a;
            break;
        case O_PROC:
            gen_o.procedure = a;
            break;
        case O_REL:
            gen_o.release_ms = strtoll(a, NULL, 10);
            break;
        case O_CURVE:
            if (strcmp(a, "default") == 0) {
                gen_o.before_share = 0.3;
                gen_o.after_share = 0.5;
            } else {
                double b, af, t;
                if (sscanf(a, "%lf,%lf,%lf", &b, &af, &t) != 3 || b < 0 || af < 0 || t < 0 || b + af + t <= 0)
                    return -1;
                gen_o.before_share = b / (b + af + t);
                gen_o.after_share = af / (b + af + t);
            }
            break;
        case O_BEFORE:
            gen_o.before_s = atof(a);
            break;
        case O_AFTER:
            gen_o.after_s = atof(a);
            break;
        case O_TAIL:
            gen_o.tail_s = atof(a);
            break;
        case O_ACCOUNTS:
            gen_o.accounts = a;
            break;
        case O_SMTP:
            gen_o.smtp_dir = a;
            break;
        case O_PREFIX:
            gen_o.captcha_pass_prefix = a;
            break;
        case O_MAXCONNS:
            gen_o.max_conns = atoi(a);
            break;
        case O_TIMEOUT:
            gen_o.timeout_ms = atoi(a);
            break;
        case O_LOG:
            gen_o.log_path = a;
            break;
        case O_TRIES:
            gen_o.max_tries = atoi(a);
            break;
        case O_BOTTRIES:
            gen_o.bot_max_tries = atoi(a);
            break;
        case O_LOGINTRIES:
            gen_o.login_tries = atoi(a);
            break;
        case O_DURATION:
            gen_o.duration_s = atof(a);
            break;
        case O_DAYS:
            gen_o.first_days = atoi(a);
            break;
        case O_PMIN:
            gen_o.poll_min_ms = atoi(a);
            break;
        case O_PMAX:
            gen_o.poll_max_ms = atoi(a);
            break;
        case O_BPMIN:
            gen_o.bot_poll_min_ms = atoi(a);
            break;
        case O_BPMAX:
            gen_o.bot_poll_max_ms = atoi(a);
            break;
        case O_REACT:
            gen_o.react_ms = atoi(a);
            break;
        case O_THINK:
            gen_o.think_ms = atoi(a);
            break;
        case O_EARLY:
            gen_o.bot_early_ms = atoi(a);
            break;
        case O_IDLE:
            gen_o.idle_close_ms = atoi(a);
            break;
        case O_MAILWAIT:
            gen_o.mail_wait_ms = atoi(a);
            break;
        case O_SRC:
            gen_o.src_ips = atoi(a);
            break;
        case O_BOTSRC:
            gen_o.bot_src_ips = atoi(a);
            break;
        case O_SEED:
            gen_o.seed = strtoull(a, NULL, 10);
            break;
        case O_QUIET:
            gen_o.quiet = 1;
            break;
        case O_NOGZIP:
            gen_o.gzip = 0;
            break;
        case O_NOPRE:
            gen_o.preverify = 0;
            break;
        case O_HELP:
            usage(stdout);
            exit(0);
        default:
            return -1;
        }
    }
    if (optind != argc || url == NULL || gen_o.office == NULL || gen_o.procedure == NULL ||
        gen_o.release_ms < 0 || gen_o.accounts == NULL || gen_o.smtp_dir == NULL || gen_o.log_path == NULL)
        return -1;
    int u = parse_url(url);
    if (u == -2) {
        fprintf(stderr, "surge-gen: --url must be on the loopback network (127.0.0.0/8)\n");
        return -1;
    }
    if (u != 0 || gen_o.bot_share < 0 || gen_o.bot_share > 1 || gen_o.bots_bad_captcha < 0 ||
        gen_o.bots_bad_captcha > 1 || gen_o.max_conns < 2 || gen_o.max_conns > 60000 ||
        gen_o.timeout_ms < 1 || gen_o.max_tries < 1 || gen_o.bot_max_tries < 1 || gen_o.login_tries < 1 ||
        gen_o.first_days < 1 || gen_o.poll_min_ms < 1 || gen_o.poll_max_ms < gen_o.poll_min_ms ||
        gen_o.bot_poll_min_ms < 1 || gen_o.bot_poll_max_ms < gen_o.bot_poll_min_ms || gen_o.react_ms < 0 ||
        gen_o.think_ms < 0 || gen_o.bot_early_ms < 0 || gen_o.idle_close_ms < 1 || gen_o.mail_wait_ms < 1 ||
        gen_o.src_ips < 1 || gen_o.src_ips > 60000 || gen_o.bot_src_ips < 1 || gen_o.bot_src_ips > 60000 ||
        gen_o.before_s < 0 || gen_o.after_s < 0 || gen_o.tail_s < 0 || gen_o.duration_s < 0 ||
        strlen(gen_o.office) > 32 || strlen(gen_o.procedure) > 64 || strlen(gen_o.captcha_pass_prefix) > 32)
        return -1;
    return 0;
}

/* Reads the accounts file: line i = user i, "email<TAB>password<TAB>document". */
static int load_accounts(void)
{
    FILE *f = fopen(gen_o.accounts, "r");
    if (f == NULL) {
        perror(gen_o.accounts);
        return -1;
    }
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return -1;
    }
    long size = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)size + 1);
    if (buf == NULL || fread(buf, 1, (size_t)size, f) != (size_t)size) {
        fclose(f);
        return -1;
    }
    fclose(f);
    buf[size] = '\0';
    uint32_t lines = 0;
    for (long i = 0; i < size; i++)
        lines += buf[i] == '\n';
    if (size > 0 && buf[size - 1] != '\n')
        lines++;
    if (gen_o.users == 0)
        gen_o.users = lines;
    if (gen_o.users == 0 || gen_o.users > lines) {
        fprintf(stderr, "surge-gen: %s has %u lines, %u users wanted\n", gen_o.accounts, lines, gen_o.users);
        return -1;
    }
    gen_users = calloc(gen_o.users, sizeof(*gen_users));
    gen_heap = calloc(gen_o.users, sizeof(*gen_heap));
    if (gen_users == NULL || gen_heap == NULL)
        return -1;
    char *p = buf;
    for (uint32_t i = 0; i < gen_o.users; i++) {
        char *nl = strchr(p, '\n');
        if (nl != NULL)
            *nl = '\0';
        char *t1 = strchr(p, '\t'), *t2 = t1 != NULL ? strchr(t1 + 1, '\t') : NULL;
        if (t1 == NULL) {
            fprintf(stderr, "surge-gen: %s line %u: email<TAB>password<TAB>document expected\n",
                    gen_o.accounts, i + 1);
            return -1;
        }
        *t1 = '\0';
        if (t2 != NULL)
            *t2 = '\0';
        size_t pl = strlen(t1 + 1);
        if (pl > 0 && t1[pl] == '\r')
            t1[pl] = '\0';
        gen_users[i].id = i;
        gen_users[i].email = p;
        gen_users[i].password = t1 + 1;
        gen_users[i].heap_pos = -1;
        if (strlen(p) > 254 || strlen(t1 + 1) > 256) {
            fprintf(stderr, "surge-gen: %s line %u: email or password too long\n", gen_o.accounts, i + 1);
            return -1;
        }
        p = nl != NULL ? nl + 1 : p + strlen(p);
    }
    return 0;
}

/* Bots, bad captchas and arrival times. */
static void plan(int64_t now)
{
    uint32_t n = gen_o.users, nbots = (uint32_t)(n * gen_o.bot_share + 0.5);
    uint32_t nbad = (uint32_t)(nbots * gen_o.bots_bad_captcha + 0.5);
    uint32_t *idx = malloc(n * sizeof(*idx));
    for (uint32_t i = 0; idx != NULL && i < n; i++)
        idx[i] = i;
    for (uint32_t i = 0; idx != NULL && i < nbots; i++) { /* partial Fisher-Yates */
        uint32_t j = i + (uint32_t)gen_rand_range(0, n - 1 - i), t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
        gen_users[idx[i]].bot = 1;
        gen_users[idx[i]].bad_captcha = i < nbad;
    }
    free(idx);
    int64_t T = gen_T_mono, before = (int64_t)(gen_o.before_s * 1000),
            after = (int64_t)(gen_o.after_s * 1000), tail = (int64_t)(gen_o.tail_s * 1000);
    for (uint32_t i = 0; i < n; i++) {
        struct gen_user *u = &gen_users[i];
        int64_t at;
        if (u->bot) {
            int64_t last = T - gen_o.bot_early_ms - 1000;
            at = gen_rand_range(T - before, last > T - before ? last : T - before);
        } else {
            double r = rand01();
            if (r < gen_o.before_share)
                at = T - before + gen_rand_range(0, before);
            else if (r < gen_o.before_share + gen_o.after_share)
                at = T + gen_rand_range(0, after);
            else
                at = T + after + gen_rand_range(0, tail);
        }
        if (at < now)
            at = now + gen_rand_range(0, 2000); /* started late: those already due come at once */
        u->arrive_ms = at;
        u->group = gen_net_group_of(i, u->bot);
        u->state = S_WAIT;
        u->action = A_LOGIN;
        gen_timer_set(u, at);
    }
    gen_active = n;
}

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

int main(int argc, char **argv)
{
    if (parse_args(argc, argv) != 0) {
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    unsigned char rnd[16];
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        return 1;
    for (int i = 0; i < 8; i++)
        snprintf(gen_run_id + 2 * i, 3, "%02x", rnd[i]);
    if (gen_o.seed == 0)
        memcpy(&gen_o.seed, rnd + 8, 8);
    rng_state = gen_o.seed ? gen_o.seed : 88172645463325252ull;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)gen_o.max_conns + 64) {
        rl.rlim_cur = rl.rlim_max < (rlim_t)gen_o.max_conns + 64 ? rl.rlim_max : (rlim_t)gen_o.max_conns + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (load_accounts() != 0)
        return 2;
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    int64_t real_ms = (int64_t)rt.tv_sec * 1000 + rt.tv_nsec / 1000000;
    gen_t0_mono = gen_now_ms();
    gen_T_mono = gen_o.release_ms - (real_ms - gen_t0_mono);
    plan(gen_t0_mono); /* bots and groups first: gen_net_init sizes the groups by their users */
    if (gen_net_init() != 0 || gen_mail_init() != 0) {
        fprintf(stderr, "surge-gen: cannot set up (smtp dir %s)\n", gen_o.smtp_dir);
        return 2;
    }
    int64_t end = gen_o.duration_s > 0 ? gen_t0_mono + (int64_t)(gen_o.duration_s * 1000)
                                       : gen_T_mono + (int64_t)((gen_o.after_s + gen_o.tail_s + 120) * 1000);
    if (end < gen_t0_mono + 10000)
        end = gen_t0_mono + 10000;
    if (!gen_o.quiet)
        fprintf(stderr, "surge-gen: %u users, T in %.1f s, run bound %.1f s, run id %s, seed %llu\n",
                gen_o.users, (double)(gen_T_mono - gen_t0_mono) / 1000, (double)(end - gen_t0_mono) / 1000,
                gen_run_id, (unsigned long long)gen_o.seed);
    int64_t next_mail = 0, next_progress = gen_t0_mono + 5000;
    while (!interrupted && gen_active > 0) {
        int64_t now = gen_now_ms();
        if (now >= end)
            break;
        while (gen_heap_n > 0 && gen_heap[0]->wake_ms <= now) {
            struct gen_user *u = gen_heap[0];
            gen_timer_clear(u);
            gen_user_wake(u);
        }
        if (gen_mail_waiting > 0 && now >= next_mail) {
            gen_mail_scan();
            next_mail = now + 50;
        }
        if (!gen_o.quiet && now >= next_progress) {
            fprintf(stderr, "surge-gen: t=%+.1f s active=%llu answers=%llu waiting_mail=%llu\n",
                    (double)gen_rel_ms(now) / 1000, (unsigned long long)gen_active,
                    (unsigned long long)gen_net_answers_ok, (unsigned long long)gen_mail_waiting);
            next_progress = now + 5000;
        }
        int64_t wait = 100;
        if (gen_heap_n > 0 && gen_heap[0]->wake_ms - now < wait)
            wait = gen_heap[0]->wake_ms - now;
        if (gen_mail_waiting > 0 && next_mail - now < wait)
            wait = next_mail - now;
        if (wait < 0)
            wait = 0;
        if (gen_net_poll((int)wait) != 0) {
            perror("surge-gen: epoll_wait");
            break;
        }
    }
    gen_stopping = 1;
    gen_net_abort();
    for (uint32_t i = 0; i < gen_o.users; i++)
        if (gen_users[i].state != S_DONE)
            gen_user_done(&gen_users[i], O_UNFINISHED);
    double elapsed = (double)(gen_now_ms() - gen_t0_mono) / 1000;
    int rc = 0;
    if (gen_log_write(gen_o.log_path) != 0) {
        fprintf(stderr, "surge-gen: cannot write the log %s\n", gen_o.log_path);
        rc = 1;
    }
    gen_log_summary(elapsed);
    if (!gen_log_any_status()) {
        fprintf(stderr, "surge-gen: no answer from %s at all\n", gen_o.hostport);
        rc = 1;
    }
    gen_net_close();
    return rc;
}
