'use strict';
/*
 * One browser test's servers: the SMTP sink and the siteverify stub (loadtest/peers executables, built for
 * tests/browser), the hCaptcha stand-in's static server, and citasd against the run's PostgreSQL and Redis
 * (CITAS_TEST_PG_DSN, CITAS_TEST_REDIS_PORT), with its web pages told to load the stand-in. Also the test's
 * own office, with calendar windows made in SQL before citasd starts (citasd rebuilds Redis from PostgreSQL
 * at start-up).
 */
const fs = require('fs');
const path = require('path');
const h = require('./harness');

const LETTERS = 'ABCDEFGHJKLMNPQRSTUVWXYZ';
function randomTag(n) {
    let s = '';
    for (let i = 0; i < n; i++) s += LETTERS[Math.floor(Math.random() * LETTERS.length)];
    return s;
}

class Env {
    constructor(bins) {
        this.bins = bins; // {citasd, smtpSink, siteverifyStub}
        this.tmp = fs.mkdtempSync(path.join(process.env.CITAS_TEST_TMPDIR || '/tmp', 'browser-'));
        this.mailDir = path.join(this.tmp, 'mail');
        fs.mkdirSync(this.mailDir);
        this.mail = new h.Mailbox(this.mailDir);
        this.tag = randomTag(4);
        this.procs = {};
    }

    async start(extraEnv) {
        this.smtpPort = await h.freePort();
        this.procs.smtp = h.spawn([this.bins.smtpSink, '--port', String(this.smtpPort), '--dir', this.mailDir], {
            log: path.join(this.tmp, 'peers.log'),
        });
        this.svPort = await h.freePort();
        this.procs.sv = h.spawn([this.bins.siteverifyStub, '--port', String(this.svPort)], {
            log: path.join(this.tmp, 'peers.log'),
        });
        const up = await h.waitFor(async () => (await h.portOpen(this.smtpPort)) && (await h.portOpen(this.svPort)));
        if (!up) throw new Error('the SMTP sink or the siteverify stub did not start; see ' + this.tmp + '/peers.log');
        this.standin = await h.startStandinServer();
        this.port = await h.freePort();
        this.url = 'http://127.0.0.1:' + this.port;
        this.log = path.join(this.tmp, 'citasd.log');
        const env = Object.assign({}, process.env, {
            CITAS_LISTEN: '127.0.0.1:' + this.port,
            CITAS_TLS_LISTEN: '',
            CITAS_WORKERS: '2',
            CITAS_REDIS_HOST: '127.0.0.1',
            CITAS_REDIS_PORT: process.env.CITAS_TEST_REDIS_PORT,
            CITAS_PG_DSN: process.env.CITAS_TEST_PG_DSN,
            CITAS_ACCESS_LOG: path.join(this.tmp, 'access.log'),
            CITAS_SHUTDOWN_TIMEOUT_MS: '2000',
            CITAS_HCAPTCHA_SITEVERIFY_URL: `http://127.0.0.1:${this.svPort}/siteverify`,
            CITAS_HCAPTCHA_SECRET: '0x0000000000000000000000000000000000000000',
            CITAS_HCAPTCHA_SITEKEY: '10000000-ffff-ffff-ffff-000000000001',
            CITAS_HCAPTCHA_HOSTNAME: '',
            CITAS_CAPTCHA_ACTIONS: 'register,login,booking',
            CITAS_RATE_LIMITS: '',
            CITAS_WEB_HCAPTCHA_SCRIPT_URL: this.standin.url,
            CITAS_SMTP_URL: 'smtp://127.0.0.1:' + this.smtpPort,
            CITAS_SMTP_STARTTLS: 'none',
            CITAS_MAIL_POLL_MS: '100',
            CITAS_AUTH_HASH_THREADS: '1',
            CITAS_AUTH_PWHASH_OPSLIMIT: '1',
            CITAS_AUTH_PWHASH_MEMLIMIT_KIB: '8192',
            CITAS_BOOKING_REBUILD_ON_START: '1',
        });
        Object.assign(env, extraEnv || {});
        fs.appendFileSync(this.log, `--- browser test: citasd on ${this.url}\n`);
        this.procs.citasd = h.spawn([this.bins.citasd], {env, log: this.log});
        const ok = await h.waitFor(async () => {
            if (this.procs.citasd.exitCode !== null) return 'exited';
            return (await h.portOpen(this.port)) ? 'up' : null;
        }, 60000, 100);
        if (ok !== 'up') throw new Error('citasd did not start (' + ok + '):\n' + this.logTail());
        // worker 0 rebuilds Redis from PostgreSQL at start-up: the windows made before are then bookable
        await h.waitFor(() => fs.readFileSync(this.log, 'utf8').includes('Redis rebuilt from PostgreSQL'), 30000, 100);
    }

    logTail(n = 30) {
        try {
            return fs.readFileSync(this.log, 'utf8').split('\n').slice(-n).join('\n');
        } catch (e) {
            return '(no log)';
        }
    }

    // Stops citasd (SIGTERM; its exit status is returned), the peers and the static server.
    async close() {
        let citasd = null;
        if (this.procs.citasd) citasd = await h.stop(this.procs.citasd, 15000);
        for (const k of ['smtp', 'sv']) if (this.procs[k]) await h.stop(this.procs[k], 5000);
        if (this.standin) await this.standin.close();
        return citasd;
    }

    // ---- data ----
    // An office of this run (code TW + 4 letters) in Los Angeles' zone, offering the given procedures.
    office(procedures) {
        const code = 'TW' + this.tag;
        const city = 'Villaprueba ' + this.tag;
        h.psql(
            "INSERT INTO offices (code, kind, name_es, name_en, city, country, country_name_es, country_name_en, " +
                "time_zone, address) VALUES (:'p1', 'consulate', :'p2', :'p3', :'p4', 'US', 'Estados Unidos', " +
                "'United States', 'America/Los_Angeles', 'Calle de las Pruebas 123, ' || :'p4')",
            code, 'Consulado de pruebas ' + this.tag, 'Test consulate ' + this.tag, city);
        for (const p of procedures) {
            h.psql("INSERT INTO office_procedures (office_code, procedure_code) VALUES (:'p1', :'p2') ON CONFLICT DO NOTHING",
                code, p);
        }
        return {code, city, nameEs: 'Consulado de pruebas ' + this.tag, nameEn: 'Test consulate ' + this.tag};
    }

    // A released window with slots at the given office-local wall times ('2030-03-10 09:00'); slot ids.
    window(office, procedure, localStarts, capacity) {
        const rows = h.psql(
            "WITH w AS (INSERT INTO calendar_windows (office_code, procedure_code, first_day, last_day, " +
                "slot_minutes, seats_per_slot, release_at, state) " +
                "SELECT :'p1', :'p2', min(t::date), max(t::date), 30, :'p4'::int, now() - interval '1 minute', 'open' " +
                "FROM unnest(string_to_array(:'p3', ',')::timestamp[]) t RETURNING id) " +
                "INSERT INTO slots (window_id, office_code, procedure_code, starts_at, local_start, capacity) " +
                "SELECT w.id, :'p1', :'p2', t AT TIME ZONE o.time_zone, t, :'p4'::int FROM w, offices o, " +
                "unnest(string_to_array(:'p3', ',')::timestamp[]) t WHERE o.code = :'p1' ORDER BY t RETURNING id",
            office, procedure, localStarts.join(','), capacity);
        return rows.map((r) => Number(r[0]));
    }
}

// Office-local dates from N days after today in Los Angeles, as 'YYYY-MM-DD'.
function laDay(n) {
    return h.psql("SELECT to_char((now() AT TIME ZONE 'America/Los_Angeles')::date + :'p1'::int, 'YYYY-MM-DD')", n)[0][0];
}

module.exports = {Env, laDay, randomTag};
