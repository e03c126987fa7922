/* citas: what the pages' scripts share to call the JSON API (window.citasApi): the page's language, the
 * session's CSRF token (the <meta> tag), sending JSON and reading the answer, the form's role="alert"
 * element, a form's busy state, local URLs to go on to and the way back to /login when the session expired.
 * Loaded by every page before citas.js and the staff pages' staff.js or helpdesk.js (all defer, so they run
 * in document order). No inline code. */
(function () {
  "use strict";
  var EN = document.documentElement.lang === "en";
  function t(es, en) { return EN ? en : es; }

  function csrfToken() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.getAttribute("content") : null;
  }

  /* Retry-After in seconds (5 when missing or unreadable). */
  function retryAfter(res) {
    var n = parseInt(res.headers.get("Retry-After") || "", 10);
    return isNaN(n) || n < 1 ? 5 : n;
  }

  function readJson(res) {
    return res.text().then(function (text) {
      try { return text ? JSON.parse(text) : null; } catch (e) { return null; }
    });
  }

  /* Sends body (an object, or null for none) as JSON with the CSRF token; resolves to {res, json}. */
  function send(url, method, body) {
    var headers = { "Accept": "application/json" };
    var token = csrfToken();
    if (token) headers["X-CSRF-Token"] = token;
    if (body) headers["Content-Type"] = "application/json";
    return fetch(url, {
      method: method, headers: headers, credentials: "same-origin",
      body: body ? JSON.stringify(body) : undefined
    }).then(function (res) {
      return readJson(res).then(function (json) { return { res: res, json: json }; });
    });
  }

  /* A GET of JSON (no token needed); resolves to {res, json}. */
  function get(url) {
    return fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (res) {
        return readJson(res).then(function (json) { return { res: res, json: json }; });
      });
  }

  function showAlert(form, text) {
    var a = form.querySelector(".alert");
    a.textContent = text;
    a.hidden = false;
    a.focus();
    return a;
  }

  function hideAlert(form) {
    var a = form.querySelector(".alert");
    if (a) a.hidden = true;
  }

  function offline(form) {
    showAlert(form, t("No hay conexión con el servidor. Revise su conexión e intente de nuevo.",
      "The server cannot be reached. Check your connection and try again."));
  }

  /* aria-busy on the form, its submit button (all: every button) disabled. */
  function busy(form, on, all) {
    var buttons = all ? form.querySelectorAll("button") : [form.querySelector('button[type="submit"]')];
    Array.prototype.forEach.call(buttons, function (b) { if (b) b.disabled = on; });
    if (on) form.setAttribute("aria-busy", "true"); else form.removeAttribute("aria-busy");
  }

  /* url when it is a local path ("/..." but not "//..."), else fallback. */
  function localUrl(url, fallback) {
    return url.charAt(0) === "/" && url.charAt(1) !== "/" ? url : fallback;
  }

  /* The session expired: to /login, coming back here afterwards. */
  function toLogin() {
    window.location.assign("/login?expired=1&next=" +
      encodeURIComponent(window.location.pathname + window.location.search));
  }

  window.citasApi = {
    EN: EN, t: t, csrfToken: csrfToken, retryAfter: retryAfter, readJson: readJson, send: send, get: get,
    showAlert: showAlert, hideAlert: hideAlert, offline: offline, busy: busy, localUrl: localUrl,
    toLogin: toLogin
  };
})();
