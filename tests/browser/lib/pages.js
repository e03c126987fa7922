'use strict';
/*
 * Page helpers for the browser tests: a Tab that watches the page (one <h1>, html lang, a visible <label>
 * for every input, no script errors or CSP refusals, no request leaving this machine's test servers),
 * screenshots, bilingual texts, forms, the captcha stand-in and keyboard-only navigation.
 */
const path = require('path');

// What the pages say, as patterns per language (the contract fixes the labels of the office search).
const T = {
    search: {es: /buscar oficina/i, en: /search office/i},
    country: {es: /pa[ií]s/i, en: /country/i},
    email: {es: /correo/i, en: /e-?mail/i},
    password: {es: /contrase[ñn]a/i, en: /password/i},
    fullName: {es: /nombre/i, en: /name/i},
    docType: {es: /tipo de documento|documento/i, en: /document type|type of document|document/i},
    docNumber: {es: /n[úu]mero/i, en: /number/i},
    code: {es: /c[óo]digo/i, en: /code/i},
    captcha: {es: /soy humano/i, en: /i am human/i},
    book: {es: /reservar|confirmar/i, en: /book|confirm/i},
    cancel: {es: /cancelar/i, en: /cancel/i},
    reschedule: {es: /reprogramar|cambiar/i, en: /reschedule|change/i},
    del: {es: /eliminar|borrar/i, en: /delete/i},
    save: {es: /guardar|corregir|actualizar/i, en: /save|correct|update/i},
    soldOut: {es: /agotad|no quedan|sin lugares|ya no hay/i, en: /sold out|no places left|no seats|fully booked/i},
    captchaFailed: {es: /captcha|verificaci[óo]n contra robots/i, en: /captcha|robot check/i},
};

class Tab {
    // ctx: a playwright BrowserContext; t: Checks; opts: {lang, shots, allowedOrigins, prefix}
    constructor(ctx, t, opts) {
        this.ctx = ctx;
        this.t = t;
        this.lang = opts.lang;
        this.shots = opts.shots;
        this.prefix = opts.prefix || opts.lang;
        this.allowed = opts.allowedOrigins;
        this.n = 0;
        this.errors = [];
        this.page = null;
    }

    async open() {
        this.page = await this.ctx.newPage();
        this.page.setDefaultTimeout(15000);
        this.page.on('pageerror', (e) => this.errors.push('page error: ' + e.message));
        this.page.on('console', (m) => {
            // a refused fetch is the API's answer, shown by the page; other failed loads are caught below
            if (m.type() === 'error' && !/^Failed to load resource/.test(m.text())) this.errors.push('console: ' + m.text());
        });
        this.page.on('response', (r) => {
            if (r.status() >= 400 && r.request().resourceType() !== 'document' && r.request().resourceType() !== 'fetch')
                this.errors.push(`${r.status()} for ${r.url()}`);
        });
        this.page.on('request', (r) => {
            const u = r.url();
            if (u.startsWith('data:') || u.startsWith('blob:') || u.startsWith('about:')) return;
            if (!this.allowed.some((o) => u.startsWith(o + '/'))) this.errors.push('request outside the test servers: ' + u);
        });
        return this.page;
    }

    tx(key) {
        return T[key][this.lang];
    }

    // The checks every page must pass; `what` names the page in messages; also takes its screenshot.
    async settle(what, {expectLang} = {}) {
        const p = this.page;
        await p.waitForLoadState('load');
        const info = await p.evaluate(() => {
            const visible = (el) => {
                const r = el.getBoundingClientRect();
                const s = getComputedStyle(el);
                return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none';
            };
            const unlabelled = [];
            for (const el of document.querySelectorAll('input, select, textarea')) {
                const type = (el.getAttribute('type') || '').toLowerCase();
                if (['hidden', 'submit', 'button', 'reset', 'image'].includes(type) || !visible(el)) continue;
                const labels = Array.from(el.labels || []).filter(visible);
                if (labels.length === 0 || !labels.some((l) => l.textContent.trim() !== ''))
                    unlabelled.push(el.outerHTML.slice(0, 120));
            }
            return {
                h1: Array.from(document.querySelectorAll('h1')).map((e) => e.textContent.trim()),
                lang: document.documentElement.getAttribute('lang') || '',
                unlabelled,
                title: document.title,
            };
        });
        this.t.eq(info.h1.length, 1, `${what}: one <h1> (${JSON.stringify(info.h1)})`);
        this.t.check(info.h1.length === 0 || info.h1[0] !== '', `${what}: the <h1> says something`);
        this.t.match(info.lang, new RegExp('^' + (expectLang || this.lang)), `${what}: <html lang>`);
        this.t.check(info.unlabelled.length === 0, `${what}: inputs without a visible label: ${info.unlabelled.join(' | ')}`);
        this.t.check(info.title !== '', `${what}: a <title>`);
        this.t.check(this.errors.length === 0, `${what}: ${this.errors.join('; ')}`);
        this.errors = [];
        await this.shot(what);
        return info;
    }

    async shot(what) {
        this.n++;
        const name = `${this.prefix}-${String(this.n).padStart(2, '0')}-${what.replace(/[^A-Za-z0-9]+/g, '-')}.png`;
        try {
            await this.page.screenshot({path: path.join(this.shots, name), fullPage: true});
        } catch (e) {
            this.t.check(false, `screenshot ${name}: ${e.message}`);
        }
    }

    async goto(p, what, opts) {
        const r = await this.page.goto(p);
        this.t.check(r && r.status() < 400, `${what}: GET ${p} answered ${r && r.status()}`);
        return this.settle(what, opts);
    }

    // The text of the role="alert" element(s) that are visible (waits a little for one to show).
    async alertText(timeoutMs = 10000) {
        const a = this.page.locator('[role="alert"]').filter({hasText: /\S/});
        try {
            await a.first().waitFor({state: 'visible', timeout: timeoutMs});
        } catch (e) {
            return '';
        }
        return (await a.allInnerTexts()).join(' | ');
    }

    // The form control (input, select, textarea) labelled by T[key] in the page's language.
    field(key) {
        return this.fields(key).first();
    }
    fields(key) {
        return this.page.locator('input, select, textarea').and(this.page.getByLabel(this.tx(key)));
    }

    // Ticks the captcha stand-in in the page's form (mouse); returns the response it produced.
    async solveCaptcha() {
        const box = this.page.locator('.h-captcha [role="checkbox"]').first();
        await box.waitFor({state: 'visible'});
        await box.click();
        return this.page.locator('textarea[name="h-captcha-response"]').first().inputValue();
    }

    // Clicks the submit button of the form that holds `inside` (a locator); see settleAfter.
    async submit(inside) {
        const form = this.page.locator('form').filter({has: inside}).first();
        const btn = form.locator('button[type="submit"], input[type="submit"], button:not([type])').last();
        return this.settleAfter(() => btn.click());
    }

    // Runs `action` (a click, a key) and waits for what the page does with it: a navigation (a plain form,
    // or the page's script moving on after the API answered) or a message in role="alert".
    // Returns 'navigated', 'alert' or 'nothing'.
    async settleAfter(action, timeoutMs = 15000) {
        const p = this.page;
        let off = () => {};
        const nav = new Promise((resolve) => {
            const on = (f) => {
                if (f === p.mainFrame()) resolve('navigated');
            };
            p.on('framenavigated', on);
            off = () => p.off('framenavigated', on);
        });
        const alert = p
            .locator('[role="alert"]')
            .filter({hasText: /\S/})
            .first()
            .waitFor({state: 'visible', timeout: timeoutMs})
            .then(() => 'alert', () => 'nothing');
        const timer = new Promise((resolve) => setTimeout(() => resolve('nothing'), timeoutMs));
        await action();
        const what = await Promise.race([nav, alert, timer]);
        off();
        if (what === 'navigated') await p.waitForLoadState('load').catch(() => null);
        return what;
    }
}

// ---- keyboard only --------------------------------------------------------------------------------------
// Presses Tab until the focused element satisfies `pred` (evaluated in the page on document.activeElement);
// at most `max` presses. Returns the element's description or null.
async function tabTo(page, pred, max = 80) {
    for (let i = 0; i < max; i++) {
        await page.keyboard.press('Tab');
        const hit = await page.evaluate(pred);
        if (hit) return hit;
    }
    return null;
}

// A predicate body for tabTo: the focused element's visible text or label matches `re` (source, flags).
function focusedMatches(re, tag) {
    return new Function(`
        const el = document.activeElement;
        if (!el || el === document.body) return null;
        if (${JSON.stringify(tag || '')} && !el.matches(${JSON.stringify(tag || '*')})) return null;
        const labels = el.labels ? Array.from(el.labels).map((l) => l.textContent).join(' ') : '';
        const text = [el.textContent, el.value, el.getAttribute('aria-label'), labels, el.getAttribute('href')]
            .filter(Boolean).join(' ');
        return new RegExp(${JSON.stringify(re.source)}, ${JSON.stringify(re.flags)}).test(text)
            ? (el.tagName + ' ' + text.trim().slice(0, 80)) : null;
    `);
}

module.exports = {T, Tab, tabTo, focusedMatches};
