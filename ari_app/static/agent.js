"use strict";
// The agent desk: state, the call (screen pop), hold and transfers, codes, preview leads.
// The browser phone lives in phone.js and uses window.desk from here.
(() => {
  const params = new URLSearchParams(location.search);
  const stored = (key) => sessionStorage.getItem("switchboard-agent-" + key) || "";
  // The API token comes in the address once (or from the form); it is kept for this tab
  // only and taken out of the address bar (and so out of the history and of bookmarks).
  const agent = params.get("agent") || stored("name");
  const token = params.get("token") || stored("token");
  if (agent) sessionStorage.setItem("switchboard-agent-name", agent);
  if (params.has("token")) {
    sessionStorage.setItem("switchboard-agent-token", token);
    params.delete("token");
    history.replaceState(null, "", location.pathname + (params.toString() ? "?" + params : ""));
  }
  const $ = (id) => document.getElementById(id);
  const headers = {"Content-Type": "application/json"};
  if (token) headers["Authorization"] = "Bearer " + token;
  const base = "/api/agents/" + encodeURIComponent(agent);

  if (!agent || !token) {
    $("login-form").hidden = false;
    $("phone").hidden = true;
    $("message").textContent = "Sign in with your agent name and API token.";
    $("login-form").addEventListener("submit", (e) => {
      e.preventDefault();
      sessionStorage.setItem("switchboard-agent-name", $("login-agent").value.trim());
      sessionStorage.setItem("switchboard-agent-token", $("login-token").value.trim());
      location.replace(location.pathname);
    });
    window.desk = null;
    return;
  }
  $("agent").textContent = agent;

  function say(text) { $("message").textContent = text || ""; }

  async function request(path, options) {
    const response = await fetch(base + path, Object.assign({headers}, options || {}));
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) say(answer.error || ("HTTP " + response.status));
    return {ok: response.ok, answer};
  }

  async function post(path, body) {
    say("");
    const {answer} = await request(path, {method: "POST", body: JSON.stringify(body || {})});
    return answer;
  }

  let current = "";
  function show(state, reason) {
    current = state;
    $("state").textContent = state.replace("_", " ");
    $("state").dataset.state = state;
    $("reason").textContent = reason ? "(" + reason + ")" : "";
    const inCall = state === "on_call" || state === "on_hold";
    $("hold").disabled = state !== "on_call";
    $("unhold").disabled = state !== "on_hold";
    $("rec-pause").disabled = !inCall;
    $("rec-resume").disabled = !inCall;
    if (!inCall) $("rec-state").textContent = "";
    $("login").disabled = state !== "logged_out";
    $("logout").disabled = state === "logged_out" || inCall || state === "ringing";
    $("pause").disabled = state === "logged_out" || state === "paused";
    $("resume").disabled = state !== "paused";
    if (!inCall && state !== "ringing") $("call").hidden = true;
    document.dispatchEvent(new CustomEvent("desk-state", {detail: state}));
  }

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text;
    row.appendChild(td);
  }

  function showCall(call) {
    if (!call) { $("call").hidden = true; return; }
    $("caller").textContent = call.caller_number || "unknown number";
    $("caller-name").textContent = call.caller_name || "";
    $("queue").textContent = call.queue || "";
    $("waited").textContent = call.waited_seconds ?? "";
    $("repeat").hidden = !call.repeat_caller;
    const collected = Object.entries(call.collected || {});
    $("collected").replaceChildren();
    for (const [key, value] of collected) {
      const row = document.createElement("tr");
      cell(row, key);
      cell(row, value);
      $("collected").appendChild(row);
    }
    $("collected-table").hidden = collected.length === 0;
    $("script").textContent = call.script || "";
    $("script-box").hidden = !call.script;
    const body = $("history");
    body.replaceChildren();
    for (const c of call.recent_calls || []) {
      const row = document.createElement("tr");
      cell(row, new Date(c.arrived_at).toLocaleString());
      cell(row, c.queue || "");
      cell(row, c.agent || "");
      cell(row, c.queue_exit || c.outcome || "");
      body.appendChild(row);
    }
    $("call").hidden = false;
  }

  function clock(seconds) {
    const s = Math.round(seconds);
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  async function loadToday() {
    const response = await fetch(base + "/today", {headers}).catch(() => null);
    if (!response || !response.ok) return;  // no figures for now: the desk works without them
    const t = await response.json();
    $("today").textContent = "Today: " + t.calls + (t.calls === 1 ? " call" : " calls") +
      (t.aht_seconds !== null ? " · AHT " + clock(t.aht_seconds) : "") +
      (t.occupancy !== null ? " · occupancy " + Math.round(t.occupancy * 100) + "%" : "");
  }

  async function loadCodes() {
    const {answer} = await request("/codes");
    const select = $("code");
    select.replaceChildren();
    for (const c of answer.codes || []) {
      const option = document.createElement("option");
      option.value = c.code;
      option.textContent = (c.digits ? c.digits + " · " : "") + c.label + (c.final ? "" : " (not final)");
      select.appendChild(option);
    }
    $("dispose").disabled = !answer.call || !(answer.codes || []).length;
  }

  function showLead(answer) {
    const lead = answer && answer.lead;
    $("lead-number").textContent = lead ? lead.number : (answer && answer.why) || "";
    $("lead-name").textContent = lead && lead.name ? lead.name : "";
    $("lead-campaign").textContent = answer && answer.campaign ? "· " + answer.campaign : "";
    const body = $("lead-data");
    body.replaceChildren();
    for (const [key, value] of Object.entries((lead && lead.data) || {})) {
      const row = document.createElement("tr");
      cell(row, key);
      cell(row, value);
      body.appendChild(row);
    }
    $("dial-lead").disabled = !lead || answer.dialing;
    $("skip-lead").disabled = !lead || answer.dialing;
  }

  $("next-lead").onclick = async () => {
    say("");
    const {ok, answer} = await request("/preview");
    showLead(ok ? answer : null);
  };
  $("dial-lead").onclick = async () => { const answer = await post("/preview/dial"); if (answer.lead) showLead(answer); };
  $("skip-lead").onclick = async () => { await post("/preview/skip"); showLead(null); };
  // A local date and time from the picker, as an instant with this browser's offset.
  function withOffset(local) {
    if (!local) return null;
    const when = new Date(local);
    const minutes = -when.getTimezoneOffset();
    const sign = minutes >= 0 ? "+" : "-";
    const hh = String(Math.floor(Math.abs(minutes) / 60)).padStart(2, "0");
    const mm = String(Math.abs(minutes) % 60).padStart(2, "0");
    return local + (local.length === 16 ? ":00" : "") + sign + hh + ":" + mm;
  }

  $("dispose").onclick = async () => {
    const answer = await post("/disposition", {
      code: $("code").value,
      note: $("note").value || null,
      callback_at: withOffset($("callback-at").value),
      callback_mine: $("callback-mine").checked,
    });
    if (answer.code) {
      $("coded").textContent = "coded " + answer.code;
      $("note").value = "";
      $("callback-at").value = "";
      $("callback-mine").checked = false;
    }
  };
  $("login").onclick = () => post("/login");
  $("logout").onclick = () => post("/logout");
  $("pause").onclick = () => post("/pause", {reason: $("pause-reason").value || "break"});
  $("resume").onclick = () => post("/resume");
  $("hold").onclick = () => post("/call/hold");
  $("unhold").onclick = () => post("/call/unhold");
  $("blind").onclick = () => post("/call/transfer", {target: $("target").value});
  $("consult").onclick = () => post("/call/transfer", {target: $("target").value, attended: true});
  $("complete").onclick = () => post("/call/complete");
  // The recording: paused while something must not be kept (a card number), then resumed.
  $("rec-pause").onclick = async () => {
    const answer = await post("/call/pause_recording");
    if (answer.recording) $("rec-state").textContent = "recording paused";
  };
  $("rec-resume").onclick = async () => {
    const answer = await post("/call/resume_recording");
    if (answer.recording) $("rec-state").textContent = "recording";
  };
  $("cancel").onclick = () => post("/call/cancel");

  // Alt+K: hold or take back the caller (Alt+A / Alt+H answer and hang up: phone.js).
  document.addEventListener("keydown", (e) => {
    if (!e.altKey || e.key.toLowerCase() !== "k") return;
    e.preventDefault();
    if (current === "on_call") $("hold").click();
    else if (current === "on_hold") $("unhold").click();
  });

  const events = new EventSource(base + "/events?token=" + encodeURIComponent(token));
  events.onmessage = (e) => {
    const message = JSON.parse(e.data);
    if (message.type === "hello") { show(message.state, message.pause_reason); showCall(message.call); loadCodes(); loadToday(); }
    else if (message.type === "state") {
      show(message.state, message.pause_reason);
      if (message.state === "available" || message.state === "wrap_up") loadToday();
      if (message.state === "wrap_up" || message.event === "CALLEND") { $("coded").textContent = ""; loadCodes(); }
    }
    else if (message.type === "disposition") $("coded").textContent = "coded " + message.code;
    else if (message.type === "offer") showCall(message.call);
  };
  events.onerror = () => say("connection lost: retrying…");
  events.onopen = () => say("");

  window.desk = {agent, token, headers, base, request, post, say};
})();
