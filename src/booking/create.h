/*
 * The booking state machine shared by create.c (parse, SESSION, OLD, RATE, SLOT, CAPTCHA),
 * create_reserve.c (PROBE, ACCOUNT, RESERVE, refusals) and create_persist.c (INFO, PERSIST, CONFIRM,
 * RELEASE). Private to the booking module; see create.c for the whole machine.
 */
#ifndef CITAS_BOOKING_CREATE_H
#define CITAS_BOOKING_CREATE_H

#include "internal.h"

#define MAX_TRIES 3

/* The steps timed for /metrics (stages.c): a mark records the time since the previous mark under the
 * step that has just ended. */
enum bk_stage {
    BK_STAGE_SESSION, /* parse, session, slot's office: up to the first probe */
    BK_STAGE_PROBE,   /* rate limits and the probe script: up to the captcha (or to the lottery's wait) */
    BK_STAGE_LOTTERY, /* the release lottery's wait */
    BK_STAGE_CAPTCHA, /* what a reserved seat still waits for siteverify (which runs beside ACCOUNT, RESERVE)
                       */
    BK_STAGE_RESERVE, /* the reserve script (and an account still out), from the probe's end */
    BK_STAGE_PERSIST, /* names and the PostgreSQL transaction */
    BK_STAGE_CONFIRM, /* the confirm script */
    BK_STAGES
};

struct bk_attempt {
    struct bk_worker *bw;
    int reschedule, office_given, tries, stale_checked;
    char stale_code[BOOKING_CODE_LEN + 1];
    struct bk_account acct;
    struct bk_attempt_keys k;
    char procedure[BK_PROC_MAX + 1];
    char *captcha;
    char ip[64];
    char old_code[BOOKING_CODE_LEN + 1];
    char old_office[BK_OFFICE_MAX + 1];
    int64_t start;
    char local[20];
    struct bk_info info;
    /* the release lottery: an attempt in the first booking_release_lottery_ms after a slot's release waits
     * until a random moment of that span (once), then probes again */
    struct ring_op wait;
    int admitted;
    /* CAPTCHA runs beside ACCOUNT and RESERVE: its verdict once known, and whether a reserved seat waits for
     * it (see create.c) */
    enum { BK_CAPTCHA_NONE, BK_CAPTCHA_PENDING, BK_CAPTCHA_DONE } captcha_state;
    int captcha_verdict; /* enum guard_verdict, once DONE */
    int seat_waiting;
    /* the probe claims the captcha response (SET NX in the office's keys) when it finds a seat, so that
     * siteverify starts right after it: the claim's key and this attempt's value in it */
    char claim_key[BK_KEY_MAX];
    char claim_token[24];
    /* the value of this account's captcha pass ("v:<account>", captcha_pass.c), and whether the probe took
     * one: the response was verified before the attempt, so CAPTCHA has its verdict at once */
    char pass_value[BK_PASS_VALUE_MAX];
    int captcha_passed;
    int next_memory; /* the probe asked for no next dates: a sold-out answer takes them from calendar's cache
                      */
    /* ACCOUNT runs beside the first PROBE: its state, its result once DONE, and whether the attempt waits
     * for it (after the probe) or has ended meanwhile (released when it comes back) */
    enum { BK_ACCT_NONE, BK_ACCT_PENDING, BK_ACCT_DONE } acct_state;
    int acct_rc, acct_waiting, ended;
    /* RATE leaves with the PROBE: its state, its verdict once DONE, and whether the probe's reply came first
     * (a script reloaded after NOSCRIPT; the probe then runs again once the verdict is known) */
    enum { BK_RATE_NONE, BK_RATE_PENDING, BK_RATE_DONE } rate_state;
    int rate_verdict; /* enum guard_verdict */
    unsigned retry_after_s;
    int probe_early;
    uint64_t penalty_ms;           /* a penalty to store after the seat is given back, before the answer */
    uint64_t mark_us;              /* monotonic clock at the last stage mark, 0 before the first */
    struct bk_attempt *group_next; /* the loop turn's group transaction (create_group.c) */
    /* the answer to give once the seat is settled (or the penalty stored, bk_att_penalize()) */
    int fail_status, retry;
    const char *fail_title;
    char fail_detail[200];
};

/* stages.c: ends `stage` now (the first mark only starts the clock; pass BK_STAGES for it). */
void bk_att_mark(struct bk_attempt *a, enum bk_stage stage);
void bk_stages_metrics(struct server_metrics *m);

/* Frees the attempt (the request's async state). */
void bk_att_done(struct bk_attempt *a);
/* Answers (when the client is still there) and ends the attempt. No seat may be held at this point. */
void bk_att_answer(struct bk_attempt *a, int status, const char *title, const char *detail);
/* A failure after the seat was reserved: give it back (or drop it), then answer or retry. */
void bk_att_fail_reserved(struct bk_attempt *a, int status, const char *title, const char *detail,
                          int give_back, int retry);
/*
 * A refusal that also benches the account on the booking route (guard_penalize(), when ms > 0 and a guard
 * runs): answers status/title/detail (as bk_att_answer()) once the penalty is stored in Redis, or at once
 * without a penalty. Redis failing does not change the answer; a client gone meanwhile just ends the attempt.
 */
void bk_att_penalize(struct bk_attempt *a, uint64_t ms, int status, const char *title, const char *detail);

/* create.c: 1 when RATE (sent beside the probe) let the attempt through; else 0, and the attempt has been
 * answered (429, 503; a captcha claim the probe made given back) or waits for the verdict (probed again) */
int bk_att_rate_passed(struct bk_attempt *a);
/* create.c: CAPTCHA, after a probe found a free seat: starts siteverify (the probe claimed the response),
 * then RESERVE once ACCOUNT (started beside the probe) is known */
void bk_att_captcha(struct bk_attempt *a);
/* create.c: the answer to a captcha that did not pass (enum guard_verdict), no seat held */
void bk_att_captcha_refused(struct bk_attempt *a, int verdict);
/* create.c: RESERVE took a seat: goes on to INFO once the captcha passed (now, or when its verdict comes),
 * or gives the seat back and answers the refusal */
void bk_att_reserved(struct bk_attempt *a);
/* create_reserve.c: PROBE (the reserve script taking nothing; the first one starts ACCOUNT beside it),
 * then (after CAPTCHA) RESERVE once the account is known */
void bk_att_probe(struct bk_attempt *a);
void bk_att_account(struct bk_attempt *a);
/* create_reserve.c: for bk_att_done(): 1 when ACCOUNT is still out, and the attempt is then marked as ended
 * so that ACCOUNT's callback releases it; 0 when it may be released now */
int bk_att_end_after_account(struct bk_attempt *a);
void bk_att_reserve(struct bk_attempt *a);
/* create_persist.c: INFO, then PERSIST and CONFIRM; RELEASE after a failure */
void bk_att_info(struct bk_attempt *a);
/* create_persist.c: the one-booking transaction (a reschedule, a group of one, or each booking of a group
 * that PostgreSQL refused), with a fresh appointment code */
void bk_att_persist_one(struct bk_attempt *a);
/* create_persist.c: what follows a one-booking transaction's outcome (CONFIRM, or the failure's answer) */
void bk_att_persisted(struct bk_attempt *a, const struct pg_reply *r);
/* create_persist.c: the confirmation mail, as its own INSERT into tx, or (batch not NULL) appended to the
 * group's batch; 0 also when the address is refused: no mail */
struct mail_batch;
int bk_att_add_mail(struct bk_attempt *a, struct pg_tx *tx, struct mail_batch *batch);
/* create_persist.c: CONFIRM, once the booking is committed */
void bk_att_confirm(struct bk_attempt *a);
/* create_group.c: a new booking's PERSIST joins the loop turn's group transaction */
void bk_group_add(struct bk_attempt *a);
/* create_group.c: commits a pending group now (at worker stop) */
void bk_group_flush(struct bk_worker *bw);
void bk_att_release(struct bk_attempt *a, int give_back);

#endif
