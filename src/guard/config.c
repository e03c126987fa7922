/* guard configuration: the rate-limit rule list, comma-separated lists, and the start-up check. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CAPACITY 1000000u
#define MAX_PERIOD_S (7u * 24 * 3600)
#define MAX_RULES    64

static const char *const dim_names[] = {"ip", "account", "document", "route"};

const char *guard_dim_name(enum guard_dim d)
{
    return dim_names[d];
}

static int is_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

static int is_name_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
}

/* Trims blanks around s[*b..*e). */
static void trim(const char *s, size_t *b, size_t *e)
{
    while (*b < *e && is_blank(s[*b]))
        (*b)++;
    while (*e > *b && is_blank(s[*e - 1]))
        (*e)--;
}

int guard_list_has(const char *list, const char *item, size_t item_len)
{
    if (list == NULL)
        return 0;
    size_t len = strlen(list), i = 0;
    while (i <= len) {
        size_t b = i, e = i;
        while (e < len && list[e] != ',')
            e++;
        i = e + 1;
        trim(list, &b, &e);
        if (e - b == item_len && item_len > 0 && memcmp(list + b, item, item_len) == 0)
            return 1;
    }
    return 0;
}

/* Parses an unsigned decimal s[*i..) up to `max`; 0 or -1. */
static int parse_uint(const char *s, size_t *i, size_t end, uint32_t max, uint32_t *out)
{
    uint64_t v = 0;
    size_t start = *i;
    while (*i < end && s[*i] >= '0' && s[*i] <= '9') {
        v = v * 10 + (uint64_t)(s[*i] - '0');
        if (v > max)
            return -1;
        (*i)++;
    }
    if (*i == start)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

/* Parses one rule s[b..e), already trimmed; 0 or -1 with the reason in *why. */
static int parse_rule(const char *s, size_t b, size_t e, struct guard_rule *r, const char **why)
{
    size_t i = b;
    while (i < e && s[i] != ':')
        i++;
    if (i == e) {
        *why = "expected ROUTE:DIMENSION=CAPACITY/PERIOD";
        return -1;
    }
    size_t rlen = i - b;
    if (rlen == 1 && s[b] == '*') {
        strcpy(r->route, "*");
    } else {
        if (rlen == 0 || rlen > GUARD_MAX_ROUTE) {
            *why = "the route must be 1-32 characters [a-z0-9_-] or *";
            return -1;
        }
        for (size_t k = b; k < i; k++)
            if (!is_name_char(s[k])) {
                *why = "the route must be 1-32 characters [a-z0-9_-] or *";
                return -1;
            }
        memcpy(r->route, s + b, rlen);
        r->route[rlen] = '\0';
    }
    size_t d = ++i;
    while (i < e && s[i] != '=')
        i++;
    if (i == e) {
        *why = "expected '=' after the dimension";
        return -1;
    }
    size_t dlen = i - d;
    int found = -1;
    for (int k = 0; k < 4; k++)
        if (strlen(dim_names[k]) == dlen && memcmp(s + d, dim_names[k], dlen) == 0)
            found = k;
    if (found < 0) {
        *why = "the dimension must be ip, account, document or route";
        return -1;
    }
    r->dim = (enum guard_dim)found;
    i++;
    if (parse_uint(s, &i, e, MAX_CAPACITY, &r->capacity) != 0 || r->capacity == 0) {
        *why = "the capacity must be a whole number from 1 to 1000000";
        return -1;
    }
    if (i == e || s[i] != '/') {
        *why = "expected /PERIOD after the capacity (seconds, or with suffix s, m, h)";
        return -1;
    }
    i++;
    uint32_t period;
    if (parse_uint(s, &i, e, MAX_PERIOD_S, &period) != 0 || period == 0) {
        *why = "the period must be a whole number of seconds from 1 to 604800 (suffix s, m, h allowed)";
        return -1;
    }
    uint32_t unit = 1;
    if (i < e && (s[i] == 's' || s[i] == 'm' || s[i] == 'h')) {
        unit = s[i] == 'h' ? 3600 : s[i] == 'm' ? 60 : 1;
        i++;
    }
    if (i != e) {
        *why = "unexpected characters after the period";
        return -1;
    }
    if ((uint64_t)period * unit > MAX_PERIOD_S) {
        *why = "the period must be at most 7 days";
        return -1;
    }
    r->period_s = period * unit;
    return 0;
}

int guard_rules_parse(const char *s, struct guard_rule **out, size_t *n, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    if (s == NULL)
        return 0;
    size_t len = strlen(s), b0 = 0, e0 = len;
    trim(s, &b0, &e0);
    if (b0 == e0)
        return 0;
    struct guard_rule *rules = calloc(MAX_RULES, sizeof(*rules));
    if (rules == NULL)
        return -ENOMEM;
    size_t count = 0, i = 0;
    while (i <= len) {
        size_t b = i, e = i;
        while (e < len && s[e] != ',')
            e++;
        i = e + 1;
        trim(s, &b, &e);
        const char *why = NULL;
        struct guard_rule r;
        if (count == MAX_RULES)
            why = "too many rules (at most 64)";
        else if (b == e)
            why = "empty rule (stray comma?)";
        else if (parse_rule(s, b, e, &r, &why) == 0) {
            for (size_t k = 0; k < count; k++)
                if (rules[k].dim == r.dim && strcmp(rules[k].route, r.route) == 0)
                    why = "duplicate of an earlier rule for the same route and dimension";
        }
        if (why != NULL) {
            if (err != NULL)
                snprintf(err, errlen, "rate_limits: rule %zu \"%.*s\": %s", count + 1, (int)(e - b), s + b,
                         why);
            free(rules);
            return -EINVAL;
        }
        rules[count++] = r;
    }
    *out = rules;
    *n = count;
    return 0;
}

/* Checks a comma-separated list of names; 0 or -1 with err filled. */
static int check_names(const char *key, const char *list, int hostnames, char *err, size_t errlen)
{
    size_t len = strlen(list), i = 0, b0 = 0, e0 = len;
    trim(list, &b0, &e0);
    if (b0 == e0)
        return 0;
    while (i <= len) {
        size_t b = i, e = i;
        while (e < len && list[e] != ',')
            e++;
        i = e + 1;
        trim(list, &b, &e);
        int ok = b < e && e - b <= (hostnames ? 253u : (size_t)GUARD_MAX_ROUTE);
        for (size_t k = b; ok && k < e; k++)
            ok = is_name_char(list[k]) ||
                 (hostnames && (list[k] == '.' || (list[k] >= 'A' && list[k] <= 'Z')));
        if (!ok) {
            snprintf(err, errlen, "%s: item \"%.*s\" is not a valid %s", key, (int)(e - b), list + b,
                     hostnames ? "host name" : "name ([a-z0-9_-], at most 32)");
            return -1;
        }
    }
    return 0;
}

int guard_config_check(const struct guard_config *cfg, char *err, size_t errlen)
{
    char dummy[8];
    if (err == NULL || errlen == 0) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    err[0] = '\0';
    const char *url = cfg->siteverify_url ? cfg->siteverify_url : GUARD_DEFAULT_SITEVERIFY_URL;
    if ((strncmp(url, "https://", 8) != 0 || url[8] == '\0') &&
        (strncmp(url, "http://", 7) != 0 || url[7] == '\0')) {
        snprintf(err, errlen, "hcaptcha_siteverify_url: \"%s\" is not an http:// or https:// URL", url);
        return -EINVAL;
    }
    const char *actions = cfg->actions ? cfg->actions : GUARD_DEFAULT_ACTIONS;
    if (check_names("captcha_actions", actions, 0, err, errlen) != 0)
        return -EINVAL;
    if (cfg->hostname != NULL && check_names("hcaptcha_hostname", cfg->hostname, 1, err, errlen) != 0)
        return -EINVAL;
    size_t b = 0, e = strlen(actions);
    trim(actions, &b, &e);
    if (b < e && (cfg->secret == NULL || cfg->secret[0] == '\0')) {
        snprintf(err, errlen, "hcaptcha_secret: empty, but captcha_actions lists \"%s\"", actions);
        return -EINVAL;
    }
    if (cfg->reuse_ttl_s > 86400) {
        snprintf(err, errlen, "captcha_reuse_ttl_s: %u is more than a day", (unsigned)cfg->reuse_ttl_s);
        return -EINVAL;
    }
    if (cfg->timeout_ms > 120000) {
        snprintf(err, errlen, "hcaptcha_timeout_ms: %u is more than two minutes", (unsigned)cfg->timeout_ms);
        return -EINVAL;
    }
    struct guard_rule *rules;
    size_t n;
    int rc = guard_rules_parse(cfg->rate_limits, &rules, &n, err, errlen);
    free(rules);
    return rc;
}
