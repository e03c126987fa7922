/* Unit test of the web module's helpers: HTML escaping, Accept-Language, the QR code's SVG. */
#include "citas/web.h"
#include "harness.h"

#include <stdlib.h>
#include <string.h>

static int escapes_to(const char *in, size_t len, const char *want)
{
    char out[512];
    size_t n = web_escape(out, in, len);
    out[n] = '\0';
    return strcmp(out, want) == 0;
}

int main(void)
{
    /* the five characters that matter in text and attributes */
    CHECK(escapes_to("<script>alert(1)</script>", 25, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    CHECK(escapes_to("a & b \"c\" 'd'", 13, "a &amp; b &quot;c&quot; &#39;d&#39;"));
    CHECK(escapes_to("Ana López", strlen("Ana López"), "Ana López"));
    CHECK(escapes_to("😀", 4, "😀"));
    /* control characters and invalid UTF-8 are dropped, newline and tab kept */
    CHECK(escapes_to("a\x01"
                     "b\x7f"
                     "c\n\t",
                     7, "abc\n\t"));
    CHECK(escapes_to("x\xff"
                     "y\xc3",
                     4, "xy"));
    CHECK(escapes_to("\xed\xa0\x80z", 4, "z")); /* a surrogate */
    CHECK(escapes_to("\xc0\xbc"
                     "z",
                     3, "z"));               /* overlong '<' */
    CHECK(escapes_to("a\0<b", 4, "a&lt;b")); /* NUL dropped, length honoured */
    char worst[6 * 4 + 1];
    CHECK_INT((long)web_escape(worst, "\"\"\"\"", 4), 24); /* 6 bytes per input byte at most */

    CHECK(strcmp(web_accept_language(NULL, 0), "es") == 0);
    const char *al[][2] = {{"en-US,en;q=0.9", "en"},
                           {"fr-FR, en;q=0.5", "en"},
                           {"fr", "es"},
                           {"es-MX,es;q=0.9,en;q=0.8", "es"},
                           {"en;q=0.2, es;q=0.8", "es"},
                           {"EN-gb", "en"},
                           {"english", "es"},
                           {"en;q=0", "es"},
                           {"*", "es"},
                           {"de;q=1, en;q=0.1", "en"}};
    for (size_t i = 0; i < sizeof(al) / sizeof(al[0]); i++)
        CHECK(strcmp(web_accept_language(al[i][0], strlen(al[i][0])), al[i][1]) == 0);

    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    char *svg = web_qr_svg(&pool, "ABCDEFGHJK", "QR <code>");
    CHECK(svg != NULL);
    if (svg != NULL) {
        CHECK(strncmp(svg, "<svg ", 5) == 0);
        CHECK(strstr(svg, "aria-label=\"QR &lt;code&gt;\"") != NULL);
        CHECK(strstr(svg, "role=\"img\"") != NULL);
        /* version 1 (21 modules) plus the quiet zone of 4 on each side */
        CHECK(strstr(svg, "viewBox=\"0 0 29 29\"") != NULL);
        CHECK(strstr(svg, "<path fill=\"#000\" d=\"M4 4h7v1h-7z") != NULL); /* the top-left finder */
        CHECK(strcmp(svg + strlen(svg) - 6, "</svg>") == 0);
    }
    h2o_mem_clear_pool(&pool);
    return harness_finish("web_unit");
}
