/* citasd's application: every route of the HTTP API and the modules with per-worker state. */
#include "app.h"
#include "citas/audit.h"
#include "citas/auth.h"
#include "citas/booking.h"
#include "citas/calendar.h"
#include "citas/guard.h"
#include "citas/helpdesk.h"
#include "citas/mail.h"
#include "citas/web.h"

static const struct server_route routes[] = {
    {"GET", "/healthz", "healthz", server_on_healthz, SERVER_ADMIT_ALWAYS},
    {"GET", "/readyz", "readyz", server_on_readyz, SERVER_ADMIT_ALWAYS},
    {"GET", "/metrics", "metrics", server_on_metrics, SERVER_ADMIT_ALWAYS},
    /* auth: accounts and sessions */
    {"POST", "/api/v1/accounts", "accounts_register", auth_on_register, SERVER_ADMIT_LAST},
    {"POST", "/api/v1/accounts/verify", "accounts_verify", auth_on_verify, SERVER_ADMIT_LAST},
    {"POST", "/api/v1/sessions", "sessions_login", auth_on_login, SERVER_ADMIT_LAST},
    {"POST", "/api/v1/sessions/code", "sessions_code", auth_on_login_code, SERVER_ADMIT_LAST},
    {"DELETE", "/api/v1/sessions", "sessions_logout", auth_on_logout, SERVER_ADMIT_NORMAL},
    {"GET", "/api/v1/me", "me", auth_on_me, SERVER_ADMIT_NORMAL},
    {"GET", "/api/v1/me/export", "me_export", auth_on_me_export, SERVER_ADMIT_NORMAL},
    {"PATCH", "/api/v1/me", "me_update", auth_on_me_update, SERVER_ADMIT_NORMAL},
    {"DELETE", "/api/v1/me", "me_delete", auth_on_me_delete, SERVER_ADMIT_NORMAL},
    /* placeholder staff route (replaced by the real admin routes of the booking issue) */
    {"GET", "/api/v1/admin/offices/{code}/whoami", "admin_whoami", auth_on_admin_whoami, SERVER_ADMIT_NORMAL},
    {"POST", "/api/v1/admin/offices/{code}/whoami", "admin_whoami_post", auth_on_admin_whoami,
     SERVER_ADMIT_NORMAL},
    /* calendar: offices, windows, availability */
    {"GET", "/api/v1/offices", "offices", calendar_on_offices, SERVER_ADMIT_NORMAL},
    {"GET", "/api/v1/offices/{code}", "office", calendar_on_office, SERVER_ADMIT_NORMAL},
    {"GET", "/api/v1/offices/{code}/procedures", "office_procedures", calendar_on_procedures,
     SERVER_ADMIT_NORMAL},
    {"GET", "/api/v1/offices/{code}/availability", "availability", calendar_on_availability,
     SERVER_ADMIT_FIRST},
    {"POST", "/api/v1/admin/offices/{code}/windows", "windows_create", calendar_on_window_create,
     SERVER_ADMIT_NORMAL},
    {"POST", "/api/v1/admin/offices/{code}/windows/preview", "windows_preview", calendar_on_window_preview,
     SERVER_ADMIT_NORMAL},
    {"GET", "/api/v1/admin/offices/{code}/windows", "windows_list", calendar_on_window_list,
     SERVER_ADMIT_NORMAL},
    {"POST", "/api/v1/admin/offices/{code}/windows/{id}/close", "windows_close", calendar_on_window_close,
     SERVER_ADMIT_NORMAL},
    {"POST", "/api/v1/admin/offices/{code}/days/{date}/cancel", "day_cancel", calendar_on_day_cancel,
     SERVER_ADMIT_NORMAL},
    /* admin API: office settings (calendar), offices and staff accounts (sysadmin), staff cancel (booking) */
    {"GET", "/api/v1/admin/offices/{code}/settings", "office_settings", calendar_on_settings,
     SERVER_ADMIT_NORMAL},
    {"PUT", "/api/v1/admin/offices/{code}/procedures", "office_procedures_set",
     calendar_on_settings_procedures, SERVER_ADMIT_NORMAL},
    {"PUT", "/api/v1/admin/offices/{code}/hours", "office_hours_set", calendar_on_settings_hours,
     SERVER_ADMIT_NORMAL},
    {"POST", "/api/v1/admin/offices/{code}/holidays", "office_holiday_add", calendar_on_holiday_add,
     SERVER_ADMIT_NORMAL},
    {"DELETE", "/api/v1/admin/offices/{code}/holidays/{day}", "office_holiday_remove",
     calendar_on_holiday_remove, SERVER_ADMIT_NORMAL},
    {"GET", "/api/v1/admin/offices", "admin_offices", calendar_on_admin_offices, SERVER_ADMIT_NORMAL},
    {"POST", "/api/v1/admin/offices", "admin_office_create", calendar_on_admin_office_create,
     SERVER_ADMIT_NORMAL},
    {"PATCH", "/api/v1/admin/offices/{code}", "admin_office_update", calendar_on_admin_office_update,
     SERVER_ADMIT_NORMAL},
    {"GET", "/api/v1/admin/staff", "admin_staff", auth_on_admin_staff_list, SERVER_ADMIT_NORMAL},
    {"POST", "/api/v1/admin/staff", "admin_staff_create", auth_on_admin_staff_create, SERVER_ADMIT_NORMAL},
    {"PATCH", "/api/v1/admin/staff/{id}", "admin_staff_update", auth_on_admin_staff_update,
     SERVER_ADMIT_NORMAL},
    {"DELETE", "/api/v1/admin/appointments/{code}", "staff_cancel", booking_on_staff_cancel,
     SERVER_ADMIT_NORMAL},
    /* booking: appointments ({code} also matches "<code>.ics") */
    {"POST", "/api/v1/appointments", "appointments_create", booking_on_create, SERVER_ADMIT_FIRST},
    {"POST", "/api/v1/captcha", "captcha_pass", booking_on_captcha_pass, SERVER_ADMIT_NORMAL},
    {"GET", "/api/v1/appointments", "appointments_list", booking_on_list, SERVER_ADMIT_NORMAL},
    {"GET", "/api/v1/appointments/{code}", "appointment", booking_on_get, SERVER_ADMIT_NORMAL},
    {"DELETE", "/api/v1/appointments/{code}", "appointment_cancel", booking_on_cancel, SERVER_ADMIT_FIRST},
    {"POST", "/api/v1/appointments/{code}/reschedule", "appointment_reschedule", booking_on_reschedule,
     SERVER_ADMIT_FIRST},
    {"GET", "/api/v1/admin/offices/{code}/agenda", "agenda", booking_on_agenda, SERVER_ADMIT_NORMAL},
    {"POST", "/api/v1/admin/appointments/{code}/check-in", "check_in", booking_on_check_in,
     SERVER_ADMIT_NORMAL},
    {"POST", "/api/v1/admin/appointments/{code}/no-show", "no_show", booking_on_no_show, SERVER_ADMIT_NORMAL},
    /* helpdesk: incident tickets ("stats" before "{number}": routes match in order) and the look-up */
    {"POST", "/api/v1/tickets", "tickets_create", helpdesk_on_create, SERVER_ADMIT_NORMAL},
    {"GET", "/api/v1/tickets", "tickets_list", helpdesk_on_list, SERVER_ADMIT_NORMAL},
    {"GET", "/api/v1/tickets/stats", "tickets_stats", helpdesk_on_stats, SERVER_ADMIT_NORMAL},
    {"GET", "/api/v1/tickets/{number}", "ticket", helpdesk_on_get, SERVER_ADMIT_NORMAL},
    {"PATCH", "/api/v1/tickets/{number}", "ticket_update", helpdesk_on_update, SERVER_ADMIT_NORMAL},
    {"POST", "/api/v1/tickets/{number}/notes", "ticket_note", helpdesk_on_note, SERVER_ADMIT_NORMAL},
    {"GET", "/api/v1/helpdesk/appointments", "helpdesk_lookup", helpdesk_on_lookup, SERVER_ADMIT_NORMAL},
    /* audit: browsing the chained log (sysadmin, consular_admin of an office) */
    {"GET", "/api/v1/admin/audit", "audit_browse", audit_on_browse, SERVER_ADMIT_NORMAL},
    /* web: the citizens' pages (Spanish and English) and their static assets */
    {"GET", "/", "web_home", web_on_home, SERVER_ADMIT_NORMAL},
    {"GET", "/offices/{code}", "web_office", web_on_office, SERVER_ADMIT_NORMAL},
    {"GET", "/offices/{code}/{procedure}", "web_calendar", web_on_calendar, SERVER_ADMIT_NORMAL},
    {"GET", "/register", "web_register", web_on_register, SERVER_ADMIT_NORMAL},
    {"GET", "/verify", "web_verify", web_on_verify, SERVER_ADMIT_NORMAL},
    {"GET", "/login", "web_login", web_on_login, SERVER_ADMIT_NORMAL},
    {"GET", "/login/code", "web_login_code", web_on_login_code, SERVER_ADMIT_NORMAL},
    {"POST", "/logout", "web_logout", web_on_logout, SERVER_ADMIT_NORMAL},
    {"GET", "/book", "web_book", web_on_book, SERVER_ADMIT_NORMAL},
    {"GET", "/appointments", "web_appointments", web_on_appointments, SERVER_ADMIT_NORMAL},
    {"GET", "/appointments/{code}", "web_appointment", web_on_appointment, SERVER_ADMIT_NORMAL},
    {"GET", "/me", "web_me", web_on_me, SERVER_ADMIT_NORMAL},
    {"GET", "/me/export", "web_me_export", auth_on_me_export, SERVER_ADMIT_NORMAL},
    {"GET", "/static/{name}", "web_static", web_on_static, SERVER_ADMIT_ALWAYS},
    /* web: the help desk's pages and the audit log's */
    {"GET", "/helpdesk", "web_helpdesk", web_on_helpdesk, SERVER_ADMIT_NORMAL},
    {"GET", "/helpdesk/tickets/new", "web_helpdesk_new", web_on_helpdesk_new, SERVER_ADMIT_NORMAL},
    {"GET", "/helpdesk/tickets/{number}", "web_helpdesk_ticket", web_on_helpdesk_ticket, SERVER_ADMIT_NORMAL},
    {"GET", "/helpdesk/stats", "web_helpdesk_stats", web_on_helpdesk_stats, SERVER_ADMIT_NORMAL},
    {"GET", "/helpdesk/lookup", "web_helpdesk_lookup", web_on_helpdesk_lookup, SERVER_ADMIT_NORMAL},
    {"GET", "/staff/audit", "web_staff_audit", web_on_staff_audit, SERVER_ADMIT_NORMAL},
    /* web: the staff console */
    {"GET", "/staff", "web_staff", web_on_staff, SERVER_ADMIT_NORMAL},
    {"GET", "/staff/offices/{code}/agenda", "web_staff_agenda", web_on_staff_agenda, SERVER_ADMIT_NORMAL},
    {"GET", "/staff/offices/{code}/windows", "web_staff_windows", web_on_staff_windows, SERVER_ADMIT_NORMAL},
    {"GET", "/staff/offices/{code}/windows/new", "web_staff_window_new", web_on_staff_window_new,
     SERVER_ADMIT_NORMAL},
    {"GET", "/staff/offices/{code}/cancel-day", "web_staff_cancel_day", web_on_staff_cancel_day,
     SERVER_ADMIT_NORMAL},
    {"GET", "/staff/offices/{code}/settings", "web_staff_settings", web_on_staff_settings,
     SERVER_ADMIT_NORMAL},
    {"GET", "/staff/admin/offices", "web_staff_admin_offices", web_on_staff_admin_offices,
     SERVER_ADMIT_NORMAL},
    {"GET", "/staff/admin/offices/{code}", "web_staff_admin_office", web_on_staff_admin_office,
     SERVER_ADMIT_NORMAL},
    {"GET", "/staff/admin/staff", "web_staff_admin_staff", web_on_staff_admin_staff, SERVER_ADMIT_NORMAL},
    {"GET", "/staff/admin/staff/{id}", "web_staff_admin_member", web_on_staff_admin_member,
     SERVER_ADMIT_NORMAL},
};

/* Workers stop modules in reverse order: auth (whose pending work may still use the guard) before guard. */
static const struct server_module *const modules[] = {
    &audit_server_module,    &mail_server_module,    &guard_server_module, &auth_server_module,
    &calendar_server_module, &booking_server_module, &web_server_module,
};

const struct server_app citasd_app = {
    .routes = routes,
    .nroutes = sizeof(routes) / sizeof(routes[0]),
    .modules = modules,
    .nmodules = sizeof(modules) / sizeof(modules[0]),
};
