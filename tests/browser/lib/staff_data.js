'use strict';
/*
 * The staff console test's people and places, made before citasd starts: office A (the run's office, with
 * working hours) and office B, staff of every role through `citasctl create-staff`, citizens sharing a staff
 * account's password hash, and yesterday's appointment (for a no-show). Also the citizens' side done
 * through the JSON API: log in with the mailed code and book through the captcha stub.
 */
const h = require('./harness');
const {laDay} = require('./env');
const {CLOSE, randomCode, createStaff} = require('./staff_common');

const PROC = 'passport_renewal';

function makeData(env, citasctl) {
    const tag = env.tag.toLowerCase();
    const office = env.office([PROC, 'consular_id', 'visa']);
    // working hours 09:00-12:00 every day, so a window's slots are known from its form
    h.psql("INSERT INTO office_hours (office_code, weekday, opens, closes) " +
        "SELECT :'p1', w, '09:00', '12:00' FROM generate_series(1, 7) w", office.code);
    const other = {code: 'TX' + env.tag};
    h.psql("INSERT INTO offices (code, kind, name_es, name_en, city, country, country_name_es, country_name_en, " +
        "time_zone, address) VALUES (:'p1', 'consulate', 'Otro consulado ' || :'p2', 'Other consulate ' || :'p2', " +
        "'Otraciudad', 'US', 'Estados Unidos', 'United States', 'America/Chicago', 'Calle Otra 1')", other.code, env.tag);
    const pw = `Clave-de-prueba-${env.tag}-1!`;
    const people = {
        staff: {role: 'consular_staff', name: `Cónsul <b>Staff</b> ${env.tag}`, office: office.code, lang: 'es'},
        admin: {role: 'consular_admin', name: `Consular Admin ${env.tag}`, office: office.code, lang: 'en'},
        staffB: {role: 'consular_staff', name: `Staff B ${env.tag}`, office: other.code, lang: 'es'},
        helpdesk: {role: 'helpdesk', name: `Mesa ${env.tag}`, lang: 'es'},
        sysadmin: {role: 'sysadmin', name: `Sysadmin ${env.tag}`, lang: 'es'},
        netAdmin: {role: 'consular_admin', name: `Network Admin ${env.tag}`, lang: 'en'}, // no office: every office
    };
    for (const [k, who] of Object.entries(people)) {
        who.email = `st${k.toLowerCase()}${tag}@staff.example.com`;
        who.password = pw;
        who.logins = 0;
        who.id = createStaff(citasctl, who);
    }
    const citizens = {};
    for (const k of ['c1', 'c2', 'c3', 'ns']) {
        const who = {role: 'citizen', email: `st${k}${tag}@example.com`, password: pw, logins: 0,
            name: `Ciudadana ${k.toUpperCase()} <i>${env.tag}</i>`, doc: `ST${env.tag}${k.toUpperCase()}01`};
        who.id = Number(h.psql(
            "INSERT INTO accounts (email, password_hash, full_name, doc_type, doc_number, lang, role, verified_at) " +
                "SELECT :'p1', password_hash, :'p2', 'consular_id', :'p3', 'es', 'citizen', now() FROM accounts " +
                "WHERE email = :'p4' RETURNING id",
            who.email, who.name, who.doc, people.staff.email)[0][0]);
        citizens[k] = who;
    }
    // yesterday 10:00 at office A, one appointment: its time has passed, so it can be marked no-show
    const yesterday = laDay(-1);
    const [slot] = env.window(office.code, 'visa', [`${yesterday} 10:00`], 1);
    const nsCode = randomCode();
    h.psql("INSERT INTO appointments (code, slot_id, seat, office_code, procedure_code, account_id, document_type, " +
        "document_number) VALUES (:'p1', :'p2'::bigint, 1, :'p3', 'visa', :'p4'::bigint, 'consular_id', :'p5')",
    nsCode, slot, office.code, citizens.ns.id, citizens.ns.doc);
    citizens.ns.code = nsCode;
    return Object.assign({office, other, citizens, yesterday, days: [10, 11, 12, 15].map(laDay), proc: PROC}, people);
}

// ---- the citizens' side, through the JSON API (a browser context's request: cookies shared with its pages) ----
async function apiJson(request, method, path, body, csrf) {
    const headers = Object.assign({Accept: 'application/json'}, CLOSE);
    if (csrf) headers['X-CSRF-Token'] = csrf;
    const r = await request.fetch(path, {method, headers, data: body === undefined ? undefined : body});
    let json = null;
    try {
        json = await r.json();
    } catch (e) {
        json = null;
    }
    return {status: r.status(), json};
}

// Logs the citizen in on `bctx` (a browser context) by the API with the mailed code; returns the CSRF token.
async function apiLogin(ctx, bctx, who) {
    const {t, env} = ctx;
    const r1 = await apiJson(bctx.request, 'POST', '/api/v1/sessions',
        {email: who.email, password: who.password, captcha: 'pass-' + randomCode()});
    t.eq(r1.status, 200, `API login of ${who.email}`);
    who.logins++;
    const code = await env.mail.code(who.email, 'login_code', who.logins);
    t.check(code, `a login code mailed to ${who.email}`);
    const r2 = await apiJson(bctx.request, 'POST', '/api/v1/sessions/code', {login_id: r1.json && r1.json.login_id, code});
    t.eq(r2.status, 200, `API login code of ${who.email}`);
    return r2.json && r2.json.csrf_token;
}

// Books `slot` for the logged-in citizen; returns the appointment code.
async function apiBook(ctx, bctx, csrf, slot, procedure) {
    const r = await apiJson(bctx.request, 'POST', '/api/v1/appointments',
        {slot, procedure, captcha: 'pass-' + randomCode()}, csrf);
    ctx.t.eq(r.status, 201, `booking slot ${slot} through the API: ${JSON.stringify(r.json)}`);
    return r.json && r.json.code;
}

module.exports = {makeData, apiLogin, apiBook, apiJson, randomCode, PROC, CLOSE};
