/*
 * The booking module for citasd: configuration keys, per-worker state (scripts, caches), the start-up
 * rebuild of Redis from PostgreSQL (worker 0, once, retried until it succeeds).
 */
#include "create.h"
#include "internal.h"

#include "cancel_lua.h"
#include "confirm_lua.h"
#include "unclaim_lua.h"
#include "release_lua.h"
#include "reserve_lua.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

static const struct server_config_key keys[] = {
    {"booking_hold_ttl_ms", "30000"},       /* a reserved seat not committed by then returns to the pool */
    {"booking_next_dates", "5"},            /* days suggested with a sold-out answer */
    {"booking_rebuild_on_start", "1"},      /* worker 0 recomputes Redis from PostgreSQL at start-up */
    {"booking_reconcile_delay_ms", "2000"}, /* after an uncertain commit, ask PostgreSQL this much later */
    {"booking_account_cache_s", "300"},     /* account document/email cached in Redis */
    {"booking_early_penalty_s", "0"},       /* a booking before the release benches the account until the
                                               release and this long after it (0: off) */
    {"booking_captcha_penalty_s", "0"},     /* a refused captcha benches the account this long (0: off) */
    {"booking_captcha_pass_s", "120"},      /* a captcha verified beforehand (POST /api/v1/captcha) serves a
                                               booking this long (hCaptcha's responses live about 2 min) */
    {"booking_release_lottery_ms", "0"},    /* attempts in this span after a release are served in random
                                               order (0: off) */
    {"booking_group_max", "64"},            /* new bookings committed in one transaction at most (1: each
                                               alone) */
    {"booking_group_ms", "0"},              /* a group waits this long for more bookings (0: the loop turn) */
    {NULL, NULL},
};

struct bk_worker *bk_worker_of(h2o_req_t *req)
{
    return server_worker_module(server_worker_of(req), &booking_server_module);
}

static void start_rebuild(struct bk_worker *bw);

/* Set after every successful rebuild; its absence means Redis lost its data. */
#define BK_REBUILT_KEY "citas:booking:rebuilt"
#define BK_WATCH_MS    2000

static void arm_watch(struct bk_worker *bw);

static void on_marker(struct redis_client *c, const redisReply *r, const char *err, void *ctx)
{
    (void)c;
    struct bk_worker *bw = ctx;
    bw->watch_pending = 0;
    if (bw->stopping)
        return;
    if (err == NULL && r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 0 &&
        !bw->rebuild_running) {
        fprintf(stderr,
                "citasd: booking: Redis has lost its data (no rebuild marker): rebuilding from PostgreSQL\n");
        start_rebuild(bw);
    }
    arm_watch(bw);
}

static void on_watch_timer(struct ring_op *op, int res)
{
    struct bk_worker *bw = op->data;
    bw->watch_timer_armed = 0;
    if (res == -ECANCELED || bw->stopping)
        return;
    const char *argv[] = {"EXISTS", BK_REBUILT_KEY};
    if (!bw->rebuild_running && redis_command(bw->redis, on_marker, bw, 2, argv, NULL) == 0)
        bw->watch_pending = 1;
    else
        arm_watch(bw);
}

static void arm_watch(struct bk_worker *bw)
{
    if (bw->stopping || bw->watch_timer_armed || bw->watch_pending)
        return;
    bw->watch_timer.cb = on_watch_timer;
    bw->watch_timer.data = bw;
    if (ring_timeout(bw->ring, &bw->watch_timer, BK_WATCH_MS) == 0)
        bw->watch_timer_armed = 1;
}

static void on_marker_set(struct redis_client *c, const redisReply *r, const char *err, void *ctx)
{
    (void)c;
    (void)r;
    (void)err; /* without the marker the watch rebuilds once more: harmless */
    (void)ctx;
}

static void on_rebuild_timer(struct ring_op *op, int res)
{
    struct bk_worker *bw = op->data;
    bw->rebuild_timer_armed = 0;
    if (res == -ECANCELED || bw->stopping)
        return;
    start_rebuild(bw);
}

static void retry_rebuild(struct bk_worker *bw)
{
    if (bw->stopping)
        return;
    bw->rebuild_timer.cb = on_rebuild_timer;
    bw->rebuild_timer.data = bw;
    if (ring_timeout(bw->ring, &bw->rebuild_timer, 3000) == 0)
        bw->rebuild_timer_armed = 1;
}

static void on_rebuilt(const char *err, const struct booking_rebuild_stats *st, void *ctx)
{
    struct bk_worker *bw = ctx;
    bw->rebuild_running = 0;
    if (err != NULL) {
        fprintf(stderr, "citasd: booking: rebuilding Redis from PostgreSQL failed (%s); retrying\n", err);
        retry_rebuild(bw);
        return;
    }
    bw->rebuild_done = 1;
    const char *argv[] = {"SET", BK_REBUILT_KEY, "1"};
    redis_command(bw->redis, on_marker_set, bw, 3, argv, NULL);
    arm_watch(bw);
    fprintf(stderr,
            "citasd: booking: Redis rebuilt from PostgreSQL: %" PRIu64 " offices, %" PRIu64
            " windows, %" PRIu64 " slots, %" PRIu64 " free seats, %" PRIu64 " active appointments\n",
            st->offices, st->windows, st->slots, st->free_seats, st->persons);
}

static void start_rebuild(struct bk_worker *bw)
{
    if (bw->stopping)
        return;
    if (booking_rebuild(bw->pg, bw->redis, NULL, on_rebuilt, bw) == 0)
        bw->rebuild_running = 1;
    else
        retry_rebuild(bw);
}

static int get_uint(const struct server_config *c, const char *name, uint64_t *out)
{
    char err[160];
    return server_config_uint(c, name, out, err, sizeof(err)) == 0 ? 0 : -EINVAL;
}

static int worker_init(struct server_worker *w, void **state)
{
    struct bk_worker *bw = calloc(1, sizeof(*bw));
    if (bw == NULL)
        return -ENOMEM;
    *state = bw;
    bw->w = w;
    bw->ring = server_worker_ring(w);
    bw->redis = server_worker_redis(w);
    bw->pg = server_worker_pg(w);
    const struct server_config *c = server_worker_config(w);
    if (get_uint(c, "booking_hold_ttl_ms", &bw->hold_ttl_ms) != 0 || bw->hold_ttl_ms < 100 ||
        get_uint(c, "booking_next_dates", &bw->next_dates) != 0 || bw->next_dates > 31 ||
        get_uint(c, "booking_rebuild_on_start", &bw->rebuild_on_start) != 0 ||
        get_uint(c, "booking_reconcile_delay_ms", &bw->reconcile_delay_ms) != 0 ||
        get_uint(c, "booking_account_cache_s", &bw->account_cache_s) != 0 || bw->account_cache_s == 0 ||
        get_uint(c, "booking_early_penalty_s", &bw->early_penalty_s) != 0 ||
        get_uint(c, "booking_captcha_penalty_s", &bw->captcha_penalty_s) != 0 ||
        get_uint(c, "booking_captcha_pass_s", &bw->captcha_pass_s) != 0 || bw->captcha_pass_s < 1 ||
        bw->captcha_pass_s > 600 || get_uint(c, "booking_release_lottery_ms", &bw->release_lottery_ms) != 0 ||
        bw->release_lottery_ms > 60000 || get_uint(c, "booking_group_max", &bw->group_max) != 0 ||
        bw->group_max < 1 || bw->group_max > 1000 || get_uint(c, "booking_group_ms", &bw->group_ms) != 0 ||
        bw->group_ms > 1000)
        return -EINVAL;
    bw->reserve = redis_script_create(bk_reserve_lua);
    bw->confirm = redis_script_create(bk_confirm_lua);
    bw->release = redis_script_create(bk_release_lua);
    bw->cancel = redis_script_create(bk_cancel_lua);
    bw->unclaim = redis_script_create(bk_unclaim_lua);
    if (bw->reserve == NULL || bw->confirm == NULL || bw->release == NULL || bw->cancel == NULL ||
        bw->unclaim == NULL || bk_slotmap_create(&bw->slots) != 0)
        return -ENOMEM;
    if (server_worker_id(w) == 0 && bw->rebuild_on_start)
        start_rebuild(bw);
    return 0;
}

static void worker_stop(void *state)
{
    struct bk_worker *bw = state;
    if (bw == NULL)
        return;
    bw->stopping = 1;
    if (bw->rebuild_timer_armed)
        ring_cancel(bw->ring, &bw->rebuild_timer);
    if (bw->watch_timer_armed)
        ring_cancel(bw->ring, &bw->watch_timer);
    bk_group_flush(bw);
    if (bw->group_timer_armed)
        ring_cancel(bw->ring, &bw->group_timer);
    redis_detach(bw->redis, bw);
    bk_reconcile_stop_all(bw);
}

static void worker_free(void *state)
{
    struct bk_worker *bw = state;
    if (bw == NULL)
        return;
    redis_script_free(bw->reserve);
    redis_script_free(bw->confirm);
    redis_script_free(bw->release);
    redis_script_free(bw->cancel);
    redis_script_free(bw->unclaim);
    bk_slotmap_free(bw->slots);
    free(bw->info);
    free(bw);
}

struct bk_counters bk_counters;

static void metrics(struct server_metrics *m)
{
    server_metrics_put(
        m,
        "# HELP citas_bookings_total Answers of the booking path by outcome.\n"
        "# TYPE citas_bookings_total counter\n"
        "citas_bookings_total{outcome=\"booked\"} %llu\n"
        "citas_bookings_total{outcome=\"rescheduled\"} %llu\n"
        "citas_bookings_total{outcome=\"sold_out\"} %llu\n"
        "citas_bookings_total{outcome=\"refused\"} %llu\n"
        "citas_bookings_total{outcome=\"failed\"} %llu\n"
        "# HELP citas_booking_seats_released_total Seats given back after a failure past the reservation.\n"
        "# TYPE citas_booking_seats_released_total counter\n"
        "citas_booking_seats_released_total %llu\n"
        "# HELP citas_booking_group_commits_total Transactions that committed several new bookings at once.\n"
        "# TYPE citas_booking_group_commits_total counter\n"
        "citas_booking_group_commits_total %llu\n"
        "# HELP citas_booking_group_bookings_total Bookings committed in those transactions.\n"
        "# TYPE citas_booking_group_bookings_total counter\n"
        "citas_booking_group_bookings_total %llu\n"
        "# HELP citas_booking_group_retried_total Groups PostgreSQL refused, whose bookings then ran one by "
        "one.\n"
        "# TYPE citas_booking_group_retried_total counter\n"
        "citas_booking_group_retried_total %llu\n"
        "# HELP citas_booking_captcha_passes_total Booking attempts that used a captcha verified beforehand "
        "(POST /api/v1/captcha) instead of siteverify.\n"
        "# TYPE citas_booking_captcha_passes_total counter\n"
        "citas_booking_captcha_passes_total %llu\n",
        atomic_load(&bk_counters.booked), atomic_load(&bk_counters.rescheduled),
        atomic_load(&bk_counters.sold_out), atomic_load(&bk_counters.refused),
        atomic_load(&bk_counters.failed), atomic_load(&bk_counters.released),
        atomic_load(&bk_counters.group_commits), atomic_load(&bk_counters.group_bookings),
        atomic_load(&bk_counters.group_retried), atomic_load(&bk_counters.captcha_passes));
    bk_stages_metrics(m);
}

const struct server_module booking_server_module = {
    .name = "booking",
    .keys = keys,
    .worker_init = worker_init,
    .worker_stop = worker_stop,
    .worker_free = worker_free,
    .metrics = metrics,
};
