"use strict";
const params = new URLSearchParams(location.search);
// The API token comes in the address once; it is kept for this tab only and taken out of
// the address bar (and so out of the history and of bookmarks).
const token = params.get("token") || sessionStorage.getItem("switchboard-wallboard-token") || "";
if (params.has("token")) {
  sessionStorage.setItem("switchboard-wallboard-token", token);
  params.delete("token");
  history.replaceState(null, "", location.pathname + (params.toString() ? "?" + params : ""));
}
const target = Number(params.get("target") || 80) / 100;  // service-level goal, for colour
const $ = (id) => document.getElementById(id);

function percent(value) { return value === null || value === undefined ? "n/a" : (value * 100).toFixed(1) + "%"; }
function duration(seconds) {
  const s = Math.round(seconds);
  return s < 60 ? s + " s" : Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
}

function tileFor(queue) {
  let tile = document.querySelector('[data-queue="' + CSS.escape(queue.name) + '"]');
  if (!tile) {
    tile = $("tile").content.firstElementChild.cloneNode(true);
    tile.dataset.queue = queue.name;
    tile.querySelector(".name").textContent = queue.name;
    $("queues").appendChild(tile);
  }
  return tile;
}

function render(data) {
  const seen = new Set();
  for (const queue of data.queues) {
    seen.add(queue.name);
    const tile = tileFor(queue);
    const set = (cls, text) => { tile.querySelector("." + cls).textContent = text; };
    set("waiting", queue.waiting);
    set("longest", duration(queue.longest_wait_seconds));
    set("sl", percent(queue.today.service_level));
    set("sl-label", "answered in " + queue.today.service_level_seconds + " s today");
    for (const key of ["available", "on_call", "wrap_up", "paused"]) set(key, queue.agents[key]);
    set("offered", queue.today.offered);
    set("answered", queue.today.answered);
    set("abandoned", queue.today.abandoned);
    set("abandonment", percent(queue.today.abandonment));
    const sl = tile.querySelector(".sl");
    sl.classList.toggle("good", queue.today.service_level !== null && queue.today.service_level >= target);
    sl.classList.toggle("bad", queue.today.service_level !== null && queue.today.service_level < target);
    tile.classList.toggle("alert", queue.waiting > 0 && queue.agents.available === 0);
  }
  for (const tile of document.querySelectorAll("[data-queue]")) {
    if (!seen.has(tile.dataset.queue)) tile.remove();
  }
  const body = $("campaigns").querySelector("tbody");
  body.replaceChildren();
  for (const c of data.campaigns) {
    const row = document.createElement("tr");
    for (const text of [c.name, c.state, c.dialing, c.free_agents, percent(c.abandonment_24h), percent(c.abandonment_30d)]) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.appendChild(cell);
    }
    body.appendChild(row);
  }
  $("campaigns").hidden = data.campaigns.length === 0;
  $("status").textContent = "live · " + new Date().toLocaleTimeString();
}

const events = new EventSource("/api/wallboard/events" + (token ? "?token=" + encodeURIComponent(token) : ""));
events.onmessage = (e) => render(JSON.parse(e.data));
events.onerror = () => {
  $("status").textContent = token ? "connection lost: retrying…" : "no API token: open /wallboard?token=TOKEN";
};
