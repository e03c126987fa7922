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
const flows = require('./lib/flows');

require('./lib/runner').main({
    name: 'browser',
    args: ['BUILD_DIR', 'CITASD', 'SMTP_SINK', 'SITEVERIFY_STUB'],
    shots: '',
    clean: ['.png', '.pdf'],
    prepare: (env) => ({data: flows.makeData(env)}),
    flows: async (ctx) => {
        await flows.languages(ctx);
        await flows.citizen(ctx, 'es');
        await flows.citizen(ctx, 'en');
        await flows.captchaFailure(ctx);
        await flows.keyboardBooking(ctx);
        await flows.soldOut(ctx);
    },
});
