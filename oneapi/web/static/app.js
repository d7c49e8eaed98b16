// oneapi web console: progressive enhancement only. Every page works without this file.
(() => {
  "use strict";
  document.documentElement.classList.add("js");

  // The browser's time zone, so the server shows times (and reads form times) in it from the next page on.
  try {
    const tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (tz && /^[A-Za-z0-9_+\-/]{1,64}$/.test(tz) && !document.cookie.split("; ").includes("tz=" + tz)) {
      const secure = location.protocol === "https:" ? "; secure" : "";
      document.cookie = "tz=" + tz + "; path=/; max-age=31536000; samesite=lax" + secure;
    }
  } catch (_) { /* no Intl: times stay in UTC, as the pages say */ }

  // Copy buttons: data-copy holds the text; data-copied / data-copy-failed the (translated) feedback.
  const fallbackCopy = (text) => {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "sr-only";
    document.body.appendChild(area);
    area.select();
    let ok = false;
    try { ok = document.execCommand("copy"); } catch (_) { ok = false; }
    area.remove();
    return ok;
  };
  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const text = button.getAttribute("data-copy");
    let ok = false;
    try {
      await navigator.clipboard.writeText(text);
      ok = true;
    } catch (_) {
      ok = fallbackCopy(text);
    }
    const label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    button.textContent = ok ? button.dataset.copied : button.dataset.copyFailed;
    setTimeout(() => { button.textContent = label; }, 1600);
  });

  // Checkboxes that switch a field off ("Unlimited quota" disables the amount, "Never expires" the date).
  for (const box of document.querySelectorAll("input[data-disables]")) {
    const target = document.getElementById(box.dataset.disables);
    if (!target) continue;
    const sync = () => { target.disabled = box.checked; };
    box.addEventListener("change", sync);
    sync();
  }

  // Closing the notice without leaving the page: the same form, posted in the background.
  for (const form of document.querySelectorAll("form[data-dismiss-notice]")) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      fetch(form.action, { method: "POST", body: new URLSearchParams(new FormData(form)),
                           credentials: "same-origin", redirect: "manual" }).catch(() => {});
      const notice = form.closest(".notice");
      if (notice) notice.remove();
    });
  }
})();
