'use strict';
/*
 * The scenarios of the browser test. Each takes ctx = {t, env, browser, shots, data} and drives pages only
 * through what a person sees (labels, links, buttons, role="alert"); PostgreSQL is read to check that what
 * the pages said happened did happen.
 */
const h = require('./harness');
const {T, Tab, tabTo, focusedMatches} = require('./pages');
const {laDay} = require('./env');

const PROC = 'passport_renewal';
const PROC2 = 'visa';
// Requests made from the test's own process (playwright's APIRequestContext) close their connection: an idle
// keep-alive connection left open would hold citasd's shutdown until its deadline.
const CLOSE = {headers: {Connection: 'close'}};
const DOCS = {es: 'Pasaporte mexicano anterior', en: 'Previous Mexican passport'};

// The office and windows of this run, made before citasd starts.
function makeData(env) {
    const office = env.office([PROC, PROC2, 'consular_id']);
    const d = [1, 2, 3, 4].map(laDay);
    const slots = env.window(office.code, PROC, [`${d[0]} 09:00`, `${d[0]} 09:30`, `${d[0]} 10:00`, `${d[1]} 09:00`, `${d[1]} 09:30`], 4);
    // visa: one seat on day 3, one on day 4 (sold out, with a next date)
    const visa = env.window(office.code, PROC2, [`${d[2]} 11:00`, `${d[3]} 11:00`], 1);
    return {office, days: d, slots, visa, users: 0};
}

function newUser(ctx, lang) {
    ctx.data.users++;
    const n = ctx.data.users;
    return {
        lang,
        email: `web${ctx.env.tag.toLowerCase()}${n}@example.com`,
        password: `Clave-segura-${ctx.env.tag}-${n}!`,
        // markup-like characters: the pages must show them as text
        name: lang === 'es' ? `Ñandú <b>O'Brien</b> & "Cía" ${n}` : `Citizen <i>Test</i> & 'Co' ${n}`,
        docNumber: `W${ctx.env.tag}${String(n).padStart(6, '0')}`,
        logins: 0,
        verifies: 0,
    };
}

async function newTab(ctx, lang, prefix, locale) {
    const c = await ctx.browser.newContext({
        baseURL: ctx.env.url,
        locale: locale || (lang === 'en' ? 'en-US' : 'es-MX'),
        viewport: {width: 1024, height: 768},
        acceptDownloads: true,
    });
    const tab = new Tab(c, ctx.t, {lang, shots: ctx.shots, prefix, allowedOrigins: [ctx.env.url, ctx.env.standin.origin]});
    await tab.open();
    tab.page.on('dialog', (d) => d.accept()); // confirm() before cancel/delete
    return tab;
}

function langOf(v) {
    return /^en/i.test(v) ? 'en' : /^es/i.test(v) ? 'es' : v;
}

// ---- language choice ------------------------------------------------------------------------------------
async function languages(ctx) {
    const {t} = ctx;
    const en = await newTab(ctx, 'en', 'lang-accept-en', 'en-US');
    await en.goto('/', 'home from Accept-Language en');
    await en.page.close();
    await en.ctx.close();

    const es = await newTab(ctx, 'es', 'lang-default', 'fr-FR');
    await es.goto('/', 'home, Spanish by default (Accept-Language fr)');
    es.lang = 'en';
    await es.goto('/?lang=en', 'home with ?lang=en');
    es.lang = 'es';
    await es.goto('/?lang=es', 'home with ?lang=es');
    // the language link/button on the page: sets the lang cookie, which later pages follow
    await switchLanguage(es, 'en');
    await es.settle('home after the language link', {expectLang: 'en'});
    const cookies = await es.ctx.cookies();
    const lang = cookies.find((c) => c.name === 'lang');
    t.check(lang && langOf(lang.value) === 'en', `the language link sets the lang cookie: ${JSON.stringify(lang)}`);
    es.lang = 'en';
    await es.goto('/register', 'register in the chosen language');
    await es.ctx.close();
}

// Follows the page's language control to `to` (a link or a button in a form).
async function switchLanguage(tab, to) {
    const p = tab.page;
    const name = to === 'en' ? /english|^en$/i : /espa[ñn]ol|^es$/i;
    let ctl = p.getByRole('link', {name}).first();
    if ((await ctl.count()) === 0) ctl = p.getByRole('button', {name}).first();
    tab.t.check((await ctl.count()) === 1, `a language link or button to ${to} on ${p.url()}`);
    await tab.settleAfter(() => ctl.click());
    tab.lang = to;
}

// ---- account ---------------------------------------------------------------------------------------------
async function register(ctx, tab, u) {
    const {t, env} = ctx;
    const p = tab.page;
    await tab.goto('/register', 'register');
    await tab.field('email').fill(u.email);
    await tab.field('password').fill(u.password);
    await tab.field('fullName').fill(u.name);
    const sel = p.locator('select').filter({has: p.locator('option[value="consular_id"]')}).first();
    t.check((await sel.count()) === 1, 'register: a document type <select> with consular_id');
    await sel.selectOption('consular_id');
    await tab.field('docNumber').fill(u.docNumber);
    if ((await p.locator('.h-captcha').count()) > 0) await tab.solveCaptcha();
    await tab.shot('register-filled');
    await tab.submit(tab.field('email'));
    const alert = await tab.alertText(500);
    t.eq(alert, '', `register ${u.email}: no error`);
    // on to the verification page (directly, or by its link)
    if (!/\/verify/.test(p.url())) await tab.goto('/verify', 'verify');
    else await tab.settle('verify');
    u.verifies++;
    const code = await env.mail.code(u.email, 'verify_code', u.verifies);
    t.check(code, `a verification code mailed to ${u.email}`);
    const mail = tab.fields('email');
    if ((await mail.count()) > 0 && (await mail.first().inputValue()) === '') await mail.first().fill(u.email);
    const codeField = tab.field('code');
    await codeField.fill(code || '000000');
    await tab.submit(codeField);
    t.eq(await tab.alertText(500), '', 'verify: no error');
    await tab.settle('verified');
    const v = h.psql("SELECT verified_at IS NOT NULL FROM accounts WHERE email = :'p1'", u.email);
    t.check(v.length === 1 && v[0][0] === 't', `${u.email} is verified in PostgreSQL: ${JSON.stringify(v)}`);
}

async function login(ctx, tab, u) {
    const {t, env} = ctx;
    const p = tab.page;
    await tab.goto('/login', 'login');
    await tab.field('email').fill(u.email);
    await tab.field('password').fill(u.password);
    if ((await p.locator('.h-captcha').count()) > 0) await tab.solveCaptcha();
    await tab.submit(tab.field('email'));
    t.eq(await tab.alertText(500), '', `login ${u.email}: no error`);
    t.match(new URL(p.url()).pathname, /^\/login\/code/, 'login: on to the code page');
    await tab.settle('login-code');
    u.logins++;
    const code = await env.mail.code(u.email, 'login_code', u.logins);
    t.check(code, `a login code mailed to ${u.email}`);
    const f = tab.field('code');
    await f.fill(code || '000000');
    await tab.submit(f);
    t.eq(await tab.alertText(500), '', 'login code: no error');
    const sess = (await tab.ctx.cookies()).find((c) => c.name === 'citas_session');
    t.check(sess && sess.httpOnly, `logged in: an HttpOnly session cookie (${sess && sess.name})`);
    await tab.settle('logged-in');
}

// ---- finding an office and a time ------------------------------------------------------------------------
async function findOffice(ctx, tab) {
    const {t, data} = ctx;
    const p = tab.page;
    await tab.goto('/', 'home');
    const body = await p.locator('body').textContent();
    t.check(body.includes(DOCS[tab.lang]), `home: what to bring for ${PROC} (${DOCS[tab.lang]})`);
    const search = tab.field('search');
    t.check((await search.count()) === 1, 'home: the office search field by its label');
    const country = p.locator('select').filter({has: p.locator('option[value="US"]')}).first();
    if ((await country.count()) > 0) await country.selectOption('US');
    await search.fill(data.office.city);
    await tab.settleAfter(() => search.press('Enter'), 3000);
    const link = p.locator(`a[href$="/offices/${data.office.code}"]`).first();
    await link.waitFor({state: 'visible'}).catch(() => null);
    t.check((await link.count()) === 1, `search "${data.office.city}": a link to ${data.office.code}`);
    await tab.shot('home-search');
    await tab.settleAfter(() => link.click());
    const info = await tab.settle('office');
    t.check(info.h1[0] && info.h1[0].includes(tab.lang === 'es' ? data.office.nameEs : data.office.nameEn),
        `office page: its name in the <h1> (${info.h1[0]})`);
    t.check((await p.locator('body').innerText()).includes('Calle de las Pruebas 123'), 'office page: the address');
}

// From the office page to the calendar of `proc`; returns the free-time links' slot ids.
async function openCalendar(ctx, tab, proc) {
    const {t, data} = ctx;
    const p = tab.page;
    const link = p.locator(`a[href*="/offices/${data.office.code}/${proc}"]`).first();
    t.check((await link.count()) === 1, `office page: a link to the ${proc} calendar`);
    await tab.settleAfter(() => link.click());
    const free = p.locator('a[href*="/book?slot="], button[formaction*="/book?slot="], [data-slot]');
    await free.first().waitFor({state: 'visible'}).catch(() => null);
    await tab.settle('calendar-' + proc);
    const ids = await p.$$eval('a[href*="/book?slot="]', (as) => as.map((a) => Number(new URL(a.href).searchParams.get('slot'))));
    t.check(ids.length > 0, `calendar of ${proc}: free times as links (${ids.length})`);
    return ids;
}

// On /book: ticks the captcha and confirms; returns the appointment code of the page reached, or null.
async function confirmBooking(ctx, tab, {mouse = true} = {}) {
    const p = tab.page;
    await tab.settle('book');
    ctx.t.check((await p.locator('.h-captcha [role="checkbox"]').count()) === 1, 'book: the captcha widget (stand-in) is rendered');
    if (mouse) await tab.solveCaptcha();
    await tab.submit(p.locator('.h-captcha'));
    const m = /^\/appointments\/([23456789A-HJ-NP-Z]{10})$/.exec(new URL(p.url()).pathname);
    return m ? m[1] : null;
}

async function checkConfirmation(ctx, tab, code, u, slot) {
    const {t, data} = ctx;
    const p = tab.page;
    await tab.settle('confirmation');
    const text = await p.locator('body').innerText();
    t.check(text.includes(code), 'confirmation: the appointment code is shown');
    t.check(text.includes('Calle de las Pruebas 123'), 'confirmation: the office address');
    t.check((await p.locator('body').textContent()).includes(DOCS[tab.lang]), 'confirmation: the documents to bring');
    t.check(/\b(0?9|9):00\b|\b9:00\b|09:00/.test(text), 'confirmation: the office-local time (09:00)');
    const row = h.psql("SELECT a.state, a.slot_id, c.email FROM appointments a JOIN accounts c ON c.id = a.account_id WHERE a.code = :'p1'", code);
    t.check(row.length === 1 && row[0][0] === 'active' && row[0][2] === u.email && (!slot || Number(row[0][1]) === slot),
        `confirmation: ${code} is an active appointment of ${u.email} in PostgreSQL: ${JSON.stringify(row)}`);
    const qr = p.locator('img[src*="qr"], svg[aria-label], img[alt*="QR"], [data-qr] svg, [data-qr] img, svg.qr, img.qr');
    t.check((await qr.count()) > 0, 'receipt: a QR code');
    const ics = p.locator(`a[href*="${code}.ics"]`).first();
    t.check((await ics.count()) === 1, 'confirmation: a link to the .ics');
    if ((await ics.count()) === 1) {
        const r = await tab.ctx.request.get(new URL(await ics.getAttribute('href'), p.url()).toString(), CLOSE);
        t.eq(r.status(), 200, '.ics answer');
        t.match(r.headers()['content-type'] || '', /^text\/calendar/, '.ics content type');
        const body = await r.text();
        t.check(body.includes('BEGIN:VCALENDAR') && body.includes(code), '.ics: a calendar with the code');
    }
    // the printable receipt: print media, as a PDF and a screenshot
    await p.emulateMedia({media: 'print'});
    await tab.shot('receipt-print');
    await p.pdf({path: require('path').join(ctx.shots, `${tab.prefix}-receipt-${code}.pdf`)}).catch(() => {});
    await p.emulateMedia({media: 'screen'});
    void data;
}

// ---- one citizen, every page ------------------------------------------------------------------------------
async function citizen(ctx, lang) {
    const {t} = ctx;
    const tab = await newTab(ctx, 'es', lang, 'es-MX');
    if (lang === 'en') {
        await tab.goto('/', 'home before choosing English');
        await switchLanguage(tab, 'en');
    }
    const u = newUser(ctx, lang);
    const p = tab.page;
    await register(ctx, tab, u);
    await login(ctx, tab, u);

    // book
    await findOffice(ctx, tab);
    const ids = await openCalendar(ctx, tab, PROC);
    const pick = ids.find((id) => ctx.data.slots.includes(id));
    t.check(pick, 'calendar: the free times are the slots of the run');
    // the booking page's Content-Security-Policy: strict, with the configured hCaptcha origin allowed
    const bookUrl = new URL(await p.locator(`a[href*="/book?slot=${pick}"]`).first().getAttribute('href'), ctx.env.url).toString();
    const head = await tab.ctx.request.get(bookUrl, CLOSE);
    const csp = head.headers()['content-security-policy'] || '';
    const scriptSrc = (/(?:^|;)\s*script-src ([^;]*)/.exec(csp) || [])[1] || '';
    t.check(scriptSrc.includes(ctx.env.standin.origin) && !/unsafe-inline|unsafe-eval|\*/.test(scriptSrc),
        `book: CSP script-src allows the hCaptcha origin and no inline script: ${csp}`);
    t.match(csp, /default-src 'none'|default-src 'self'/, 'book: CSP has a default-src');
    const standinHits = ctx.env.standin.hits;
    await tab.settleAfter(() => p.locator(`a[href*="/book?slot=${pick}"]`).first().click());
    const code = await confirmBooking(ctx, tab);
    t.check(ctx.env.standin.hits > standinHits, 'book: the page loaded the configured hCaptcha script');
    t.check(code, `book: on to /appointments/{code} (at ${p.url()}; ${await tab.alertText(100)})`);
    if (!code) return;
    await checkConfirmation(ctx, tab, code, u, pick);

    // my appointments: reschedule, then cancel
    await tab.goto('/appointments', 'my appointments');
    t.check((await p.locator('body').innerText()).includes(code), 'my appointments: lists the code');
    const newCode = await reschedule(ctx, tab, code, pick);
    if (newCode) await cancel(ctx, tab, newCode);

    // log out, log in again
    const out = p.getByRole('link', {name: /salir|cerrar sesi[óo]n|log ?out|sign ?out/i})
        .or(p.getByRole('button', {name: /salir|cerrar sesi[óo]n|log ?out|sign ?out/i})).first();
    t.check((await out.count()) === 1, 'a log-out control');
    await tab.settleAfter(() => out.click());
    await tab.settle('logged-out');
    const sess = (await tab.ctx.cookies()).find((c) => c.name === 'citas_session' && c.value !== '');
    t.check(!sess, 'log out: no session cookie left');
    await p.goto('/appointments');
    t.match(new URL(p.url()).pathname, /^\/login/, 'my appointments without a session: to the login page');
    await login(ctx, tab, u);

    await myData(ctx, tab, u);
    await tab.ctx.close();
}

// Reschedules `code` to another free time of the same office; returns the new code.
async function reschedule(ctx, tab, code, oldSlot) {
    const {t} = ctx;
    const p = tab.page;
    const ctl = p.locator(`a[href*="${code}"], form:has(input[value="${code}"]) button, form[action*="${code}"] button`)
        .filter({hasText: tab.tx('reschedule')}).first();
    t.check((await ctl.count()) === 1, 'my appointments: a reschedule control');
    if ((await ctl.count()) === 0) return null;
    await tab.settleAfter(() => ctl.click());
    await tab.settle('reschedule calendar');
    await p.locator('a[href*="/book?slot="]').first().waitFor({state: 'visible'}).catch(() => null);
    const links = await p.$$eval('a[href*="/book?slot="]', (as) => as.map((a) => a.getAttribute('href')));
    t.check(links.every((l) => l.includes('reschedule=' + code)), 'reschedule: the calendar\'s times carry the code');
    const href = links.find((l) => Number(new URL(l, 'http://x').searchParams.get('slot')) !== oldSlot);
    const target = href ? Number(new URL(href, 'http://x').searchParams.get('slot')) : null;
    t.check(href, 'reschedule: another free time offered');
    if (!href) return null;
    await tab.settleAfter(() => p.locator(`a[href="${href}"]`).first().click());
    await tab.settle('reschedule confirm');
    t.eq(await p.locator('.h-captcha').count(), 0, 'reschedule: no captcha (only new bookings need one)');
    await tab.submit(p.locator('input[name="slot"]'));
    t.eq(await tab.alertText(500), '', 'reschedule: no error');
    const rows = h.psql("SELECT code, slot_id FROM appointments WHERE rescheduled_from = (SELECT id FROM appointments WHERE code = :'p1') AND state = 'active'", code);
    const old = h.psql("SELECT state, cancel_reason FROM appointments WHERE code = :'p1'", code);
    t.check(rows.length === 1 && (!target || Number(rows[0][1]) === target),
        `reschedule: a new active appointment at slot ${target}: ${JSON.stringify(rows)}`);
    t.check(old.length === 1 && old[0][0] === 'cancelled' && old[0][1] === 'rescheduled', `reschedule: ${code} cancelled as rescheduled: ${JSON.stringify(old)}`);
    await tab.settle('rescheduled');
    if (rows.length !== 1) return null;
    t.check((await p.locator('body').innerText()).includes(rows[0][0]), 'reschedule: the page shows the new code');
    return rows[0][0];
}

async function cancel(ctx, tab, code) {
    const {t} = ctx;
    const p = tab.page;
    await tab.goto('/appointments', 'my appointments (before cancelling)');
    const ctl = p.locator(`form[data-api*="${code}"] button, form[action*="${code}"] button`)
        .filter({hasText: tab.tx('cancel')}).first();
    t.check((await ctl.count()) === 1, 'my appointments: a cancel control');
    if ((await ctl.count()) === 0) return;
    await tab.settleAfter(() => ctl.click());
    t.eq(await tab.alertText(300), '', 'cancel: no error');
    await tab.settle('cancelled');
    const row = h.psql("SELECT state, cancel_reason FROM appointments WHERE code = :'p1'", code);
    t.check(row.length === 1 && row[0][0] === 'cancelled' && row[0][1] === 'citizen', `cancel: ${code} cancelled in PostgreSQL: ${JSON.stringify(row)}`);
}

async function myData(ctx, tab, u) {
    const {t} = ctx;
    const p = tab.page;
    await tab.goto('/me', 'my data');
    const text = await p.locator('body').innerText();
    t.check(text.includes(u.email) || (await p.locator(`input[value="${u.email}"]`).count()) > 0, 'my data: the email');
    const shown = await p.evaluate(() => {
        const dd = document.getElementById('my-name');
        const el = dd || Array.from(document.querySelectorAll('dd, td, p, span')).find((e) => /Ñandú|Citizen/.test(e.textContent));
        return el ? {text: el.textContent.trim(), markup: el.querySelectorAll('b, i').length} : null;
    });
    t.check(shown && shown.text === u.name && shown.markup === 0, `my data: the name shown as text, escaped: ${JSON.stringify(shown)}`);
    // correct the name
    const fixed = u.name + ' Corregido';
    const nameField = tab.field('fullName');
    t.check((await nameField.count()) === 1, 'my data: the name can be corrected');
    await nameField.fill(fixed);
    await tab.submit(nameField);
    t.eq(await tab.alertText(300), '', 'my data: correcting the name, no error');
    await tab.settle('my data corrected');
    const row = h.psql("SELECT full_name FROM accounts WHERE email = :'p1'", u.email);
    t.check(row.length === 1 && row[0][0] === fixed, `my data: the corrected name in PostgreSQL: ${JSON.stringify(row)}`);
    // export
    const exp = p.locator('a[href$="/me/export"]').first();
    t.check((await exp.count()) === 1, 'my data: a link to the export');
    const expHref = (await exp.count()) === 1 ? await exp.getAttribute('href') : '/api/v1/me/export';
    const r = await tab.ctx.request.get(new URL(expHref, ctx.env.url).toString(), CLOSE);
    t.eq(r.status(), 200, '/me/export answer');
    let j = null;
    try {
        j = JSON.parse(await r.text());
    } catch (e) {
        /* checked below */
    }
    const values = [];
    const walk = (v) => (v && typeof v === 'object' ? Object.values(v).forEach(walk) : values.push(v));
    walk(j);
    t.check(values.includes(u.email) && values.includes(fixed), `/me/export: JSON with my email and corrected name`);
    t.check(/attachment/.test(r.headers()['content-disposition'] || '') || (await exp.getAttribute('download')) !== null,
        '/me/export: offered as a download');
    // delete the account
    const delForm = p.locator('form').filter({has: p.locator('button, input[type=submit]').filter({hasText: tab.tx('del')})}).first();
    const del = delForm.locator('button, input[type=submit]').filter({hasText: tab.tx('del')}).first();
    t.check((await del.count()) === 1, 'my data: a delete-account button');
    const confirmBox = delForm.locator('input[type="checkbox"], input[type="password"], input[type="email"]');
    for (let i = 0; i < (await confirmBox.count()); i++) {
        const type = await confirmBox.nth(i).getAttribute('type');
        if (type === 'checkbox') await confirmBox.nth(i).check();
        else await confirmBox.nth(i).fill(type === 'password' ? u.password : u.email);
    }
    await tab.settleAfter(() => del.click());
    t.eq(await tab.alertText(300), '', 'delete account: no error');
    await tab.settle('account deleted');
    const gone = h.psql("SELECT count(*) FROM accounts WHERE email = :'p1'", u.email);
    t.eq(gone[0][0], '0', `delete account: no account with ${u.email} left`);
    // logging in again is refused
    await tab.goto('/login', 'login after deletion');
    await tab.field('email').fill(u.email);
    await tab.field('password').fill(u.password);
    if ((await p.locator('.h-captcha').count()) > 0) await tab.solveCaptcha();
    await tab.submit(tab.field('email'));
    t.check((await tab.alertText()) !== '', 'login after deletion: an error in role="alert"');
    await tab.settle('login refused after deletion');
}

// ---- the bad moments -------------------------------------------------------------------------------------
async function captchaFailure(ctx) {
    const {t, env, data} = ctx;
    const tab = await newTab(ctx, 'es', 'captcha-fail');
    const u = newUser(ctx, 'es');
    ctx.data.kbUser = u;
    ctx.data.kbTab = tab;
    await register(ctx, tab, u);
    await login(ctx, tab, u);
    env.standin.mode = 'fail';
    try {
        await tab.page.goto(`/book?slot=${data.slots[2]}&procedure=${PROC}`);
        const resp = await tab.solveCaptcha();
        t.match(resp, /^fail-/, 'the stand-in in failing mode answers fail-…');
        const code = await confirmBooking(ctx, tab, {mouse: false});
        t.eq(code, null, 'captcha refused: no confirmation page');
        const a = await tab.alertText();
        t.match(a, tab.tx('captchaFailed'), 'captcha refused: the reason in role="alert"');
        t.check(!/[{}]|"status"/.test(a), 'captcha refused: words, not JSON');
        await tab.settle('captcha failed');
        const n = h.psql("SELECT count(*) FROM appointments a JOIN accounts c ON c.id = a.account_id WHERE c.email = :'p1'", u.email);
        t.eq(n[0][0], '0', 'captcha refused: no appointment in PostgreSQL');
    } finally {
        env.standin.mode = 'pass';
    }
}

// Tab, Enter and Space only: from the home page to the confirmation.
async function keyboardBooking(ctx) {
    const {t, data} = ctx;
    const tab = ctx.data.kbTab;
    const u = ctx.data.kbUser;
    const p = tab.page;
    tab.prefix = 'keyboard';
    await tab.goto('/', 'home (keyboard)');
    const kb = async (re, what, tag) => {
        const hit = await tabTo(p, focusedMatches(re, tag));
        t.check(hit, `keyboard: Tab reaches ${what}`);
        return hit;
    };
    if (await kb(T.search.es, 'the office search', 'input')) {
        await p.keyboard.type(data.office.city);
        await tab.settleAfter(() => p.keyboard.press('Enter'), 3000);
        await p.locator(`a[href$="/offices/${data.office.code}"]`).first().waitFor({state: 'visible'}).catch(() => null);
    }
    const steps = [
        [new RegExp(`/offices/${data.office.code}$`), 'the office link', 'a'],
        [new RegExp(`/offices/${data.office.code}/${PROC}`), 'the procedure link', 'a'],
        [/\/book\?slot=/, 'a free time', 'a, button'],
    ];
    for (const [re, what, tag] of steps) {
        if (re.source.includes('book')) await p.locator('a[href*="/book?slot="]').first().waitFor({state: 'visible'}).catch(() => null);
        if (!(await kb(re, what, tag))) return;
        await tab.settleAfter(() => p.keyboard.press('Enter'));
        await tab.settle('keyboard ' + what);
    }
    if (await kb(T.captcha.es, 'the captcha checkbox', '[role=checkbox]')) await p.keyboard.press('Space');
    const resp = await p.locator('textarea[name="h-captcha-response"]').first().inputValue();
    t.match(resp, /^pass-/, 'keyboard: Space ticks the captcha');
    if (!(await kb(T.book.es, 'the book button', 'button, input[type=submit]'))) return;
    await tab.settleAfter(() => p.keyboard.press('Enter'));
    const m = /^\/appointments\/([23456789A-HJ-NP-Z]{10})$/.exec(new URL(p.url()).pathname);
    t.check(m, `keyboard: booked, on the confirmation (${p.url()}; ${await tab.alertText(100)})`);
    if (m) await checkConfirmation(ctx, tab, m[1], u, null);
}

// Two citizens, one seat: the loser sees "sold out" with the next date that has seats.
async function soldOut(ctx) {
    const {t, data} = ctx;
    const loser = ctx.data.kbTab;
    loser.prefix = 'sold-out';
    const [first, next] = data.visa;
    await loser.page.goto(`/book?slot=${first}&procedure=${PROC2}`);
    await loser.settle('book the last seat');
    await loser.solveCaptcha();

    const rival = await newTab(ctx, 'es', 'sold-out-rival');
    const r = newUser(ctx, 'es');
    await register(ctx, rival, r);
    await login(ctx, rival, r);
    await rival.page.goto(`/book?slot=${first}&procedure=${PROC2}`);
    const won = await confirmBooking(ctx, rival);
    t.check(won, 'sold out: the rival takes the last seat');
    await rival.ctx.close();

    await loser.submit(loser.page.locator('.h-captcha'));
    t.check(!/^\/appointments\/[A-Z0-9]{10}$/.test(new URL(loser.page.url()).pathname), 'sold out: no confirmation');
    const a = await loser.alertText();
    t.match(a, T.soldOut.es, 'sold out: said in role="alert"');
    await loser.settle('sold out');
    const nextLink = loser.page.locator(`a[href*="slot=${next}"], a[href*="${data.days[3]}"]`);
    const body = await loser.page.locator('body').innerText();
    const [y, mo, d] = data.days[3].split('-');
    t.check((await nextLink.count()) > 0 || body.includes(data.days[3]) || body.includes(`${Number(d)}`) && body.includes(y),
        `sold out: the next date with seats (${data.days[3]}) is offered`);
    void mo;
    await loser.ctx.close();
}

module.exports = {makeData, languages, citizen, captchaFailure, keyboardBooking, soldOut};
