/* Hark Console - the reply's live preview.  The reply form works without
   this: its Preview button posts the form to /cases/ID/preview, which
   answers the case page with the email the customer would get and keeps
   the text as a draft.  This only does the same as one types: a debounced
   POST of the same form to the same address, and the preview section of
   the page that comes back put in place of this page's.  The answer is the
   console's own page, every text in it escaped by the server; it is parsed
   as an inert document (DOMParser runs no script) and only its preview
   section is taken.  No library, nothing from another site. */
(function () {
  "use strict";
  var box = document.getElementById("message");
  var shown = document.getElementById("preview");
  if (!box || !shown || !box.form || !window.fetch || !window.DOMParser) return;
  var url = box.getAttribute("data-preview");
  var timer = null, last = box.value, busy = false, again = false;

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    last = box.value;
    var body = new URLSearchParams(new FormData(box.form));
    fetch(url, {method: "POST", body: body, credentials: "same-origin",
                headers: {"Content-Type": "application/x-www-form-urlencoded"}})
      .then(function (res) { return res.ok ? res.text() : null; })
      .then(function (html) {
        if (html === null) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        var got = doc.getElementById("preview");
        if (!got) return;
        while (shown.firstChild) shown.removeChild(shown.firstChild);
        Array.prototype.forEach.call(got.childNodes, function (n) {
          shown.appendChild(document.importNode(n, true));
        });
      })
      .catch(function () { /* the button still works */ })
      .then(function () {
        busy = false;
        if (again) { again = false; if (box.value !== last) refresh(); }
      });
  }

  box.addEventListener("input", function () {
    if (timer) clearTimeout(timer);
    timer = setTimeout(function () { if (box.value !== last) refresh(); }, 800);
  });
})();
