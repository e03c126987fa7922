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
const path = require('path');
const hd = require('./lib/helpdesk_flows');

require('./lib/runner').main({
    name: 'browser-helpdesk',
    args: ['BUILD_DIR', 'CITASD', 'CITASCTL', 'SMTP_SINK', 'SITEVERIFY_STUB'],
    shots: 'helpdesk',
    clean: ['.png', '.csv'],
    prepare: (env, a) => {
        const data = hd.makeData(env, a.CITASCTL);
        // the audit chain's heads signed every half second, so that the audit page can say how far
        const key = path.join(env.tmp, 'audit-key.pem'), pub = path.join(env.tmp, 'audit-pub.pem');
        childProcess.execFileSync('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', key]);
        childProcess.execFileSync('openssl', ['pkey', '-in', key, '-pubout', '-out', pub]);
        return {data, env: {CITAS_AUDIT_SIGNING_KEY: key, CITAS_AUDIT_PUBLIC_KEY: pub, CITAS_AUDIT_SIGN_INTERVAL_MS: '500'}};
    },
    flows: async (ctx) => {
        await hd.anonymous(ctx);
        await hd.agent(ctx);
        await hd.sysadmin(ctx);
        await hd.refusals(ctx);
    },
});
