'use strict';
/*
 * The help desk's and the audit log's scenarios. Each takes ctx = {t, env, browser, shots, data} and drives the
 * pages through what a person sees (labels, links, buttons, role="alert"); PostgreSQL is read to check that
 * what the pages said happened did happen.
 */
const fs = require('fs');
const path = require('path');
const h = require('./harness');
const {Tab, tabTo, focusedMatches} = require('./pages');
const {laDay} = require('./env');
const {CLOSE, randomCode, createStaff, newTab, login} = require('./staff_common');

const PROC = 'passport_renewal';

// Staff of every role, a citizen (with the same password hash) holding one appointment: made before citasd starts.
function makeData(env, citasctl) {
    const tag = env.tag.toLowerCase();
    const office = env.office([PROC]);
    const day = laDay(5);
    const [slot] = env.window(office.code, PROC, [`${day} 10:00`], 2);
    const pw = `Clave-de-prueba-${env.tag}-1!`;
    const people = {
        agent: {role: 'helpdesk', name: `Agente <b>Uno</b> & "Cía" ${env.tag}`},
        agent2: {role: 'helpdesk', name: `Agente Dos ${env.tag}`},
        admin: {role: 'sysadmin', name: `Sysadmin ${env.tag}`},
        staff: {role: 'consular_staff', name: `Consular ${env.tag}`, office: office.code},
        cadmin: {role: 'consular_admin', name: `Jefa consular ${env.tag}`, office: office.code},
    };
    for (const [k, who] of Object.entries(people)) {
        who.email = `hd${k}${tag}@staff.example.com`;
        who.password = pw;
        who.logins = 0;
        who.id = createStaff(citasctl, who);
    }
    const citizen = {role: 'citizen', email: `hdcit${tag}@example.com`, password: pw, logins: 0, name: 'Ciudadana ' + env.tag};
    citizen.id = Number(h.psql(
        "INSERT INTO accounts (email, password_hash, full_name, doc_type, doc_number, lang, role, verified_at) " +
            "SELECT :'p1', password_hash, :'p2', 'consular_id', :'p3', 'es', 'citizen', now() FROM accounts " +
            "WHERE email = :'p4' RETURNING id",
        citizen.email, citizen.name, 'HDC' + env.tag + '001', people.agent.email)[0][0]);
    const code = randomCode();
    h.psql("INSERT INTO appointments (code, slot_id, seat, office_code, procedure_code, account_id, document_type, " +
        "document_number) VALUES (:'p1', :'p2'::bigint, 1, :'p3', :'p4', :'p5'::bigint, 'consular_id', :'p6')",
    code, slot, office.code, PROC, citizen.id, 'HDC' + env.tag + '001');
    return Object.assign({office, slot, code, citizen, marker: 'marca-' + tag}, people);
}

// A second page in the same browser context (same session), watched like the first.
async function sameSession(ctx, tab, prefix) {
    const t2 = new Tab(tab.ctx, ctx.t, {lang: tab.lang, shots: ctx.shots, prefix, allowedOrigins: tab.allowed});
    await t2.open();
    return t2;
}

function csrfOf(tab) {
    return tab.page.locator('meta[name="csrf-token"]').getAttribute('content');
}

async function mainText(tab) {
    return tab.page.locator('main').innerText();
}

// ---- anonymous -------------------------------------------------------------------------------------------
async function anonymous(ctx) {
    const {t} = ctx;
    const tab = await newTab(ctx, 'es', 'anon');
    for (const path of ['/helpdesk', '/helpdesk/stats', '/staff/audit']) {
        await tab.page.goto(path);
        const u = new URL(tab.page.url());
        t.check(u.pathname === '/login' && u.searchParams.get('next') === path,
            `anonymous ${path} is sent to /login?next=${path}: ${tab.page.url()}`);
    }
    await tab.settle('anonymous-to-login');
    await tab.ctx.close();
}

// ---- the help desk agent (Spanish) -----------------------------------------------------------------------
async function agent(ctx) {
    const {t, data} = ctx;
    const tab = await newTab(ctx, 'es', 'agent-es');
    const p = tab.page;
    await login(ctx, tab, data.agent, '/helpdesk');
    t.eq(new URL(p.url()).pathname, '/helpdesk', 'agent: after the code, the ticket list');
    await tab.settle('ticket-list');

    // file a ticket (a refused field first)
    await tab.goto('/helpdesk/tickets/new', 'new-ticket');
    const desc = `El ciudadano no recibe el código ${data.marker} <script>alert(1)</script> & más`;
    await p.getByLabel(/concepto/i).selectOption('sin_codigo');
    await p.getByLabel(/descripci[óo]n/i).fill(desc);
    await p.getByLabel(/correo del ciudadano/i).fill(data.citizen.email.toUpperCase());
    await p.getByLabel(/c[óo]digo de la cita/i).fill('abc');
    await p.getByLabel(/oficina/i).selectOption(data.office.code);
    let r = await tab.submit(p.getByLabel(/descripci[óo]n/i));
    t.eq(r, 'alert', 'new ticket with a bad appointment code: an alert');
    t.match(await tab.alertText(), /revise el campo «c[óo]digo de la cita/i, 'the alert names the field, in Spanish');
    await tab.shot('new-ticket-refused');
    await p.getByLabel(/c[óo]digo de la cita/i).fill(data.code.toLowerCase());
    // the alert of the refused try is still up: wait for the navigation itself
    const went = await Promise.all([
        p.waitForURL(/\/helpdesk\/tickets\/INC-/).then(() => 'navigated', () => 'nothing'),
        p.getByRole('button', {name: /registrar incidencia/i}).click(),
    ]);
    t.eq(went[0], 'navigated', 'new ticket filed');
    const m = /^\/helpdesk\/tickets\/(INC-\d{4}-\d{6})$/.exec(new URL(p.url()).pathname);
    t.check(m, `on the new ticket's page: ${p.url()}`);
    const number = m ? m[1] : 'INC-0000-000000';
    let info = await tab.settle('ticket-created');
    t.check(info.h1[0].includes(number), `the <h1> names ${number}`);
    t.match(await mainText(tab), /incidencia registrada/i, 'created: a notice');
    const row = h.psql("SELECT state, concept, citizen_email, appointment_code, office_code, created_by, description " +
        "FROM tickets WHERE number = :'p1'", number);
    t.check(row.length === 1 && row[0][0] === 'abierto' && row[0][1] === 'sin_codigo' && row[0][2] === data.citizen.email &&
        row[0][3] === data.code && row[0][4] === data.office.code && Number(row[0][5]) === data.agent.id && row[0][6] === desc,
    `the ticket in PostgreSQL: ${JSON.stringify(row)}`);
    t.check((await p.locator('main').textContent()).includes('<script>alert(1)</script>'), 'the description shows as text');
    t.eq(await p.locator('script:not([src])').count(), 0, 'no inline script element from the description');

    // a second ticket of another concept, to see the filters work
    await tab.goto('/helpdesk/tickets/new', 'new-ticket-2');
    await p.getByLabel(/concepto/i).selectOption('otro');
    await p.getByLabel(/descripci[óo]n/i).fill(`Otra consulta ${data.marker}`);
    t.eq(await tab.submit(p.getByLabel(/descripci[óo]n/i)), 'navigated', 'second ticket filed');
    const other = (/(INC-\d{4}-\d{6})/.exec(p.url()) || [])[1];

    // find it with the list's filters
    await tab.goto('/helpdesk', 'list');
    await p.getByLabel(/^estado$/i).selectOption('abierto');
    await p.getByLabel(/^concepto$/i).selectOption('sin_codigo');
    await p.getByLabel(/^texto/i).fill(data.marker);
    await tab.settleAfter(() => p.getByRole('button', {name: /filtrar/i}).click());
    await tab.settle('list-filtered');
    let links = await p.locator('table.tickets a').allInnerTexts();
    t.check(links.length === 1 && links[0] === number, `filters state+concept+text: only ${number} (${links})`);
    await p.getByLabel(/^concepto$/i).selectOption('');
    await tab.settleAfter(() => p.getByRole('button', {name: /filtrar/i}).click());
    links = await p.locator('table.tickets a').allInnerTexts();
    t.check(links.length === 2 && links[0] === other && links[1] === number, `text filter: both, newest first (${links})`);
    await p.getByLabel(/^oficina$/i).selectOption(data.office.code);
    await tab.settleAfter(() => p.getByRole('button', {name: /filtrar/i}).click());
    links = await p.locator('table.tickets a').allInnerTexts();
    t.check(links.length === 1 && links[0] === number, `office filter: ${number} (${links})`);
    const today = h.psql("SELECT (now() AT TIME ZONE 'UTC')::date + 1")[0][0];
    await tab.page.goto('/helpdesk?q=' + encodeURIComponent(data.marker) + '&from=' + today);
    t.match(await mainText(tab), /ninguna incidencia coincide/i, 'opened from tomorrow: none');
    const bad = await tab.page.goto('/helpdesk?from=2026-02-30');
    t.eq(bad.status(), 400, 'a bad date in the filters: 400 page');
    await tab.settle('list-bad-filter');

    // CSV export of the filtered list
    await tab.page.goto('/helpdesk?q=' + encodeURIComponent(data.marker));
    await tab.settle('list-for-csv');
    const [dl] = await Promise.all([p.waitForEvent('download'), p.getByRole('link', {name: /exportar csv/i}).click()]);
    const csvPath = path.join(ctx.shots, 'tickets.csv');
    await dl.saveAs(csvPath);
    const csv = fs.readFileSync(csvPath, 'utf8').split(/\r?\n/).filter((l) => l !== '');
    t.check(csv.length === 3 && /^"?number"?,/.test(csv[0]) && csv.some((l) => l.includes(number)) && csv.some((l) => l.includes(other)),
        `CSV: a header and the two tickets (${csv.length} lines)`);

    // paging: 51 more tickets (through the API) make two pages
    const csrf0 = await csrfOf(tab);
    const many = data.marker.replace('marca', 'lote');
    for (let i = 0; i < 51; i++) {
        const a = await tab.ctx.request.post('/api/v1/tickets', {headers: Object.assign({'X-CSRF-Token': csrf0}, CLOSE),
            data: {concept: 'sin_citas', description: `${many} ${i}`}});
        if (a.status() !== 201) t.eq(a.status(), 201, 'bulk ticket ' + i);
    }
    await tab.page.goto('/helpdesk?q=' + encodeURIComponent(many));
    await tab.settle('list-page-1');
    t.eq(await p.locator('table.tickets tbody tr').count(), 50, 'page 1: 50 tickets');
    t.match(await p.locator('.summary').innerText(), /^51 incidencias/, 'the summary counts all 51');
    const older = p.getByRole('link', {name: /m[áa]s antiguas/i});
    t.eq(await older.count(), 1, 'page 1: a link to older tickets');
    await tab.settleAfter(() => older.click());
    await tab.settle('list-page-2');
    const last = await p.locator('table.tickets tbody tr').allInnerTexts();
    t.check(last.length === 1 && last[0].includes(`${many} 0`), `page 2: the oldest one (${last.length})`);
    t.eq(await p.getByRole('link', {name: /m[áa]s recientes/i}).count(), 1, 'page 2: a link back to newer');
    await tab.page.goto('/helpdesk?page=9&q=' + encodeURIComponent(many));
    t.match(await mainText(tab), /esta p[áa]gina est[áa] vac[íi]a/i, 'past the last page: says so, with a way back');

    // detail: a note, reassignment, states
    await tab.page.goto('/helpdesk?q=' + encodeURIComponent(number));
    await p.locator(`a[href="/helpdesk/tickets/${number}"]`).first().click();
    await tab.settle('ticket');
    const note = `Llamé al ciudadano <b>${data.marker}</b>`;
    await p.getByLabel(/nueva nota/i).fill(note);
    t.eq(await tab.submit(p.getByLabel(/nueva nota/i)), 'navigated', 'note added');
    await tab.settle('ticket-noted');
    const hist = p.locator('ol.history li');
    t.check((await hist.last().innerText()).includes(note), 'the note is in the history, as text');
    t.check((await hist.last().innerText()).includes(data.agent.name), 'with its author\'s name');
    t.match(await hist.last().locator('time').innerText(), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/, 'and its time');

    await p.getByLabel(/asignar a/i).selectOption(String(data.agent2.id));
    t.eq(await tab.submit(p.getByLabel(/asignar a/i)), 'navigated', 'reassigned');
    await tab.settle('ticket-reassigned');
    t.check((await p.locator('dl.ticket').innerText()).includes(data.agent2.name), 'the assignee is shown');
    t.eq(h.psql("SELECT assignee_id FROM tickets WHERE number = :'p1'", number)[0][0], String(data.agent2.id),
        'assignee in PostgreSQL');

    const opts = async () => p.locator('select[name="state"] option').evaluateAll((os) => os.map((o) => o.value));
    t.eq(JSON.stringify(await opts()), JSON.stringify(['en_proceso', 'cerrado']), 'abierto offers en_proceso and cerrado only');
    await p.getByLabel(/nuevo estado/i).selectOption('en_proceso');
    t.eq(await tab.submit(p.getByLabel(/nuevo estado/i)), 'navigated', 'abierto -> en_proceso');
    await tab.settle('ticket-en-proceso');
    t.eq(JSON.stringify(await opts()), JSON.stringify(['resuelto', 'abierto']), 'en_proceso offers resuelto and abierto');

    // a second page of the same ticket, left behind while the first moves on
    const stale = await sameSession(ctx, tab, 'agent-es-stale');
    await stale.goto(`/helpdesk/tickets/${number}`, 'ticket-stale');
    await p.getByLabel(/nuevo estado/i).selectOption('resuelto');
    t.eq(await tab.submit(p.getByLabel(/nuevo estado/i)), 'navigated', 'en_proceso -> resuelto');
    await tab.settle('ticket-resuelto');
    await stale.page.getByLabel(/nuevo estado/i).selectOption('abierto');
    t.eq(await stale.submit(stale.page.getByLabel(/nuevo estado/i)), 'alert', 'the stale page: resuelto -> abierto refused');
    t.match(await stale.alertText(), /no est[áa] permitido/i, 'the 409 is shown, translated');
    await stale.shot('illegal-transition');
    t.eq(h.psql("SELECT state FROM tickets WHERE number = :'p1'", number)[0][0], 'resuelto', 'still resuelto');
    await stale.page.close();

    await p.getByLabel(/nuevo estado/i).selectOption('cerrado');
    t.eq(await tab.submit(p.getByLabel(/nuevo estado/i)), 'navigated', 'resuelto -> cerrado');
    await tab.settle('ticket-cerrado');
    t.eq(await p.locator('select[name="state"]').count(), 0, 'a closed ticket offers no state change');
    const closed = h.psql("SELECT state, closed_at IS NOT NULL FROM tickets WHERE number = :'p1'", number)[0];
    t.check(closed[0] === 'cerrado' && closed[1] === 't', `closed in PostgreSQL with closed_at: ${closed}`);
    const changes = await p.locator('ol.history li.change').count();
    t.eq(changes, 4, 'the history holds the reassignment and the three state changes');
    const said = (await p.locator('ol.history li.change .body').allInnerTexts()).join(' | ');
    t.check(said.includes(`Asignada a: ${data.agent2.name}`) && said.includes('Estado: Abierto → En proceso') &&
        said.includes('Estado: Resuelto → Cerrado'), `the changes in words, the assignee by name: ${said}`);

    // counts
    await tab.goto('/helpdesk/stats', 'stats');
    const cnt = async (sel) => Number((await p.locator(sel).first().innerText()).trim());
    const want = (col, v) => Number(h.psql(`SELECT count(*) FROM tickets WHERE ${col} = :'p1' AND opened_at >= ` +
        "((now() AT TIME ZONE 'UTC')::date - 29)::timestamp AT TIME ZONE 'UTC'", v)[0][0]);
    t.eq(await cnt('tr[data-concept="sin_codigo"] td'), want('concept', 'sin_codigo'), 'stats: sin_codigo as in PostgreSQL');
    t.eq(await cnt('tr[data-state="cerrado"] td'), want('state', 'cerrado'), 'stats: cerrado as in PostgreSQL');
    t.check(want('state', 'cerrado') >= 1, 'stats: our closed ticket counts');
    t.check((await p.locator('svg#chart-days rect').count()) === 30, 'stats: a 30-day chart, a bar per day');
    t.check((await p.locator('svg#chart-concept rect').count()) === 6, 'stats: a bar per concept');
    const bad2 = await tab.page.goto('/helpdesk/stats?from=2026-05-02&to=2026-05-01');
    t.eq(bad2.status(), 400, 'stats: from after to is a 400 page');
    for (const [u, want] of [['/helpdesk/stats?from=2024-01-01&to=2026-01-01', 400], ['/helpdesk?page=0', 400],
        ['/helpdesk?status=nuevo', 400], ['/helpdesk?q=' + 'x'.repeat(201), 400], ['/helpdesk/tickets/nonsense', 404],
        ['/helpdesk/tickets/INC-1999-999999', 404], ['/staff/audit?before=abc', 400]]) {
        const res = await tab.page.goto(u);
        t.eq(res.status(), want, `${u.slice(0, 60)}: ${want} page`);
        t.match(res.headers()['content-type'] || '', /^text\/html/, `${u.slice(0, 60)}: an HTML page`);
    }

    // read-only look-up of the citizen's appointments, recorded
    const before = Number(h.psql("SELECT count(*) FROM helpdesk_lookups WHERE account_id = :'p1'", data.agent.id)[0][0]);
    // from the ticket, by its link (the email comes along; nothing is looked up until asked)
    await tab.goto(`/helpdesk/tickets/${number}`, 'ticket-for-lookup');
    await tab.settleAfter(() => p.getByRole('link', {name: /consultar las citas de este correo/i}).click());
    await tab.settle('lookup');
    t.eq(new URL(p.url()).pathname, '/helpdesk/lookup', 'the ticket links to the look-up');
    t.eq(await p.getByLabel(/correo del ciudadano/i).inputValue(), data.citizen.email, 'lookup: the email filled in');
    t.eq(Number(h.psql("SELECT count(*) FROM helpdesk_lookups WHERE account_id = :'p1'", data.agent.id)[0][0]), before,
        'opening the look-up page records nothing');
    t.match(await mainText(tab), /queda registrada/i, 'lookup: says the look-up is recorded');
    await p.getByRole('button', {name: /^consultar$/i}).click();
    await p.locator('#lookup-result table').waitFor({state: 'visible'}).catch(() => null);
    const res = await p.locator('#lookup-result').innerText();
    t.check(res.includes(data.code) && /confirmada/i.test(res), `lookup: the appointment ${data.code}, confirmed`);
    t.eq(await p.locator('#lookup-result button, #lookup-result form, #lookup-result a').count(), 0, 'lookup: read-only (no actions)');
    await tab.settle('lookup-result');
    const after = h.psql("SELECT count(*), max(subject_email) FROM helpdesk_lookups WHERE account_id = :'p1'", data.agent.id)[0];
    t.check(Number(after[0]) === before + 1 && after[1] === data.citizen.email, `the look-up is recorded: ${after}`);

    // more look-ups (of unknown emails) through the API, so that the audit log has pages
    for (let i = 0; i < 55; i++) {
        const a = await tab.ctx.request.get('/api/v1/helpdesk/appointments?email=' +
            encodeURIComponent(`nadie${i}-${data.marker}@example.com`), {headers: CLOSE});
        if (a.status() !== 200) t.eq(a.status(), 200, 'bulk look-up ' + i);
    }

    // the help desk cannot change a booking
    const csrf = await csrfOf(tab);
    const api = tab.ctx.request;
    const headers = Object.assign({'X-CSRF-Token': csrf}, CLOSE);
    let a = await api.delete(`/api/v1/admin/appointments/${data.code}`, {headers, data: {reason: 'prueba'}});
    t.eq(a.status(), 403, 'helpdesk: DELETE /api/v1/admin/appointments/{code} is 403');
    a = await api.post(`/api/v1/admin/appointments/${data.code}/check-in`, {headers});
    t.eq(a.status(), 403, 'helpdesk: check-in is 403');
    a = await api.post(`/api/v1/admin/appointments/${data.code}/no-show`, {headers});
    t.eq(a.status(), 403, 'helpdesk: no-show is 403');
    t.eq(h.psql("SELECT state FROM appointments WHERE code = :'p1'", data.code)[0][0], 'active', 'the appointment is untouched');
    data.ticket = number;
    await tab.ctx.close();
}

// ---- the sysadmin (English): the audit log -------------------------------------------------------------
async function sysadmin(ctx) {
    const {t, data} = ctx;
    const tab = await newTab(ctx, 'en', 'sysadmin-en');
    const p = tab.page;
    // every look-up of the agent chained (audit_log) and a signed head past the last one
    const lookups = () => h.psql("SELECT count(*), coalesce(max(id), 0) FROM audit_log WHERE action = " +
        "'appointment.lookup' AND actor_account = :'p1'::bigint", data.agent.id)[0].map(Number);
    const chained = await h.waitFor(() => lookups()[0] === 56, 15000, 200);
    t.check(chained, `the agent's 56 look-ups are in the chained audit log (${lookups()[0]})`);
    const lastId = lookups()[1];
    const signedTo = await h.waitFor(() => Number(h.psql('SELECT coalesce(max(upto_id), 0) FROM audit_heads')[0][0]) >= lastId,
        15000, 200);
    t.check(signedTo, `a signed head covers record ${lastId}`);
    await login(ctx, tab, data.admin, '/staff/audit');
    t.eq(new URL(p.url()).pathname, '/staff/audit', 'sysadmin: after the code, the audit log');
    await p.locator('#audit:not([aria-busy])').waitFor().catch(() => null);
    await tab.settle('audit');
    const headText = await p.locator('#audit-head').innerText().catch(() => '');
    const hm = /chain linked up to record (\d+); signed up to record (\d+)/i.exec(headText);
    t.check(hm && Number(hm[2]) >= lastId && Number(hm[1]) >= Number(hm[2]),
        `audit: up to which record the chain is linked and signed (${headText})`);
    await p.getByLabel(/^action$/i).fill('appointment.lookup');
    await p.getByLabel(/^subject$/i).fill('citizen:' + data.citizen.email);
    await tab.settleAfter(() => p.getByRole('button', {name: /filter/i}).click());
    await p.locator('#audit:not([aria-busy])').waitFor().catch(() => null);
    await tab.settle('audit-filtered');
    const rows = p.locator('#audit table tbody tr');
    const n = await rows.count();
    const text = n > 0 ? await rows.first().innerText() : '';
    t.check(n === 1 && text.includes('appointment.lookup') && text.includes(data.agent.email),
        `audit: the agent's look-up of ${data.citizen.email} (${n} rows: ${text})`);
    const db = h.psql("SELECT count(*) FROM audit_log WHERE action = 'appointment.lookup' AND subject = :'p1' " +
        "AND actor_account = :'p2'::bigint", 'citizen:' + data.citizen.email, data.agent.id)[0][0];
    t.eq(db, '1', 'audit: the record in PostgreSQL');
    // newest first, 50 a page, "older" by next_before (the agent's look-ups: 56)
    await p.getByLabel(/^subject$/i).fill('');
    await p.getByLabel(/^actor/i).fill(String(data.agent.id));
    await tab.settleAfter(() => p.getByRole('button', {name: /filter/i}).click());
    await p.locator('#audit:not([aria-busy])').waitFor().catch(() => null);
    const ids = async () => (await p.locator('#audit table tbody tr th').allInnerTexts()).map(Number);
    const first = await ids();
    const total = lookups()[0];
    t.check(first.length === 50 && first.every((v, i) => i === 0 || v < first[i - 1]),
        `audit page 1: 50 records, newest first (${first.length} of ${total})`);
    const olderLink = p.getByRole('link', {name: /older records/i});
    t.eq(await olderLink.count(), 1, 'audit: an "older" link');
    await tab.settleAfter(() => olderLink.click());
    await p.locator('#audit:not([aria-busy])').waitFor().catch(() => null);
    await tab.settle('audit-older');
    const second = await ids();
    t.check(second.length === total - 50 && second.every((v) => v < Math.min(...first)),
        `audit page 2: the ${total - 50} older records (${second.length})`);
    t.match(p.url(), /action=appointment\.lookup/, 'audit: the older page keeps the filter');
    const csv = p.getByRole('link', {name: /export csv/i});
    t.match((await csv.getAttribute('href')) || '', /^\/api\/v1\/admin\/audit\?format=csv.*action=appointment\.lookup/,
        'audit: the CSV link carries the filters');
    // the help-desk pages in English, for a sysadmin
    await tab.goto(`/helpdesk/tickets/${data.ticket}`, 'ticket-en');
    t.match(await p.locator('dl.ticket').innerText(), /Closed/, 'ticket in English: its state');
    // a note with the keyboard only
    const kb = `Keyboard note ${data.marker}`;
    const inNote = await tabTo(p, focusedMatches(/new note/i, 'textarea'));
    t.check(inNote, 'keyboard: Tab reaches the new-note field');
    await p.keyboard.type(kb);
    const onButton = await tabTo(p, focusedMatches(/add note/i, 'button'), 5);
    t.check(onButton, 'keyboard: Tab reaches the add-note button');
    t.eq(await tab.settleAfter(() => p.keyboard.press('Enter')), 'navigated', 'keyboard: Enter adds the note');
    await tab.settle('ticket-en-keyboard-note');
    t.check((await p.locator('ol.history li').last().innerText()).includes(kb), 'keyboard: the note is in the history');
    await tab.goto('/helpdesk/stats', 'stats-en');
    t.match(await mainText(tab), /By concept/, 'stats in English');
    await tab.ctx.close();
}

// ---- refusals -------------------------------------------------------------------------------------------
async function refusals(ctx) {
    const {t, data} = ctx;
    const cit = await newTab(ctx, 'es', 'citizen-es');
    await login(ctx, cit, data.citizen, '/appointments');
    let r = await cit.page.goto('/helpdesk');
    t.eq(r.status(), 403, 'citizen: /helpdesk is 403');
    t.match(await mainText(cit), /no tiene permiso/i, 'citizen: the 403 page says why');
    await cit.settle('citizen-403');
    r = await cit.page.goto('/helpdesk/lookup');
    t.eq(r.status(), 403, 'citizen: /helpdesk/lookup is 403');
    await cit.ctx.close();

    const cs = await newTab(ctx, 'en', 'staff-en');
    await login(ctx, cs, data.staff, '/staff/audit');
    t.eq(new URL(cs.page.url()).pathname, '/staff/audit', 'consular staff: sent on to /staff/audit');
    const st = await cs.page.goto('/staff/audit');
    t.eq(st.status(), 403, 'consular_staff: /staff/audit is 403');
    t.match(await mainText(cs), /may not see this page/i, 'consular_staff: the 403 page in English');
    await cs.settle('staff-403');
    r = await cs.page.goto('/helpdesk');
    t.eq(r.status(), 403, 'consular_staff: /helpdesk is 403');
    await cs.ctx.close();

    // a consular admin sees the audit log of their office only: not the help desk's look-ups
    const ca = await newTab(ctx, 'es', 'cadmin-es');
    await login(ctx, ca, data.cadmin, '/staff/audit');
    t.eq(new URL(ca.page.url()).pathname, '/staff/audit', 'consular_admin: the audit log');
    await ca.page.locator('#audit:not([aria-busy])').waitFor().catch(() => null);
    await ca.settle('cadmin-audit');
    t.check((await mainText(ca)).includes(data.office.code), 'consular_admin: the page names their office');
    t.check(!(await mainText(ca)).includes('appointment.lookup'), 'consular_admin: no look-up records (no office)');
    t.eq(await ca.page.getByRole('link', {name: /consultar citas/i}).count(), 0, 'consular_admin: no help-desk links');
    const consoleLink = ca.page.getByRole('link', {name: /consola del personal/i});
    t.eq(await consoleLink.count(), 1, 'consular_admin: a link to the staff console');
    await ca.settleAfter(() => consoleLink.click());
    t.eq(new URL(ca.page.url()).pathname, '/staff', 'the link leads to /staff');
    r = await ca.page.goto('/helpdesk/stats');
    t.eq(r.status(), 403, 'consular_admin: /helpdesk/stats is 403');
    await ca.ctx.close();
}

module.exports = {makeData, anonymous, agent, sysadmin, refusals};
