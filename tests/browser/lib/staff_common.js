'use strict';
/*
 * What the staff pages' tests (staff.js, helpdesk.js) share: staff accounts through `citasctl create-staff`,
 * appointment codes, a browser tab for staff pages, and logging in through /login with the mailed code.
 */
const childProcess = require('child_process');
const h = require('./harness');
const {Tab} = require('./pages');

const ALPHABET = '23456789ABCDEFGHJKLMNPQRSTUVWXYZ';
const CLOSE = {Connection: 'close'};

// Labels of the login pages, by language.
const L = {
    email: {es: /correo/i, en: /e-?mail/i},
    password: {es: /contrase[ñn]a/i, en: /password/i},
    code: {es: /c[óo]digo/i, en: /code/i},
};

// A random appointment code (the server's alphabet, ten characters).
function randomCode() {
    let s = '';
    for (let i = 0; i < 10; i++) s += ALPHABET[Math.floor(Math.random() * ALPHABET.length)];
    return s;
}

// A staff account through `citasctl create-staff` (the password on standard input); returns its id.
function createStaff(citasctl, who) {
    const args = ['create-staff', '--email', who.email, '--name', who.name, '--role', who.role,
        '--dsn', process.env.CITAS_TEST_PG_DSN, '--opslimit', '1', '--memlimit-kib', '8192'];
    if (who.office) args.push('--office', who.office);
    const r = childProcess.spawnSync(citasctl, args, {input: who.password + '\n', encoding: 'utf8', timeout: 60000});
    if (r.status !== 0) throw new Error('citasctl create-staff ' + who.email + ': ' + (r.stderr || r.error));
    return Number(h.psql("SELECT id FROM accounts WHERE email = :'p1'", who.email)[0][0]);
}

// A new browser context (its own session) at 1200x800 in `lang`, watched by the page rules. acceptDialogs:
// accept every confirm() (else Playwright dismisses them).
async function newTab(ctx, lang, prefix, {acceptDialogs = false} = {}) {
    const c = await ctx.browser.newContext({
        baseURL: ctx.env.url,
        locale: lang === 'en' ? 'en-US' : 'es-MX',
        viewport: {width: 1200, height: 800},
        acceptDownloads: true,
    });
    const tab = new Tab(c, ctx.t, {lang, shots: ctx.shots, prefix, allowedOrigins: [ctx.env.url, ctx.env.standin.origin]});
    await tab.open();
    if (acceptDialogs) tab.page.on('dialog', (d) => d.accept());
    return tab;
}

// Logs `who` in through /login (or /login?next=next): password, captcha stand-in, the mailed code; returns
// what the tab saw after the code was sent.
async function login(ctx, tab, who, next) {
    const {t, env} = ctx;
    const p = tab.page;
    await tab.goto(next ? '/login?next=' + encodeURIComponent(next) : '/login', `login-${who.role}`);
    await p.getByLabel(L.email[tab.lang]).first().fill(who.email);
    await p.getByLabel(L.password[tab.lang]).first().fill(who.password);
    if ((await p.locator('.h-captcha').count()) > 0) await tab.solveCaptcha();
    await tab.submit(p.getByLabel(L.email[tab.lang]).first());
    t.match(new URL(p.url()).pathname, /^\/login\/code/, `${who.role}: on to the code page`);
    who.logins++;
    const code = await env.mail.code(who.email, 'login_code', who.logins);
    t.check(code, `a login code mailed to ${who.email}`);
    const f = p.locator('input').and(p.getByLabel(L.code[tab.lang])).first();
    await f.fill(code || '000000');
    return tab.settleAfter(() => f.press('Enter'));
}

module.exports = {ALPHABET, CLOSE, L, randomCode, createStaff, newTab, login};
