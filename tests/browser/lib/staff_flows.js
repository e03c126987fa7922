'use strict';
/*
 * The staff console's scenarios. Each takes ctx = {t, env, browser, shots, data} and drives the pages through
 * what a person sees (labels, links, buttons, role="alert", the keyboard for the check-in box); PostgreSQL and
 * the SMTP sink are read to check that what the pages said happened did happen.
 */
const fs = require('fs');
const h = require('./harness');
const {Tab} = require('./pages');
const {apiLogin, apiBook} = require('./staff_data');
const common = require('./staff_common');
const {CLOSE} = common;

const L = {
    forbidden: {es: /acceso restringido/i, en: /access restricted/i},
};

// A tab that accepts the confirm() before closing a window or cancelling.
function newTab(ctx, lang, prefix) {
    return common.newTab(ctx, lang, prefix, {acceptDialogs: true});
}

// Logs `who` in through /login (password, captcha stand-in, the mailed code); returns the path landed on.
async function login(ctx, tab, who) {
    await common.login(ctx, tab, who);
    await tab.page.waitForLoadState('load');
    return new URL(tab.page.url()).pathname;
}

// Opens `path` expecting the 403 page; checks its status, <h1> and the page rules.
async function refused(ctx, tab, path, what) {
    const r = await tab.page.goto(path);
    ctx.t.eq(r && r.status(), 403, `${what}: ${path} answers 403`);
    const info = await tab.settle(what);
    ctx.t.match(info.h1[0] || '', L.forbidden[tab.lang], `${what}: the 403 page says access is restricted`);
    return info;
}

// Clicks the submit button named `name` (a pattern) inside `scope` and waits for the page's answer.
async function press(tab, scope, name) {
    const btn = scope.getByRole('button', {name}).first();
    return tab.settleAfter(() => btn.click());
}

function mailsTo(ctx, who, kind) {
    return ctx.env.mail.messages(who.email, kind).length;
}

function one(sql, ...params) {
    const r = h.psql(sql, ...params);
    return r.length ? r[0] : [];
}

// ---- consular staff (Spanish): windows, agenda, check-in, no-show, CSV, print, cancel, cancel a day ----------
async function consularStaff(ctx) {
    const {t, data} = ctx;
    const off = data.office.code;
    const tab = await newTab(ctx, 'es', 'staff-es');
    const p = tab.page;
    const landed = await login(ctx, tab, data.staff);
    t.eq(landed, '/staff', 'consular staff land on /staff after logging in');
    await tab.settle('staff-home');
    t.check((await p.locator('main').innerText()).includes(data.office.nameEs), 'staff home: the office by name');
    t.eq(await p.locator('header.site nav a[href="/staff"]').count(), 1, 'staff header: a link to the console');
    t.eq(await p.locator('header.site nav a[href="/me"], header.site nav a[href="/appointments"]').count(), 0,
        "staff header: no links to a citizen's pages");

    // a new window, with its preview
    await tab.settleAfter(() => p.getByRole('link', {name: 'Nueva ventana'}).first().click());
    await tab.settle('window-new');
    const [d1, d2, d3] = data.days;
    await p.getByLabel('Trámite').selectOption(data.proc);
    await p.getByLabel('Primer día').fill(d1);
    await p.getByLabel('Último día').fill(d3);
    await p.getByLabel('Minutos por horario').fill('60');
    await p.getByLabel('Lugares por horario').fill('2');
    const nowLocal = one("SELECT to_char(now() AT TIME ZONE 'America/Los_Angeles' - interval '5 minutes', " +
        "'YYYY-MM-DD\"T\"HH24:MI')")[0];
    await p.getByLabel(/Apertura al público/).fill(nowLocal);
    await p.getByRole('button', {name: 'Vista previa'}).click();
    const total = p.locator('#preview .preview-total');
    await total.waitFor({state: 'visible'}).catch(() => null);
    const preview = (await total.count()) ? await total.innerText() : '';
    const m = /(\d+) horarios y (\d+) lugares en (\d+) días/.exec(preview);
    t.check(m, `preview: slots, seats and days are shown (${preview})`);
    t.check((await p.locator('#preview dt').count()) === 3, 'preview: one line per day of the window');
    const dayText = await p.locator('#preview dd').first().innerText().catch(() => '');
    t.check(dayText.includes('09:00') && dayText.includes('11:00'), `preview: the first day's times (${dayText})`);
    t.eq(Number(one("SELECT count(*) FROM calendar_windows WHERE office_code = :'p1' AND procedure_code = :'p2'", off,
        data.proc)[0]), 0, 'the preview wrote no window');
    await tab.shot('window-preview');
    const what = await press(tab, p.locator('form.window-form'), 'Crear ventana');
    t.eq(what, 'navigated', 'creating the window moves on to the list');
    await tab.settle('windows-created');
    const w = one("SELECT w.id, count(s.id), sum(s.capacity), w.created_by FROM calendar_windows w JOIN slots s " +
        "ON s.window_id = w.id WHERE w.office_code = :'p1' AND w.procedure_code = :'p2' GROUP BY w.id", off, data.proc);
    t.check(w.length === 4, `the window is in PostgreSQL: ${JSON.stringify(w)}`);
    t.check(m && Number(m[1]) === Number(w[1]) && Number(m[2]) === Number(w[2]),
        `the preview's figures are the window's (${m && m[1]}/${m && m[2]} vs ${w[1]}/${w[2]})`);
    t.eq(Number(w[3]), data.staff.id, 'the window was created by the staff member');
    const row = () => p.locator(`#windows tr[data-window="${w[0]}"]`);
    t.eq((await row().locator('.seats-offered').innerText()).trim(), String(w[2]), 'windows list: seats offered');
    t.eq((await row().locator('.seats-booked').innerText()).trim(), '0', 'windows list: nothing booked yet');
    t.check((await p.locator('[role="status"]').innerText()).includes(String(w[0])), 'windows list: "window N created"');

    // three citizens book through the API, one on each day
    const slotAt = (day) => Number(one("SELECT id FROM slots WHERE window_id = :'p1' AND local_start = (:'p2' || ' 09:00')::timestamp",
        w[0], day)[0]);
    const c = data.citizens;
    for (const [who, day] of [[c.c1, d1], [c.c2, d2], [c.c3, d3]]) {
        const bctx = await ctx.browser.newContext({baseURL: ctx.env.url, locale: 'es-MX'});
        const csrf = await apiLogin(ctx, bctx, who);
        who.code = await apiBook(ctx, bctx, csrf, slotAt(day), data.proc);
        if (who === c.c1) c.c1.ctx = bctx; // kept: the citizen's refusals later
        else await bctx.close();
    }
    await tab.goto(`/staff/offices/${off}/windows`, 'windows-booked');
    t.eq((await row().locator('.seats-booked').innerText()).trim(), '3', 'windows list: three seats booked');

    // the agenda of the first day: the booking shows; check-in by typing the code into the box
    await tab.goto(`/staff/offices/${off}/agenda?date=${d1}`, 'agenda-day1');
    const arow = p.locator(`#agenda tr[data-code="${c.c1.code}"]`);
    t.eq(await arow.count(), 1, `agenda: ${c.c1.code} is listed`);
    t.check((await arow.innerText()).includes(`Ciudadana C1 <i>${ctx.env.tag}</i>`), 'agenda: the name, markup as text');
    t.eq(await p.evaluate(() => document.activeElement && document.activeElement.id), 'checkin-code',
        'agenda: the check-in box has the focus (for a scanner)');
    await p.keyboard.type(c.c1.code.toLowerCase());
    await tab.settleAfter(() => p.keyboard.press('Enter'));
    await tab.settle('agenda-checked-in');
    t.eq(one("SELECT state FROM appointments WHERE code = :'p1'", c.c1.code)[0], 'checked_in',
        'check-in by typing the code: checked_in in PostgreSQL');
    t.check((await p.locator('[role="status"]').innerText()).includes(c.c1.code), 'agenda: "checked in: CODE"');
    t.match(await arow.locator('.state').innerText(), /atendida/i, 'agenda: the row says checked in');
    // a second check-in of the same code is refused, shown in the alert
    await p.locator('#checkin-code').fill(c.c1.code);
    const again = await tab.settleAfter(() => p.locator('#checkin-code').press('Enter'));
    t.eq(again, 'alert', 'checking in twice: an alert');
    t.match(await tab.alertText(), /No se pudo|conflict|checked_in/i, 'checking in twice: the 409 explained');

    // CSV
    const csvLink = p.getByRole('link', {name: 'Descargar CSV'});
    const [dl] = await Promise.all([p.waitForEvent('download'), csvLink.click()]);
    const csvPath = await dl.path();
    const csv = csvPath ? fs.readFileSync(csvPath, 'utf8') : '';
    t.check(csv.startsWith('"time"') && csv.includes(c.c1.code) && csv.includes('checked_in'),
        `CSV download: the agenda with ${c.c1.code} (${csv.slice(0, 120)})`);
    t.match(dl.suggestedFilename(), new RegExp(`^agenda-${off}-${d1}\\.csv$`), 'CSV: its file name');
    // print view
    await p.emulateMedia({media: 'print'});
    const printed = await p.evaluate(() => ({
        nav: getComputedStyle(document.querySelector('.staff-nav')).display,
        box: getComputedStyle(document.querySelector('.checkin-box')).display,
        table: getComputedStyle(document.querySelector('#agenda')).display,
    }));
    t.check(printed.nav === 'none' && printed.box === 'none' && printed.table !== 'none',
        `print view: navigation and forms hidden, the table shown (${JSON.stringify(printed)})`);
    await tab.shot('agenda-print');
    await p.emulateMedia({media: 'screen'});

    // yesterday's appointment: no-show
    await tab.goto(`/staff/offices/${off}/agenda?date=${data.yesterday}`, 'agenda-yesterday');
    const nsRow = p.locator(`#agenda tr[data-code="${c.ns.code}"]`);
    await press(tab, nsRow, /No se presentó/);
    await tab.settle('agenda-no-show');
    t.eq(one("SELECT state FROM appointments WHERE code = :'p1'", c.ns.code)[0], 'no_show', 'no-show: in PostgreSQL');

    // the third day: the staff cancel one appointment (the citizen is mailed)
    await tab.goto(`/staff/offices/${off}/agenda?date=${d3}`, 'agenda-day3');
    const before3 = mailsTo(ctx, c.c3, 'booking_cancelled');
    const c3row = p.locator(`#agenda tr[data-code="${c.c3.code}"]`);
    await c3row.locator('summary').click(); // the disclosure with the reason
    const reason = 'Cierre por mantenimiento ' + ctx.env.tag;
    await c3row.getByLabel(/Motivo/).fill(reason);
    await tab.shot('agenda-cancel-reason');
    await press(tab, c3row, /^Cancelar cita/);
    await tab.settle('agenda-cancelled');
    t.eq(one("SELECT state FROM appointments WHERE code = :'p1'", c.c3.code)[0], 'cancelled', 'staff cancel: in PostgreSQL');
    t.check(await h.waitFor(() => mailsTo(ctx, c.c3, 'booking_cancelled') > before3, 20000, 200),
        'staff cancel: the citizen is emailed');
    const mail = ctx.env.mail.messages(c.c3.email, 'booking_cancelled').pop();
    const plain = mail ? mail.parts.map((x) => x.text).join('\n') : '';
    t.check(plain.includes(reason), 'staff cancel: the reason is in the citizen\'s email');

    // cancel the second day, with its confirmation page
    await tab.goto(`/staff/offices/${off}/windows`, 'windows-before-cancel-day');
    await p.getByLabel('Día que se cancela').fill(d2);
    await tab.settleAfter(() => p.getByRole('button', {name: /Continuar/}).click());
    await tab.settle('cancel-day-confirm');
    t.eq((await p.locator('#day-appointments').innerText()).trim(), '1', 'cancel a day: one appointment will be cancelled');
    const cancelBtn = p.getByRole('button', {name: 'Cancelar el día'});
    await cancelBtn.click(); // the confirmation box is not ticked: the browser refuses the form
    t.check(!/done=day_cancelled/.test(p.url()) &&
        one("SELECT state FROM appointments WHERE code = :'p1'", c.c2.code)[0] === 'active',
    'cancel a day: nothing happens without the confirmation');
    const before2 = mailsTo(ctx, c.c2, 'booking_cancelled');
    await p.getByLabel(/Entiendo/).check();
    await tab.settleAfter(() => cancelBtn.click());
    await tab.settle('day-cancelled');
    t.check(/done=day_cancelled/.test(p.url()), 'cancel a day: on to the agenda of the day');
    t.eq(one("SELECT state FROM appointments WHERE code = :'p1'", c.c2.code)[0], 'cancelled', 'cancel a day: appointment cancelled');
    t.eq(one("SELECT count(*) FROM slots WHERE window_id = :'p1' AND local_start::date = :'p2' AND state = 'open'", w[0], d2)[0],
        '0', 'cancel a day: no open slot left that day');
    t.check(await h.waitFor(() => mailsTo(ctx, c.c2, 'booking_cancelled') > before2, 20000, 200),
        'cancel a day: the citizen is emailed');

    // close the window
    await tab.goto(`/staff/offices/${off}/windows`, 'windows-before-close');
    await press(tab, row(), /Cerrar/);
    await tab.settle('window-closed');
    t.eq(one("SELECT state FROM calendar_windows WHERE id = :'p1'", w[0])[0], 'closed', 'close a window: closed in PostgreSQL');
    t.match(await row().locator('.state').innerText(), /cerrada/i, 'windows list: the window says closed');

    // settings: read only for consular staff
    await tab.goto(`/staff/offices/${off}/settings`, 'settings-read-only');
    t.eq(await p.locator('form.staff-api').count(), 0, 'settings: no forms for consular staff');
    t.check((await p.locator('#procedures-offered').innerText()).includes('Renovación') ||
        (await p.locator('#procedures-offered li').count()) === 3, 'settings: the offered procedures are listed');

    // refusals: another office, the sysadmin's pages; the API refuses as the page does
    await refused(ctx, tab, `/staff/offices/${data.other.code}/agenda`, 'staff-other-office');
    t.check((await p.locator('main').innerText()).includes('otra oficina'), '403 page: says it is another office');
    await refused(ctx, tab, `/staff/offices/${data.other.code}/windows/new`, 'staff-other-office-new');
    await refused(ctx, tab, '/staff/admin/offices', 'staff-admin-pages');
    await tab.ctx.close();
    return w[0];
}

// ---- consular admin (English): office settings ---------------------------------------------------------------
async function consularAdmin(ctx) {
    const {t, data} = ctx;
    const off = data.office.code;
    const tab = await newTab(ctx, 'en', 'admin-en');
    const p = tab.page;
    t.eq(await login(ctx, tab, data.admin), '/staff', 'consular admin land on /staff');
    await tab.settle('admin-home');
    await tab.settleAfter(() => p.getByRole('link', {name: 'Office settings'}).first().click());
    await tab.settle('settings');
    // procedures: no longer offers the consular ID
    const cid = p.locator('input[name="procedures"][value="consular_id"]');
    t.check(await cid.isChecked(), 'settings: consular_id is offered at first');
    await cid.uncheck();
    await press(tab, p.locator('form.procedures-form'), 'Save procedures');
    await tab.settle('settings-procedures');
    const offered = h.psql("SELECT procedure_code FROM office_procedures WHERE office_code = :'p1' ORDER BY 1", off).map((r) => r[0]);
    t.check(!offered.includes('consular_id') && offered.includes(data.proc), `procedures saved: ${offered.join(',')}`);
    t.match(await p.locator('[role="status"]').innerText(), /procedures saved/i, 'settings: "procedures saved"');
    // hours: a second shift on Saturdays
    await p.getByLabel('opens Saturday 2').fill('14:00');
    await p.getByLabel('closes Saturday 2').fill('16:30');
    await press(tab, p.locator('form.hours-form'), 'Save working hours');
    await tab.settle('settings-hours');
    const sat = h.psql("SELECT to_char(opens, 'HH24:MI'), to_char(closes, 'HH24:MI') FROM office_hours " +
        "WHERE office_code = :'p1' AND weekday = 6 ORDER BY opens", off).map((r) => r.join('-'));
    t.eq(sat.join(','), '09:00-12:00,14:00-16:30', 'hours saved: Saturday has two shifts');
    t.eq(Number(one("SELECT count(*) FROM office_hours WHERE office_code = :'p1'", off)[0]), 8, 'hours saved: the other days kept');
    // bad hours: the API's refusal in the alert, nothing changed
    await p.getByLabel('opens Sunday 2').fill('15:00');
    await p.getByLabel('closes Sunday 2').fill('10:00');
    t.eq(await press(tab, p.locator('form.hours-form'), 'Save working hours'), 'alert', 'closing before opening: an alert');
    t.eq(Number(one("SELECT count(*) FROM office_hours WHERE office_code = :'p1'", off)[0]), 8, 'bad hours: nothing saved');
    await tab.shot('settings-bad-hours');
    // a holiday, shown as text, then removed
    const hday = data.days[3];
    await tab.goto(`/staff/offices/${off}/settings`, 'settings-again');
    await p.getByLabel('Holiday', {exact: true}).fill(hday);
    await p.getByLabel('Name', {exact: true}).fill('Día <b>de prueba</b>');
    await press(tab, p.locator('form.holiday-form'), 'Add holiday');
    await tab.settle('settings-holiday');
    t.eq(one("SELECT name FROM office_holidays WHERE office_code = :'p1' AND day = :'p2'", off, hday)[0], 'Día <b>de prueba</b>',
        'holiday saved in PostgreSQL');
    const li = p.locator(`#holidays li[data-day="${hday}"]`);
    t.check((await li.innerText()).includes('Día <b>de prueba</b>'), 'holiday listed, markup shown as text');
    await press(tab, li, /Remove/);
    await tab.settle('settings-holiday-removed');
    t.eq(h.psql("SELECT 1 FROM office_holidays WHERE office_code = :'p1' AND day = :'p2'", off, hday).length, 0, 'holiday removed');
    // the console of another office and the sysadmin's pages are not theirs
    await refused(ctx, tab, `/staff/offices/${data.other.code}/settings`, 'admin-other-office');
    await refused(ctx, tab, '/staff/admin/staff', 'admin-sysadmin-pages');
    await tab.ctx.close();
}

// ---- sysadmin (Spanish): an office and a staff account -----------------------------------------------------------
async function sysadmin(ctx) {
    const {t, data, env} = ctx;
    const tab = await newTab(ctx, 'es', 'sysadmin-es');
    const p = tab.page;
    t.eq(await login(ctx, tab, data.sysadmin), '/staff', 'sysadmin land on /staff');
    await tab.settle('sysadmin-home');
    await p.getByLabel('Oficina').selectOption(data.office.code);
    await tab.settleAfter(() => p.getByRole('button', {name: 'Abrir'}).click());
    await tab.settle('sysadmin-chosen-office');
    t.check(await p.locator(`a[href="/staff/offices/${data.office.code}/agenda"]`).count() > 0,
        'office chooser: the chosen office\'s agenda');
    // a new office
    await tab.settleAfter(() => p.getByRole('link', {name: 'Administrar oficinas'}).first().click());
    await tab.settle('admin-offices');
    const code = 'TY' + env.tag;
    const f = p.locator('form.office-form');
    await f.getByLabel(/^Código/).fill(code);
    await f.getByLabel('Tipo').selectOption('consulate');
    await f.getByLabel('Nombre en español').fill('Consulado nuevo ' + env.tag);
    await f.getByLabel('Nombre en inglés').fill('New consulate ' + env.tag);
    await f.getByLabel('Ciudad', {exact: true}).fill('Nuevaciudad');
    await f.getByLabel(/^País \(código/).fill('US');
    await f.getByLabel('País en español').fill('Estados Unidos');
    await f.getByLabel('País en inglés').fill('United States');
    await f.getByLabel(/^Zona horaria/).fill('America/Denver');
    await f.getByLabel('Dirección').fill('Avenida Nueva 5');
    t.eq(await press(tab, f, 'Crear oficina'), 'navigated', 'creating an office moves on');
    await tab.settle('office-created');
    t.eq(one("SELECT time_zone || ' ' || city FROM offices WHERE code = :'p1'", code)[0], 'America/Denver Nuevaciudad',
        'the office is in PostgreSQL');
    t.check(await p.locator(`#offices tr[data-office="${code}"]`).count() === 1, 'offices list: the new office');
    // edit it
    await tab.settleAfter(() => p.locator(`#offices tr[data-office="${code}"] a`).click());
    await tab.settle('office-edit');
    await p.getByLabel('Ciudad', {exact: true}).fill('Ciudad Corregida');
    await press(tab, p.locator('form.office-form'), 'Guardar');
    await tab.settle('office-saved');
    t.eq(one("SELECT city FROM offices WHERE code = :'p1'", code)[0], 'Ciudad Corregida', 'office edited');
    // a staff account for it
    await tab.settleAfter(() => p.getByRole('link', {name: 'Cuentas del personal'}).first().click());
    await tab.settle('admin-staff');
    const email = `stnew${env.tag.toLowerCase()}@staff.example.com`;
    const s = p.locator('form.staff-form');
    await s.getByLabel('Correo electrónico').fill(email);
    await s.getByLabel('Nombre completo').fill('Persona Nueva');
    await s.getByLabel('Función').selectOption('consular_staff');
    await s.getByLabel(/^Oficina/).selectOption(code);
    await s.getByLabel(/^Contraseña inicial/).fill('Una-clave-larga-1');
    t.eq(await press(tab, s, 'Crear cuenta'), 'navigated', 'creating a staff account moves on');
    await tab.settle('staff-created');
    t.eq(one("SELECT role || ' ' || office_code || ' ' || disabled FROM accounts WHERE email = :'p1'", email)[0],
        `consular_staff ${code} false`, 'the staff account is in PostgreSQL');
    // disable it from the list
    const srow = p.locator(`#staff tr[data-email="${email}"]`);
    await press(tab, srow, /Desactivar/);
    await tab.settle('staff-disabled');
    t.eq(one("SELECT disabled FROM accounts WHERE email = :'p1'", email)[0], 't', 'the account is disabled');
    t.match(await srow.locator('.state').innerText(), /desactivada/i, 'staff list: says disabled');
    // bad input: an HTML error page with a 4xx, never a 5xx
    for (const [path, status] of [[`/staff/offices/${data.office.code}/agenda?date=2026-13-45`, 400],
        [`/staff/offices/${data.office.code}/cancel-day?date=nope`, 400], ['/staff/offices/NOPE9X/agenda', 404],
        ['/staff/offices/%3Cscript%3E/windows', 404], ['/staff/admin/staff/12abc', 404], ['/staff/admin/staff/999999999', 404],
        ['/staff/admin/offices/ZZZ99', 404]]) {
        const r = await p.goto(path);
        t.eq(r && r.status(), status, `bad input ${path}: ${status}`);
        const ct = (r && r.headers()['content-type']) || '';
        t.match(ct, /^text\/html/, `bad input ${path}: an HTML page`);
    }
    await tab.settle('bad-input-page');
    // filtered by office
    await tab.goto(`/staff/admin/staff?f_office=${code}`, 'staff-filtered');
    t.eq(await p.locator('#staff tbody tr').count(), 1, 'staff list filtered by the new office: one account');
    await tab.ctx.close();
}

// ---- refusals: anonymous, a citizen, the help desk, staff of office B ------------------------------------------
async function refusals(ctx) {
    const {t, data} = ctx;
    const off = data.office.code;
    const anon = await newTab(ctx, 'es', 'refusal-anon');
    const r = await anon.page.goto(`/staff/offices/${off}/agenda`);
    t.check(r && r.status() === 200 && new URL(anon.page.url()).pathname === '/login',
        `anonymous on a staff page: sent to /login (${anon.page.url()})`);
    t.eq(new URL(anon.page.url()).searchParams.get('next'), `/staff/offices/${off}/agenda`, 'anonymous: next= the page');
    await anon.settle('anon-login');
    await anon.ctx.close();

    // the citizen (logged in through the API during the staff scenario)
    const cit = data.citizens.c1.ctx;
    const ctab = new Tab(cit, t, {lang: 'es', shots: ctx.shots, prefix: 'refusal-citizen', allowedOrigins: [ctx.env.url]});
    await ctab.open();
    await refused(ctx, ctab, '/staff', 'citizen-staff-home');
    await refused(ctx, ctab, `/staff/offices/${off}/agenda`, 'citizen-agenda');
    const api = await cit.request.get(`/api/v1/admin/offices/${off}/agenda`, {headers: CLOSE});
    t.eq(api.status(), 403, 'citizen: the agenda API answers 403 too');
    await cit.close();

    const hd = await newTab(ctx, 'es', 'refusal-helpdesk');
    await login(ctx, hd, data.helpdesk);
    await hd.page.goto('/staff');
    t.eq(new URL(hd.page.url()).pathname, '/helpdesk', 'help desk on /staff: sent on to /helpdesk');
    await refused(ctx, hd, `/staff/offices/${off}/agenda`, 'helpdesk-agenda');
    await refused(ctx, hd, `/staff/offices/${off}/windows/new`, 'helpdesk-new-window');
    await refused(ctx, hd, '/staff/admin/offices', 'helpdesk-admin');
    await hd.ctx.close();

    // a consular admin without an office chooses any office, but the sysadmin's pages stay closed
    const na = await newTab(ctx, 'en', 'network-admin');
    t.eq(await login(ctx, na, data.netAdmin), '/staff', 'consular admin without office land on /staff');
    await na.settle('network-admin-chooser');
    await na.page.getByLabel('Office', {exact: true}).selectOption(data.other.code);
    await na.settleAfter(() => na.page.getByRole('button', {name: 'Open'}).click());
    await na.settle('network-admin-chosen');
    await na.settleAfter(() => na.page.locator(`a[href="/staff/offices/${data.other.code}/settings"]`).click());
    const info = await na.settle('network-admin-other-settings');
    t.check(info.h1[0].includes('Other consulate'), `consular admin without office: another office's settings (${info.h1[0]})`);
    t.check(await na.page.locator('form.hours-form').count() === 1, 'consular admin without office: may change them');
    await refused(ctx, na, '/staff/admin/offices', 'network-admin-sysadmin-pages');
    await na.ctx.close();

    const b = await newTab(ctx, 'es', 'refusal-office-b');
    t.eq(await login(ctx, b, data.staffB), '/staff', 'staff of office B land on /staff');
    await b.settle('office-b-home');
    t.check((await b.page.locator(`a[href^="/staff/offices/${data.other.code}/"]`).count()) > 0 &&
        (await b.page.locator(`a[href^="/staff/offices/${off}/"]`).count()) === 0, 'office B staff see only their office');
    await refused(ctx, b, `/staff/offices/${off}/agenda`, 'office-b-on-a-agenda');
    await refused(ctx, b, `/staff/offices/${off}/settings`, 'office-b-on-a-settings');
    // and the API refuses them as the pages do
    const csrf = await b.page.evaluate(() => {
        const m = document.querySelector('meta[name="csrf-token"]');
        return m ? m.getAttribute('content') : '';
    });
    const r2 = await b.ctx.request.post(`/api/v1/admin/offices/${off}/days/${data.days[0]}/cancel`,
        {headers: Object.assign({'X-CSRF-Token': csrf}, CLOSE)});
    t.eq(r2.status(), 403, 'office B staff: cancelling a day of office A is 403');
    t.eq(one("SELECT count(*) FROM slots WHERE office_code = :'p1' AND state = 'cancelled' AND local_start::date = :'p2'",
        off, data.days[0])[0], '0', 'office B staff: office A\'s day untouched');
    await b.ctx.close();
}

module.exports = {consularStaff, consularAdmin, sysadmin, refusals};
