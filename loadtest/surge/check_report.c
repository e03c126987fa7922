/* surge-check: the report (text, JSON and the per-second series that report.gp plots). */
#include "check.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct figures {
    double secs, total, mean_rps, peak_rps, rps_10s_after;
    int64_t peak_sec;
    uint64_t n5xx, nfail;
    double sellout_s; /* < 0: not sold out */
    int64_t seats_left;
    uint64_t bot_users, users_seen, capt_users;
    double bot_user_share, bot_seat_share;
    /* users who tried to book, and those whose first attempt was answered by T+3 s: [0] humans, [1] bots */
    uint64_t tried[2], first_by3s[2];
};

static double ms(double us)
{
    return us / 1000.0;
}

static void compute(const struct report_opts *o, const struct answers *a, const struct db_result *db,
                    struct figures *f)
{
    memset(f, 0, sizeof(*f));
    f->secs = a->lines ? (double)(a->t_max - a->t_min) / 1000.0 : 0;
    f->total = (double)a->lines;
    f->mean_rps = f->secs > 0 ? f->total / f->secs : 0;
    uint64_t after = 0;
    for (size_t i = 0; i < a->nsec; i++) {
        uint64_t n = 0;
        for (int r = 0; r < ROUTE_N; r++)
            n += a->seconds[i].by_route[r];
        if ((double)n > f->peak_rps) {
            f->peak_rps = (double)n;
            f->peak_sec = a->sec0 + (int64_t)i;
        }
        int64_t s = a->sec0 + (int64_t)i;
        if (s >= 0 && s < 10)
            after += n;
    }
    f->rps_10s_after = (double)after / 10.0;
    for (int s = 500; s < 600; s++)
        f->n5xx += a->by_status[s];
    f->nfail = a->by_status[0];
    int64_t seats = db->seats > 0 ? db->seats : o->seats;
    f->seats_left = seats - db->active_rows;
    f->sellout_s = -1;
    if (seats > 0 && db->active_rows >= seats) {
        /* the last seat: the later of the last 201 and the last commit (a commit may have had no 201) */
        int64_t last = db->last_row_ms;
        for (size_t i = 0; i < a->nwins; i++)
            if (a->wins[i].t_ms > last)
                last = a->wins[i].t_ms;
        f->sellout_s = (double)last / 1000.0;
    }
    for (uint32_t u = 0; u < a->nusers; u++) {
        f->users_seen += a->users[u].seen;
        f->bot_users += a->users[u].seen && a->users[u].bot;
        f->capt_users += a->users[u].captcha_refused;
        if (a->users[u].book_tries > 0) {
            int b = a->users[u].bot ? 1 : 0;
            f->tried[b]++;
            f->first_by3s[b] += a->users[u].first_book_ms <= 3000;
        }
    }
    f->bot_user_share = a->nusers ? (double)f->bot_users / (double)a->nusers : 0;
    f->bot_seat_share = db->active_rows ? (double)db->bot_rows / (double)db->active_rows : 0;
}

static const char *yes(int ok)
{
    return ok ? "met" : "MISSED";
}

static void write_text(FILE *t, const struct report_opts *o, const struct answers *a,
                       const struct db_result *db, const struct figures *f)
{
    double ref = o->wrk_rps;
    fprintf(t, "surge report%s%s\n", o->faults ? " (fault modes: " : "", o->faults ? o->faults_desc : "");
    if (o->faults)
        fprintf(t, ")\n");
    fprintf(t, "reference: wrk on /healthz (same run, before the surge): %.0f req/s, p99 %.2f ms\n", ref,
            o->wrk_p99_ms);
    fprintf(t, "answers: %.0f over %.1f s (t = %.1f .. %.1f s around release T)\n", f->total, f->secs,
            (double)a->t_min / 1000.0, (double)a->t_max / 1000.0);
    fprintf(t,
            "throughput: mean %.0f req/s (%.3fx ref), peak second %.0f req/s at T%+" PRId64 "s (%.3fx ref), "
            "first 10 s after T %.0f req/s (%.3fx ref)\n",
            f->mean_rps, ref > 0 ? f->mean_rps / ref : 0, f->peak_rps, f->peak_sec,
            ref > 0 ? f->peak_rps / ref : 0, f->rps_10s_after, ref > 0 ? f->rps_10s_after / ref : 0);
    fprintf(t, "\n%-13s %9s %9s %9s %9s %9s %9s %9s\n", "route", "answers", "req/s", "xref", "p50 ms",
            "p95 ms", "p99 ms", "max ms");
    for (int r = 0; r < ROUTE_N; r++) {
        const struct hist *h = &a->route[r];
        if (h->n == 0)
            continue;
        double rps = f->secs > 0 ? (double)h->n / f->secs : 0;
        fprintf(t, "%-13s %9" PRIu64 " %9.0f %9.4f %9.2f %9.2f %9.2f %9.2f\n", check_route_names[r], h->n,
                rps, ref > 0 ? rps / ref : 0, ms(hist_quantile(h, 0.5)), ms(hist_quantile(h, 0.95)),
                ms(hist_quantile(h, 0.99)), ms(h->max));
    }
    if (a->lines_with_queue > 0) {
        fprintf(t,
                "\ninside the generator (queue: the user wanted to send .. request written; not in the times "
                "above)\n%-13s %9s %9s %9s %9s\n",
                "route", "p50 ms", "p95 ms", "p99 ms", "max ms");
        for (int r = 0; r < ROUTE_N; r++) {
            const struct hist *h = &a->queue[r];
            if (h->n > 0)
                fprintf(t, "%-13s %9.2f %9.2f %9.2f %9.2f\n", check_route_names[r], ms(hist_quantile(h, 0.5)),
                        ms(hist_quantile(h, 0.95)), ms(hist_quantile(h, 0.99)), ms(h->max));
        }
    }
    fprintf(t, "\nanswers by status:");
    for (int s = 0; s < 600; s++)
        if (a->by_status[s])
            fprintf(t, " %d:%" PRIu64, s, a->by_status[s]);
    fprintf(t,
            "   (0 = no answer: timeout %" PRIu64 ", reset %" PRIu64 ", refused %" PRIu64 ", other %" PRIu64
            ")\n",
            a->notes_fail[0], a->notes_fail[1], a->notes_fail[2], a->notes_fail[3]);
    for (int r = 0; r < ROUTE_N; r++) {
        if (a->route[r].n == 0)
            continue;
        fprintf(t, "  %-12s", check_route_names[r]);
        for (int s = 0; s < 600; s++)
            if (a->route_status[r][s])
                fprintf(t, " %d:%" PRIu64, s, a->route_status[r][s]);
        fputc('\n', t);
    }
    fprintf(t, "5xx answers: %" PRIu64 "%s\n", f->n5xx,
            o->faults && f->n5xx ? " (during fault modes: reported, not a violation)" : "");
    fprintf(t,
            "\nseats: %" PRId64 " in %" PRId64 " slots; booked (PostgreSQL, active): %" PRId64
            "; 201 answers: %zu; "
            "rows after a timeout/503: %" PRId64 "\n",
            db->seats, db->slots, db->active_rows, a->nwins, db->rows_uncertain);
    if (f->sellout_s >= 0)
        fprintf(t, "sold out %.2f s after T (first commit at %.2f s)\n", f->sellout_s,
                (double)db->first_row_ms / 1000.0);
    else
        fprintf(t, "not sold out: %" PRId64 " seats left\n", f->seats_left);
    fprintf(t,
            "bots: %" PRIu64 " of %u users (%.1f%%) won %" PRId64 " of %" PRId64 " seats (%.1f%%); "
            "users with captcha refused: %" PRIu64 ", their seats: %" PRId64 "\n",
            f->bot_users, a->nusers, 100 * f->bot_user_share, db->bot_rows, db->active_rows,
            100 * f->bot_seat_share, f->capt_users, db->capt_bot_rows);
    fprintf(t,
            "first booking attempt answered by T+3 s: humans %" PRIu64 " of %" PRIu64
            " who tried, bots %" PRIu64 " of %" PRIu64 "\n",
            f->first_by3s[0], f->tried[0], f->first_by3s[1], f->tried[1]);
    fprintf(t, "checker: %ld violation(s)\n", o->violations);

    double pa = ms(hist_quantile(&a->route[ROUTE_AVAILABILITY], 0.99)),
           pb = ms(hist_quantile(&a->route[ROUTE_BOOK], 0.99));
    fprintf(
        t,
        "\ntargets: zero 5xx %s; zero violations %s; sold out within 10 s %s; p99 availability < 250 ms %s "
        "(%.1f); p99 booking < 250 ms %s (%.1f); bots <= their share %s; captcha-refused users no seat %s\n",
        yes(f->n5xx == 0), yes(o->violations == 0), yes(f->sellout_s >= 0 && f->sellout_s <= 10),
        yes(pa < 250), pa, yes(pb < 250), pb, yes(f->bot_seat_share <= f->bot_user_share + 1e-9),
        yes(db->capt_bot_rows == 0));
}

static void write_json(FILE *j, const struct report_opts *o, const struct answers *a,
                       const struct db_result *db, const struct figures *f)
{
    double ref = o->wrk_rps;
    fprintf(j, "{\n  \"faults\": \"%s\",\n", o->faults ? o->faults_desc : "");
    fprintf(j, "  \"reference\": {\"wrk_healthz_rps\": %.1f, \"wrk_healthz_p99_ms\": %.3f},\n", ref,
            o->wrk_p99_ms);
    fprintf(j,
            "  \"answers\": %.0f, \"seconds\": %.3f, \"t_min_ms\": %" PRId64 ", \"t_max_ms\": %" PRId64 ",\n",
            f->total, f->secs, a->t_min, a->t_max);
    fprintf(j,
            "  \"throughput\": {\"mean_rps\": %.1f, \"mean_ratio\": %.4f, \"peak_rps\": %.0f, "
            "\"peak_ratio\": %.4f, "
            "\"peak_second\": %" PRId64 ", \"first10s_rps\": %.1f, \"first10s_ratio\": %.4f},\n",
            f->mean_rps, ref > 0 ? f->mean_rps / ref : 0, f->peak_rps, ref > 0 ? f->peak_rps / ref : 0,
            f->peak_sec, f->rps_10s_after, ref > 0 ? f->rps_10s_after / ref : 0);
    fprintf(j, "  \"routes\": {");
    int first = 1;
    for (int r = 0; r < ROUTE_N; r++) {
        const struct hist *h = &a->route[r];
        if (h->n == 0)
            continue;
        double rps = f->secs > 0 ? (double)h->n / f->secs : 0;
        fprintf(
            j,
            "%s\n    \"%s\": {\"answers\": %" PRIu64 ", \"rps\": %.1f, \"ratio\": %.5f, \"p50_ms\": %.3f, "
            "\"p95_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f, \"status\": {",
            first ? "" : ",", check_route_names[r], h->n, rps, ref > 0 ? rps / ref : 0,
            ms(hist_quantile(h, 0.5)), ms(hist_quantile(h, 0.95)), ms(hist_quantile(h, 0.99)), ms(h->max));
        const struct hist *q = &a->queue[r];
        if (q->n > 0)
            fprintf(j, "\"queue_p50_ms\": %.3f, \"queue_p99_ms\": %.3f, \"queue_max_ms\": %.3f, ",
                    ms(hist_quantile(q, 0.5)), ms(hist_quantile(q, 0.99)), ms(q->max));
        int f2 = 1;
        for (int s = 0; s < 600; s++)
            if (a->route_status[r][s]) {
                fprintf(j, "%s\"%d\": %" PRIu64, f2 ? "" : ", ", s, a->route_status[r][s]);
                f2 = 0;
            }
        fprintf(j, "}}");
        first = 0;
    }
    fprintf(j, "\n  },\n  \"status\": {");
    first = 1;
    for (int s = 0; s < 600; s++)
        if (a->by_status[s]) {
            fprintf(j, "%s\"%d\": %" PRIu64, first ? "" : ", ", s, a->by_status[s]);
            first = 0;
        }
    fprintf(j,
            "},\n  \"failures\": {\"timeout\": %" PRIu64 ", \"reset\": %" PRIu64 ", \"refused\": %" PRIu64
            ", \"other\": %" PRIu64 "},\n",
            a->notes_fail[0], a->notes_fail[1], a->notes_fail[2], a->notes_fail[3]);
    fprintf(j, "  \"errors_5xx\": %" PRIu64 ",\n", f->n5xx);
    fprintf(j,
            "  \"seats\": %" PRId64 ", \"slots\": %" PRId64 ", \"booked\": %" PRId64
            ", \"answers_201\": %zu, "
            "\"rows_after_timeout\": %" PRId64 ", \"seats_left\": %" PRId64 ",\n",
            db->seats, db->slots, db->active_rows, a->nwins, db->rows_uncertain, f->seats_left);
    if (f->sellout_s >= 0)
        fprintf(j, "  \"sellout_s\": %.3f,\n", f->sellout_s);
    else
        fprintf(j, "  \"sellout_s\": null,\n");
    fprintf(j,
            "  \"bots\": {\"users\": %" PRIu64
            ", \"all_users\": %u, \"user_share\": %.4f, \"seats\": %" PRId64
            ", \"seat_share\": %.4f, \"captcha_refused_users\": %" PRIu64
            ", \"captcha_refused_seats\": %" PRId64 "},\n",
            f->bot_users, a->nusers, f->bot_user_share, db->bot_rows, f->bot_seat_share, f->capt_users,
            db->capt_bot_rows);
    fprintf(j,
            "  \"first_book_by_3s\": {\"humans\": %" PRIu64 ", \"humans_tried\": %" PRIu64
            ", \"bots\": %" PRIu64 ", \"bots_tried\": %" PRIu64 "},\n",
            f->first_by3s[0], f->tried[0], f->first_by3s[1], f->tried[1]);
    fprintf(j, "  \"violations\": %ld\n}\n", o->violations);
}

static void write_series(FILE *s, const struct answers *a, int64_t seats)
{
    fprintf(s, "# sec total");
    for (int r = 0; r < ROUTE_N; r++)
        fprintf(s, " %s", check_route_names[r]);
    for (int c = 0; c < CLASS_N; c++)
        fprintf(s, " s_%s", check_class_names[c]);
    fprintf(s, " avail_p50_ms avail_p99_ms book_p50_ms book_p99_ms booked seats_left\n");
    int64_t cum = 0;
    for (size_t i = 0; i < a->nsec; i++) {
        int64_t sec = a->sec0 + (int64_t)i;
        if (sec * 1000 < a->t_min - 1000 || sec * 1000 > a->t_max)
            continue;
        const struct second *x = &a->seconds[i];
        uint64_t n = 0;
        for (int r = 0; r < ROUTE_N; r++)
            n += x->by_route[r];
        cum += x->booked;
        fprintf(s, "%" PRId64 " %" PRIu64, sec, n);
        for (int r = 0; r < ROUTE_N; r++)
            fprintf(s, " %u", x->by_route[r]);
        for (int c = 0; c < CLASS_N; c++)
            fprintf(s, " %u", x->by_class[c]);
        const struct hist *ha = x->avail, *hb = x->book;
        /* "NaN": gnuplot leaves a gap where a second had no answer of the route */
        if (ha != NULL)
            fprintf(s, " %.3f %.3f", ms(hist_quantile(ha, 0.5)), ms(hist_quantile(ha, 0.99)));
        else
            fprintf(s, " NaN NaN");
        if (hb != NULL)
            fprintf(s, " %.3f %.3f", ms(hist_quantile(hb, 0.5)), ms(hist_quantile(hb, 0.99)));
        else
            fprintf(s, " NaN NaN");
        fprintf(s, " %u %" PRId64 "\n", x->booked, seats - cum);
    }
}

static FILE *open_in(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        fprintf(stderr, "surge-check: cannot write %s\n", path);
    return f;
}

int check_report_write(const struct report_opts *o, const struct answers *a, const struct db_result *db,
                       FILE *out)
{
    struct figures f;
    compute(o, a, db, &f);
    FILE *t = open_in(o->dir, "report.txt"), *j = open_in(o->dir, "report.json"),
         *s = open_in(o->dir, "series.tsv");
    int rc = 0;
    if (t == NULL || j == NULL || s == NULL) {
        rc = -1;
    } else {
        write_text(t, o, a, db, &f);
        write_json(j, o, a, db, &f);
        write_series(s, a, db->seats > 0 ? db->seats : o->seats);
        write_text(out, o, a, db, &f);
        if (ferror(t) || ferror(j) || ferror(s))
            rc = -1;
    }
    if (t != NULL && fclose(t) != 0)
        rc = -1;
    if (j != NULL && fclose(j) != 0)
        rc = -1;
    if (s != NULL && fclose(s) != 0)
        rc = -1;
    return rc;
}
