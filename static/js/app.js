// PNS Admin: small progressive enhancements. Every page works without this file.
(function () {
  "use strict";

  // Words in the page's language, from data-text-* attributes on <body> (base.html).
  function text(key, fallback) {
    return (document.body && document.body.dataset["text" + key.charAt(0).toUpperCase() + key.slice(1)]) || fallback;
  }

  // Copy buttons: <button data-copy-target="ID"> copies the text of element ID.
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain-HTTP deployments: the older way still works there.
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "absolute";
    area.style.left = "-9999px";
    document.body.appendChild(area);
    area.select();
    var ok = document.execCommand("copy");
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy-target"));
    if (!source) return;
    var label = button.textContent;
    copyText(source.value !== undefined ? source.value : source.textContent).then(
      function () { button.textContent = text("copied", "Copied"); },
      function () { button.textContent = text("copyFailed", "Copy failed: select and copy by hand"); }
    );
    setTimeout(function () { button.textContent = label; }, 2000);
  });

  // "/" focuses the header's number search, unless the user is typing somewhere.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    if (target.closest("input, textarea, select, [contenteditable]")) return;
    var box = document.getElementById("site-search");
    if (!box) return;
    event.preventDefault();
    box.focus();
    box.select();
  });

  // A pasted list can be longer than a URL may be: send it as a POST instead.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute("data-long-query-post")) return;
    var query = form.querySelector("[name=q]");
    if (!query || query.value.length <= 2000) return;
    var token = document.querySelector('meta[name="csrf-token"]');
    if (!token) return;
    var field = document.createElement("input");
    field.type = "hidden";
    field.name = "csrfmiddlewaretoken";
    field.value = token.getAttribute("content");
    form.appendChild(field);
    form.method = "post";
  });

  // Show buttons next to masked numbers: reveal the number in place (the server audits it).
  // Without this script the same form opens a page with the number.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute("data-reveal-form") || !event.submitter) return;
    event.preventDefault();
    var button = event.submitter;
    var slot = button.parentNode.querySelector(".masked");
    var data = new FormData(form);
    data.append(button.name, button.value);
    button.disabled = true;
    fetch(form.action, {
      method: "POST",
      body: data,
      headers: { Accept: "application/json" },
      credentials: "same-origin"
    })
      .then(function (response) {
        return response.json().then(function (data) {
          if (!response.ok) throw new Error(data.error || text("revealFailed", "The number could not be shown."));
          return data;
        }, function () { throw new Error(text("revealFailed", "The number could not be shown.") + " (" + response.status + ")"); });
      })
      .then(function (data) {
        slot.textContent = data.number;
        slot.classList.remove("masked");
        slot.setAttribute("title", data.digits);
        button.remove();
      })
      .catch(function (error) {
        var note = document.createElement("span");
        note.className = "reveal-error";
        note.setAttribute("role", "alert");
        note.textContent = error.message;
        button.replaceWith(note);
      });
  });

  // Copy buttons are useless without this script: show them only now.
  document.querySelectorAll("[data-copy-target][hidden]").forEach(function (button) {
    button.hidden = false;
  });
})();
