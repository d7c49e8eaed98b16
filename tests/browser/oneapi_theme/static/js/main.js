// Imitates the calls of One API's React console (web/default/src), one step per screen action, against the
// server that serves this file. Each step is listed in #steps with data-ok; the test reads them.
(async () => {
  "use strict";
  document.getElementById("route").textContent = location.pathname;
  if (location.pathname !== "/console-check") return;
  const steps = document.getElementById("steps");
  const record = (name, ok, detail) => {
    const li = document.createElement("li");
    li.dataset.step = name;
    li.dataset.ok = String(Boolean(ok));
    li.textContent = name + ": " + (ok ? "ok" : "FAILED " + detail);
    steps.appendChild(li);
  };
  // axios.create({baseURL: ''}): JSON bodies, cookies of this origin, nothing else
  const api = async (method, url, body) => {
    const init = { method, credentials: "same-origin", headers: {} };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const res = await fetch(url, init);
    let data = null;
    try { data = await res.json(); } catch (_) { data = null; }
    return { status: res.status, data };
  };
  const step = async (name, fn) => {
    try {
      const [ok, detail] = await fn();
      record(name, ok, detail);
    } catch (e) {
      record(name, false, String(e));
    }
  };
  const show = (r) => JSON.stringify(r).slice(0, 300);

  await step("status", async () => {
    const r = await api("GET", "/api/status");
    return [r.data.success && r.data.data.system_name === "One API", show(r)];
  });
  await step("login", async () => {  // LoginForm.js: POST /api/user/login, stores data in localStorage
    const r = await api("POST", "/api/user/login", { username: "root", password: "123456" });
    const user = r.data.data || {};
    const fields = ["id", "username", "password", "display_name", "role", "status", "email", "github_id",
                    "wechat_id", "lark_id", "oidc_id", "verification_code", "access_token", "quota", "used_quota",
                    "request_count", "group", "aff_code", "inviter_id"];
    localStorage.setItem("user", JSON.stringify(user));
    return [r.data.success && user.role === 100 && fields.every((f) => f in user) && user.access_token === "",
            show(r)];
  });
  await step("self", async () => {
    const r = await api("GET", "/api/user/self");
    return [r.data.success && r.data.data.username === "root", show(r)];
  });
  await step("channel models", async () => {  // EditChannel.js: const { data } = res.data; data.map(...)
    const r = await api("GET", "/api/channel/models");
    return [r.status === 200 && r.data.object === "list" && Array.isArray(r.data.data) &&
            r.data.data.some((m) => m.id === "gpt-4o") && !("success" in r.data), show(r).slice(0, 80)];
  });
  let channelId = 0;
  await step("channel add and edit", async () => {
    const add = await api("POST", "/api/channel/", { type: 1, name: "theme", key: "sk-upstream-theme",
                                                      base_url: "", other: "", models: "gpt-4o", group: "default",
                                                      model_mapping: "", groups: ["default"] });
    const list = await api("GET", "/api/channel/?p=0");
    channelId = (list.data.data || []).find((c) => c.name === "theme").id;
    const one = await api("GET", "/api/channel/" + channelId);
    return [add.data.success && one.data.success && one.data.data.key === "", show(one)];
  });
  await step("token order", async () => {  // TokensTable.js: sort by remaining quota
    await api("POST", "/api/token/", { name: "limited", remain_quota: 5000, expired_time: -1,
                                       unlimited_quota: false });
    const r = await api("GET", "/api/token/?p=0&order=remain_quota");
    const rows = r.data.data || [];
    return [r.data.success && rows.length >= 2 && rows[0].unlimited_quota === true, show(r)];
  });
  await step("redemption edit", async () => {  // EditRedemption.js: PUT the loaded row back, renamed
    await api("POST", "/api/redemption/", { name: "promo", quota: 1000, count: 1 });
    const list = await api("GET", "/api/redemption/?p=0");
    const row = list.data.data[0];
    const r = await api("PUT", "/api/redemption/", { ...row, name: "spring promotion for returning users",
                                                     quota: 2000, id: row.id });
    return [r.data.success && r.data.data.name === "spring promotion for returning users", show(r)];
  });
  await step("reset form without e-mail", async () => {  // PasswordResetForm.js
    const r = await api("GET", "/api/reset_password?email=root@example.com&turnstile=");
    return [r.status === 200 && r.data.success === false && r.data.message.length > 0, show(r)];
  });
  await step("bind e-mail without e-mail", async () => {  // PersonalSetting.js
    const r = await api("GET", "/api/verification?email=root@example.com&turnstile=");
    return [r.status === 200 && r.data.success === false && r.data.message.length > 0, show(r)];
  });
  await step("reset confirm", async () => {  // PasswordResetConfirm.js
    const r = await api("POST", "/api/user/reset", { email: "root@example.com", token: "0123456789abcdef" });
    return [r.status === 200 && r.data.success === false && /expired/.test(r.data.message), show(r)];
  });
  await step("options", async () => {  // SystemSetting.js: secrets are absent; saving one still works
    const r = await api("GET", "/api/option/");
    const keys = (r.data.data || []).map((o) => o.key);
    const put = await api("PUT", "/api/option/", { key: "TurnstileSecretKey", value: "new-secret" });
    return [r.data.success && keys.includes("TurnstileSiteKey") && !keys.includes("TurnstileSecretKey") &&
            !keys.includes("SMTPToken") && put.data.success, show(put)];
  });
  await step("access token", async () => {  // PersonalSetting.js: GET /api/user/token
    const r = await api("GET", "/api/user/token");
    return [r.data.success && /^[0-9a-f]{32}$/.test(r.data.data), show(r)];
  });
  await step("logout", async () => {
    const r = await api("GET", "/api/user/logout");
    const after = await api("GET", "/api/user/self");
    return [r.data.success && after.status === 401, show(after)];
  });
  document.body.dataset.done = "true";
})();
