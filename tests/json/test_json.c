/* json: what the strict reader accepts and refuses, and what the writer escapes. */
#include "citas/json.h"
#include "harness.h"

#include <string.h>

static h2o_mem_pool_t pool;

static int ok(const char *s)
{
    return json_parse(&pool, s, strlen(s), NULL, NULL) != NULL;
}

static int refused(const char *s, size_t len)
{
    const char *err = NULL;
    return json_parse(&pool, s, len, &err, NULL) == NULL && err != NULL;
}
#define REFUSED(lit) refused(lit, sizeof(lit) - 1)

int main(void)
{
    h2o_mem_init_pool(&pool);

    struct json_value *v = json_parse(
        &pool, H2O_STRLIT("{\"a\":\"x\\u00e9\\ud83d\\ude00\\n\",\"n\":-1.5e2,\"b\":[true,false,null]}"), NULL,
        NULL);
    CHECK(v != NULL && v->type == JSON_OBJECT && v->len == 3);
    size_t len;
    const char *a = json_get_str(v, "a", &len);
    CHECK(a != NULL && strcmp(a, "x\xc3\xa9\xf0\x9f\x98\x80\n") == 0 && len == 8);
    CHECK(json_get(v, "n") != NULL && json_get(v, "n")->number == -150);
    CHECK(json_get(v, "b") != NULL && json_get(v, "b")->len == 3 &&
          json_get(v, "b")->items[2]->type == JSON_NULL);
    CHECK(json_get(v, "missing") == NULL);
    CHECK(json_get_str(v, "n", NULL) == NULL);
    CHECK(ok("  [1, 2 , {} ,[]] "));
    CHECK(ok("\"caf\xc3\xa9\""));
    CHECK(ok("0"));

    CHECK(REFUSED(""));
    CHECK(REFUSED("{"));
    CHECK(REFUSED("{\"a\":1,}"));
    CHECK(REFUSED("[1,]"));
    CHECK(REFUSED("{\"a\":1}x"));
    CHECK(REFUSED("{\"a\":1,\"a\":2}"));
    CHECK(REFUSED("{'a':1}"));
    CHECK(REFUSED("01"));
    CHECK(REFUSED("1e999"));
    CHECK(REFUSED("NaN"));
    CHECK(REFUSED("\"a\tb\""));
    CHECK(REFUSED("\"\\x\""));
    CHECK(REFUSED("\"\\ud800\""));
    CHECK(REFUSED("\"\\udc00x\""));
    CHECK(REFUSED("\"\\u0000\""));
    CHECK(REFUSED("\"\xff\""));
    CHECK(REFUSED("\"\xc0\xaf\""));         /* overlong '/' */
    CHECK(REFUSED("\"\xed\xa0\x80\""));     /* UTF-8 encoded surrogate */
    CHECK(REFUSED("\"\xf4\x90\x80\x80\"")); /* past U+10FFFF */
    CHECK(REFUSED("\"\xe2\x82\""));         /* truncated */
    CHECK(REFUSED("\"abc"));
    CHECK(REFUSED("\"abc\\"));
    CHECK(refused("\"a\0b\"", 5));
    char deep[200];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    CHECK(refused(deep, 200));
    CHECK(refused(deep + 100 - JSON_MAX_DEPTH, 2 * JSON_MAX_DEPTH) == 0);

    CHECK(json_utf8_valid("Jos\xc3\xa9 P\xc3\xa9rez", strlen("Jos\xc3\xa9 P\xc3\xa9rez")));
    CHECK(!json_utf8_valid("a\x01", 2));
    CHECK(!json_utf8_valid("\xc3", 1));

    struct json_buf b;
    json_buf_init(&b, &pool);
    json_open_object(&b, NULL);
    json_add_str(&b, "s", "<script>\"x\"\\\n</script>&");
    json_add_int(&b, "i", -42);
    json_add_bool(&b, "t", 1);
    json_add_null(&b, "z");
    json_open_array(&b, "a");
    json_add_str(&b, NULL, "x");
    json_add_str(&b, NULL, NULL);
    json_close_array(&b);
    json_close_object(&b);
    const char *want =
        "{\"s\":\"\\u003cscript\\u003e\\\"x\\\"\\\\\\n\\u003c/script\\u003e\\u0026\",\"i\":-42,\"t\":true,"
        "\"z\":null,\"a\":[\"x\",null]}";
    CHECK(b.len == strlen(want) && memcmp(b.base, want, b.len) == 0);
    /* the writer's output reads back */
    struct json_value *back = json_parse(&pool, b.base, b.len, NULL, NULL);
    CHECK(back != NULL && strcmp(json_get_str(back, "s", NULL), "<script>\"x\"\\\n</script>&") == 0);
    /* json_buf_str: the same text NUL-terminated, len unchanged; an empty writer gives "" */
    CHECK(strcmp(json_buf_str(&b), want) == 0 && b.len == strlen(want));
    struct json_buf e;
    json_buf_init(&e, &pool);
    CHECK(strcmp(json_buf_str(&e), "") == 0 && e.len == 0);

    h2o_mem_clear_pool(&pool);
    return harness_finish("json");
}
