/*
 * surge-gen: the opening-day surge generator (issue 5; contract: the surge harness contract, "answer log").
 *
 * One thread, one epoll loop. U virtual users (humans and bots) arrive on a curve around the release time
 * T, log in through the real two-step flow (password + captcha, then the emailed code read from the SMTP
 * sink's files), poll availability, book at T, follow the server's suggested dates on 409 and give up after
 * --max-tries. Keep-alive HTTP/1.1 connections, at most --max-conns in all, shared by humans and bots: a
 * request waits for a free connection in one FIFO of the time its user wanted to send it, whatever the
 * user's class (with --src-ips/--bot-src-ips above 1, one FIFO per source address, each address getting
 * connections in proportion to its users). A hard bound on the run's duration. Every answer or failed
 * exchange becomes one line of the answer log (with the time the request waited inside the generator apart
 * from the server's answer time), kept in memory and written at the end.
 *
 * Files: gen_main.c (options, accounts, the loop, summary), gen_net.c (connections, HTTP/1.1 writer and
 * parser), gen_user.c (the users' state machine), gen_mail.c (SMTP sink reader), gen_json.c (the few JSON
 * lookups the answers need), gen_log.c (answer log and counters).
 */
#ifndef SURGE_GEN_H
#define SURGE_GEN_H

#include <stddef.h>
#include <stdint.h>

enum gen_route { R_LOGIN, R_LOGIN_CODE, R_AVAIL, R_BOOK, R_CAPTCHA, R_OTHER, R_N };
extern const char *const gen_route_names[R_N];

/* What a user does when its timer fires. */
enum gen_action { A_NONE, A_LOGIN, A_CODE, A_POLL, A_BOOK };
enum gen_state { S_WAIT, S_REQUEST, S_CODE_WAIT, S_DONE };
/* How a user ended. */
enum gen_outcome { O_NONE, O_BOOKED, O_ALREADY, O_GAVE_UP, O_NO_SEATS, O_LOGIN_FAILED, O_UNFINISHED };

#define GEN_SLOT_PICKS 4

struct gen_user {
    uint32_t id;
    uint8_t bot, bad_captcha, state, action, route, outcome;
    uint16_t group;
    const char *email, *password; /* into the accounts file's buffer */
    int64_t arrive_ms;            /* monotonic ms */
    int64_t wake_ms;              /* monotonic ms of its timer, when heap_pos >= 0 */
    int32_t heap_pos;
    uint16_t login_tries, code_tries, book_tries, fetch_fails, not_open, polls;
    uint8_t has_view;              /* saw availability at least once */
    int64_t picks[GEN_SLOT_PICKS]; /* candidate slots from the last availability answer */
    uint8_t npicks;
    int64_t slot;                       /* slot of the booking in progress */
    int64_t next_slots[GEN_SLOT_PICKS]; /* the last 409's suggestions */
    uint8_t nnext;
    char login_id[40];
    char code[8];
    uint32_t code_file;    /* sink file number of code[] (0: none) */
    uint16_t mails;        /* login code mails received */
    uint16_t mails_used;   /* mails received when a code was last sent */
    uint16_t logins_ok;    /* login answers 200 (each one mails a code) */
    int64_t code_deadline; /* monotonic ms: give up waiting for the mail */
    char token[96];
    char csrf[72];
    char cap[64];          /* the captcha response verified beforehand (preverify) */
    uint8_t cap_state;     /* 0: none yet, 1: verified (cap), 2: not to be verified beforehand */
    uint8_t cap_then_book; /* the verification was asked by a booking step (else by a view) */
    int64_t queued_us;     /* monotonic us: when the user wanted to send its pending request */
    struct gen_user *qnext;
};

struct gen_opts {
    const char *host; /* numeric IPv4 on 127.0.0.0/8 */
    int port;
    char hostport[80];
    uint32_t users;
    double bot_share, bots_bad_captcha;
    const char *office, *procedure;
    int64_t release_ms; /* T, epoch ms */
    double before_s, after_s, tail_s, before_share, after_share;
    const char *accounts, *smtp_dir, *captcha_pass_prefix, *log_path;
    int max_conns, timeout_ms, max_tries, bot_max_tries, login_tries;
    double duration_s;
    int first_days;
    int poll_min_ms, poll_max_ms, bot_poll_min_ms, bot_poll_max_ms;
    int react_ms, think_ms, bot_early_ms, idle_close_ms, mail_wait_ms;
    int src_ips, bot_src_ips;
    uint64_t seed;
    int quiet;
    int gzip; /* ask for gzip (Accept-Encoding), as browsers do; inflate such answers */
    /* humans send their captcha to POST /api/v1/captcha once they see the calendar (a page does when the
     * widget is solved), then book with it */
    int preverify;
};

/* --- process-wide state (gen_main.c) --- */
extern struct gen_opts gen_o;
extern struct gen_user *gen_users;
extern int64_t gen_t0_mono;          /* monotonic ms at start */
extern int64_t gen_T_mono;           /* T as monotonic ms */
extern char gen_run_id[17];          /* random hex: makes captcha responses unique across runs */
extern uint64_t gen_active;          /* users not yet done */
extern int gen_stopping;             /* the run is ending: answers are logged, nothing new is sent */
int64_t gen_now_ms(void);            /* monotonic ms */
int64_t gen_now_us(void);            /* monotonic us */
int64_t gen_rel_ms(int64_t mono_ms); /* ms since T (negative before) */
uint64_t gen_rand(void);             /* xorshift PRNG */
/* Uniform in [lo, hi]. */
int64_t gen_rand_range(int64_t lo, int64_t hi);

/* --- timers (gen_user.c): one per user, a binary min-heap by wake_ms --- */
extern struct gen_user **gen_heap;
extern size_t gen_heap_n;
void gen_timer_set(struct gen_user *u, int64_t at_ms);
void gen_timer_clear(struct gen_user *u);

/* --- network (gen_net.c) --- */
struct gen_answer {
    int status;       /* 0: transport failure */
    const char *fail; /* note of a failure: timeout, reset, refused, closed, too_big, bad_http */
    const char *body; /* decoded body (not NUL-terminated; body[len] is readable and NUL) */
    size_t len;
    const char *cookie; /* value of citas_session from Set-Cookie (NUL-terminated), or NULL */
    int retry_after_s;  /* -1 when absent */
    int64_t latency_us; /* the server's time: request written .. answer read (or failure) */
    int64_t queue_us;   /* the generator's: user wanted to send .. request written (waiting for a connection,
                           connecting, writing); for a failure before writing, until the failure */
};
/* Source-address groups, sized by their users (call after every user's group is set). 0, or -1. */
int gen_net_init(void);
/* The group of a user: its source address (one group for all when --src-ips and --bot-src-ips are 1). */
uint16_t gen_net_group_of(uint32_t user, int bot);
/* Queues u's next request (its route and state are set): it is sent when a connection is free. */
void gen_net_submit(struct gen_user *u);
/* Handles epoll events for up to timeout_ms; then sweeps timeouts and idle connections. */
int gen_net_poll(int timeout_ms);
/* Ends the run: every request in flight or queued is logged as a failure ("timeout"). */
void gen_net_abort(void);
void gen_net_close(void);
/* Figures for the summary. */
extern uint64_t gen_net_connects, gen_net_connect_fails, gen_net_max_open;
extern int64_t gen_net_max_queue_ms;
extern uint64_t gen_net_queued_100ms; /* requests that waited >= 100 ms inside the generator (queue_us) */
extern uint64_t gen_net_answers_ok;   /* answers with a status */
extern uint64_t gen_net_gzipped;      /* of them, gzip bodies inflated */

/* --- users (gen_user.c) --- */
void gen_user_wake(struct gen_user *u); /* its timer fired */
void gen_user_answer(struct gen_user *u, const struct gen_answer *a);
/* Writes u's request (route u->route) into out; returns its length, or -1 if it does not fit. */
int gen_user_request(struct gen_user *u, char *out, size_t cap);
/* Its code arrived (gen_mail.c). */
void gen_user_code_ready(struct gen_user *u);
void gen_user_done(struct gen_user *u, enum gen_outcome o);

/* --- mail (gen_mail.c) --- */
int gen_mail_init(void);                /* indexes the accounts' emails, skips messages already in the dir */
void gen_mail_scan(void);               /* reads new messages; hands codes to users */
void gen_mail_wait(struct gen_user *u); /* u waits for a code */
void gen_mail_unwait(struct gen_user *u); /* it no longer does */
extern uint64_t gen_mail_waiting, gen_mail_read;

/* --- JSON (gen_json.c) --- */
/* The value of a top-level string member, copied into out; 0, or -1 if absent, not a string or too long. */
int gen_json_str(const char *body, size_t len, const char *key, char *out, size_t cap);
/* Slots of the first `days` days of an availability answer that have free seats or are not released yet.
 * Writes up to cap ids into ids; returns how many were seen in all (can exceed cap: reservoir sampled). */
int gen_json_avail(const char *body, size_t len, int days, int64_t *ids, int cap);
/* Samples up to cap of all[0..n) uniformly into ids (reservoir); returns n. */
int gen_json_sample(const int64_t *all, int n, int64_t *ids, int cap);
/* The slot ids of a 409's "next" array (first cap). */
int gen_json_next(const char *body, size_t len, int64_t *ids, int cap);

/* --- log (gen_log.c) --- */
void gen_log_add(int64_t done_ms, const struct gen_user *u, int route, int status, int64_t latency_us,
                 int64_t queue_us, int64_t slot, const char *code, const char *note);
/* A short token for an answer: "ok" for 2xx, else from the problem's title ("sold_out", "captcha", ...). */
const char *gen_log_note(int status, const char *body, size_t len, char *buf, size_t cap);
int gen_log_write(const char *path);
void gen_log_summary(double elapsed_s);
int gen_log_any_status(void); /* 1 if any exchange got an HTTP status */

#endif
