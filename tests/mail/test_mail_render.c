/*
 * mail, no servers: templates in both languages, HTML escaping, parameter checks, and the MIME text the
 * sender builds (read back with the independent reader in eml.c).
 */
#include "citas/mail.h"
#include "eml.h"
#include "harness.h"
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_kinds(void)
{
    const struct mail_param code[] = {{"code", "482913"}, {"minutes", "10"}, {"name", "Ana"}};
    const struct mail_param booking[] = {{"code", "MEX-7Q4K"},
                                         {"office", "Consulado General en Los Ángeles"},
                                         {"when", "2025-03-14 09:30"},
                                         {"procedure", "Pasaporte (renovación)"},
                                         {"address", "2401 W 6th St"},
                                         {"reason", "Cierre de la oficina"},
                                         {"name", "Ana"}};
    struct {
        enum mail_kind kind;
        const struct mail_param *p;
        size_t n;
        const char *subject_es, *subject_en, *needle;
    } cases[] = {
        {MAIL_VERIFY_CODE, code, N(code), "Código para verificar tu cuenta",
         "Your code to verify your account", "482913"},
        {MAIL_LOGIN_CODE, code, N(code), "Código para iniciar sesión", "Your code to log in", "482913"},
        {MAIL_BOOKING_CONFIRMED, booking, N(booking), "Cita confirmada: MEX-7Q4K",
         "Appointment confirmed: MEX-7Q4K", "Pasaporte (renovación)"},
        {MAIL_BOOKING_CANCELLED, booking, N(booking), "Cita cancelada: MEX-7Q4K",
         "Appointment cancelled: MEX-7Q4K", "Cierre de la oficina"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        struct mail_rendered es, en;
        CHECK_INT(mail_render(cases[i].kind, "es", cases[i].p, cases[i].n, &es), 0);
        CHECK_INT(mail_render(cases[i].kind, "en", cases[i].p, cases[i].n, &en), 0);
        if (es.subject == NULL || en.subject == NULL) {
            mail_rendered_free(&es);
            mail_rendered_free(&en);
            continue;
        }
        CHECK(strcmp(es.subject, cases[i].subject_es) == 0);
        CHECK(strcmp(en.subject, cases[i].subject_en) == 0);
        CHECK(strstr(es.text, cases[i].needle) != NULL);
        CHECK(strstr(en.text, cases[i].needle) != NULL);
        CHECK(strstr(es.text, "Hola, Ana:") != NULL);
        CHECK(strstr(en.text, "Hello Ana,") != NULL);
        CHECK(strstr(es.html, "<html lang=\"es\">") != NULL);
        CHECK(strstr(en.html, "<html lang=\"en\">") != NULL);
        CHECK(strstr(es.html, "Hola, Ana:") != NULL);
        CHECK(strstr(es.text, "{") == NULL && strstr(en.html, "{") == NULL); /* nothing left unreplaced */
        CHECK(strcmp(mail_kind_name(cases[i].kind), i == 0   ? "verify_code"
                                                    : i == 1 ? "login_code"
                                                    : i == 2 ? "booking_confirmed"
                                                             : "booking_cancelled") == 0);
        mail_rendered_free(&es);
        mail_rendered_free(&en);
    }
    /* optional lines: without name, address and reason the text says neither */
    const struct mail_param bare[] = {{"code", "X1"}, {"office", "O"}, {"when", "W"}, {"procedure", "P"}};
    struct mail_rendered r;
    CHECK_INT(mail_render(MAIL_BOOKING_CONFIRMED, "es", bare, N(bare), &r), 0);
    CHECK(r.text && strncmp(r.text, "Hola:\n", 6) == 0 && strstr(r.text, "Dirección") == NULL);
    mail_rendered_free(&r);
    CHECK_INT(mail_render(MAIL_BOOKING_CANCELLED, "en", bare, N(bare), &r), 0);
    CHECK(r.text && strncmp(r.text, "Hello,\n", 7) == 0 && strstr(r.text, "Reason") == NULL);
    mail_rendered_free(&r);
}

static void test_escaping(void)
{
    const struct mail_param p[] = {
        {"code", "123456"}, {"minutes", "10"}, {"name", "<script>alert('x')</script> & \"Ñandú\""}};
    struct mail_rendered r;
    CHECK_INT(mail_render(MAIL_LOGIN_CODE, "es", p, N(p), &r), 0);
    if (r.html == NULL)
        return;
    CHECK(strstr(r.html, "<script>") == NULL);
    CHECK(strstr(r.html, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;Ñandú&quot;") != NULL);
    CHECK(strstr(r.text, "<script>alert('x')</script> & \"Ñandú\"") != NULL); /* plain text is plain */
    mail_rendered_free(&r);

    /* a value that looks like a placeholder is not expanded again */
    const struct mail_param q[] = {{"code", "{minutes}"}, {"minutes", "10"}};
    CHECK_INT(mail_render(MAIL_VERIFY_CODE, "en", q, N(q), &r), 0);
    CHECK(r.text && strstr(r.text, "    {minutes}\n") != NULL);
    mail_rendered_free(&r);
}

static void test_refusals(void)
{
    struct mail_rendered r;
    const struct mail_param ok[] = {{"code", "1"}, {"minutes", "10"}};
    const struct mail_param missing[] = {{"code", "1"}};
    const struct mail_param empty[] = {{"code", ""}, {"minutes", "10"}};
    const struct mail_param newline[] = {{"code", "1\r\nBcc: x@y"}, {"minutes", "10"}};
    const struct mail_param bad_utf8[] = {{"code", "1"}, {"minutes", "\xc3\x28"}};
    const struct mail_param overlong[] = {{"code", "\xc0\xaf"}, {"minutes", "10"}};
    const struct mail_param null_value[] = {{"code", NULL}, {"minutes", "10"}};
    char big[MAIL_PARAM_MAX + 2];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    const struct mail_param too_long[] = {{"code", big}, {"minutes", "10"}};
    CHECK_INT(mail_render(MAIL_VERIFY_CODE, "fr", ok, N(ok), &r), -EINVAL);
    CHECK_INT(mail_render(MAIL_KIND_COUNT, "es", ok, N(ok), &r), -EINVAL);
    CHECK_INT(mail_render(MAIL_VERIFY_CODE, "es", missing, N(missing), &r), -EINVAL);
    CHECK_INT(mail_render(MAIL_VERIFY_CODE, "es", empty, N(empty), &r), -EINVAL);
    CHECK_INT(mail_render(MAIL_VERIFY_CODE, "es", newline, N(newline), &r), -EINVAL);
    CHECK_INT(mail_render(MAIL_VERIFY_CODE, "es", bad_utf8, N(bad_utf8), &r), -EINVAL);
    CHECK_INT(mail_render(MAIL_VERIFY_CODE, "es", overlong, N(overlong), &r), -EINVAL);
    CHECK_INT(mail_render(MAIL_VERIFY_CODE, "es", null_value, N(null_value), &r), -EINVAL);
    CHECK_INT(mail_render(MAIL_VERIFY_CODE, "es", too_long, N(too_long), &r), -EINVAL);
    CHECK(r.subject == NULL && r.text == NULL && r.html == NULL);
    CHECK(mail_kind_name(MAIL_KIND_COUNT) == NULL);
    mail_rendered_free(NULL);

    CHECK(mail_addr_ok("ana@example.test"));
    CHECK(!mail_addr_ok("ana@example.test>\r\nRCPT TO:<x@y"));
    CHECK(!mail_addr_ok("ana example@test"));
    CHECK(!mail_addr_ok("@example.test"));
    CHECK(!mail_addr_ok("a@b@c"));
    CHECK(!mail_addr_ok("ana@"));

    /* queueing without a pool or tx is refused, never dereferenced */
    struct mail_message m = {
        .to = "bad address", .lang = "es", .kind = MAIL_VERIFY_CODE, .params = ok, .nparams = N(ok)};
    CHECK_INT(mail_enqueue(NULL, &m, NULL, NULL), -EINVAL);
    CHECK_INT(mail_tx_add(NULL, &m), -EINVAL);

    enum curl_client_starttls tls = CURL_CLIENT_STARTTLS_NONE;
    CHECK_INT(mail_starttls_parse("required", &tls), 0);
    CHECK_INT(tls, CURL_CLIENT_STARTTLS_REQUIRED);
    CHECK_INT(mail_starttls_parse("try", &tls), 0);
    CHECK_INT(tls, CURL_CLIENT_STARTTLS_TRY);
    CHECK_INT(mail_starttls_parse("none", &tls), 0);
    CHECK_INT(tls, CURL_CLIENT_STARTTLS_NONE);
    CHECK_INT(mail_starttls_parse("yes", &tls), -EINVAL);
}

static size_t longest_line(const char *s)
{
    size_t max = 0;
    while (*s) {
        size_t n = strcspn(s, "\r\n");
        max = n > max ? n : max;
        s += n;
        s += strspn(s, "\r\n");
    }
    return max;
}

/* Builds a MIME message with awkward content and reads it back. */
static void test_mime(void)
{
    char text[4096] = "", html[4096];
    /* a long line of multi-byte characters, a line starting with '.', trailing spaces, "=" signs */
    for (int i = 0; i < 60; i++)
        strcat(text, "ñá");
    strcat(text, "\n.hidden dot\ntrailing spaces   \na=b==c\n\nend");
    snprintf(html, sizeof(html), "<p>%s</p>\n", text);
    unsigned char att[300];
    for (size_t i = 0; i < sizeof(att); i++)
        att[i] = (unsigned char)(i * 7);
    const char *subject = "Confirmación de cita — ¡número 123! ñandú ñandú ñandú ñandú ñandú ñandú ñandú";
    struct mail_mime_in in = {
        .from = "Citas Consulares <no-reply@citas.example>",
        .to = "ana@example.test",
        .message_id = "7.123@citas.example",
        .kind = "booking_confirmed",
        .lang = "es",
        .subject = subject,
        .text = text,
        .html = html,
        .att_name = "cita.ics",
        .att_type = "text/calendar; charset=UTF-8; method=PUBLISH",
        .att_data = att,
        .att_len = sizeof(att),
        .date = 1700000000,
    };
    struct mail_buf b = {0};
    CHECK_INT(mail_mime_build(&in, &b), 0);
    char path[512];
    snprintf(path, sizeof(path), "%s/mail-render-%d.eml", harness_env("CITAS_TEST_TMPDIR"), (int)getpid());
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL && fwrite(b.p, 1, b.len, f) == b.len);
    if (f)
        fclose(f);
    mail_buf_free(&b);

    struct eml m;
    CHECK_INT(eml_load(path, &m), 0);
    char h[1024];
    CHECK(m.crlf_only);
    CHECK(m.max_line <= 76);
    CHECK(strcmp(eml_header(&m, "Subject", 1, h, sizeof(h)), subject) == 0);
    CHECK(strcmp(eml_header(&m, "From", 0, h, sizeof(h)), "\"Citas Consulares\" <no-reply@citas.example>") ==
          0);
    CHECK(strcmp(eml_header(&m, "To", 0, h, sizeof(h)), "<ana@example.test>") == 0);
    CHECK(strcmp(eml_header(&m, "Date", 0, h, sizeof(h)), "Tue, 14 Nov 2023 22:13:20 +0000") == 0);
    CHECK(strcmp(eml_header(&m, "Message-ID", 0, h, sizeof(h)), "<7.123@citas.example>") == 0);
    CHECK(strcmp(eml_header(&m, "MIME-Version", 0, h, sizeof(h)), "1.0") == 0);
    CHECK(strncmp(eml_header(&m, "Content-Type", 0, h, sizeof(h)), "multipart/mixed", 15) == 0);
    CHECK(strstr(m.raw, "\r\n.hidden") == NULL); /* dot-led lines are encoded */
    CHECK_INT(m.nparts, 3);
    const struct eml_part *t = eml_part(&m, "text/plain"), *hp = eml_part(&m, "text/html"),
                          *a = eml_part(&m, "text/calendar");
    CHECK(t != NULL && strcmp((const char *)t->data, text) == 0);
    CHECK(hp != NULL && strncmp((const char *)hp->data, html, strlen(html) - 1) == 0);
    CHECK(a != NULL && a->len == sizeof(att) && memcmp(a->data, att, sizeof(att)) == 0);
    CHECK(a != NULL && strstr(a->disposition, "attachment; filename=\"cita.ics\"") != NULL);
    eml_free(&m);
    if (harness_failed == 0)
        unlink(path);

    /* without an attachment: multipart/alternative at the top; a non-ASCII display name is encoded */
    in.att_name = NULL;
    in.from = "Citas Consulares de México <no-reply@citas.example>";
    in.subject = "plain subject";
    CHECK_INT(mail_mime_build(&in, &b), 0);
    CHECK(b.p && strstr(b.p, "Subject: plain subject\r\n") != NULL);
    CHECK(b.p && strstr(b.p, "Content-Type: multipart/alternative;") != NULL);
    CHECK(b.p && strstr(b.p, "From: =?UTF-8?B?") != NULL);
    CHECK(b.p && strstr(b.p, "multipart/mixed") == NULL);
    mail_buf_free(&b);

    /* a long ASCII subject and a long display name are folded too */
    char long_subject[200];
    memset(long_subject, 'a', 150);
    long_subject[150] = '\0';
    in.subject = long_subject;
    in.from = "A Rather Long Display Name For The Consular Appointments Service <no-reply@citas.example>";
    CHECK_INT(mail_mime_build(&in, &b), 0);
    CHECK(b.p && longest_line(b.p) <= 76);
    mail_buf_free(&b);

    char name[128], addr[128];
    CHECK_INT(mail_from_parse("citas <no-reply@citas.local>", name, addr), 0);
    CHECK(strcmp(name, "citas") == 0 && strcmp(addr, "no-reply@citas.local") == 0);
    CHECK_INT(mail_from_parse("no-reply@citas.local", name, addr), 0);
    CHECK(name[0] == '\0' && strcmp(addr, "no-reply@citas.local") == 0);
    CHECK_INT(mail_from_parse("citas <no-reply>", name, addr), -EINVAL);
    CHECK_INT(mail_from_parse("citas <a@b> x", name, addr), -EINVAL);
}

int main(void)
{
    test_kinds();
    test_escaping();
    test_refusals();
    test_mime();
    return harness_finish("mail_render");
}
