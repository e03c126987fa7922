/*
 * surge-gen's answer log: one entry per answer or failed exchange, in memory during the run (blocks of
 * fixed-size entries, notes interned, appointment codes aside), written as TSV at the end:
 *   t_ms user bot route status latency_us slot code note queue_us
 * latency_us is the server's time (request written .. answer read), queue_us the generator's (the user
 * wanted to send .. request written: waiting for a free connection, connecting, writing).
 * Also the counters of the one-line summary.
 */
#include "gen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const gen_route_names[R_N] = {"login", "login_code", "availability", "book", "captcha", "other"};

struct entry {
    int64_t slot; /* -1: none */
    int32_t t_ms;
    uint32_t user;
    uint32_t latency_us;
    uint32_t queue_us;
    uint32_t code; /* index + 1 into codes, 0: none */
    uint16_t status;
    uint8_t route_bot; /* route << 1 | bot */
    uint8_t note;
};

#define BLOCK     65536
#define MAX_NOTES 255

static struct entry **blocks;
static size_t nblocks, nentries;
static char notes[MAX_NOTES][32];
static int nnotes;
static char (*codes)[16];
static size_t ncodes, capcodes;
static uint64_t by_route_status[R_N][600];
static uint64_t fails_by_route[R_N];
static int oom;

static uint8_t intern(const char *note)
{
    for (int i = 0; i < nnotes; i++)
        if (strcmp(notes[i], note) == 0)
            return (uint8_t)i;
    if (nnotes == MAX_NOTES)
        return 0; /* notes[0] is "ok", registered first; never reached with the fixed token set */
    snprintf(notes[nnotes], sizeof(notes[0]), "%s", note);
    return (uint8_t)nnotes++;
}

void gen_log_add(int64_t done_ms, const struct gen_user *u, int route, int status, int64_t latency_us,
                 int64_t queue_us, int64_t slot, const char *code, const char *note)
{
    if (nnotes == 0)
        intern("ok");
    if (status < 0 || status >= 600)
        status = 0;
    by_route_status[route][status]++;
    if (status == 0)
        fails_by_route[route]++;
    if (nentries == nblocks * BLOCK) {
        struct entry **nb = realloc(blocks, (nblocks + 1) * sizeof(*blocks));
        struct entry *b = nb != NULL ? malloc(BLOCK * sizeof(struct entry)) : NULL;
        if (nb != NULL)
            blocks = nb;
        if (b == NULL) {
            oom = 1;
            return;
        }
        blocks[nblocks++] = b;
    }
    struct entry *e = &blocks[nentries / BLOCK][nentries % BLOCK];
    e->t_ms = (int32_t)gen_rel_ms(done_ms);
    e->user = u->id;
    e->latency_us = latency_us < 0 ? 0 : latency_us > UINT32_MAX ? UINT32_MAX : (uint32_t)latency_us;
    e->queue_us = queue_us < 0 ? 0 : queue_us > UINT32_MAX ? UINT32_MAX : (uint32_t)queue_us;
    e->status = (uint16_t)status;
    e->route_bot = (uint8_t)(route << 1 | (u->bot ? 1 : 0));
    e->slot = slot;
    e->code = 0;
    e->note = intern(note != NULL && note[0] ? note : "other");
    if (code != NULL && code[0]) {
        if (ncodes == capcodes) {
            size_t nc = capcodes ? capcodes * 2 : 1024;
            char(*p)[16] = realloc(codes, nc * sizeof(*codes));
            if (p == NULL) {
                oom = 1;
                return;
            }
            codes = p;
            capcodes = nc;
        }
        snprintf(codes[ncodes], sizeof(codes[0]), "%s", code);
        e->code = (uint32_t)++ncodes;
    }
    nentries++;
}

/* Lower-case letters, digits and '_' from s (other runs of characters become one '_'). */
static void slug(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < cap; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
            out[o++] = c;
        else if (o > 0 && out[o - 1] != '_')
            out[o++] = '_';
    }
    while (o > 0 && out[o - 1] == '_')
        o--;
    out[o] = '\0';
}

const char *gen_log_note(int status, const char *body, size_t len, char *buf, size_t cap)
{
    if (status >= 200 && status < 300)
        return "ok";
    char title[64];
    if (body == NULL || gen_json_str(body, len, "title", title, sizeof(title)) != 0) {
        snprintf(buf, cap, "http_%d", status);
        return buf;
    }
    static const struct {
        const char *title, *note;
    } known[] = {
        {"Sold out", "sold_out"},
        {"Not open yet", "not_open"},
        {"Already booked", "already"},
        {"Captcha rejected", "captcha"},
        {"Captcha already used", "captcha_used"},
        {"Captcha required", "captcha_missing"},
        {"Too many requests", "rate_limited"},
        {"Service unavailable", "unavailable"},
        {"Slot has started", "started"},
    };
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(title, known[i].title) == 0)
            return known[i].note;
    slug(title, strlen(title), buf, cap > 24 ? 24 : cap);
    if (buf[0] == '\0')
        snprintf(buf, cap, "http_%d", status);
    return buf;
}

int gen_log_write(const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    static char iobuf[1 << 20];
    setvbuf(f, iobuf, _IOFBF, sizeof(iobuf));
    for (size_t i = 0; i < nentries; i++) {
        const struct entry *e = &blocks[i / BLOCK][i % BLOCK];
        char slot[24] = "-";
        if (e->slot >= 0)
            snprintf(slot, sizeof(slot), "%lld", (long long)e->slot);
        fprintf(f, "%d\t%u\t%u\t%s\t%u\t%u\t%s\t%s\t%s\t%u\n", e->t_ms, e->user, e->route_bot & 1u,
                gen_route_names[e->route_bot >> 1], e->status, e->latency_us, slot,
                e->code ? codes[e->code - 1] : "-", notes[e->note], e->queue_us);
    }
    int rc = ferror(f) ? -1 : 0;
    if (fclose(f) != 0)
        rc = -1;
    return oom ? -1 : rc;
}

int gen_log_any_status(void)
{
    for (int r = 0; r < R_N; r++)
        for (int s = 1; s < 600; s++)
            if (by_route_status[r][s])
                return 1;
    return 0;
}

void gen_log_summary(double elapsed_s)
{
    uint64_t booked = 0, booked_bots = 0, outcome[O_UNFINISHED + 1] = {0}, bots = 0;
    for (uint32_t i = 0; i < gen_o.users; i++) {
        const struct gen_user *u = &gen_users[i];
        bots += u->bot;
        outcome[u->outcome <= O_UNFINISHED ? u->outcome : O_UNFINISHED]++;
        if (u->outcome == O_BOOKED) {
            booked++;
            booked_bots += u->bot;
        }
    }
    char line[4096];
    size_t o = 0;
    o += (size_t)snprintf(line + o, sizeof(line) - o, "surge-gen: users=%u bots=%llu answers=%zu",
                          gen_o.users, (unsigned long long)bots, nentries);
    for (int r = 0; r < R_N; r++) {
        int first = 1;
        for (int s = 0; s < 600 && o < sizeof(line) - 64; s++) {
            if (by_route_status[r][s] == 0)
                continue;
            if (first)
                o += (size_t)snprintf(line + o, sizeof(line) - o, " %s:", gen_route_names[r]);
            o += (size_t)snprintf(line + o, sizeof(line) - o, "%s%d=%llu", first ? "" : ",", s,
                                  (unsigned long long)by_route_status[r][s]);
            first = 0;
        }
    }
    if (o < sizeof(line) - 256)
        snprintf(line + o, sizeof(line) - o,
                 " | booked=%llu (bots %llu) already=%llu gave_up=%llu no_seats=%llu login_failed=%llu"
                 " unfinished=%llu"
                 " | conns=%llu max_open=%llu connect_fails=%llu max_queue_ms=%lld queued_100ms=%llu"
                 " gzipped=%llu elapsed_s=%.1f",
                 (unsigned long long)booked, (unsigned long long)booked_bots,
                 (unsigned long long)outcome[O_ALREADY], (unsigned long long)outcome[O_GAVE_UP],
                 (unsigned long long)outcome[O_NO_SEATS], (unsigned long long)outcome[O_LOGIN_FAILED],
                 (unsigned long long)(outcome[O_UNFINISHED] + outcome[O_NONE]),
                 (unsigned long long)gen_net_connects, (unsigned long long)gen_net_max_open,
                 (unsigned long long)gen_net_connect_fails, (long long)gen_net_max_queue_ms,
                 (unsigned long long)gen_net_queued_100ms, (unsigned long long)gen_net_gzipped, elapsed_s);
    printf("%s\n", line);
    fflush(stdout);
}
