#!/usr/bin/env node
'use strict';
/*
 * The help desk's and the audit log's pages end to end in headless Chromium (same harness as the citizens'
 * test): staff accounts made with `citasctl create-staff`, logging in with the mailed code;
 *   - help desk agent (Spanish): files a ticket, finds it with the list's filters, adds a note, reassigns,
 *     moves it through allowed states and is refused an illegal one (a stale page; the 409 shown translated),
 *     exports CSV, sees the counts, looks up a citizen's appointments read-only (recorded), and cannot change
 *     a booking (the API answers 403 to staff cancel and check-in);
 *   - sysadmin (English): finds the look-up in the audit log on /staff/audit, with its filters;
 *   - refusals: anonymous is sent to /login, a citizen gets 403 on /helpdesk, consular staff 403 on /staff/audit.
 * Screenshots: $CITAS_TEST_ARTEFACTS or BUILD_DIR/meson-logs/screenshots/helpdesk.
 * Usage: helpdesk.js BUILD_DIR CITASD CITASCTL SMTP_SINK SITEVERIFY_STUB
 */
const childProcess = require('child_process');
const fs = require('fs');
const path = require('path');
const h = require('./lib/harness');
const {Env} = require('./lib/env');
const hd = require('./lib/helpdesk_flows');

async function main() {
    const [buildDir, citasd, citasctl, smtpSink, siteverifyStub] = process.argv.slice(2);
    if (!siteverifyStub) {
        console.error('usage: helpdesk.js BUILD_DIR CITASD CITASCTL SMTP_SINK SITEVERIFY_STUB');
        return 2;
    }
    require('./npm-install').ensure();
    const t = new h.Checks('browser-helpdesk');
    const shots = path.join(h.artefactDir(buildDir), 'helpdesk');
    fs.mkdirSync(shots, {recursive: true});
    for (const f of fs.readdirSync(shots)) if (f.endsWith('.png') || f.endsWith('.csv')) fs.unlinkSync(path.join(shots, f));
    const env = new Env({citasd, smtpSink, siteverifyStub});
    let browser = null;
    const onSignal = (sig) => {
        console.log(`browser-helpdesk: stopped by ${sig}`);
        h.killAll();
        process.exit(1);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    try {
        const data = hd.makeData(env, citasctl);
        // the audit chain's heads signed every half second, so that the audit page can say how far
        const key = path.join(env.tmp, 'audit-key.pem'), pub = path.join(env.tmp, 'audit-pub.pem');
        childProcess.execFileSync('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', key]);
        childProcess.execFileSync('openssl', ['pkey', '-in', key, '-pubout', '-out', pub]);
        await env.start({CITAS_AUDIT_SIGNING_KEY: key, CITAS_AUDIT_PUBLIC_KEY: pub, CITAS_AUDIT_SIGN_INTERVAL_MS: '500'});
        browser = await h.launchChromium();
        const ctx = {t, env, browser, shots, data};
        await hd.anonymous(ctx);
        await hd.agent(ctx);
        await hd.sysadmin(ctx);
        await hd.refusals(ctx);
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
        console.log('browser-helpdesk: 0 passed, 1 failed');
        process.exit(1);
    }
);
