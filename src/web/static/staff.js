/* citas: the staff console's script. Forms of class "staff-api" call the admin JSON API with the session's
 * CSRF token (the <meta> tag) and go on to data-next, or show the API's problem in the form's role="alert".
 * data-api and data-next are templates: {name} is replaced by that field of the form (data-api) or of the
 * answer, then of the form (data-next; "window.id" reads a member of a member). Fields by data-type: int,
 * list (dates split on commas and spaces), checks (the ticked checkboxes of that name, as a list), bool
 * (a checkbox as true/false), json (the value parsed), nullable ("" is null), optional ("" is left out),
 * code (trimmed, upper case), local-datetime (office-local time, given the form's data-tz, as ISO 8601 with
 * its offset). Cells with data-hours-row give "hours": [{weekday, opens, closes}]. No inline code. */
(function () {
  "use strict";
  var api = window.citasApi, EN = api.EN, t = api.t;
  function pad(n) { return (n < 10 ? "0" : "") + n; }

  var BY_STATUS = {
    400: ["Revise los datos del formulario.", "Please check the form."],
    401: ["Su sesión expiró. Entre de nuevo.", "Your session expired. Please log in again."],
    403: ["Su cuenta no puede hacer esta acción.", "Your account cannot do this."],
    404: ["No se encontró.", "Not found."],
    409: ["No se pudo: el estado cambió o hay un conflicto.", "This could not be done: the state changed or conflicts."],
    413: ["Los datos son demasiado grandes.", "The data is too large."],
    422: ["Los datos no son aceptables.", "The data is not acceptable."],
    429: ["Demasiados intentos. Espere un momento.", "Too many attempts. Wait a moment."],
    503: ["El servicio no está disponible. Intente de nuevo en unos segundos.",
      "The service is unavailable. Try again in a few seconds."]
  };

  function message(res, body) {
    var pair = BY_STATUS[res.status] || ["Algo salió mal. Intente de nuevo.", "Something went wrong. Try again."];
    var text = pair[EN ? 1 : 0];
    if (body && typeof body.detail === "string" && body.detail) text += " (" + body.detail + ")";
    return text;
  }

  /* The UTC offset in minutes of zone tz at instant ms. */
  function offsetAt(tz, ms) {
    var parts = new Intl.DateTimeFormat("en-US", {
      timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit"
    }).formatToParts(new Date(ms));
    var m = {};
    parts.forEach(function (p) { m[p.type] = p.value; });
    var asUtc = Date.UTC(+m.year, +m.month - 1, +m.day, +m.hour % 24, +m.minute, +m.second);
    return Math.round((asUtc - ms) / 60000);
  }

  /* "2027-03-01T09:00" in zone tz -> "2027-03-01T09:00:00-06:00" */
  function localToIso(value, tz) {
    var mm = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(value);
    if (!mm || !tz) return value;
    var wall = Date.UTC(+mm[1], +mm[2] - 1, +mm[3], +mm[4], +mm[5]);
    var off = offsetAt(tz, wall);
    off = offsetAt(tz, wall - off * 60000);
    var a = Math.abs(off);
    return value.slice(0, 16) + ":00" + (off < 0 ? "-" : "+") + pad(Math.floor(a / 60)) + ":" + pad(a % 60);
  }

  function valueOf(form, el) {
    var type = el.getAttribute("data-type") || "", v = el.value;
    switch (type) {
    case "int": return v === "" ? null : Number(v);
    case "list": return v.split(/[\s,;]+/).filter(function (x) { return x !== ""; });
    case "bool": return el.checked;
    case "json": return JSON.parse(v);
    case "nullable": return v.trim() === "" ? null : v.trim();
    case "code": return v.replace(/\s+/g, "").toUpperCase();
    case "local-datetime": return localToIso(v, form.getAttribute("data-tz"));
    default: return el.type === "email" ? v.trim() : v;
    }
  }

  /* The fields named in the API template go into the URL, not the body. */
  function usedNames(template) {
    var out = {};
    template.replace(/\{([a-z_.]+)\}/g, function (_, k) { out[k] = true; return ""; });
    return out;
  }

  function bodyOf(form, skip) {
    var out = {}, any = false;
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.disabled || el.tagName === "BUTTON" || el.tagName === "FIELDSET") return;
      if (el.hasAttribute("data-skip") || skip[el.name]) return;
      var type = el.getAttribute("data-type") || "";
      if (type === "checks") {
        if (!out[el.name]) out[el.name] = [];
        if (el.checked) out[el.name].push(el.value);
        any = true;
        return;
      }
      if ((el.type === "checkbox" || el.type === "radio") && type !== "bool" && !el.checked) return;
      if (type === "optional" && el.value.trim() === "") return;
      out[el.name] = valueOf(form, el);
      any = true;
    });
    var rows = form.querySelectorAll("[data-hours-row]");
    if (rows.length) {
      out.hours = [];
      any = true;
      Array.prototype.forEach.call(rows, function (row) {
        var o = row.querySelector('[data-part="opens"]').value, c = row.querySelector('[data-part="closes"]').value;
        if (o === "" && c === "") return;
        out.hours.push({ weekday: Number(row.getAttribute("data-weekday")), opens: o, closes: c });
      });
    }
    return any ? out : null;
  }

  function lookup(obj, path) {
    var v = obj;
    path.split(".").forEach(function (k) { v = v != null ? v[k] : undefined; });
    return v;
  }

  function fill(template, answer, sent) {
    return template.replace(/\{([a-z_.]+)\}/g, function (_, k) {
      var v = answer != null ? lookup(answer, k) : undefined;
      if (v == null && sent) v = lookup(sent, k);
      return encodeURIComponent(v == null ? "" : String(v));
    });
  }

  function fieldValues(form) {
    var out = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (el.name) out[el.name] = valueOf(form, el);
    });
    return out;
  }

  /* every button of the form (the preview's too) */
  function busy(form, on) { api.busy(form, on, true); }

  function failed(form, r) {
    if (r.res.status === 401) {
      api.toLogin();
      return;
    }
    api.showAlert(form, message(r.res, r.json));
  }

  function onSubmit(ev) {
    var form = ev.target;
    if (!form.classList || !form.classList.contains("staff-api")) return;
    ev.preventDefault();
    if (form.getAttribute("aria-busy") === "true") return;
    var ask = form.getAttribute("data-confirm");
    if (ask && !window.confirm(ask)) return;
    var template = form.getAttribute("data-api");
    var values = fieldValues(form);
    var url = fill(template, values, null);
    if (/\/\//.test(url.replace(/^https?:\/\//, ""))) { /* an empty {field} */
      api.showAlert(form, BY_STATUS[400][EN ? 1 : 0]);
      return;
    }
    var method = form.getAttribute("data-method") || "POST";
    var body = bodyOf(form, usedNames(template));
    api.hideAlert(form);
    busy(form, true);
    api.send(url, method, body).then(function (r) {
      if (r.res.ok) {
        var next = fill(form.getAttribute("data-next") || "/staff", r.json, Object.assign({}, values, body || {}));
        window.location.assign(api.localUrl(next, "/staff"));
        return;
      }
      busy(form, false);
      failed(form, r);
    }).catch(function () {
      busy(form, false);
      api.offline(form);
    });
  }

  /* ---- a window's preview: the slots it would create ---- */
  function showPreview(form, data) {
    var box = document.getElementById("preview");
    box.textContent = "";
    var h = document.createElement("h2");
    h.textContent = t("Vista previa", "Preview");
    box.appendChild(h);
    var p = document.createElement("p");
    p.className = "preview-total";
    p.textContent = t(data.slots + " horarios y " + data.seats + " lugares en " + (data.days || []).length + " días.",
      data.slots + " times and " + data.seats + " seats over " + (data.days || []).length + " days.");
    box.appendChild(p);
    var dl = document.createElement("dl");
    dl.className = "preview-days";
    (data.days || []).forEach(function (d) {
      var dt = document.createElement("dt"), dd = document.createElement("dd");
      dt.textContent = d.date;
      dd.textContent = (d.slots || []).map(function (s) { return String(s.local || "").slice(11, 16); }).join(", ");
      dl.appendChild(dt);
      dl.appendChild(dd);
    });
    box.appendChild(dl);
    box.hidden = false;
  }

  function onPreview(button) {
    var form = button.form;
    if (!form.reportValidity()) return;
    var body = bodyOf(form, {});
    api.hideAlert(form);
    busy(form, true);
    api.send(form.getAttribute("data-preview"), "POST", body).then(function (r) {
      busy(form, false);
      if (r.res.ok && r.json) showPreview(form, r.json);
      else failed(form, r);
    }).catch(function () {
      busy(form, false);
      api.offline(form);
    });
  }

  document.addEventListener("submit", onSubmit);
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest && ev.target.closest("[data-preview-button]");
    if (b) onPreview(b);
  });
})();
