/* Calls of the booking scripts that several flows share: confirm, release, cancel. */
#include "internal.h"

#include <inttypes.h>
#include <stdio.h>

void bk_redis_ignore(struct redis_client *c, const redisReply *reply, const char *err, void *ctx)
{
    (void)c;
    (void)reply;
    (void)err;
    (void)ctx;
}

int bk_run_confirm(struct bk_worker *bw, const struct bk_attempt_keys *k, redis_reply_cb cb, void *ctx)
{
    char hold[BK_KEY_MAX], holds[BK_KEY_MAX], freek[BK_KEY_MAX], ofree[BK_KEY_MAX], oslot[BK_KEY_MAX];
    char member[48], seat[16], oseat[16];
    bk_key_hold(hold, k->office, k->slot, k->seat);
    bk_key_holds(holds, k->office);
    bk_key_free(freek, k->office, k->slot);
    snprintf(member, sizeof(member), "%" PRId64 ":%d", k->slot, k->seat);
    snprintf(seat, sizeof(seat), "%d", k->seat);
    snprintf(oseat, sizeof(oseat), "%d", k->old_seat);
    if (k->old_slot > 0) {
        bk_key_free(ofree, k->office, k->old_slot);
        bk_key_slot(oslot, k->office, k->old_slot);
        const char *argv[] = {hold, holds, k->person_key, freek, ofree, oslot, member, k->code, seat, oseat};
        return redis_evalsha(bw->redis, bw->confirm, 6, 10, argv, NULL, cb, ctx);
    }
    const char *argv[] = {hold, holds, k->person_key, freek, member, k->code, seat, ""};
    return redis_evalsha(bw->redis, bw->confirm, 4, 8, argv, NULL, cb, ctx);
}

int bk_run_release(struct bk_worker *bw, const struct bk_attempt_keys *k, int give_back, redis_reply_cb cb,
                   void *ctx)
{
    char hold[BK_KEY_MAX], holds[BK_KEY_MAX], freek[BK_KEY_MAX], member[48], seat[16];
    bk_key_hold(hold, k->office, k->slot, k->seat);
    bk_key_holds(holds, k->office);
    bk_key_free(freek, k->office, k->slot);
    snprintf(member, sizeof(member), "%" PRId64 ":%d", k->slot, k->seat);
    snprintf(seat, sizeof(seat), "%d", k->seat);
    const char *argv[] = {hold,   holds, k->person_key, freek,
                          member, seat,  k->person_key, give_back ? "1" : "0"};
    return redis_evalsha(bw->redis, bw->release, 4, 8, argv, NULL, cb, ctx);
}

int bk_run_cancel(struct bk_worker *bw, const char *office, int64_t slot, int seat, const char *person_key,
                  const char *code, redis_reply_cb cb, void *ctx)
{
    char slotk[BK_KEY_MAX], freek[BK_KEY_MAX], seats[16];
    bk_key_slot(slotk, office, slot);
    bk_key_free(freek, office, slot);
    snprintf(seats, sizeof(seats), "%d", seat);
    const char *argv[] = {slotk, freek, person_key, seats, code};
    return redis_evalsha(bw->redis, bw->cancel, 3, 5, argv, NULL, cb, ctx);
}
