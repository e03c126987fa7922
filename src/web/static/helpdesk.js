/* citas: the staff pages' script (help desk, audit log). No inline code: wired from classes and data- attributes.
 *  - form.hd-api: sent as JSON to data-api with data-method and the CSRF token; on success the browser goes to
 *    data-next ({name} from the answer); API errors are shown translated in the form's role="alert" element.
 *    Empty fields are left out; a field with data-json="number" is sent as a number, or null when empty.
 *  - form.hd-lookup: the read-only appointment look-up, shown in #lookup-result.
 *  - #audit: the audit log page's records, read from data-api; "older" links to data-page&before=<next_before>. */
(function () {
  "use strict";
  var api = window.citasApi, EN = api.EN, t = api.t;

  var TITLES = {
    "Illegal transition": ["Ese cambio de estado no está permitido para la incidencia en su estado actual " +
      "(quizá alguien la cambió mientras tanto). Recargue la página para ver su estado.",
      "That state change is not allowed for the ticket in its current state (someone may have changed it " +
      "meanwhile). Reload the page to see its state."],
    "Not found": ["No se encontró lo que buscaba.", "Not found."],
    "Forbidden": ["Su cuenta no puede hacer esta acción.", "Your account cannot do this."],
    "CSRF token mismatch": ["La página caducó. Recárguela e intente de nuevo.", "The page has expired. Reload it and try again."],
    "CSRF token missing": ["La página caducó. Recárguela e intente de nuevo.", "The page has expired. Reload it and try again."],
    "Too many requests": ["Demasiados intentos. Espere {s} segundos e intente de nuevo.", "Too many attempts. Wait {s} seconds and try again."],
    "Service unavailable": ["El servicio no está disponible en este momento. Intente de nuevo en {s} segundos.",
      "The service is unavailable right now. Try again in {s} seconds."]
  };
  var DETAILS = [
    [/^The office or account named does not exist/, ["La oficina indicada no existe.", "The office given does not exist."]],
    [/^Nothing to change/, ["No hay nada que cambiar.", "There is nothing to change."]],
    [/^assignee is not an active/, ["Esa cuenta no puede recibir incidencias (no es de la mesa de ayuda o está desactivada).",
      "That account cannot take tickets (not help desk, or disabled)."]]
  ];
  var BY_STATUS = {
    400: ["Revise los datos.", "Please check the data."],
    401: ["Su sesión expiró. Entre de nuevo.", "Your session expired. Please log in again."],
    403: TITLES.Forbidden,
    404: TITLES["Not found"],
    409: ["No se pudo completar: la situación cambió. Recargue la página.", "This could not be completed: things changed. Reload the page."],
    413: ["Los datos son demasiado grandes.", "The data is too large."],
    422: ["Revise los datos.", "Please check the data."],
    429: TITLES["Too many requests"],
    503: TITLES["Service unavailable"]
  };

  function labelOf(form, field) {
    var el = form.querySelector('[name="' + field.replace(/[^a-z_]/g, "") + '"]');
    if (!el || !el.id) return null;
    var l = form.querySelector('label[for="' + el.id + '"]');
    return l ? l.textContent : null;
  }

  function message(form, res, body) {
    var wait = api.retryAfter(res);
    var title = body && body.title, detail = body && typeof body.detail === "string" ? body.detail : "";
    var pair = title && TITLES[title];
    if (res.status === 503) pair = TITLES["Service unavailable"];
    if (!pair && detail) {
      DETAILS.forEach(function (d) { if (!pair && d[0].test(detail)) pair = d[1]; });
      var m = !pair && /^([a-z_]+) /.exec(detail), f = m && labelOf(form, m[1]);
      if (f) return t("Revise el campo «" + f + "».", "Please check the field “" + f + "”.");
    }
    if (!pair) pair = BY_STATUS[res.status] || ["Algo salió mal. Intente de nuevo.", "Something went wrong. Try again."];
    return pair[EN ? 1 : 0].replace("{s}", String(wait));
  }

  function bodyOf(form) {
    var out = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.disabled || el.name === "csrf" || el.tagName === "BUTTON") return;
      var v = el.value;
      if (el.type === "email" || el.name === "appointment_code") v = v.trim();
      if (el.getAttribute("data-json") === "number") {
        out[el.name] = v === "" ? null : Number(v);
        return;
      }
      if (v === "") return;
      out[el.name] = el.name === "appointment_code" ? v.toUpperCase() : v;
    });
    return out;
  }

  function nextUrl(template, answer) {
    var url = template.replace(/\{([a-z_]+)\}/g, function (_, k) {
      return encodeURIComponent(String(answer && answer[k] != null ? answer[k] : ""));
    });
    return api.localUrl(url, "/helpdesk");
  }

  function offline(form) {
    api.busy(form, false);
    api.offline(form);
  }

  function onApiForm(form) {
    if (form.getAttribute("aria-busy") === "true") return;
    var method = form.getAttribute("data-method") || "POST";
    var body = bodyOf(form); /* an object, even empty: always sent */
    api.busy(form, true);
    api.hideAlert(form);
    api.send(form.getAttribute("data-api"), method, body).then(function (r) {
      if (r.res.ok) {
        window.location.assign(nextUrl(form.getAttribute("data-next") || "/helpdesk", r.json));
        return;
      }
      api.busy(form, false);
      if (r.res.status === 401) {
        api.toLogin();
        return;
      }
      api.showAlert(form, message(form, r.res, r.json));
    }).catch(function () { offline(form); });
  }

  /* ---- values shown in tables ---- */
  var APPT_STATES = {
    active: ["Confirmada", "Confirmed"], cancelled: ["Cancelada", "Cancelled"],
    checked_in: ["Atendida", "Attended"], no_show: ["No se presentó", "Missed"]
  };
  function apptState(s) { var p = APPT_STATES[s]; return p ? p[EN ? 1 : 0] : s; }

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text != null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function table(caption, heads, rows, cls) {
    var tb = el("table", null, cls), cap = el("caption", caption), thead = el("thead"), tr = el("tr");
    tb.appendChild(cap);
    heads.forEach(function (h) { var th = el("th", h); th.scope = "col"; tr.appendChild(th); });
    thead.appendChild(tr);
    tb.appendChild(thead);
    var tbody = el("tbody");
    rows.forEach(function (cells) {
      var r = el("tr");
      cells.forEach(function (c, i) {
        var cell = el(i === 0 ? "th" : "td");
        if (i === 0) cell.scope = "row";
        if (c instanceof Node) cell.appendChild(c); else cell.textContent = c == null ? "" : String(c);
        r.appendChild(cell);
      });
      tbody.appendChild(r);
    });
    tb.appendChild(tbody);
    var wrap = el("div", null, "scroll");
    wrap.appendChild(tb);
    return wrap;
  }

  function when(iso) {
    if (!iso) return "";
    return String(iso).replace("T", " ").replace(/:\d\d(\.\d+)?Z$/, " UTC").replace(/Z$/, " UTC");
  }

  /* ---- the appointment look-up ---- */
  function onLookup(form) {
    if (form.getAttribute("aria-busy") === "true") return;
    var input = form.querySelector('input[name="email"]'), email = input.value.trim();
    var out = document.getElementById("lookup-result");
    api.hideAlert(form);
    api.busy(form, true);
    api.get(form.getAttribute("data-api") + "?email=" + encodeURIComponent(email)).then(function (r) {
      var res = r.res, json = r.json;
      api.busy(form, false);
      if (!res.ok || !json) {
        if (res.status === 400) {
          api.showAlert(form, t("Escriba un correo electrónico válido.", "Please enter a valid email address."));
          return;
        }
        api.showAlert(form, message(form, res, json));
        return;
      }
      out.textContent = "";
      var list = json.appointments || [];
      out.appendChild(el("h2", t("Citas de ", "Appointments of ") + json.email));
      if (!list.length) {
        out.appendChild(el("p", t("Este correo no tiene citas.", "This email has no appointments.")));
      } else {
        out.appendChild(table(t("Citas (solo lectura)", "Appointments (read-only)"),
          [t("Código", "Code"), t("Estado", "State"), t("Oficina", "Office"), t("Trámite", "Procedure"),
            t("Fecha y hora (oficina)", "Date and time (office)"), t("Reservada (UTC)", "Booked (UTC)")],
          list.map(function (a) {
            return [a.code, apptState(a.state), a.office, a.procedure, String(a.local || "").replace("T", " "),
              when(a.booked_at)];
          }), "lookup"));
      }
      out.appendChild(el("p", t("Esta consulta quedó registrada.", "This look-up was recorded."), "muted"));
      out.hidden = false;
      if (window.history && window.history.replaceState)
        window.history.replaceState(null, "", "/helpdesk/lookup?email=" + encodeURIComponent(email));
    }).catch(function () { offline(form); });
  }

  /* ---- the audit log ---- */
  function auditLoad(box) {
    api.get(box.getAttribute("data-api")).then(function (r) {
      var res = r.res, json = r.json;
      box.removeAttribute("aria-busy");
      box.textContent = "";
      if (!res.ok || !json) {
        var p = el("p", null, "notice");
        p.setAttribute("role", "alert");
        p.textContent = res.status === 400 ?
          t("El registro no acepta estos filtros: " , "The log does not accept these filters: ") +
            ((json && json.detail) || "") :
          message(box, res, json);
        box.appendChild(p);
        return;
      }
      auditRender(box, json);
    }).catch(function () {
      box.removeAttribute("aria-busy");
      box.textContent = t("No hay conexión con el servidor.", "The server cannot be reached.");
    });
  }

  function auditRender(box, json) {
    var head = json.head || {};
    var signed = head.signed_upto != null;
    var hp = el("p", null, "audit-head" + (signed ? "" : " unsigned"));
    hp.id = "audit-head";
    hp.textContent = signed ?
      t("Cadena encadenada hasta el registro " + head.chained_upto + "; firmada hasta el registro " +
        head.signed_upto + (head.signed_at ? " (" + when(head.signed_at) + ")" : "") + ".",
        "Chain linked up to record " + head.chained_upto + "; signed up to record " + head.signed_upto +
        (head.signed_at ? " (" + when(head.signed_at) + ")" : "") + ".") :
      t("Cadena encadenada hasta el registro " + (head.chained_upto != null ? head.chained_upto : "—") +
        "; todavía sin firma.", "Chain linked up to record " + (head.chained_upto != null ? head.chained_upto : "—") +
        "; not signed yet.");
    box.appendChild(hp);
    var recs = json.records || [];
    if (!recs.length) {
      box.appendChild(el("p", t("Ningún registro coincide con los filtros.", "No record matches the filters.")));
    } else {
      box.appendChild(table(t("Registros, los más recientes primero", "Records, newest first"),
        ["#", t("Fecha (UTC)", "Time (UTC)"), t("Autor", "Actor"), t("Rol", "Role"), t("Acción", "Action"),
          t("Sujeto", "Subject"), t("Detalle", "Detail"), "IP"],
        recs.map(function (r) {
          var d = el("code", r.detail && Object.keys(r.detail).length ? JSON.stringify(r.detail) : "");
          return [r.id, when(r.at), r.actor_email || (r.actor_account != null ? "#" + r.actor_account : ""),
            r.actor_role || "", r.action, r.subject || "", d, r.client_ip || ""];
        }), "audit"));
    }
    if (json.next_before != null) {
      var nav = el("p"), a = el("a", t("Registros más antiguos", "Older records"));
      a.href = box.getAttribute("data-page") + "&before=" + encodeURIComponent(json.next_before);
      a.rel = "next";
      nav.appendChild(a);
      box.appendChild(nav);
    }
  }

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form.classList) return;
    if (form.classList.contains("hd-api")) {
      ev.preventDefault();
      onApiForm(form);
    } else if (form.classList.contains("hd-lookup")) {
      ev.preventDefault();
      onLookup(form);
    }
  });
  var audit = document.getElementById("audit");
  if (audit) auditLoad(audit);
  var lookup = document.querySelector("form.hd-lookup");
  if (lookup && lookup.querySelector('input[name="email"]').value) lookup.querySelector('input[name="email"]').focus();
})();
