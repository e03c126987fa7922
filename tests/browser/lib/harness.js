'use strict';
/*
 * The browser tests' harness: checks and the closing "browser: N passed, N failed" line, the processes a
 * test starts (stopped by pid on every exit path), free ports, psql, the SMTP sink's store, the static
 * server of the hCaptcha stand-in, and Chromium through playwright-core (Debian's /usr/bin/chromium).
 */
const childProcess = require('child_process');
const fs = require('fs');
const http = require('http');
const net = require('net');
const path = require('path');

const HERE = path.resolve(__dirname, '..');

// ---- checks ---------------------------------------------------------------------------------------------
class Checks {
    constructor(name) {
        this.name = name;
        this.passed = 0;
        this.failed = 0;
    }
    check(cond, what) {
        if (cond) {
            this.passed++;
        } else {
            this.failed++;
            console.log('FAIL: ' + what);
        }
        return !!cond;
    }
    eq(got, want, what) {
        return this.check(got === want, `${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
    }
    match(got, re, what) {
        return this.check(typeof got === 'string' && re.test(got), `${what}: ${JSON.stringify(got)} !~ ${re}`);
    }
    finish() {
        console.log(`${this.name}: ${this.passed} passed, ${this.failed} failed`);
        return this.failed === 0 && this.passed > 0 ? 0 : 1;
    }
}

// ---- processes ------------------------------------------------------------------------------------------
const procs = new Set();

function spawn(argv, opts) {
    const log = opts && opts.log ? fs.openSync(opts.log, 'a') : 'ignore';
    const p = childProcess.spawn(argv[0], argv.slice(1), {
        env: (opts && opts.env) || process.env,
        stdio: ['ignore', log, log],
    });
    if (typeof log === 'number') fs.closeSync(log);
    p.exited = new Promise((resolve) => p.on('exit', (code, sig) => resolve({code, sig})));
    p.on('error', () => {});
    procs.add(p);
    p.exited.then(() => procs.delete(p));
    return p;
}

// SIGTERM, then SIGKILL after graceMs; resolves with the exit {code, sig}.
async function stop(p, graceMs = 10000) {
    if (p.exitCode !== null || p.signalCode !== null) return {code: p.exitCode, sig: p.signalCode};
    p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), graceMs);
    const r = await p.exited;
    clearTimeout(t);
    return r;
}

// Last resort on any exit (normal, exception, signal from meson's timeout): kill what is still running.
function killAll() {
    for (const p of procs) {
        try {
            p.kill('SIGKILL');
        } catch (e) {
            /* already gone */
        }
    }
}
process.on('exit', killAll);

// ---- network --------------------------------------------------------------------------------------------
function freePort() {
    return new Promise((resolve, reject) => {
        const s = net.createServer();
        s.on('error', reject);
        s.listen(0, '127.0.0.1', () => {
            const port = s.address().port;
            s.close(() => resolve(port));
        });
    });
}

function portOpen(port) {
    return new Promise((resolve) => {
        const c = net.connect({port, host: '127.0.0.1'});
        c.on('connect', () => {
            c.destroy();
            resolve(true);
        });
        c.on('error', () => resolve(false));
    });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(fn, timeoutMs = 15000, stepMs = 50) {
    const end = Date.now() + timeoutMs;
    for (;;) {
        const v = await fn();
        if (v) return v;
        if (Date.now() > end) return v;
        await sleep(stepMs);
    }
}

// ---- PostgreSQL (psql, parameters as psql variables :'p1'...) -------------------------------------------
function psql(sql, ...params) {
    const args = [process.env.CITAS_TEST_PG_DSN, '-X', '-q', '-At', '-F', '\t', '-v', 'ON_ERROR_STOP=1'];
    params.forEach((p, i) => args.push('-v', `p${i + 1}=${p}`));
    const r = childProcess.spawnSync('psql', args, {input: sql, encoding: 'utf8', timeout: 60000});
    if (r.status !== 0) throw new Error('psql: ' + (r.stderr || r.error || '').toString().trim());
    return r.stdout
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => l.split('\t'));
}

// ---- the SMTP sink's store (DIR/NNNNNN.eml) -------------------------------------------------------------
function unfoldHeaders(head) {
    const out = {};
    head.replace(/\r?\n[ \t]+/g, ' ')
        .split(/\r?\n/)
        .forEach((line) => {
            const i = line.indexOf(':');
            if (i > 0) out[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
        });
    return out;
}

function decodeBody(body, cte) {
    cte = (cte || '').toLowerCase();
    if (cte === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
    if (cte === 'quoted-printable') {
        const bytes = Buffer.from(body.replace(/=\r?\n/g, ''), 'latin1');
        const out = [];
        for (let i = 0; i < bytes.length; i++) {
            if (bytes[i] === 0x3d && i + 2 < bytes.length) {
                const h = bytes.slice(i + 1, i + 3).toString('latin1');
                if (/^[0-9A-Fa-f]{2}$/.test(h)) {
                    out.push(parseInt(h, 16));
                    i += 2;
                    continue;
                }
            }
            out.push(bytes[i]);
        }
        return Buffer.from(out).toString('utf8');
    }
    return body;
}

// Parses a MIME message into {headers, parts: [{type, text}]} (leaf parts, decoded).
function parseMime(raw) {
    const sep = raw.search(/\r?\n\r?\n/);
    const head = sep < 0 ? raw : raw.slice(0, sep);
    const body = sep < 0 ? '' : raw.slice(sep).replace(/^\r?\n\r?\n/, '');
    const headers = unfoldHeaders(head);
    const ctype = headers['content-type'] || 'text/plain';
    const m = /boundary="?([^";]+)"?/i.exec(ctype);
    if (/^multipart\//i.test(ctype) && m) {
        const parts = [];
        const chunks = body.split('--' + m[1]);
        for (let i = 1; i < chunks.length; i++) {
            if (chunks[i].startsWith('--')) break;
            parts.push(...parseMime(chunks[i].replace(/^\r?\n/, '')).parts);
        }
        return {headers, parts};
    }
    return {headers, parts: [{type: ctype.split(';')[0].trim().toLowerCase(), text: decodeBody(body, headers['content-transfer-encoding'])}]};
}

class Mailbox {
    constructor(dir) {
        this.dir = dir;
    }
    messages(to, kind) {
        let names = [];
        try {
            names = fs.readdirSync(this.dir).filter((n) => n.endsWith('.eml')).sort();
        } catch (e) {
            return [];
        }
        const out = [];
        for (const n of names) {
            const msg = parseMime(fs.readFileSync(path.join(this.dir, n), 'latin1'));
            const toHdr = (msg.headers.to || '').toLowerCase();
            if (toHdr.includes(to.toLowerCase()) && (!kind || msg.headers['x-citas-kind'] === kind)) out.push(msg);
        }
        return out;
    }
    // The six-digit code of the count-th message of that kind to that address; waits for it.
    async code(to, kind, count = 1, timeoutMs = 20000) {
        const msg = await waitFor(() => this.messages(to, kind)[count - 1], timeoutMs, 100);
        if (!msg) return null;
        const plain = msg.parts.find((p) => p.type === 'text/plain');
        const m = plain && /^\s+(\d{6})\s*$/m.exec(plain.text);
        return m ? m[1] : null;
    }
}

// ---- the hCaptcha stand-in's static server ----------------------------------------------------------------
// Serves /hcaptcha.js (the stand-in, in mode "pass" or "fail") with no caching, so a test flips the mode
// between page loads; counts the requests.
async function startStandinServer() {
    const src = fs.readFileSync(path.join(HERE, 'hcaptcha-standin.js'), 'utf8');
    const state = {mode: 'pass', hits: 0};
    const server = http.createServer((req, res) => {
        if (req.method === 'GET' && req.url.split('?')[0] === '/1/api.js') {
            state.hits++;
            const body = src.replace('__CITAS_CAPTCHA_MODE__', state.mode);
            res.writeHead(200, {
                'Content-Type': 'application/javascript; charset=utf-8',
                'Cache-Control': 'no-store',
                'Content-Length': Buffer.byteLength(body),
            });
            res.end(body);
            return;
        }
        res.writeHead(404, {'Content-Type': 'text/plain'});
        res.end('not found\n');
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    state.origin = 'http://127.0.0.1:' + server.address().port;
    state.url = state.origin + '/1/api.js';
    state.close = () => new Promise((resolve) => server.close(resolve));
    server.on('connection', (sock) => sock.unref());
    return state;
}

// ---- Chromium -------------------------------------------------------------------------------------------
const CHROMIUM = process.env.CITAS_TEST_CHROMIUM || '/usr/bin/chromium';
// Debian's Chromium, as root (CI): no sandbox; nothing that reaches out of this machine (the network is closed).
const CHROMIUM_ARGS = [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-dev-shm-usage',
];

function loadPlaywright() {
    try {
        return require(path.join(HERE, 'node_modules', 'playwright-core'));
    } catch (e) {
        throw new Error('playwright-core is not installed in tests/browser: run tests/browser/npm-install.sh (' + e.message + ')');
    }
}

// A headless Chromium with a fresh profile (playwright's launch() makes a new --user-data-dir and removes it).
async function launchChromium() {
    const {chromium} = loadPlaywright();
    if (!fs.existsSync(CHROMIUM)) throw new Error(CHROMIUM + ' not found: install Debian\'s chromium package');
    return chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: CHROMIUM_ARGS,
        timeout: 60000,
    });
}

// Where screenshots go: $CITAS_TEST_ARTEFACTS, else BUILD_DIR/meson-logs/screenshots.
function artefactDir(buildDir) {
    const d = process.env.CITAS_TEST_ARTEFACTS || path.join(buildDir || process.cwd(), 'meson-logs', 'screenshots');
    fs.mkdirSync(d, {recursive: true});
    return d;
}

module.exports = {
    Checks,
    spawn,
    stop,
    killAll,
    freePort,
    portOpen,
    sleep,
    waitFor,
    psql,
    parseMime,
    Mailbox,
    startStandinServer,
    launchChromium,
    artefactDir,
    CHROMIUM,
    CHROMIUM_ARGS,
    HERE,
};
