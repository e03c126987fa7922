/*
 * Mail templates in Spanish and English, rendered to a subject, plain text and HTML.
 *
 * A template is a list of lines. "{key}" is replaced by the parameter's value (HTML-escaped in the HTML
 * part). A line starting with "?key " appears only when the parameter is present and not empty, "!key "
 * only when it is absent. Required parameters are checked before rendering, so a "{key}" never renders
 * empty by accident.
 */
#include "citas/mail.h"
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct tmpl {
    const char *subject;
    const char *text; /* lines separated by \n */
    const char *html; /* the body of the HTML document, same line syntax */
};

struct kind_def {
    const char *name;
    const char *required[5];
    struct tmpl es, en;
};

#define FOOTER_ES_TEXT                                                                                       \
    "\n--\nCitas consulares. Este mensaje se envió automáticamente; por favor, no lo respondas.\n"
#define FOOTER_EN_TEXT                                                                                       \
    "\n--\nConsular appointments. This message was sent automatically; please do not reply.\n"
#define FOOTER_ES_HTML                                                                                       \
    "<p style=\"color:#666;font-size:smaller\">Citas consulares. Este mensaje se envió automáticamente; "  \
    "por favor, no lo respondas.</p>\n"
#define FOOTER_EN_HTML                                                                                       \
    "<p style=\"color:#666;font-size:smaller\">Consular appointments. This message was sent automatically; " \
    "please do not reply.</p>\n"

#define HELLO_ES_TEXT "?name Hola, {name}:\n!name Hola:\n\n"
#define HELLO_EN_TEXT "?name Hello {name},\n!name Hello,\n\n"
#define HELLO_ES_HTML "?name <p>Hola, {name}:</p>\n!name <p>Hola:</p>\n"
#define HELLO_EN_HTML "?name <p>Hello {name},</p>\n!name <p>Hello,</p>\n"
#define CODE_HTML     "<p style=\"font-size:28px;font-weight:bold;letter-spacing:4px\">{code}</p>\n"

static const struct kind_def kinds[MAIL_KIND_COUNT] = {
    [MAIL_VERIFY_CODE] =
        {
            "verify_code",
            {"code", "minutes"},
            {"Código para verificar tu cuenta",
             HELLO_ES_TEXT "Tu código para verificar tu cuenta de citas consulares es:\n\n    {code}\n\n"
                           "Es válido durante {minutes} minutos y sirve una sola vez.\n"
                           "Si no creaste esta cuenta, ignora este mensaje." FOOTER_ES_TEXT,
             HELLO_ES_HTML "<p>Tu código para verificar tu cuenta de citas consulares es:</p>\n" CODE_HTML
                           "<p>Es válido durante {minutes} minutos y sirve una sola vez.</p>\n"
                           "<p>Si no creaste esta cuenta, ignora este mensaje.</p>\n" FOOTER_ES_HTML},
            {"Your code to verify your account",
             HELLO_EN_TEXT "Your code to verify your consular appointments account is:\n\n    {code}\n\n"
                           "It is valid for {minutes} minutes and works once.\n"
                           "If you did not create this account, ignore this message." FOOTER_EN_TEXT,
             HELLO_EN_HTML
             "<p>Your code to verify your consular appointments account is:</p>\n" CODE_HTML
             "<p>It is valid for {minutes} minutes and works once.</p>\n"
             "<p>If you did not create this account, ignore this message.</p>\n" FOOTER_EN_HTML},
        },
    [MAIL_LOGIN_CODE] =
        {
            "login_code",
            {"code", "minutes"},
            {"Código para iniciar sesión",
             HELLO_ES_TEXT
             "Tu código para terminar de iniciar sesión es:\n\n    {code}\n\n"
             "Es válido durante {minutes} minutos y sirve una sola vez.\n"
             "Si no intentaste iniciar sesión, cambia tu contraseña: alguien la conoce." FOOTER_ES_TEXT,
             HELLO_ES_HTML "<p>Tu código para terminar de iniciar sesión es:</p>\n" CODE_HTML
                           "<p>Es válido durante {minutes} minutos y sirve una sola vez.</p>\n"
                           "<p>Si no intentaste iniciar sesión, cambia tu contraseña: alguien la "
                           "conoce.</p>\n" FOOTER_ES_HTML},
            {"Your code to log in",
             HELLO_EN_TEXT
             "Your code to finish logging in is:\n\n    {code}\n\n"
             "It is valid for {minutes} minutes and works once.\n"
             "If you did not try to log in, change your password: someone knows it." FOOTER_EN_TEXT,
             HELLO_EN_HTML
             "<p>Your code to finish logging in is:</p>\n" CODE_HTML
             "<p>It is valid for {minutes} minutes and works once.</p>\n"
             "<p>If you did not try to log in, change your password: someone knows it.</p>\n" FOOTER_EN_HTML},
        },
    [MAIL_BOOKING_CONFIRMED] =
        {
            "booking_confirmed",
            {"code", "office", "when", "procedure"},
            {"Cita confirmada: {code}",
             HELLO_ES_TEXT
             "Tu cita está confirmada.\n\n"
             "Código de cita: {code}\n"
             "Trámite:        {procedure}\n"
             "Oficina:        {office}\n"
             "?address Dirección:      {address}\n"
             "Fecha y hora:   {when} (hora local de la oficina)\n\n"
             "Llega unos minutos antes con tu identificación y los documentos del trámite.\n"
             "Si no puedes asistir, cancela la cita para que otra persona pueda usarla." FOOTER_ES_TEXT,
             HELLO_ES_HTML
             "<p>Tu cita está confirmada.</p>\n<table>\n"
             "<tr><th align=\"left\">Código de cita</th><td><b>{code}</b></td></tr>\n"
             "<tr><th align=\"left\">Trámite</th><td>{procedure}</td></tr>\n"
             "<tr><th align=\"left\">Oficina</th><td>{office}</td></tr>\n"
             "?address <tr><th align=\"left\">Dirección</th><td>{address}</td></tr>\n"
             "<tr><th align=\"left\">Fecha y hora</th><td>{when} (hora local de la oficina)</td></tr>\n"
             "</table>\n"
             "<p>Llega unos minutos antes con tu identificación y los documentos del trámite.</p>\n"
             "<p>Si no puedes asistir, cancela la cita para que otra persona pueda "
             "usarla.</p>\n" FOOTER_ES_HTML},
            {"Appointment confirmed: {code}",
             HELLO_EN_TEXT
             "Your appointment is confirmed.\n\n"
             "Appointment code: {code}\n"
             "Procedure:        {procedure}\n"
             "Office:           {office}\n"
             "?address Address:          {address}\n"
             "Date and time:    {when} (office local time)\n\n"
             "Arrive a few minutes early with your ID and the documents for the procedure.\n"
             "If you cannot attend, cancel the appointment so that someone else can use it." FOOTER_EN_TEXT,
             HELLO_EN_HTML
             "<p>Your appointment is confirmed.</p>\n<table>\n"
             "<tr><th align=\"left\">Appointment code</th><td><b>{code}</b></td></tr>\n"
             "<tr><th align=\"left\">Procedure</th><td>{procedure}</td></tr>\n"
             "<tr><th align=\"left\">Office</th><td>{office}</td></tr>\n"
             "?address <tr><th align=\"left\">Address</th><td>{address}</td></tr>\n"
             "<tr><th align=\"left\">Date and time</th><td>{when} (office local time)</td></tr>\n"
             "</table>\n"
             "<p>Arrive a few minutes early with your ID and the documents for the procedure.</p>\n"
             "<p>If you cannot attend, cancel the appointment so that someone else can use "
             "it.</p>\n" FOOTER_EN_HTML},
        },
    [MAIL_BOOKING_CANCELLED] =
        {
            "booking_cancelled",
            {"code", "office", "when", "procedure"},
            {"Cita cancelada: {code}",
             HELLO_ES_TEXT "Tu cita ha sido cancelada.\n\n"
                           "Código de cita: {code}\n"
                           "Trámite:        {procedure}\n"
                           "Oficina:        {office}\n"
                           "Fecha y hora:   {when} (hora local de la oficina)\n"
                           "?reason Motivo:         {reason}\n\n"
                           "Puedes reservar una cita nueva cuando quieras." FOOTER_ES_TEXT,
             HELLO_ES_HTML
             "<p>Tu cita ha sido cancelada.</p>\n<table>\n"
             "<tr><th align=\"left\">Código de cita</th><td><b>{code}</b></td></tr>\n"
             "<tr><th align=\"left\">Trámite</th><td>{procedure}</td></tr>\n"
             "<tr><th align=\"left\">Oficina</th><td>{office}</td></tr>\n"
             "<tr><th align=\"left\">Fecha y hora</th><td>{when} (hora local de la oficina)</td></tr>\n"
             "?reason <tr><th align=\"left\">Motivo</th><td>{reason}</td></tr>\n"
             "</table>\n<p>Puedes reservar una cita nueva cuando quieras.</p>\n" FOOTER_ES_HTML},
            {"Appointment cancelled: {code}",
             HELLO_EN_TEXT "Your appointment has been cancelled.\n\n"
                           "Appointment code: {code}\n"
                           "Procedure:        {procedure}\n"
                           "Office:           {office}\n"
                           "Date and time:    {when} (office local time)\n"
                           "?reason Reason:           {reason}\n\n"
                           "You can book a new appointment at any time." FOOTER_EN_TEXT,
             HELLO_EN_HTML
             "<p>Your appointment has been cancelled.</p>\n<table>\n"
             "<tr><th align=\"left\">Appointment code</th><td><b>{code}</b></td></tr>\n"
             "<tr><th align=\"left\">Procedure</th><td>{procedure}</td></tr>\n"
             "<tr><th align=\"left\">Office</th><td>{office}</td></tr>\n"
             "<tr><th align=\"left\">Date and time</th><td>{when} (office local time)</td></tr>\n"
             "?reason <tr><th align=\"left\">Reason</th><td>{reason}</td></tr>\n"
             "</table>\n<p>You can book a new appointment at any time.</p>\n" FOOTER_EN_HTML},
        },
};

const char *mail_kind_name(enum mail_kind kind)
{
    return (unsigned)kind < MAIL_KIND_COUNT ? kinds[kind].name : NULL;
}

/* The value of the last parameter named `key` (len bytes), or NULL. */
static const char *param(const struct mail_param *params, size_t n, const char *key, size_t len)
{
    const char *v = NULL;
    for (size_t i = 0; i < n; i++)
        if (params[i].key != NULL && strlen(params[i].key) == len && memcmp(params[i].key, key, len) == 0)
            v = params[i].value;
    return v;
}

static void add_escaped(struct mail_buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<':
            mail_buf_str(b, "&lt;");
            break;
        case '>':
            mail_buf_str(b, "&gt;");
            break;
        case '&':
            mail_buf_str(b, "&amp;");
            break;
        case '"':
            mail_buf_str(b, "&quot;");
            break;
        case '\'':
            mail_buf_str(b, "&#39;");
            break;
        default:
            mail_buf_add(b, s, 1);
        }
    }
}

/* Renders template text `t` (see the file comment) into b. */
static void render(struct mail_buf *b, const char *t, const struct mail_param *params, size_t n, int html)
{
    while (*t) {
        const char *eol = strchr(t, '\n');
        size_t linelen = eol ? (size_t)(eol - t) : strlen(t);
        const char *line = t, *end = t + linelen;
        t = eol ? eol + 1 : end;
        if (line < end && (*line == '?' || *line == '!')) {
            const char *sp = memchr(line, ' ', linelen);
            if (sp == NULL)
                continue;
            const char *v = param(params, n, line + 1, (size_t)(sp - line - 1));
            int present = v != NULL && *v != '\0';
            if (present != (*line == '?'))
                continue;
            line = sp + 1;
        }
        while (line < end) {
            const char *open = memchr(line, '{', (size_t)(end - line));
            const char *close = open ? memchr(open, '}', (size_t)(end - open)) : NULL;
            if (close == NULL) {
                mail_buf_add(b, line, (size_t)(end - line));
                break;
            }
            mail_buf_add(b, line, (size_t)(open - line));
            const char *v = param(params, n, open + 1, (size_t)(close - open - 1));
            if (v != NULL && html)
                add_escaped(b, v);
            else if (v != NULL)
                mail_buf_str(b, v);
            line = close + 1;
        }
        if (eol != NULL)
            mail_buf_add(b, "\n", 1);
    }
}

static char *take(struct mail_buf *b)
{
    char *p = b->p;
    b->p = NULL;
    return p;
}

int mail_param_last(const struct mail_param *params, size_t n, size_t i)
{
    for (size_t j = i + 1; j < n; j++)
        if (strcmp(params[j].key, params[i].key) == 0)
            return 0;
    return 1;
}

/* The kind's template in `lang`, once every parameter is checked; NULL when they do not pass. */
static const struct tmpl *checked(enum mail_kind kind, const char *lang, const struct mail_param *params,
                                  size_t n)
{
    if ((unsigned)kind >= MAIL_KIND_COUNT || lang == NULL || (params == NULL && n > 0))
        return NULL;
    const struct kind_def *k = &kinds[kind];
    const struct tmpl *t;
    if (strcmp(lang, "es") == 0)
        t = &k->es;
    else if (strcmp(lang, "en") == 0)
        t = &k->en;
    else
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const char *v = params[i].value;
        if (params[i].key == NULL || v == NULL || strlen(v) > MAIL_PARAM_MAX ||
            !mail_utf8_ok(v, strlen(v), 0))
            return NULL;
    }
    for (size_t i = 0; i < 5 && k->required[i] != NULL; i++) {
        const char *v = param(params, n, k->required[i], strlen(k->required[i]));
        if (v == NULL || *v == '\0')
            return NULL;
    }
    return t;
}

int mail_check(enum mail_kind kind, const char *lang, const struct mail_param *params, size_t n)
{
    return checked(kind, lang, params, n) != NULL ? 0 : -EINVAL;
}

int mail_kind_parse(const char *name, enum mail_kind *out)
{
    for (unsigned k = 0; name != NULL && k < MAIL_KIND_COUNT; k++)
        if (strcmp(kinds[k].name, name) == 0) {
            *out = (enum mail_kind)k;
            return 0;
        }
    return -EINVAL;
}

int mail_render(enum mail_kind kind, const char *lang, const struct mail_param *params, size_t n,
                struct mail_rendered *out)
{
    if (out == NULL)
        return -EINVAL;
    *out = (struct mail_rendered){0};
    const struct tmpl *t = checked(kind, lang, params, n);
    if (t == NULL)
        return -EINVAL;

    struct mail_buf subject = {0}, text = {0}, html = {0};
    render(&subject, t->subject, params, n, 0);
    render(&text, t->text, params, n, 0);
    mail_buf_printf(&html, "<!DOCTYPE html>\n<html lang=\"%s\">\n<head>\n<meta charset=\"utf-8\">\n<title>",
                    lang);
    add_escaped(&html, subject.p ? subject.p : "");
    mail_buf_str(&html, "</title>\n</head>\n<body style=\"font-family:sans-serif;line-height:1.4\">\n");
    render(&html, t->html, params, n, 1);
    mail_buf_str(&html, "</body>\n</html>\n");
    if (subject.err || text.err || html.err || subject.p == NULL || text.p == NULL) {
        mail_buf_free(&subject);
        mail_buf_free(&text);
        mail_buf_free(&html);
        return -ENOMEM;
    }
    out->subject = take(&subject);
    out->text = take(&text);
    out->html = take(&html);
    return 0;
}

void mail_rendered_free(struct mail_rendered *r)
{
    if (r == NULL)
        return;
    free(r->subject);
    free(r->text);
    free(r->html);
    *r = (struct mail_rendered){0};
}
