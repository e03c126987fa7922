'use strict';
/*
 * The browser tests' skeleton (run.js, staff.js, helpdesk.js): arguments, the screenshot folder, citasd and
 * its peers (Env), Chromium, stopping cleanly on SIGTERM/SIGINT, and the summary line; the exit code is the
 * test's result.
 */
const fs = require('fs');
const path = require('path');
const h = require('./harness');
const {Env} = require('./env');

/*
 * opts: name (the test's, in its summary line), args (argument names; the last one is required),
 * shots (a folder under the artefacts, or '' for the artefacts' own) and clean (file endings removed from it
 * first), prepare(env, argv) (before citasd starts: returns {data, env: extra environment for citasd}) and
 * flows (async (ctx), ctx = {t, env, browser, shots, data}).
 */
async function run(opts) {
    const argv = {};
    process.argv.slice(2).forEach((v, i) => { if (i < opts.args.length) argv[opts.args[i]] = v; });
    if (!argv[opts.args[opts.args.length - 1]]) {
        console.error(`usage: ${path.basename(process.argv[1])} ${opts.args.join(' ')}`);
        return 2;
    }
    require('../npm-install').ensure();
    const t = new h.Checks(opts.name);
    const shots = opts.shots ? path.join(h.artefactDir(argv.BUILD_DIR), opts.shots) : h.artefactDir(argv.BUILD_DIR);
    fs.mkdirSync(shots, {recursive: true});
    for (const f of fs.readdirSync(shots)) if (opts.clean.some((e) => f.endsWith(e))) fs.unlinkSync(path.join(shots, f));
    const env = new Env({citasd: argv.CITASD, smtpSink: argv.SMTP_SINK, siteverifyStub: argv.SITEVERIFY_STUB});
    let browser = null;
    const onSignal = (sig) => {
        console.log(`${opts.name}: stopped by ${sig}`);
        h.killAll();
        process.exit(1);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    try {
        const prep = opts.prepare(env, argv);
        await env.start(prep.env);
        browser = await h.launchChromium();
        await opts.flows({t, env, browser, shots, data: prep.data});
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

// Runs the test and exits with its result.
function main(opts) {
    run(opts).then(
        (rc) => process.exit(rc),
        (e) => {
            console.error(e);
            console.log(`${opts.name}: 0 passed, 1 failed`);
            process.exit(1);
        }
    );
}

module.exports = {main};
