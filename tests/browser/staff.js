#!/usr/bin/env node
'use strict';
/*
 * The staff console's pages end to end in headless Chromium (same harness as the citizens' test): staff
 * accounts made with `citasctl create-staff`, logging in with the mailed code and landing on /staff;
 *   - consular staff (Spanish): a window created through its preview, listed with seats offered and booked,
 *     citizens' bookings (through the API) in the agenda, check-in by typing the code, no-show, CSV, print
 *     view, a staff cancel, cancelling a day (with its confirmation), closing the window, read-only settings;
 *   - consular admin (English): procedures offered, working hours (and a refused change), holidays;
 *   - sysadmin (Spanish): office chooser, a new office (then edited), a staff account (then disabled);
 *   - refusals: anonymous sent to /login, a citizen, the help desk and staff of another office get the 403
 *     page (and the API's 403).
 * Screenshots: $CITAS_TEST_ARTEFACTS or BUILD_DIR/meson-logs/screenshots/staff.
 * Usage: staff.js BUILD_DIR CITASD CITASCTL SMTP_SINK SITEVERIFY_STUB
 */
const fs = require('fs');
const path = require('path');
const h = require('./lib/harness');
const {Env} = require('./lib/env');
const data = require('./lib/staff_data');
const flows = require('./lib/staff_flows');

async function main() {
    const [buildDir, citasd, citasctl, smtpSink, siteverifyStub] = process.argv.slice(2);
    if (!siteverifyStub) {
        console.error('usage: staff.js BUILD_DIR CITASD CITASCTL SMTP_SINK SITEVERIFY_STUB');
        return 2;
    }
    require('./npm-install').ensure();
    const t = new h.Checks('browser-staff');
    const shots = path.join(h.artefactDir(buildDir), 'staff');
    fs.mkdirSync(shots, {recursive: true});
    for (const f of fs.readdirSync(shots)) if (f.endsWith('.png')) fs.unlinkSync(path.join(shots, f));
    const env = new Env({citasd, smtpSink, siteverifyStub});
    let browser = null;
    const onSignal = (sig) => {
        console.log(`browser-staff: stopped by ${sig}`);
        h.killAll();
        process.exit(1);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    try {
        const d = data.makeData(env, citasctl);
        await env.start();
        browser = await h.launchChromium();
        const ctx = {t, env, browser, shots, data: d};
        await flows.consularStaff(ctx);
        await flows.consularAdmin(ctx);
        await flows.sysadmin(ctx);
        await flows.refusals(ctx);
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
        console.log('browser-staff: 0 passed, 1 failed');
        process.exit(1);
    }
);
