/* Unit test of auth's input checks: CURP (structure, date, check digit), documents, emails, names,
 * passwords, roles and office codes. */
#include "citas/auth.h"
#include "harness.h"

#include <string.h>

static int curp(const char *s)
{
    return auth_curp_valid(s, strlen(s));
}

static int email_ok(const char *s, char *out)
{
    const char *why;
    return auth_email_parse(s, strlen(s), out, &why) == 0;
}

static int doc_ok(enum auth_doc_type t, const char *s, char *out)
{
    const char *why;
    return auth_document_parse(t, s, strlen(s), out, &why) == 0;
}

static int name_ok(const char *s)
{
    const char *why;
    return auth_name_check(s, strlen(s), &why) == 0;
}

static int password_ok(const char *s)
{
    const char *why;
    return auth_password_check(s, strlen(s), &why) == 0;
}

int main(void)
{
    /* CURPs whose check digits are published as valid (python-stdnum's examples) */
    CHECK(curp("BOXW310820HNERXN09"));
    CHECK(curp("HEGG560427MVZRRL04"));
    CHECK(!curp("BOXW310820HNERXN08")); /* wrong check digit */
    CHECK(!curp("HEGG560427MVZRRL0"));  /* 17 characters */
    CHECK(!curp("HEGG561327MVZRRL04")); /* month 13 */
    CHECK(!curp("HEGG560230MVZRRL04")); /* 30 February */
    CHECK(!curp("HEGG560427QVZRRL04")); /* sex Q */
    CHECK(!curp("HEGG560427MXXRRL04")); /* state XX */
    CHECK(!curp("HEGG560427MVZARL04")); /* a vowel among the consonants */
    CHECK(!curp("hegg560427mvzrrl04")); /* lower case is normalised by auth_document_parse, not here */
    CHECK(!curp("HEGG56042'MVZRRL04"));

    char out[AUTH_EMAIL_MAX + 1];
    CHECK(doc_ok(AUTH_DOC_CURP, "hegg-560427 mvzrrl04", out) && strcmp(out, "HEGG560427MVZRRL04") == 0);
    CHECK(!doc_ok(AUTH_DOC_CURP, "HEGG560427MVZRRL05", out));
    CHECK(!doc_ok(AUTH_DOC_CURP, "'; DROP TABLE accounts;--", out));
    CHECK(doc_ok(AUTH_DOC_PASSPORT, "g12345678", out) && strcmp(out, "G12345678") == 0);
    CHECK(!doc_ok(AUTH_DOC_PASSPORT, "123456789", out));
    CHECK(!doc_ok(AUTH_DOC_PASSPORT, "G1234567", out));
    CHECK(doc_ok(AUTH_DOC_CONSULAR_ID, "ab-12 34", out) && strcmp(out, "AB1234") == 0);
    CHECK(!doc_ok(AUTH_DOC_CONSULAR_ID, "AB123", out));
    CHECK(!doc_ok(AUTH_DOC_CONSULAR_ID, "ABCDEFGHIJKLMNOPQRSTU", out));
    CHECK(!doc_ok(AUTH_DOC_CONSULAR_ID,
                  "ABC\xc3\xb1"
                  "1234",
                  out));

    CHECK(email_ok("Ana.Lopez+citas@Example.ORG", out) && strcmp(out, "ana.lopez+citas@example.org") == 0);
    CHECK(email_ok("a@b.mx", out));
    CHECK(!email_ok("a@b", out));
    CHECK(!email_ok("a@b.123", out));
    CHECK(!email_ok("@example.org", out));
    CHECK(!email_ok("a@@example.org", out));
    CHECK(!email_ok("a..b@example.org", out));
    CHECK(!email_ok(".a@example.org", out));
    CHECK(!email_ok("a@-example.org", out));
    CHECK(!email_ok("a@example..org", out));
    CHECK(!email_ok("a b@example.org", out));
    CHECK(!email_ok("<script>@example.org", out));
    CHECK(!email_ok("\xc3\xb1@example.org", out));

    CHECK(name_ok("Ana L\xc3\xb3pez"));
    CHECK(name_ok("<b>O'Brien</b>; DROP TABLE x;--"));
    CHECK(!name_ok(""));
    CHECK(!name_ok("   "));
    CHECK(!name_ok("Ana\tL"));
    CHECK(!name_ok("Ana\x7f"));
    CHECK(!name_ok("Ana\xc2\x85"));         /* C1 control NEL */
    CHECK(!name_ok("Ana\xe2\x80\xae"));     /* RIGHT-TO-LEFT OVERRIDE */
    CHECK(!name_ok("Ana\xc0\xaf"));         /* overlong */
    CHECK(!name_ok("Ana\xed\xa0\x80"));     /* surrogate */
    CHECK(!name_ok("Ana\xf4\x90\x80\x80")); /* past U+10FFFF */
    CHECK(!name_ok("Ana\xc3"));             /* truncated */

    CHECK(password_ok("correct horse"));
    CHECK(password_ok("\xc3\xb1\xc3\xb1\xc3\xb1\xc3\xb1\xc3\xb1\xc3\xb1\xc3\xb1\xc3\xb1\xc3\xb1\xc3\xb1"));
    CHECK(!password_ok("\xc3\xb1\xc3\xb1\xc3\xb1\xc3\xb1\xc3\xb1")); /* 10 bytes but 5 characters */
    CHECK(!password_ok("short"));
    CHECK(!password_ok("correct\nhorse"));

    CHECK_INT(auth_role_parse("consular_staff"), AUTH_ROLE_CONSULAR_STAFF);
    CHECK_INT(auth_role_parse("root"), -1);
    CHECK(strcmp(auth_role_name(AUTH_ROLE_SYSADMIN), "sysadmin") == 0);
    CHECK_INT(auth_doc_type_parse("consular_id"), AUTH_DOC_CONSULAR_ID);
    CHECK(auth_office_code_valid("MAD-01", 6));
    CHECK(!auth_office_code_valid("MAD/01", 6));
    CHECK(!auth_office_code_valid("", 0));
    return harness_finish("auth_validate");
}
