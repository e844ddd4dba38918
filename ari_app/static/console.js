"use strict";
// The supervisor's console: queues, waiting callers and agents, pushed by server-sent
// events; actions by role (pause or log out an agent, move a waiting caller, listen,
// whisper or barge from the supervisor's own phone).
(() => {
  const params = new URLSearchParams(location.search);
  const key = "switchboard-console-token";
  const token = params.get("token") || sessionStorage.getItem(key) || "";
  if (params.has("token")) {
    sessionStorage.setItem(key, token);
    params.delete("token");
    history.replaceState(null, "", location.pathname + (params.toString() ? "?" + params : ""));
  }
  const $ = (id) => document.getElementById(id);
  const say = (text) => { $("message").textContent = text || ""; };
  if (!token) {
    $("login-form").hidden = false;
    $("login-form").addEventListener("submit", (e) => {
      e.preventDefault();
      sessionStorage.setItem(key, $("login-token").value.trim());
      location.replace(location.pathname);
    });
    window.desk = null;
    return;
  }
  const headers = {"Content-Type": "application/json", "Authorization": "Bearer " + token};

  async function call(method, path, body) {
    say("");
    const response = await fetch(path, {method, headers, body: body ? JSON.stringify(body) : undefined});
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) say(answer.error || ("HTTP " + response.status));
    return {ok: response.ok, answer};
  }

  let me = null;
  const chosen = new Map();  // waiting call: the queue picked to move it to (kept on redraws)
  let view = {queues: [], agents: []};

  function ago(iso) {
    if (!iso) return "";
    const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    const m = Math.floor(seconds / 60), s = seconds % 60;
    return m ? m + ":" + String(s).padStart(2, "0") : s + " s";
  }

  function td(row, text, cls) {
    const cell = document.createElement("td");
    cell.textContent = text ?? "";
    if (cls) cell.className = cls;
    row.appendChild(cell);
    return cell;
  }

  function button(cell, label, onclick, enabled) {
    const b = document.createElement("button");
    b.textContent = label;
    b.disabled = !enabled;
    b.onclick = onclick;
    cell.appendChild(b);
    return b;
  }

  function percent(value) { return value === null || value === undefined ? "—" : Math.round(value * 100) + "%"; }

  function drawQueues() {
    const body = $("queues").tBodies[0];
    body.replaceChildren();
    for (const q of view.queues) {
      const row = document.createElement("tr");
      const callers = q.waiting.filter((w) => !w.callback);
      const oldest = callers.reduce((a, w) => (!a || w.arrived < a ? w.arrived : a), null);
      const today = q.today || {}, agents = q.agents || {};
      td(row, q.name);
      td(row, String(callers.length));
      td(row, oldest ? ago(oldest) : "—").dataset.since = oldest || "";
      td(row, percent(today.service_level) + (today.service_level_seconds ? " in " + today.service_level_seconds + " s" : ""));
      td(row, (today.answered ?? 0) + " / " + (today.abandoned ?? 0));
      td(row, (agents.available ?? 0) + " / " + (agents.on_call ?? 0) + " / " + (agents.logged_in ?? 0));
      body.appendChild(row);
    }
  }

  function drawWaiting() {
    const body = $("waiting").tBodies[0];
    body.replaceChildren();
    const names = view.queues.map((q) => q.name);
    for (const q of view.queues) {
      for (const w of q.waiting.filter((w) => !w.callback)) {
        const row = document.createElement("tr");
        row.dataset.call = w.call_id;
        td(row, q.name);
        td(row, String(w.position));
        td(row, w.caller || "unknown");
        td(row, ago(w.arrived)).dataset.since = w.arrived;
        td(row, String(w.priority));
        const cell = td(row, "", "move");
        const select = document.createElement("select");
        select.setAttribute("aria-label", "move to queue");
        for (const name of names.filter((n) => n !== q.name)) {
          const option = document.createElement("option");
          option.value = option.textContent = name;
          select.appendChild(option);
        }
        if (chosen.has(w.call_id)) select.value = chosen.get(w.call_id);
        select.onchange = () => chosen.set(w.call_id, select.value);
        cell.appendChild(select);
        button(cell, "Move", async () => {
          await call("POST", "/api/queues/" + encodeURIComponent(q.name) + "/calls/" + encodeURIComponent(w.call_id) + "/move", {to: select.value});
        }, select.length > 0);
        body.appendChild(row);
      }
    }
  }

  function drawAgents() {
    const body = $("agents").tBodies[0];
    body.replaceChildren();
    for (const a of view.agents) {
      const row = document.createElement("tr");
      row.dataset.agent = a.name;
      td(row, a.name);
      const state = td(row, a.state.replace("_", " ") + (a.pause_reason ? " (" + a.pause_reason + ")" : ""), "state");
      state.dataset.state = a.state;
      td(row, ago(a.since)).dataset.since = a.since || "";
      td(row, a.phone + (a.registered ? "" : " · not registered"));
      td(row, a.caller ? a.caller + (a.queue ? " · " + a.queue : "") : "");
      td(row, a.supervisor ? a.supervision + " by " + a.supervisor : "", a.supervisor ? "listening" : "");
      const cell = td(row, "", "actions");
      const onCall = a.state === "on_call" || a.state === "on_hold";
      const mine = me && me.agent;
      for (const mode of ["listen", "whisper", "barge"]) {
        button(cell, mode[0].toUpperCase() + mode.slice(1), async () => {
          await call("POST", "/api/supervisors/" + encodeURIComponent(me.agent) + "/join", {agent: a.name, mode});
        }, onCall && mine && a.name !== me.agent);
      }
      const agentPath = "/api/agents/" + encodeURIComponent(a.name);
      button(cell, "Pause", () => call("POST", agentPath + "/pause", {reason: "supervisor"}),
             a.state !== "logged_out" && a.state !== "paused");
      button(cell, "Log out", () => call("POST", agentPath + "/logout"),
             a.state !== "logged_out" && !onCall && a.state !== "ringing");
      body.appendChild(row);
    }
  }

  function draw() { drawQueues(); drawWaiting(); drawAgents(); }

  // The times count up between pushes without asking the server.
  setInterval(() => {
    for (const cell of document.querySelectorAll("td[data-since]")) {
      if (cell.dataset.since) cell.textContent = ago(cell.dataset.since);
    }
  }, 1000);

  async function start() {
    const {ok, answer} = await call("GET", "/api/me").catch(() => ({ok: false, answer: {}}));
    if (!ok) return;
    me = answer;
    $("who").textContent = me.name + " (" + me.role + ")" + (me.agent ? " · phone " + me.agent : "");
    if (me.agent) {
      $("phone").hidden = false;
      const base = "/api/agents/" + encodeURIComponent(me.agent);
      const request = async (path, options) => {
        const response = await fetch(base + path, Object.assign({headers}, options || {}));
        const got = await response.json().catch(() => ({}));
        if (!response.ok) say(got.error || ("HTTP " + response.status));
        return {ok: response.ok, answer: got};
      };
      const post = async (path, body) => (await request(path, {method: "POST", body: JSON.stringify(body || {})})).answer;
      window.desk = {agent: me.agent, token, headers, base, request, post, say};
      document.dispatchEvent(new CustomEvent("desk-ready", {detail: window.desk}));
    }
    const events = new EventSource("/api/console/events?token=" + encodeURIComponent(token));
    events.onmessage = (e) => { view = JSON.parse(e.data); $("live").textContent = "live"; draw(); };
    events.onerror = () => { $("live").textContent = "connection lost: retrying…"; };
  }
  start();
})();
