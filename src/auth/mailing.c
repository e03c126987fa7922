/* One-time codes by email: verify_code messages through the mail module's outbox (they commit with the
 * account), login_code messages through its quick queue in Redis (they live minutes; no commit per login). */
#include "internal.h"

#include <errno.h>
#include <stdio.h>

static void fill(struct mail_message *m, struct mail_param params[3], int login, const char *to,
                 const char *lang, const char *name, const char *code, uint64_t ttl_s, char minutes[24])
{
    snprintf(minutes, 24, "%llu", (unsigned long long)((ttl_s + 59) / 60));
    params[0] = (struct mail_param){"code", code};
    params[1] = (struct mail_param){"minutes", minutes};
    params[2] = (struct mail_param){"name", name};
    *m = (struct mail_message){
        .to = to,
        .lang = lang,
        .kind = login ? MAIL_LOGIN_CODE : MAIL_VERIFY_CODE,
        .params = params,
        .nparams = name != NULL ? 3 : 2,
    };
}

int auth_mail_tx_code(struct pg_tx *tx, int login, const char *to, const char *lang, const char *name,
                      const char *code, uint64_t ttl_s)
{
    struct mail_message m;
    struct mail_param params[3];
    char minutes[24];
    fill(&m, params, login, to, lang, name, code, ttl_s, minutes);
    return mail_tx_add(tx, &m);
}

int auth_mail_login_code(struct redis_client *redis, const char *to, const char *lang, const char *name,
                         const char *code, uint64_t ttl_s, mail_quick_cb cb, void *ctx)
{
    struct mail_message m;
    struct mail_param params[3];
    char minutes[24];
    fill(&m, params, 1, to, lang, name, code, ttl_s, minutes);
    return mail_quick_enqueue(redis, &m, cb, ctx);
}
