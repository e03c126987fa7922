/* citas: the pages' script. Forms call the JSON API; the calendar polls availability. No inline code:
 * everything is wired from data- attributes. */
(function () {
  "use strict";
  var api = window.citasApi, EN = api.EN, t = api.t, retryAfter = api.retryAfter;

  /* API problems by title: [Spanish, English]; {s} is the wait in seconds. */
  var TITLES = {
    "Login failed": ["El correo o la contraseña no son correctos.", "The email address or the password is wrong."],
    "Code rejected": ["El código no es correcto, venció o ya se usó. Pida uno nuevo.",
      "The code is wrong, has expired or was already used. Ask for a new one."],
    "Account exists": ["Ya existe una cuenta con este correo o este documento. Entre con ella.",
      "An account with this email address or document already exists. Log in with it."],
    "Captcha required": ["Complete la verificación contra robots (captcha).", "Please complete the captcha verification."],
    "Captcha rejected": ["La verificación contra robots (captcha) falló. Inténtelo de nuevo.",
      "The captcha verification failed. Please try again."],
    "Captcha already used": ["La verificación contra robots (captcha) ya se usó. Complétela de nuevo.",
      "This captcha verification was already used. Please complete it again."],
    "Too many requests": ["Demasiados intentos. Espere {s} segundos e intente de nuevo.",
      "Too many attempts. Wait {s} seconds and try again."],
    "Service unavailable": ["El servicio no está disponible en este momento. Intente de nuevo en {s} segundos.",
      "The service is unavailable right now. Try again in {s} seconds."],
    "Sold out": ["Agotado: ya no quedan lugares en este horario.", "Sold out: there are no seats left at this time."],
    "Closed": ["Este calendario ya no acepta citas.", "This calendar no longer takes bookings."],
    "Not open yet": ["Las citas para este horario aún no se abren.", "Booking for this time has not opened yet."],
    "Slot has started": ["Este horario ya pasó; elija uno posterior.", "This time has passed; choose a later one."],
    "Already booked": ["Ya tiene una cita para este trámite. Puede cambiarla de fecha en «Mis citas».",
      "You already have an appointment for this procedure. You can reschedule it in “My appointments”."],
    "No such slot": ["Este horario no existe.", "This time does not exist."],
    "Wrong procedure": ["Este horario es de otro trámite.", "This time is for another procedure."],
    "Other office": ["Solo puede cambiar la fecha dentro de la misma oficina.",
      "You can only reschedule within the same office."],
    "Same slot": ["Su cita ya está en este horario.", "Your appointment is already at this time."],
    "Not found": ["No se encontró lo que buscaba.", "Not found."],
    "Forbidden": ["No puede hacer esta acción con su cuenta.", "Your account cannot do this."],
    "CSRF token mismatch": ["La página caducó. Recárguela e intente de nuevo.",
      "The page has expired. Reload it and try again."],
    "CSRF token missing": ["La página caducó. Recárguela e intente de nuevo.",
      "The page has expired. Reload it and try again."],
    "Not confirmed": ["No pudimos confirmar su cita. Revise «Mis citas» en un momento.",
      "We could not confirm your appointment. Check “My appointments” in a moment."]
  };
  var BY_STATUS = {
    400: ["Revise los datos del formulario.", "Please check the form."],
    401: ["Su sesión expiró. Entre de nuevo.", "Your session expired. Please log in again."],
    403: ["No puede hacer esta acción.", "You cannot do this."],
    404: ["No se encontró lo que buscaba.", "Not found."],
    409: ["No se pudo completar: la situación cambió. Recargue la página.",
      "This could not be completed: things changed. Reload the page."],
    413: ["Los datos son demasiado grandes.", "The data is too large."],
    429: TITLES["Too many requests"],
    503: TITLES["Service unavailable"]
  };

  function labelOf(form, field) {
    var el = form.querySelector('[name="' + field.replace(/"/g, "") + '"]');
    if (!el || !el.id) return field;
    var l = form.querySelector('label[for="' + el.id + '"]');
    return l ? l.textContent : field;
  }

  function message(form, res, body) {
    var title = body && body.title, pair = title && TITLES[title];
    var wait = retryAfter(res);
    if (res.status === 503 && title === "Not confirmed") pair = TITLES["Not confirmed"];
    else if (res.status === 503) pair = TITLES["Service unavailable"];
    else if (res.status === 429) pair = TITLES["Too many requests"];
    if (!pair && res.status === 400 && body && typeof body.detail === "string") {
      var m = /^([a-z_.]+):/.exec(body.detail);
      if (m) {
        var f = m[1] === "captcha" ? null : labelOf(form, m[1]);
        if (f) return t("Revise el campo «" + f + "».", "Please check the field “" + f + "”.");
        return TITLES["Captcha required"][EN ? 1 : 0];
      }
    }
    if (!pair) pair = BY_STATUS[res.status] || ["Algo salió mal. Intente de nuevo.", "Something went wrong. Try again."];
    return pair[EN ? 1 : 0].replace("{s}", String(wait));
  }

  function formatDay(date) {
    try {
      return new Intl.DateTimeFormat(EN ? "en" : "es", { dateStyle: "full", timeZone: "UTC" })
        .format(new Date(date + "T12:00:00Z"));
    } catch (e) { return date; }
  }

  /* The sold-out answer's next dates, as links back to /book. */
  function showNext(form, next) {
    var box = form.querySelector(".next-dates");
    if (!box) return;
    box.textContent = "";
    var h = document.createElement("p");
    if (!next || !next.length) {
      h.textContent = t("No hay otras fechas con lugares por ahora.", "There are no other dates with places for now.");
      box.appendChild(h);
    } else {
      h.textContent = t("Fechas con lugares:", "Dates with places:");
      box.appendChild(h);
      var ul = document.createElement("ul");
      next.forEach(function (n) {
        var li = document.createElement("li"), a = document.createElement("a");
        a.href = box.getAttribute("data-book") + "&slot=" + encodeURIComponent(n.slot);
        a.textContent = formatDay(n.date) + ", " + String(n.local || "").slice(11, 16);
        li.appendChild(a);
        ul.appendChild(li);
      });
      box.appendChild(ul);
    }
    box.hidden = false;
  }

  function bodyOf(form) {
    var out = {}, any = false;
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.disabled || el.name === "csrf" || el.hasAttribute("data-skip")) return;
      if ((el.type === "checkbox" || el.type === "radio") && !el.checked) return;
      if (el.tagName === "BUTTON") return;
      var name = el.name, value = el.value;
      if (name === "h-captcha-response" || name === "g-recaptcha-response") {
        if (name === "g-recaptcha-response" || !value) return;
        name = "captcha";
      }
      if (name === "email") value = value.trim();
      var parts = name.split("."), o = out;
      for (var i = 0; i < parts.length - 1; i++) o = o[parts[i]] = o[parts[i]] || {};
      o[parts[parts.length - 1]] = value;
      any = true;
    });
    return any ? out : null;
  }

  function nextUrl(form, template, answer, sent) {
    var url = template.replace(/\{([a-z_]+)\}/g, function (_, k) {
      var v = answer && answer[k] != null ? answer[k] : sent && sent[k] != null ? sent[k] : "";
      return encodeURIComponent(String(v));
    });
    return api.localUrl(url, "/");
  }

  /* A booking form's captcha is checked as soon as it is solved (hCaptcha's data-callback): POST
     /api/v1/captcha leaves a pass that the booking then uses, so that at a release the booking does not
     wait for hCaptcha. The booking waits for that check if it is still out (else the response would look
     used). Other forms' widgets call this too: without a booking form it does nothing. */
  var precheck = null;
  window.citasCaptchaSolved = function (response) {
    var form = document.querySelector('form.api.book[data-api="/api/v1/appointments"]');
    var office = form && form.querySelector('input[name="office"]');
    if (!office || !response) return;
    precheck = api.send("/api/v1/captcha", "POST", { office: office.value, captcha: response })
      .catch(function () { return null; });
  };

  function onSubmit(ev) {
    var form = ev.target;
    if (!form.classList || !form.classList.contains("api")) return;
    ev.preventDefault();
    if (form.getAttribute("aria-busy") === "true") return;
    var ask = form.querySelector('input[name="confirm"][type="hidden"]');
    if (ask && !window.confirm(ask.value)) return;
    var method = form.getAttribute("data-method") || "POST";
    var body = method === "DELETE" ? null : bodyOf(form);
    var token = api.csrfToken();
    api.busy(form, true);
    api.hideAlert(form);
    var before = form.querySelector(".h-captcha") && precheck ? precheck : Promise.resolve(null);
    precheck = null;
    before.then(function () {
      return api.send(form.getAttribute("data-api"), method, body);
    }).then(function (r) {
      var res = r.res, json = r.json;
      if (res.ok) {
        window.location.assign(nextUrl(form, form.getAttribute("data-next") || "/", json, body));
        return;
      }
      api.busy(form, false);
      if (window.hcaptcha && form.querySelector(".h-captcha")) {
        try { window.hcaptcha.reset(); } catch (e) { /* no widget yet */ }
      }
      if (res.status === 401 && token) {
        api.toLogin();
        return;
      }
      if (res.status === 403 && json && json.title === "Email not verified") {
        window.location.assign("/verify?email=" + encodeURIComponent((body && body.email) || ""));
        return;
      }
      api.showAlert(form, message(form, res, json));
      if (res.status === 409 && json && json.title === "Sold out") showNext(form, json.next);
    }).catch(function () {
      api.busy(form, false);
      api.offline(form);
    });
  }

  /* ---- the availability calendar ---- */
  function Calendar(root) {
    this.root = root;
    this.office = root.getAttribute("data-office");
    this.proc = root.getAttribute("data-procedure");
    this.tz = root.getAttribute("data-tz") || "UTC";
    this.resched = root.getAttribute("data-reschedule");
    this.status = root.querySelector("#avail-status");
    this.days = root.querySelector("#avail-days");
    this.countdown = document.createElement("p");
    this.countdown.className = "countdown";
    root.insertBefore(this.countdown, this.days);
    this.last = null;
    this.opens = null;
    this.timer = null;
    this.tick = null;
    this.fetch();
    var self = this;
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden && !self.timer) self.schedule(200 + Math.random() * 800);
    });
  }
  Calendar.prototype.schedule = function (ms) {
    var self = this;
    clearTimeout(this.timer);
    this.timer = setTimeout(function () {
      self.timer = null;
      if (document.hidden) return; /* resumes on visibilitychange */
      self.fetch();
    }, ms);
  };
  Calendar.prototype.jitter = function () { return 5000 + Math.random() * 5000; };
  Calendar.prototype.say = function (text) {
    if (this.status.textContent !== text) this.status.textContent = text;
  };
  Calendar.prototype.fetch = function () {
    var self = this;
    var url = "/api/v1/offices/" + encodeURIComponent(this.office) + "/availability?procedure=" +
      encodeURIComponent(this.proc);
    fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" }).then(function (res) {
      if (res.status === 429 || res.status === 503) {
        var wait = retryAfter(res);
        self.say(t("Mucha gente está consultando. Actualizaremos en " + wait + " segundos.",
          "Many people are checking. We will refresh in " + wait + " seconds."));
        self.schedule(wait * 1000 + Math.random() * 3000);
        return null;
      }
      if (!res.ok) {
        self.say(t("No pudimos leer la disponibilidad. Reintentaremos en unos segundos.",
          "We could not read the availability. We will retry in a few seconds."));
        self.schedule(self.jitter());
        return null;
      }
      return res.json();
    }).then(function (data) {
      if (data) self.render(data);
    }).catch(function () {
      self.say(t("Sin conexión. Reintentaremos en unos segundos.", "No connection. We will retry in a few seconds."));
      self.schedule(self.jitter());
    });
  };
  Calendar.prototype.link = function (slot) {
    var href = "/book?slot=" + encodeURIComponent(slot.id) + "&procedure=" + encodeURIComponent(this.proc) +
      "&office=" + encodeURIComponent(this.office);
    if (this.resched) href += "&reschedule=" + encodeURIComponent(this.resched);
    return href;
  };
  Calendar.prototype.render = function (data) {
    var days = (data.days || []).map(function (d) {
      return { date: d.date, slots: (d.slots || []).filter(function (s) { return s.free > 0; }) };
    }).filter(function (d) { return d.slots.length > 0; });
    var key = JSON.stringify(days);
    var free = days.reduce(function (n, d) { return n + d.slots.length; }, 0);
    this.opens = !free && data.opens_at ? new Date(data.opens_at) : null;
    if (free) {
      this.say(t("Elija un día y una hora. Hay " + free + " horarios con lugares.",
        "Choose a day and a time. " + free + " times have places."));
    } else if (this.opens) {
      var when;
      try {
        when = new Intl.DateTimeFormat(EN ? "en" : "es", { dateStyle: "full", timeStyle: "short", timeZone: this.tz })
          .format(this.opens);
      } catch (e) { when = data.opens_at; }
      this.say(t("Las citas se abren el " + when + " (hora de la oficina).",
        "Booking opens on " + when + " (office time)."));
    } else {
      this.say(t("No hay citas disponibles por ahora. Esta página se actualiza sola.",
        "No appointments are available for now. This page refreshes by itself."));
    }
    this.runCountdown();
    if (key !== this.last) {
      this.last = key;
      var focused = document.activeElement && this.days.contains(document.activeElement) ?
        document.activeElement.getAttribute("data-slot") : null;
      this.days.textContent = "";
      var self = this;
      days.forEach(function (d) {
        var sec = document.createElement("section"), h = document.createElement("h3"), ul = document.createElement("ul");
        sec.className = "day";
        h.textContent = formatDay(d.date);
        ul.className = "times";
        d.slots.forEach(function (s) {
          var li = document.createElement("li"), a = document.createElement("a");
          a.href = self.link(s);
          a.className = "slot";
          a.setAttribute("data-slot", String(s.id));
          a.textContent = s.time + " ";
          var n = document.createElement("span");
          n.className = "free";
          n.textContent = t("(" + s.free + (s.free === 1 ? " lugar)" : " lugares)"),
            "(" + s.free + (s.free === 1 ? " place)" : " places)"));
          a.appendChild(n);
          li.appendChild(a);
          ul.appendChild(li);
        });
        sec.appendChild(h);
        sec.appendChild(ul);
        self.days.appendChild(sec);
      });
      if (focused) {
        var again = this.days.querySelector('[data-slot="' + focused + '"]');
        if (again) again.focus();
      }
    }
    var wait = this.jitter();
    if (this.opens) {
      var left = this.opens.getTime() - Date.now();
      /* the moment it opens, everyone would ask at once: spread the first look over 0-3 s */
      if (left > 0 && left < wait) wait = left + Math.random() * 3000;
    }
    this.schedule(wait);
  };
  Calendar.prototype.runCountdown = function () {
    var self = this;
    clearInterval(this.tick);
    function show() {
      if (!self.opens) { self.countdown.textContent = ""; return; }
      var s = Math.max(0, Math.round((self.opens.getTime() - Date.now()) / 1000));
      var h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60), sec = s % 60;
      var pad = function (n) { return (n < 10 ? "0" : "") + n; };
      self.countdown.textContent = s > 0 ? t("Faltan ", "Opens in ") + (h > 0 ? h + ":" : "") + pad(m) + ":" + pad(sec)
        : t("Abriendo…", "Opening…");
    }
    show();
    if (this.opens) this.tick = setInterval(show, 1000);
  };

  document.addEventListener("submit", onSubmit);
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest && ev.target.closest("[data-print]");
    if (b) window.print();
  });
  var cal = document.getElementById("availability");
  if (cal) new Calendar(cal);
})();
