/*
 * A local stand-in for hCaptcha's api.js, served to the browser by the browser tests (citasd is started
 * with web_hcaptcha_script_url pointing here). It mimics the part of hCaptcha's API a page uses:
 *   - every element with class "h-captcha" is rendered on load (unless ?render=explicit): a checkbox
 *     (role="checkbox", focusable, toggled by click, Space or Enter) and a hidden textarea named
 *     "h-captcha-response" (and "g-recaptcha-response", as hCaptcha adds) inside the container;
 *   - ticking it puts a fresh, unique response into the textarea and calls data-callback;
 *   - window.hcaptcha: render, getResponse, getRespKey, reset, execute, remove;
 *   - ?onload=NAME calls window[NAME]() once the API is ready.
 * Responses start with "pass-" (the siteverify stub accepts them) or, when the test server serves this
 * file in its failing mode, with "fail-" (the stub refuses them). The mode is substituted below by the
 * server; the literal default keeps the file usable on its own.
 * Only DOM APIs and element.style are used: no inline <style> or style attributes, no eval, so a strict
 * Content-Security-Policy that allows this script's origin is enough.
 */
(function () {
    'use strict';
    var MODE = '__CITAS_CAPTCHA_MODE__';
    var prefix = MODE === 'fail' ? 'fail-' : 'pass-';
    var widgets = [];
    var counter = 0;

    function scriptParams() {
        var s = document.currentScript;
        var out = {};
        if (!s || !s.src) return out;
        var q = s.src.split('?')[1] || '';
        q.split('&').forEach(function (kv) {
            if (!kv) return;
            var p = kv.split('=');
            out[decodeURIComponent(p[0])] = decodeURIComponent(p[1] || '');
        });
        return out;
    }
    var params = scriptParams();

    function token() {
        var r = '';
        var a = new Uint8Array(12);
        (window.crypto || window.msCrypto).getRandomValues(a);
        for (var i = 0; i < a.length; i++) r += ('0' + a[i].toString(16)).slice(-2);
        counter += 1;
        return prefix + Date.now().toString(36) + '-' + counter + '-' + r;
    }

    function lang(el) {
        var l = (el.getAttribute('data-hl') || document.documentElement.lang || 'es').toLowerCase();
        return l.indexOf('en') === 0 ? 'en' : 'es';
    }

    function callByName(name, arg) {
        if (typeof name === 'function') return name(arg);
        if (name && typeof window[name] === 'function') return window[name](arg);
    }

    function setChecked(w, on) {
        w.box.setAttribute('aria-checked', on ? 'true' : 'false');
        w.mark.textContent = on ? '\u2611' : '\u2610';
        w.response = on ? token() : '';
        w.areas.forEach(function (t) {
            t.value = w.response;
        });
        if (on) callByName(w.opts.callback || w.container.getAttribute('data-callback'), w.response);
    }

    function render(container, opts) {
        if (typeof container === 'string') container = document.getElementById(container);
        if (!container) throw new Error('hcaptcha stand-in: no container');
        if (container.getAttribute('data-standin-id') !== null) return +container.getAttribute('data-standin-id');
        opts = opts || {};
        var id = widgets.length;
        var en = lang(container) === 'en';
        var box = document.createElement('div');
        box.setAttribute('role', 'checkbox');
        box.setAttribute('tabindex', '0');
        box.setAttribute('aria-checked', 'false');
        box.setAttribute('aria-label', en ? 'I am human' : 'Soy humano');
        box.className = 'h-captcha-standin';
        box.style.display = 'inline-flex';
        box.style.alignItems = 'center';
        box.style.gap = '0.5em';
        box.style.padding = '0.6em 0.9em';
        box.style.border = '1px solid #555';
        box.style.borderRadius = '4px';
        box.style.background = '#fafafa';
        box.style.color = '#111';
        box.style.cursor = 'pointer';
        box.style.userSelect = 'none';
        var mark = document.createElement('span');
        mark.setAttribute('aria-hidden', 'true');
        mark.style.fontSize = '1.4em';
        mark.textContent = '\u2610';
        var text = document.createElement('span');
        text.textContent = en ? 'I am human' : 'Soy humano';
        box.appendChild(mark);
        box.appendChild(text);
        var areas = ['h-captcha-response', 'g-recaptcha-response'].map(function (name) {
            var t = document.createElement('textarea');
            t.name = name;
            t.setAttribute('aria-hidden', 'true');
            t.tabIndex = -1;
            t.style.display = 'none';
            return t;
        });
        container.appendChild(box);
        areas.forEach(function (t) {
            container.appendChild(t);
        });
        container.setAttribute('data-standin-id', String(id));
        var w = {container: container, opts: opts, box: box, mark: mark, areas: areas, response: ''};
        widgets.push(w);
        box.addEventListener('click', function () {
            setChecked(w, box.getAttribute('aria-checked') !== 'true');
        });
        box.addEventListener('keydown', function (ev) {
            if (ev.key === ' ' || ev.key === 'Enter' || ev.key === 'Spacebar') {
                ev.preventDefault();
                setChecked(w, box.getAttribute('aria-checked') !== 'true');
            }
        });
        return id;
    }

    function widget(id) {
        return widgets[id === undefined ? 0 : id];
    }

    window.hcaptcha = {
        render: render,
        getResponse: function (id) {
            var w = widget(id);
            return w ? w.response : '';
        },
        getRespKey: function () {
            return '';
        },
        reset: function (id) {
            var w = widget(id);
            if (w) setChecked(w, false);
        },
        execute: function (id) {
            var w = widget(id);
            if (w && !w.response) setChecked(w, true);
            return Promise.resolve({response: w ? w.response : '', key: ''});
        },
        remove: function (id) {
            var w = widget(id);
            if (!w) return;
            w.container.textContent = '';
            w.container.removeAttribute('data-standin-id');
            widgets[id === undefined ? 0 : id] = undefined;
        },
        standin: true,
    };

    function ready() {
        if (params.render !== 'explicit') {
            var els = document.querySelectorAll('.h-captcha');
            for (var i = 0; i < els.length; i++) render(els[i], {});
        }
        if (params.onload) callByName(params.onload);
    }
    if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', ready);
    else ready();
})();
