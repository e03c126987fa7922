#!/usr/bin/env node
'use strict';
/*
 * Installs tests/browser/node_modules from package-lock.json (`npm ci`) when it is missing or does not
 * match the lock; does nothing otherwise. Run by ops/lib/deps.sh and, as a fallback, by run.js.
 * playwright-core brings no browser: the tests use Debian's /usr/bin/chromium.
 */
const childProcess = require('child_process');
const fs = require('fs');
const path = require('path');

const DIR = __dirname;

function upToDate() {
    try {
        const lock = JSON.parse(fs.readFileSync(path.join(DIR, 'package-lock.json'), 'utf8'));
        for (const [p, meta] of Object.entries(lock.packages || {})) {
            if (!p) continue;
            const pkg = JSON.parse(fs.readFileSync(path.join(DIR, p, 'package.json'), 'utf8'));
            if (pkg.version !== meta.version) return false;
        }
        return true;
    } catch (e) {
        return false;
    }
}

function ensure() {
    if (upToDate()) return;
    const r = childProcess.spawnSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], {
        cwd: DIR,
        stdio: ['ignore', 'inherit', 'inherit'],
        timeout: 300000,
    });
    if (r.status !== 0 || !upToDate()) throw new Error('npm ci in ' + DIR + ' failed (' + (r.error || 'exit ' + r.status) + ')');
}

module.exports = {ensure};

if (require.main === module) {
    try {
        ensure();
    } catch (e) {
        console.error(e.message);
        process.exit(1);
    }
}
