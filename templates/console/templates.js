// templates.js - Hark Console's live preview of an email template: as one
// types, the form is posted (do=preview&format=json) at most every 600 ms
// and the answer is written with textContent, never as markup.  The page
// works the same without it (the Preview button).  Served by the console
// itself; the editor page's CSP allows this script and fetches to the
// console only.
(function () {
  "use strict";
  var form = document.getElementById("tpl-form");
  var src = document.getElementById("source");
  if (!form || !src || !window.fetch) return;
  var timer = null, seq = 0;
  function set(id, text) {
    var el = document.getElementById(id);
    if (el) el.textContent = text == null ? "" : text;
  }
  function show(r) {
    var p = r.preview || {};
    set("pv-subject", p.subject);
    set("pv-preheader", p.preheader);
    set("pv-text", p.text);
    set("pv-html", p.html);
    var err = document.getElementById("source-error");
    if (r.error) {
      // the page's own words ("This template cannot be used", "line")
      err.textContent = err.getAttribute("data-cannot") +
        (r.error_line ? " (" + err.getAttribute("data-line") + " " + r.error_line + ")" : "") +
        ": " + r.error;
      src.setAttribute("aria-invalid", "true");
    } else {
      err.textContent = "";
      src.removeAttribute("aria-invalid");
    }
    var list = document.getElementById("variables");
    if (list && r.variables) {
      while (list.firstChild) list.removeChild(list.firstChild);
      r.variables.forEach(function (v) {
        var li = document.createElement("li"), code = document.createElement("code");
        code.textContent = v.name;
        li.appendChild(code);
        if (v.sample != null) li.appendChild(document.createTextNode(": " + v.sample));
        list.appendChild(li);
      });
    }
  }
  function preview() {
    var body = new URLSearchParams(new FormData(form));
    body.set("do", "preview");
    body.set("format", "json");
    var mine = ++seq;
    fetch(form.action, {method: "POST", body: body, credentials: "same-origin"})
      .then(function (res) { return res.ok ? res.json() : null; })
      .then(function (r) { if (r && mine === seq) show(r); })
      .catch(function () {});
  }
  src.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(preview, 600);
  });
})();
