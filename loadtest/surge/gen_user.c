/*
 * The virtual users of surge-gen. Each has at most one request queued or in flight, or one timer:
 *
 *   arrive → login (email, password, captcha) → wait for the code mail → login_code (cookie + csrf)
 *   → availability → humans: poll every --poll-min..max-ms until T, book at T + rand(--react-ms) with a
 *     slot picked among the first --first-days days; arriving after T: one look, then book
 *   → bots: poll every --bot-poll-min..max-ms, book from T - --bot-early-ms on, as fast as answers come
 *   → humans (unless --no-preverify): after the first view, POST /api/v1/captcha with the response they will
 *     book with (a page sends it when the widget is solved); a 403 on booking (response used) does it again
 *   → 201: done. 409 sold out: one of the suggested dates ("next"), up to --max-tries (bots
 *     --bot-max-tries), no suggestions: nothing left. 409 not open yet: again shortly (not a try).
 *     403 captcha, 429, 503, no answer: again after a pause (a try). 409 already booked: done.
 *
 * Login trouble (429, 503, no answer, a lost code mail, a refused code) restarts the login after a pause,
 * at most --login-tries times. Every answer or failed exchange is logged (gen_log.c) before anything else.
 */
#include "gen.h"

#include <stdio.h>
#include <string.h>

static uint64_t captcha_seq;
struct gen_user **gen_heap;
size_t gen_heap_n;

/* --- timers: a binary min-heap of users by wake_ms --- */

static void heap_swap(size_t a, size_t b)
{
    struct gen_user *t = gen_heap[a];
    gen_heap[a] = gen_heap[b];
    gen_heap[b] = t;
    gen_heap[a]->heap_pos = (int32_t)a;
    gen_heap[b]->heap_pos = (int32_t)b;
}

static void heap_up(size_t i)
{
    while (i > 0 && gen_heap[(i - 1) / 2]->wake_ms > gen_heap[i]->wake_ms) {
        heap_swap(i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void heap_down(size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < gen_heap_n && gen_heap[l]->wake_ms < gen_heap[m]->wake_ms)
            m = l;
        if (r < gen_heap_n && gen_heap[r]->wake_ms < gen_heap[m]->wake_ms)
            m = r;
        if (m == i)
            return;
        heap_swap(i, m);
        i = m;
    }
}

void gen_timer_clear(struct gen_user *u)
{
    if (u->heap_pos < 0)
        return;
    size_t i = (size_t)u->heap_pos;
    u->heap_pos = -1;
    gen_heap_n--;
    if (i == gen_heap_n)
        return;
    gen_heap[i] = gen_heap[gen_heap_n];
    gen_heap[i]->heap_pos = (int32_t)i;
    heap_up(i);
    heap_down((size_t)gen_heap[i]->heap_pos);
}

void gen_timer_set(struct gen_user *u, int64_t at_ms)
{
    gen_timer_clear(u);
    u->wake_ms = at_ms;
    u->heap_pos = (int32_t)gen_heap_n;
    gen_heap[gen_heap_n++] = u;
    heap_up(gen_heap_n - 1);
}

static void later(struct gen_user *u, enum gen_action a, int64_t at)
{
    u->state = S_WAIT;
    u->action = (uint8_t)a;
    gen_timer_set(u, at);
}

void gen_user_done(struct gen_user *u, enum gen_outcome o)
{
    if (u->state == S_DONE)
        return;
    gen_mail_unwait(u);
    gen_timer_clear(u);
    u->state = S_DONE;
    u->outcome = (uint8_t)o;
    if (gen_active > 0)
        gen_active--;
}

static void submit(struct gen_user *u, enum gen_route r)
{
    gen_timer_clear(u);
    u->route = (uint8_t)r;
    gen_net_submit(u);
}

static void start_login(struct gen_user *u)
{
    if (u->login_tries >= gen_o.login_tries) {
        gen_user_done(u, O_LOGIN_FAILED);
        return;
    }
    u->login_tries++;
    submit(u, R_LOGIN);
}

/* A pause before trying again: the server's Retry-After when it gave one, else lo..hi ms. */
static int64_t pause_ms(const struct gen_answer *a, int lo, int hi)
{
    if (a->retry_after_s > 0)
        return a->retry_after_s * 1000LL + gen_rand_range(0, 1000);
    return gen_rand_range(lo, hi);
}

void gen_user_code_ready(struct gen_user *u)
{
    /* the current attempt's mail is the logins_ok-th one (the sink keeps them in order); a mail of an
       attempt whose answer was lost can come first: its code is refused, and the next mail is awaited */
    if (u->state != S_CODE_WAIT || u->mails < u->logins_ok || u->mails == u->mails_used)
        return;
    gen_mail_unwait(u);
    u->mails_used = u->mails;
    submit(u, R_LOGIN_CODE);
}

static void new_captcha(const struct gen_user *u, char *out, size_t cap);

/* Humans verify their captcha before booking (see gen_opts.preverify): 1 when that request is now sent. */
static int preverify(struct gen_user *u, int then_book)
{
    if (u->bot || !gen_o.preverify || u->cap_state != 0)
        return 0;
    new_captcha(u, u->cap, sizeof(u->cap));
    u->cap_then_book = (uint8_t)then_book;
    submit(u, R_CAPTCHA);
    return 1;
}

static void book(struct gen_user *u)
{
    if (preverify(u, 1))
        return;
    int64_t slot = -1;
    if (u->nnext > 0) {
        slot = u->next_slots[gen_rand_range(0, u->nnext - 1)];
        u->nnext = 0;
    } else if (u->npicks > 0) {
        slot = u->picks[gen_rand_range(0, u->npicks - 1)];
    }
    if (slot < 0) {
        submit(u, R_AVAIL);
        return;
    }
    u->slot = slot;
    submit(u, R_BOOK);
}

void gen_user_wake(struct gen_user *u)
{
    if (gen_stopping || u->state == S_DONE)
        return;
    if (u->state == S_CODE_WAIT) { /* the code mail did not come in time */
        gen_mail_unwait(u);
        start_login(u);
        return;
    }
    switch (u->action) {
    case A_LOGIN:
        start_login(u);
        break;
    case A_POLL:
        submit(u, R_AVAIL);
        break;
    case A_BOOK:
        book(u);
        break;
    default:
        break;
    }
}

/* After an availability answer: the next step. */
static void after_view(struct gen_user *u, int64_t now)
{
    int64_t T = gen_T_mono;
    if (u->bot) {
        int64_t start = T - gen_o.bot_early_ms;
        if (now >= start) {
            if (u->npicks == 0) {
                gen_user_done(u, O_NO_SEATS);
                return;
            }
            book(u);
            return;
        }
        int64_t at = now + gen_rand_range(gen_o.bot_poll_min_ms, gen_o.bot_poll_max_ms);
        later(u, at >= start ? A_BOOK : A_POLL, at >= start ? start : at);
        return;
    }
    if (u->npicks > 0 && preverify(u, 0))
        return; /* after_view() again once it is answered */
    if (now >= T) {
        if (u->npicks == 0) {
            gen_user_done(u, O_NO_SEATS);
            return;
        }
        later(u, A_BOOK, now + gen_rand_range(0, gen_o.think_ms));
        return;
    }
    int64_t at = now + gen_rand_range(gen_o.poll_min_ms, gen_o.poll_max_ms);
    int64_t click = T + gen_rand_range(0, gen_o.react_ms);
    if (at >= click)
        later(u, A_BOOK, click);
    else
        later(u, A_POLL, at);
}

/* Waits for the code mail of the current login attempt (it may already be here). */
static void await_code(struct gen_user *u, int64_t now)
{
    gen_mail_wait(u);
    u->action = A_NONE;
    gen_timer_set(u, now + gen_o.mail_wait_ms);
    gen_user_code_ready(u);
}

static void on_login(struct gen_user *u, const struct gen_answer *a, int64_t now)
{
    if (a->status == 200 &&
        gen_json_str(a->body, a->len, "login_id", u->login_id, sizeof(u->login_id)) == 0) {
        u->code_tries = 0;
        u->logins_ok++;
        await_code(u, now);
        return;
    }
    if (a->status == 0 || a->status == 200 || a->status == 429 || a->status >= 500)
        later(u, A_LOGIN, now + pause_ms(a, 1000, 3000));
    else
        gen_user_done(u, O_LOGIN_FAILED); /* 401 wrong password, 403 unverified or captcha, 4xx */
}

static void on_login_code(struct gen_user *u, const struct gen_answer *a, int64_t now)
{
    if (a->status == 200 && a->cookie != NULL && strlen(a->cookie) < sizeof(u->token) &&
        gen_json_str(a->body, a->len, "csrf_token", u->csrf, sizeof(u->csrf)) == 0) {
        memcpy(u->token, a->cookie, strlen(a->cookie) + 1);
        submit(u, R_AVAIL);
        return;
    }
    if (a->status == 401 && ++u->code_tries < 3) {
        /* the code came from a late mail of an earlier attempt (whose answer was lost): this attempt's
           own mail may still come */
        await_code(u, now);
        return;
    }
    if (a->status == 0 || a->status == 200 || a->status == 401 || a->status == 429 || a->status >= 500)
        later(u, A_LOGIN, now + pause_ms(a, 1000, 3000));
    else
        gen_user_done(u, O_LOGIN_FAILED);
}

static void on_avail(struct gen_user *u, const struct gen_answer *a, int64_t now)
{
    u->polls++;
    if (a->status == 200) {
        u->fetch_fails = 0;
        int seen = gen_json_avail(a->body, a->len, gen_o.first_days, u->picks, GEN_SLOT_PICKS);
        u->npicks = (uint8_t)(seen < GEN_SLOT_PICKS ? seen : GEN_SLOT_PICKS);
        u->has_view = 1;
        after_view(u, now);
        return;
    }
    if (++u->fetch_fails > 20) {
        gen_user_done(u, O_GAVE_UP);
        return;
    }
    later(u, A_POLL, now + (u->bot ? pause_ms(a, 200, 500) : pause_ms(a, 1000, 3000)));
}

static void on_captcha(struct gen_user *u, const struct gen_answer *a, int64_t now)
{
    /* verified: book with it; otherwise every attempt has its response verified at booking time */
    u->cap_state = a->status == 200 ? 1 : 2;
    if (u->cap_then_book)
        book(u);
    else
        after_view(u, now);
}

static void drop_pick(struct gen_user *u, int64_t slot)
{
    for (int i = 0; i < u->npicks; i++)
        if (u->picks[i] == slot) {
            u->picks[i] = u->picks[--u->npicks];
            break;
        }
}

static void on_book(struct gen_user *u, const struct gen_answer *a, const char *note, int64_t now)
{
    int max = u->bot ? gen_o.bot_max_tries : gen_o.max_tries;
    if (a->status == 201) {
        gen_user_done(u, O_BOOKED);
        return;
    }
    if (a->status == 409 && strcmp(note, "not_open") == 0) {
        if (++u->not_open > 200) {
            gen_user_done(u, O_GAVE_UP);
            return;
        }
        later(u, A_BOOK,
              now + (u->bot ? gen_rand_range(gen_o.bot_poll_min_ms, gen_o.bot_poll_max_ms)
                            : gen_rand_range(300, 1000)));
        return;
    }
    if (a->status == 409 && strcmp(note, "already") == 0) {
        gen_user_done(u, O_ALREADY);
        return;
    }
    if (++u->book_tries >= max) {
        gen_user_done(u, O_GAVE_UP);
        return;
    }
    if (a->status == 409 && strcmp(note, "sold_out") == 0) {
        drop_pick(u, u->slot);
        int n = gen_json_next(a->body, a->len, u->next_slots, GEN_SLOT_PICKS);
        u->nnext = (uint8_t)(n < 3 ? n : 3); /* people take one of the first few dates offered */
        if (u->nnext == 0) {
            gen_user_done(u, O_NO_SEATS);
            return;
        }
        later(u, A_BOOK, now + (u->bot ? 0 : gen_rand_range(gen_o.think_ms / 2, gen_o.think_ms)));
        return;
    }
    if (a->status == 409) { /* closed, started: look again */
        drop_pick(u, u->slot);
        later(u, A_POLL, now + (u->bot ? 0 : gen_rand_range(500, 1500)));
        return;
    }
    if (a->status == 401) { /* the session is gone */
        later(u, A_LOGIN, now + gen_rand_range(500, 1500));
        return;
    }
    if (a->status == 403 && u->cap_state == 1)
        u->cap_state = 0; /* the verified response is spent (or refused): a new one before the next try */
    if (a->status == 0 || a->status == 403 || a->status == 429 || a->status >= 500) {
        /* captcha refused (a new one next time), limited, unavailable or no answer: the same slot again */
        u->nnext = 1;
        u->next_slots[0] = u->slot;
        later(u, A_BOOK, now + (u->bot ? pause_ms(a, 100, 300) : pause_ms(a, 800, 2000)));
        return;
    }
    gen_user_done(u, O_GAVE_UP); /* 400, 404, 422: nothing to retry */
}

void gen_user_answer(struct gen_user *u, const struct gen_answer *a)
{
    int64_t now = gen_now_ms();
    char nbuf[32], code[16] = "";
    const char *note =
        a->status == 0 ? a->fail : gen_log_note(a->status, a->body, a->len, nbuf, sizeof(nbuf));
    int64_t slot = u->route == R_BOOK ? u->slot : -1;
    if (u->route == R_BOOK && a->status == 201 &&
        gen_json_str(a->body, a->len, "code", code, sizeof(code)) != 0)
        note = "no_code";
    gen_log_add(now, u, u->route, a->status, a->latency_us, a->queue_us, slot, code, note);
    if (gen_stopping) {
        if (u->state != S_DONE) {
            u->state = S_WAIT;
            gen_user_done(u, O_UNFINISHED);
        }
        return;
    }
    switch (u->route) {
    case R_LOGIN:
        on_login(u, a, now);
        break;
    case R_LOGIN_CODE:
        on_login_code(u, a, now);
        break;
    case R_AVAIL:
        on_avail(u, a, now);
        break;
    case R_BOOK:
        on_book(u, a, note, now);
        break;
    case R_CAPTCHA:
        on_captcha(u, a, now);
        break;
    default:
        gen_user_done(u, O_GAVE_UP);
        break;
    }
}

/* JSON string content of s (quotes and backslashes escaped, control characters as \u00XX). */
static size_t jesc(char *out, size_t cap, const char *s)
{
    size_t o = 0;
    for (; *s && o + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20) {
            o += (size_t)snprintf(out + o, cap - o, "\\u%04x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
    return o;
}

static void new_captcha(const struct gen_user *u, char *out, size_t cap)
{
    captcha_seq++;
    if (u->bot && u->bad_captcha && u->route == R_BOOK)
        snprintf(out, cap, "bot-%s-%llu", gen_run_id, (unsigned long long)captcha_seq);
    else
        snprintf(out, cap, "%s%s-%llu", gen_o.captcha_pass_prefix, gen_run_id,
                 (unsigned long long)captcha_seq);
}

/* "Accept-Encoding: gzip\r\n", as a browser sends on every request, unless --no-gzip */
static const char *accept_encoding(void)
{
    return gen_o.gzip ? "Accept-Encoding: gzip\r\n" : "";
}

static int post(char *out, size_t cap, const char *path, const struct gen_user *u, const char *body, int n)
{
    int k;
    if (u != NULL)
        k = snprintf(out, cap,
                     "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n%s"
                     "Cookie: citas_session=%s\r\nX-CSRF-Token: %s\r\nContent-Length: %d\r\n\r\n%s",
                     path, gen_o.hostport, accept_encoding(), u->token, u->csrf, n, body);
    else
        k = snprintf(out, cap,
                     "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n%s"
                     "Content-Length: %d\r\n\r\n%s",
                     path, gen_o.hostport, accept_encoding(), n, body);
    return k < 0 || (size_t)k >= cap ? -1 : k;
}

int gen_user_request(struct gen_user *u, char *out, size_t cap)
{
    char body[1024], cap_s[96], e[600], p[600];
    int n;
    switch (u->route) {
    case R_LOGIN:
        new_captcha(u, cap_s, sizeof(cap_s));
        jesc(e, sizeof(e), u->email);
        jesc(p, sizeof(p), u->password);
        n = snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\",\"captcha\":\"%s\"}", e, p,
                     cap_s);
        return n < 0 || (size_t)n >= sizeof(body) ? -1 : post(out, cap, "/api/v1/sessions", NULL, body, n);
    case R_LOGIN_CODE:
        n = snprintf(body, sizeof(body), "{\"login_id\":\"%s\",\"code\":\"%s\"}", u->login_id, u->code);
        return post(out, cap, "/api/v1/sessions/code", NULL, body, n);
    case R_AVAIL: {
        int k = snprintf(out, cap,
                         "GET /api/v1/offices/%s/availability?procedure=%s HTTP/1.1\r\nHost: %s\r\n"
                         "Accept: application/json\r\n%s\r\n",
                         gen_o.office, gen_o.procedure, gen_o.hostport, accept_encoding());
        return k < 0 || (size_t)k >= cap ? -1 : k;
    }
    case R_CAPTCHA:
        n = snprintf(body, sizeof(body), "{\"office\":\"%s\",\"captcha\":\"%s\"}", gen_o.office, u->cap);
        return n < 0 || (size_t)n >= sizeof(body) ? -1 : post(out, cap, "/api/v1/captcha", u, body, n);
    case R_BOOK:
        if (u->cap_state == 1)
            snprintf(cap_s, sizeof(cap_s), "%s", u->cap);
        else
            new_captcha(u, cap_s, sizeof(cap_s));
        n = snprintf(body, sizeof(body), "{\"slot\":%lld,\"procedure\":\"%s\",\"captcha\":\"%s\"}",
                     (long long)u->slot, gen_o.procedure, cap_s);
        return post(out, cap, "/api/v1/appointments", u, body, n);
    default:
        return -1;
    }
}
