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
const data = require('./lib/staff_data');
const flows = require('./lib/staff_flows');

require('./lib/runner').main({
    name: 'browser-staff',
    args: ['BUILD_DIR', 'CITASD', 'CITASCTL', 'SMTP_SINK', 'SITEVERIFY_STUB'],
    shots: 'staff',
    clean: ['.png'],
    prepare: (env, a) => ({data: data.makeData(env, a.CITASCTL)}),
    flows: async (ctx) => {
        await flows.consularStaff(ctx);
        await flows.consularAdmin(ctx);
        await flows.sysadmin(ctx);
        await flows.refusals(ctx);
    },
});
