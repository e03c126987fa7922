/*
 * The citizen's pages: confirm a booking (/book), my appointments, one appointment's receipt, my data.
 * They need a session (else 303 to /login?next=...) and are Cache-Control: no-store.
 *
 * Reads only: a slot comes from Redis (cal:{OFF}:slot:<id>, the calendar's data contract) when the URL
 * names its office — as the calendar's links do — so a surge of citizens opening /book costs PostgreSQL
 * nothing; the citizen's own rows come from PostgreSQL. Every change is an API call made by the script.
 */
#include "internal.h"
#include "citas/auth.h"
#include "citas/pg.h"
#include "citas/redis.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void web_mine_unavailable(h2o_req_t *req)
{
    web_page_message(req, 503, "Servicio no disponible", "Service unavailable",
                     "No podemos leer sus datos en este momento. Intente de nuevo en unos segundos.",
                     "We cannot read your data right now. Please try again in a few seconds.");
}

static int code_ok(const char *s)
{
    static const char alphabet[] = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    if (s == NULL || strlen(s) != 10)
        return 0;
    for (const char *c = s; *c; c++)
        if (strchr(alphabet, *c) == NULL)
            return 0;
    return 1;
}

static int token_ok(const char *s, size_t max)
{
    if (s == NULL || s[0] == '\0' || strlen(s) > max)
        return 0;
    for (const char *c = s; *c; c++)
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' ||
              *c == '-'))
            return 0;
    return 1;
}

static void hidden(struct wbuf *b, const char *name, const char *value)
{
    wb_fmt(b, "<input type=\"hidden\" name=\"%s\" value=\"", name);
    wb_esc(b, value);
    wb_raw(b, "\">\n");
}

void web_api_form(struct web_page *pg, const char *api, const char *method, const char *next, const char *cls)
{
    wb_fmt(&pg->b, "<form class=\"api %s\" method=\"post\" data-api=\"", cls);
    wb_esc(&pg->b, api);
    wb_fmt(&pg->b, "\" data-method=\"%s\" data-next=\"", method);
    wb_esc(&pg->b, next);
    wb_raw(&pg->b, "\">\n<div class=\"alert\" role=\"alert\" tabindex=\"-1\" hidden></div>\n");
    hidden(&pg->b, "csrf", pg->csrf);
}

static const char *state_name(const struct web_page *pg, const char *state)
{
    if (strcmp(state, "active") == 0)
        return T(pg, "Confirmada", "Confirmed");
    if (strcmp(state, "cancelled") == 0)
        return T(pg, "Cancelada", "Cancelled");
    if (strcmp(state, "checked_in") == 0)
        return T(pg, "Atendida", "Attended");
    if (strcmp(state, "no_show") == 0)
        return T(pg, "No se presentó", "Missed");
    return state;
}

/* ============================== /book ============================== */

struct book {
    int64_t slot;
    char slot_s[24], office[40], proc[48], resched[11], csrf[65];
    char local[20], slot_proc[48], state[16];
    int found;
};

/* A backend call's state: the request's pool-allocated context, touched only while the request lives. */
struct pending {
    void *ctx;
};

static void book_render(h2o_req_t *req, struct book *bk)
{
    const struct web_ref *ref = web_ref_now(req);
    const struct web_office *o = web_ref_office(ref, bk->office, strlen(bk->office));
    const struct web_proc *p = web_ref_proc(ref, bk->proc, strlen(bk->proc));
    if (!bk->found || o == NULL || p == NULL || strcmp(bk->slot_proc, bk->proc) != 0) {
        web_page_message(
            req, 404, "Horario no encontrado", "Time not found",
            "Este horario no existe para este trámite. Vuelva al calendario y elija otro.",
            "This time does not exist for this procedure. Go back to the calendar and choose another.");
        return;
    }
    int en = web_lang_en(req);
    int resched = bk->resched[0] != '\0';
    struct web_page pg;
    web_page_open(&pg, req,
                  resched ? (en ? "Change the date of your appointment" : "Cambiar la fecha de su cita")
                          : (en ? "Confirm your appointment" : "Confirme su cita"),
                  bk->csrf, 1, resched ? NULL : "booking");
    struct wbuf *b = &pg.b;
    if (strcmp(bk->state, "open") != 0)
        wb_fmt(b, "<p class=\"notice\" role=\"alert\">%s</p>\n",
               T(&pg, "Este horario ya no acepta citas. Elija otro en el calendario.",
                 "This time no longer takes bookings. Choose another one in the calendar."));
    wb_fmt(b, "<dl class=\"facts\"><dt>%s</dt><dd>", T(&pg, "Trámite", "Procedure"));
    wb_esc(b, pg.en ? p->name_en : p->name_es);
    wb_fmt(b, "</dd><dt>%s</dt><dd>", T(&pg, "Oficina", "Office"));
    wb_esc(b, pg.en ? o->name_en : o->name_es);
    wb_raw(b, "<br>");
    wb_esc(b, o->address);
    wb_raw(b, ", ");
    wb_esc(b, o->city);
    wb_fmt(b, "</dd><dt>%s</dt><dd><strong>", T(&pg, "Fecha y hora", "Date and time"));
    web_fmt_local(b, pg.en, bk->local);
    wb_fmt(b, "</strong> (%s, ", T(&pg, "hora local de la oficina", "office local time"));
    wb_esc(b, o->tz);
    wb_raw(b, ")</dd></dl>\n");
    wb_fmt(b, "<h2>%s</h2>\n", T(&pg, "Qué llevar", "What to bring"));
    web_doc_list(b, pg.en ? p->docs_en : p->docs_es);

    struct wbuf api;
    wb_init(&api, &req->pool, 128);
    if (resched) {
        wb_raw(&api, "/api/v1/appointments/");
        wb_url(&api, bk->resched);
        wb_raw(&api, "/reschedule");
    } else {
        wb_raw(&api, "/api/v1/appointments");
    }
    web_api_form(&pg, api.p, "POST",
                 resched ? "/appointments/{code}?rescheduled=1" : "/appointments/{code}?booked=1", "book");
    hidden(b, "slot", bk->slot_s);
    hidden(b, "office", bk->office);
    if (!resched)
        hidden(b, "procedure", bk->proc);
    /* the sold-out answer's next dates link back here */
    wb_raw(b, "<div class=\"next-dates\" hidden data-book=\"/book?procedure=");
    wb_url(b, bk->proc);
    wb_raw(b, "&amp;office=");
    wb_url(b, bk->office);
    if (resched) {
        wb_raw(b, "&amp;reschedule=");
        wb_url(b, bk->resched);
    }
    wb_raw(b, "\"></div>\n");
    web_captcha_widget(&pg);
    wb_fmt(b, "<button type=\"submit\">%s</button>\n</form>\n",
           resched ? T(&pg, "Cambiar a esta fecha", "Move to this date")
                   : T(&pg, "Confirmar cita", "Confirm appointment"));
    wb_raw(b, "<p><a href=\"/offices/");
    wb_url(b, bk->office);
    wb_raw(b, "/");
    wb_url(b, bk->proc);
    if (resched) {
        wb_raw(b, "?reschedule=");
        wb_url(b, bk->resched);
    }
    wb_fmt(b, "\">%s</a></p>\n", T(&pg, "Elegir otra fecha", "Choose another date"));
    web_page_send(&pg, 200);
}

static void on_slot_redis(struct redis_client *c, const redisReply *r, const char *err, void *ctx)
{
    (void)c;
    struct pending *pd = ctx;
    h2o_req_t *req = server_async_req(pd);
    if (req != NULL) {
        struct book *bk = pd->ctx;
        if (err != NULL || r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 3) {
            web_mine_unavailable(req);
        } else {
            if (r->element[0]->type == REDIS_REPLY_STRING && r->element[1]->type == REDIS_REPLY_STRING &&
                r->element[2]->type == REDIS_REPLY_STRING) {
                bk->found = 1;
                snprintf(bk->local, sizeof(bk->local), "%s", r->element[0]->str);
                snprintf(bk->slot_proc, sizeof(bk->slot_proc), "%s", r->element[1]->str);
                snprintf(bk->state, sizeof(bk->state), "%s", r->element[2]->str);
            }
            book_render(req, bk);
        }
    }
    server_async_release(pd);
}

static void on_slot_pg(const struct pg_reply *reply, void *ctx)
{
    struct pending *pd = ctx;
    h2o_req_t *req = server_async_req(pd);
    if (req != NULL) {
        struct book *bk = pd->ctx;
        if (reply->status != PG_OK) {
            web_mine_unavailable(req);
        } else {
            const PGresult *r = reply->results[0];
            if (PQntuples(r) == 1) {
                bk->found = 1;
                snprintf(bk->office, sizeof(bk->office), "%s", PQgetvalue(r, 0, 0));
                snprintf(bk->slot_proc, sizeof(bk->slot_proc), "%s", PQgetvalue(r, 0, 1));
                snprintf(bk->local, sizeof(bk->local), "%s", PQgetvalue(r, 0, 2));
                snprintf(bk->state, sizeof(bk->state), "%s", PQgetvalue(r, 0, 3));
            }
            book_render(req, bk);
        }
    }
    server_async_release(pd);
}

static void book_lookup(h2o_req_t *req, const struct web_ref *ref, void *ctx)
{
    struct book *bk = ctx;
    if (ref == NULL) {
        web_mine_unavailable(req);
        return;
    }
    struct pending *pd = server_async_alloc(req, sizeof(*pd));
    pd->ctx = bk;
    struct server_worker *w = server_worker_of(req);
    int rc;
    if (bk->office[0] != '\0') {
        char key[96];
        snprintf(key, sizeof(key), "cal:{%s}:slot:%" PRId64, bk->office, bk->slot);
        const char *argv[] = {"HMGET", key, "local", "procedure", "state"};
        rc = redis_command(server_worker_redis(w), on_slot_redis, pd, 5, argv, NULL);
    } else {
        const char *v[] = {bk->slot_s};
        rc = pg_query(
            server_worker_pg(w),
            "SELECT office_code, procedure_code, to_char(local_start, 'YYYY-MM-DD\"T\"HH24:MI'), state "
            "FROM slots WHERE id = $1",
            1, v, on_slot_pg, pd);
    }
    if (rc != 0) {
        web_mine_unavailable(req);
        server_async_release(pd);
    }
}

static void book_session(h2o_req_t *req, const struct auth_session *s, void *ctx)
{
    struct book *bk = ctx;
    memcpy(bk->csrf, s->csrf, sizeof(bk->csrf));
    web_with_ref(req, book_lookup, bk);
}

void web_on_book(h2o_req_t *req, const struct server_params *p)
{
    (void)p;
    struct book *bk = h2o_mem_alloc_pool(&req->pool, sizeof(*bk));
    memset(bk, 0, sizeof(*bk));
    const char *slot = web_query(req, "slot", 18), *proc = web_query(req, "procedure", 40);
    const char *office = web_query(req, "office", 32), *resched = web_query(req, "reschedule", 10);
    char *end = NULL;
    long long id = slot != NULL ? strtoll(slot, &end, 10) : 0;
    if (slot == NULL || end == slot || *end != '\0' || id <= 0 || !token_ok(proc, 40) ||
        (office != NULL && !token_ok(office, 32)) || (resched != NULL && !code_ok(resched))) {
        web_page_message(req, 404, "Horario no encontrado", "Time not found",
                         "Falta el horario o el trámite. Elija una fecha en el calendario de la oficina.",
                         "The time or the procedure is missing. Choose a date in the office's calendar.");
        return;
    }
    bk->slot = id;
    snprintf(bk->slot_s, sizeof(bk->slot_s), "%lld", id);
    snprintf(bk->proc, sizeof(bk->proc), "%s", proc);
    if (office != NULL)
        snprintf(bk->office, sizeof(bk->office), "%s", office);
    if (resched != NULL)
        snprintf(bk->resched, sizeof(bk->resched), "%s", resched);
    web_with_session(req, book_session, bk);
}

/* ============================== /appointments ============================== */

static void list_render(h2o_req_t *req, const struct web_mine *m, const PGresult *r)
{
    const struct web_ref *ref = web_ref_now(req);
    struct web_page pg;
    int en = web_lang_en(req);
    web_page_open(&pg, req, en ? "My appointments" : "Mis citas", m->csrf, 1, NULL);
    struct wbuf *b = &pg.b;
    if (server_query(req, "cancelled", NULL) != NULL)
        wb_fmt(b, "<p class=\"notice\" role=\"status\">%s</p>\n",
               T(&pg, "La cita fue cancelada y su lugar quedó libre para otra persona.",
                 "The appointment was cancelled and its place is free for someone else."));
    int n = PQntuples(r);
    if (n == 0)
        wb_fmt(b, "<p>%s <a href=\"/\">%s</a></p>\n", T(&pg, "No tiene citas.", "You have no appointments."),
               T(&pg, "Reservar una cita", "Book an appointment"));
    else
        wb_raw(b, "<ul class=\"appointments\">\n");
    for (int i = 0; i < n; i++) {
        const char *code = PQgetvalue(r, i, 0), *state = PQgetvalue(r, i, 1), *off = PQgetvalue(r, i, 2),
                   *proc = PQgetvalue(r, i, 3), *local = PQgetvalue(r, i, 4);
        int future = strcmp(PQgetvalue(r, i, 5), "t") == 0;
        const struct web_office *o = web_ref_office(ref, off, strlen(off));
        const struct web_proc *p = web_ref_proc(ref, proc, strlen(proc));
        wb_raw(b, "<li class=\"card\"><h2><a href=\"/appointments/");
        wb_url(b, code);
        wb_raw(b, "\">");
        wb_esc(b, p != NULL ? (pg.en ? p->name_en : p->name_es) : proc);
        wb_raw(b, "</a></h2><p>");
        web_fmt_local(b, pg.en, local);
        wb_raw(b, " · ");
        wb_esc(b, o != NULL ? (pg.en ? o->name_en : o->name_es) : off);
        wb_fmt(b, "</p><p>%s: <strong class=\"code\">", T(&pg, "Código", "Code"));
        wb_esc(b, code);
        wb_fmt(b, "</strong> · %s: ", T(&pg, "Estado", "Status"));
        wb_esc(b, state_name(&pg, state));
        wb_raw(b, "</p>");
        if (strcmp(state, "active") == 0 && future) {
            wb_raw(b, "<div class=\"actions\"><a class=\"button secondary\" href=\"/offices/");
            wb_url(b, off);
            wb_raw(b, "/");
            wb_url(b, proc);
            wb_raw(b, "?reschedule=");
            wb_url(b, code);
            wb_fmt(b, "\">%s<span class=\"sr-only\"> ", T(&pg, "Cambiar fecha", "Reschedule"));
            wb_esc(b, code);
            wb_raw(b, "</span></a>\n");
            struct wbuf api;
            wb_init(&api, &req->pool, 64);
            wb_raw(&api, "/api/v1/appointments/");
            wb_url(&api, code);
            web_api_form(&pg, api.p, "DELETE", "/appointments?cancelled=1", "inline cancel");
            hidden(b, "code", code);
            wb_fmt(b, "<input type=\"hidden\" name=\"confirm\" value=\"%s\" data-skip>\n",
                   T(&pg, "¿Cancelar esta cita? Su lugar quedará libre para otra persona.",
                     "Cancel this appointment? Its place will go to someone else."));
            wb_fmt(b, "<button type=\"submit\" class=\"danger\">%s<span class=\"sr-only\"> ",
                   T(&pg, "Cancelar cita", "Cancel appointment"));
            wb_esc(b, code);
            wb_raw(b, "</span></button></form></div>");
        }
        wb_raw(b, "</li>\n");
    }
    if (n > 0)
        wb_raw(b, "</ul>\n");
    web_page_send(&pg, 200);
}

struct mine_q {
    struct web_mine *m;
    web_mine_render render;
};

static void on_rows(const struct pg_reply *reply, void *ctx)
{
    struct mine_q *q = ctx;
    h2o_req_t *req = server_async_req(q);
    if (req != NULL) {
        if (reply->status != PG_OK)
            web_mine_unavailable(req);
        else
            q->render(req, q->m, reply->results[0]);
    }
    server_async_release(q);
}

/* Runs sql ($1 the account, $2 the code when the page has one) and renders the rows. */
void web_mine_query(h2o_req_t *req, struct web_mine *m, const char *sql, web_mine_render render)
{
    struct mine_q *q = server_async_alloc(req, sizeof(*q));
    q->m = m;
    q->render = render;
    const char *v[] = {m->id, m->code};
    if (pg_query(server_worker_pg(server_worker_of(req)), sql, m->code[0] != '\0' ? 2 : 1, v, on_rows, q) !=
        0) {
        web_mine_unavailable(req);
        server_async_release(q);
    }
}

struct web_mine *web_mine_new(h2o_req_t *req, const struct auth_session *s, struct web_mine *m)
{
    if (m == NULL) {
        m = h2o_mem_alloc_pool(&req->pool, sizeof(*m));
        memset(m, 0, sizeof(*m));
    }
    memcpy(m->csrf, s->csrf, sizeof(m->csrf));
    snprintf(m->id, sizeof(m->id), "%" PRId64, s->account_id);
    return m;
}

static void list_ref(h2o_req_t *req, const struct web_ref *ref, void *ctx)
{
    if (ref == NULL) {
        web_mine_unavailable(req);
        return;
    }
    web_mine_query(
        req, ctx,
        "SELECT a.code, a.state, a.office_code, a.procedure_code, "
        "to_char(s.local_start, 'YYYY-MM-DD\"T\"HH24:MI'), s.starts_at > now() "
        "FROM appointments a JOIN slots s ON s.id = a.slot_id WHERE a.account_id = $1 "
        "ORDER BY (a.state = 'active' AND s.starts_at > now()) DESC, s.starts_at DESC, a.id LIMIT 200",
        list_render);
}

static void list_session(h2o_req_t *req, const struct auth_session *s, void *ctx)
{
    (void)ctx;
    if (s->role != AUTH_ROLE_CITIZEN) { /* where logging in lands staff: their console */
        web_redirect(req, "/staff");
        return;
    }
    web_with_ref(req, list_ref, web_mine_new(req, s, NULL));
}

void web_on_appointments(h2o_req_t *req, const struct server_params *p)
{
    (void)p;
    web_with_session(req, list_session, NULL);
}

/* ============================== /appointments/{code}: the receipt ============================== */

static void receipt_render(h2o_req_t *req, const struct web_mine *m, const PGresult *r)
{
    (void)m;
    if (PQntuples(r) != 1) {
        web_page_message(req, 404, "Cita no encontrada", "Appointment not found",
                         "No tiene ninguna cita con este código.", "You have no appointment with this code.");
        return;
    }
    const struct web_ref *ref = web_ref_now(req);
    const char *code = PQgetvalue(r, 0, 0), *state = PQgetvalue(r, 0, 1), *off = PQgetvalue(r, 0, 2),
               *proc = PQgetvalue(r, 0, 3), *local = PQgetvalue(r, 0, 4);
    const struct web_office *o = web_ref_office(ref, off, strlen(off));
    const struct web_proc *p = web_ref_proc(ref, proc, strlen(proc));
    struct web_page pg;
    int en = web_lang_en(req);
    web_page_open(&pg, req, en ? "Your appointment" : "Su cita", m->csrf, 1, NULL);
    struct wbuf *b = &pg.b;
    if (server_query(req, "booked", NULL) != NULL)
        wb_fmt(b, "<p class=\"notice success\" role=\"status\">%s</p>\n",
               T(&pg, "¡Listo! Su cita está confirmada. También se la enviamos por correo.",
                 "Done! Your appointment is confirmed. We also sent it to you by email."));
    if (server_query(req, "rescheduled", NULL) != NULL)
        wb_fmt(b, "<p class=\"notice success\" role=\"status\">%s</p>\n",
               T(&pg, "Su cita cambió de fecha. La fecha anterior quedó libre.",
                 "Your appointment has a new date. The old one is free again."));
    wb_fmt(b,
           "<section class=\"receipt\" aria-labelledby=\"receipt-title\"><h2 id=\"receipt-title\">%s</h2>\n",
           T(&pg, "Comprobante de cita", "Appointment receipt"));
    wb_fmt(b, "<p class=\"code-big\">%s: <strong class=\"code\" id=\"appointment-code\">",
           T(&pg, "Código de cita", "Appointment code"));
    wb_esc(b, code);
    wb_raw(b, "</strong></p>\n");
    struct wbuf label;
    wb_init(&label, &req->pool, 64);
    wb_raw(&label, T(&pg, "Código QR de la cita ", "QR code of appointment "));
    wb_raw(&label, code);
    char *svg = web_qr_svg(&req->pool, code, label.p);
    if (svg != NULL)
        wb_raw(b, svg);
    wb_fmt(b, "<dl class=\"facts\"><dt>%s</dt><dd>", T(&pg, "Estado", "Status"));
    wb_esc(b, state_name(&pg, state));
    wb_fmt(b, "</dd><dt>%s</dt><dd>", T(&pg, "Trámite", "Procedure"));
    wb_esc(b, p != NULL ? (pg.en ? p->name_en : p->name_es) : proc);
    wb_fmt(b, "</dd><dt>%s</dt><dd>", T(&pg, "Oficina", "Office"));
    if (o != NULL) {
        wb_esc(b, pg.en ? o->name_en : o->name_es);
        wb_raw(b, "<br>");
        wb_esc(b, o->address);
        wb_raw(b, ", ");
        wb_esc(b, o->city);
    } else {
        wb_esc(b, off);
    }
    wb_fmt(b, "</dd><dt>%s</dt><dd><strong>", T(&pg, "Fecha y hora", "Date and time"));
    web_fmt_local(b, pg.en, local);
    wb_fmt(b, "</strong> (%s", T(&pg, "hora local de la oficina", "office local time"));
    if (o != NULL) {
        wb_raw(b, ", ");
        wb_esc(b, o->tz);
    }
    wb_raw(b, ")</dd></dl>\n");
    if (p != NULL) {
        wb_fmt(b, "<h3>%s</h3>\n", T(&pg, "Qué llevar", "What to bring"));
        web_doc_list(b, pg.en ? p->docs_en : p->docs_es);
    }
    wb_raw(b, "</section>\n<div class=\"actions no-print\"><a class=\"button secondary\" "
              "href=\"/api/v1/appointments/");
    wb_url(b, code);
    wb_fmt(b, ".ics\" download>%s</a>\n",
           T(&pg, "Añadir a mi calendario (.ics)", "Add to my calendar (.ics)"));
    wb_fmt(b, "<button type=\"button\" class=\"secondary\" data-print>%s</button>\n",
           T(&pg, "Imprimir comprobante", "Print receipt"));
    wb_fmt(b, "<a href=\"/appointments\">%s</a></div>\n", T(&pg, "Mis citas", "My appointments"));
    web_page_send(&pg, 200);
}

static void receipt_ref(h2o_req_t *req, const struct web_ref *ref, void *ctx)
{
    if (ref == NULL) {
        web_mine_unavailable(req);
        return;
    }
    web_mine_query(
        req, ctx,
        "SELECT a.code, a.state, a.office_code, a.procedure_code, "
        "to_char(s.local_start, 'YYYY-MM-DD\"T\"HH24:MI') "
        "FROM appointments a JOIN slots s ON s.id = a.slot_id WHERE a.account_id = $1 AND a.code = $2",
        receipt_render);
}

static void receipt_session(h2o_req_t *req, const struct auth_session *s, void *ctx)
{
    web_with_ref(req, receipt_ref, web_mine_new(req, s, ctx));
}

void web_on_appointment(h2o_req_t *req, const struct server_params *p)
{
    struct web_mine *m = h2o_mem_alloc_pool(&req->pool, sizeof(*m));
    memset(m, 0, sizeof(*m));
    if (p->n < 1 || p->v[0].len != 10) {
        web_page_message(req, 404, "Cita no encontrada", "Appointment not found",
                         "No tiene ninguna cita con este código.", "You have no appointment with this code.");
        return;
    }
    memcpy(m->code, p->v[0].base, 10);
    if (!code_ok(m->code)) {
        web_page_message(req, 404, "Cita no encontrada", "Appointment not found",
                         "No tiene ninguna cita con este código.", "You have no appointment with this code.");
        return;
    }
    web_with_session(req, receipt_session, m);
}
