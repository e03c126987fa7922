#!/usr/bin/env node
'use strict';
/*
 * citas' pages end to end in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core),
 * against citasd with the run's PostgreSQL and Redis, the SMTP sink (codes read from its store), the
 * siteverify stub and a local stand-in of hCaptcha's script:
 *   - in Spanish and in English: find the office, see the procedure's documents, register, verify, log in
 *     with the mailed code, book through the captcha, confirmation and printable receipt (QR, .ics), my
 *     appointments (reschedule, cancel), log out and in, my data (correct, export as JSON, delete);
 *   - the language from Accept-Language, ?lang= and the language link (lang cookie);
 *   - a booking with the keyboard only (Tab, Enter, Space);
 *   - captcha failure and sold out (with the next dates that have seats).
 * Screenshots of every page: $CITAS_TEST_ARTEFACTS or BUILD_DIR/meson-logs/screenshots.
 * Usage: run.js BUILD_DIR CITASD SMTP_SINK SITEVERIFY_STUB
 */
const fs = require('fs');
const path = require('path');
const h = require('./lib/harness');
const {Env} = require('./lib/env');
const flows = require('./lib/flows');

async function main() {
    const [buildDir, citasd, smtpSink, siteverifyStub] = process.argv.slice(2);
    if (!siteverifyStub) {
        console.error('usage: run.js BUILD_DIR CITASD SMTP_SINK SITEVERIFY_STUB');
        return 2;
    }
    require('./npm-install').ensure();
    const t = new h.Checks('browser');
    const shots = h.artefactDir(buildDir);
    for (const f of fs.readdirSync(shots)) if (f.endsWith('.png') || f.endsWith('.pdf')) fs.unlinkSync(path.join(shots, f));
    const env = new Env({citasd, smtpSink, siteverifyStub});
    let browser = null;
    const onSignal = (sig) => {
        console.log(`browser: stopped by ${sig}`);
        h.killAll();
        process.exit(1);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    try {
        const data = flows.makeData(env);
        await env.start();
        browser = await h.launchChromium();
        const ctx = {t, env, browser, shots, data};
        await flows.languages(ctx);
        await flows.citizen(ctx, 'es');
        await flows.citizen(ctx, 'en');
        await flows.captchaFailure(ctx);
        await flows.keyboardBooking(ctx);
        await flows.soldOut(ctx);
    } catch (e) {
        t.check(false, 'unexpected: ' + (e && e.stack ? e.stack : e));
        console.log('citasd log (tail):\n' + env.logTail(40));
    } finally {
        if (browser) await browser.close().catch(() => {});
        const st = await env.close();
        if (!t.check(st && st.code === 0, `citasd stops cleanly on SIGTERM: ${JSON.stringify(st)}`))
            console.log('citasd log (tail):\n' + env.logTail(80));
        console.log(`screenshots: ${shots}`);
    }
    return t.finish();
}

main().then(
    (rc) => process.exit(rc),
    (e) => {
        console.error(e);
        console.log('browser: 0 passed, 1 failed');
        process.exit(1);
    }
);
