/*
 * Where a booking's time goes: one histogram per step of the create machine (create.c), for /metrics as
 * citas_booking_stage_seconds{stage=...}. An attempt marks the clock when it starts and at each step;
 * each mark adds the time since the previous one to that step's histogram. Process-wide, lock-free.
 */
#include "create.h"

#include <stdio.h>
#include <time.h>

static const char *const stage_names[BK_STAGES] = {
    [BK_STAGE_SESSION] = "session", [BK_STAGE_PROBE] = "probe",     [BK_STAGE_LOTTERY] = "lottery",
    [BK_STAGE_CAPTCHA] = "captcha", [BK_STAGE_RESERVE] = "reserve", [BK_STAGE_PERSIST] = "persist",
    [BK_STAGE_CONFIRM] = "confirm",
};

/* upper bounds in microseconds, as the HTTP histogram's (seconds) */
static const uint64_t bounds_us[] = {500,    1000,   2500,   5000,    10000,   25000,  50000,
                                     100000, 250000, 500000, 1000000, 2500000, 5000000};
#define NB (sizeof(bounds_us) / sizeof(bounds_us[0]))

static struct {
    atomic_ullong bucket[NB + 1]; /* the last one: above every bound */
    atomic_ullong sum_us;
} hist[BK_STAGES];

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void bk_att_mark(struct bk_attempt *a, enum bk_stage stage)
{
    uint64_t now = now_us();
    if (a->mark_us != 0 && stage < BK_STAGES) {
        uint64_t d = now - a->mark_us;
        size_t i = 0;
        while (i < NB && d > bounds_us[i])
            i++;
        atomic_fetch_add_explicit(&hist[stage].bucket[i], 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&hist[stage].sum_us, d, memory_order_relaxed);
    }
    a->mark_us = now;
}

void bk_stages_metrics(struct server_metrics *m)
{
    server_metrics_put(m, "# HELP citas_booking_stage_seconds Time of each step of the booking path.\n"
                          "# TYPE citas_booking_stage_seconds histogram\n");
    for (int s = 0; s < BK_STAGES; s++) {
        unsigned long long cum = 0;
        for (size_t i = 0; i <= NB; i++) {
            cum += atomic_load_explicit(&hist[s].bucket[i], memory_order_relaxed);
            if (i < NB)
                server_metrics_put(m, "citas_booking_stage_seconds_bucket{stage=\"%s\",le=\"%g\"} %llu\n",
                                   stage_names[s], (double)bounds_us[i] / 1e6, cum);
            else
                server_metrics_put(m, "citas_booking_stage_seconds_bucket{stage=\"%s\",le=\"+Inf\"} %llu\n",
                                   stage_names[s], cum);
        }
        server_metrics_put(m, "citas_booking_stage_seconds_sum{stage=\"%s\"} %.6f\n", stage_names[s],
                           (double)atomic_load_explicit(&hist[s].sum_us, memory_order_relaxed) / 1e6);
        server_metrics_put(m, "citas_booking_stage_seconds_count{stage=\"%s\"} %llu\n", stage_names[s], cum);
    }
}
