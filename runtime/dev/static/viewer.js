// The units dev viewer: polls the management API (/_units/api/) once a second and renders
// processes, workflow runs (one in detail: its history as a timeline, what it waits for, why
// it is parked) and the log. No framework, no build step: the dev server serves this file as is.
// Everything from the API is put in the page with textContent, never as HTML.
"use strict";

const API = "api/";
const REFRESH_MS = 1000;
const state = { logsAfter: 0, selected: null };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function get(path) {
  const response = await fetch(API + path, { cache: "no-store" });
  const body = await response.json();
  if (!response.ok) {
    const error = new Error(body.error ? `${body.error.kind}: ${body.error.message}` : response.statusText);
    error.status = response.status;
    throw error;
  }
  return body;
}

// A time as "20:09:38" when it is today, else "2026-12-05 20:09:38" (local time): a timer due
// tomorrow must not read like one due now.
function when(seconds) {
  if (!seconds) return "";
  const date = new Date(seconds * 1000);
  const two = (n) => String(n).padStart(2, "0");
  const time = `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
  if (date.toDateString() === new Date().toDateString()) return time;
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())} ${time}`;
}

// An error as "kind: message" (a run's, a process's), not its JSON.
function errorText(error) {
  if (!error) return "";
  if (typeof error === "string") return error;
  const kind = error.kind || error.error || "Error";
  return error.message ? `${kind}: ${error.message}` : kind;
}

// Why a run is parked: the driver's failed execution (its error unpacked by the API), or the
// error its steps keep failing with.
function parkedText(parked) {
  if (parked.message) return parked.message;
  return `${parked.error}: ${parked.cause}`;
}

function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

function badge(status) {
  return el("span", { class: `badge status-${status}`, text: status });
}

function json(value) {
  return el("pre", { text: JSON.stringify(value, null, 2) });
}

function short(id) {
  // pids are <host>/<uuid>: the uuid's first block is enough to tell rows apart.
  const tail = String(id).split("/").pop();
  return tail.length > 13 ? tail.slice(0, 8) + "…" : tail;
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

// -- selection (kept in the URL's hash, so a reload or a link opens the same thing) ------------
function readSelection() {
  const hash = decodeURIComponent(location.hash.slice(1));
  const [kind, ...rest] = hash.split("=");
  const id = rest.join("=");
  state.selected = (kind === "process" || kind === "run") && id ? { kind, id } : null;
}

function select(kind, id) {
  location.hash = `${kind}=${encodeURIComponent(id)}`;
}

// -- status ----------------------------------------------------------------------------------
async function refreshStatus() {
  const status = await get("status");
  document.getElementById("app").textContent = status.app;
  const loaded = document.getElementById("loaded");
  loaded.replaceChildren(badge(status.loaded ? "loaded" : "error"));
  loaded.title = `generation ${status.generation}`;
  const box = document.getElementById("status-error");
  box.hidden = !status.error;
  box.querySelector("pre").textContent = status.error || "";
}

// -- processes -------------------------------------------------------------------------------
async function refreshProcesses() {
  let data;
  try {
    data = await get("processes");
  } catch (error) {
    if (error.status === 404) {  // the app has no process or workflow hosts
      document.getElementById("processes-section").hidden = true;
      return;
    }
    throw error;
  }
  document.getElementById("processes-section").hidden = false;
  const rows = data.processes.map((p) =>
    el(
      "tr",
      { "data-pid": p.pid, class: isSelected("process", p.pid) ? "selected" : "", onclick: () => select("process", p.pid) },
      el("td", { class: "mono", title: p.pid, text: short(p.pid) }),
      el("td", { text: p.entry }),
      el("td", {}, badge(p.status)),
      el("td", { text: (p.names || []).join(", ") }),
      el("td", { text: p.version }),
      el("td", { text: when(p.updated) }),
    ),
  );
  fill(document.querySelector("#processes tbody"), rows);
  document.getElementById("no-processes").hidden = rows.length > 0;
  document.getElementById("process-count").textContent = rows.length ? `(${rows.length})` : "";
  const queues = document.getElementById("queues");
  queues.hidden = data.queues.length === 0;
  fill(
    queues.querySelector("tbody"),
    data.queues.map((q) =>
      el("tr", {}, el("td", { text: q.host }), el("td", { text: q.queued }), el("td", { text: q.in_flight }),
        el("td", { text: q.delayed }), el("td", { text: q.dead_letters })),
    ),
  );
}

function pidLinks(pids) {
  if (!pids || pids.length === 0) return "none";
  const span = el("span");
  pids.forEach((pid, i) => {
    if (i) span.append(", ");
    span.append(el("a", { href: `#process=${encodeURIComponent(pid)}`, class: "mono", text: pid }));
  });
  return span;
}

async function refreshProcessDetail(pid) {
  const box = document.getElementById("process-detail");
  const p = await get("processes/" + encodeURIComponent(pid));
  const rows = [
    ["pid", el("span", { class: "mono", text: p.pid })],
    ["entry", p.entry],
    ["style", p.style === "loop" ? "loop (a main over a journal)" : "handler (init/handle)"],
    ["host", p.host],
    ["status", badge(p.status)],
    ["names", (p.names || []).join(", ") || "none"],
    ["version", p.version],
    ["links", pidLinks(p.links)],
    ["monitors", pidLinks(p.monitors)],
    ["trap links", p.trap_links ? "yes" : "no"],
    ["started", when(p.started)],
    ["updated", when(p.updated)],
  ];
  if (p.parent) rows.push(["parent", pidLinks([p.parent])]);
  if (p.service) rows.push(["service", `${p.service} (restart attempt ${p.attempt})`]);
  const dl = el("dl");
  for (const [name, value] of rows) dl.append(el("dt", { text: name }), el("dd", {}, value));
  // A loop process's state is its journal: its generation, its length, its unread inbox.
  const title = p.style === "loop" ? "journal" : "state";
  const parts = [el("h3", { text: `Process ${p.pid}` }), dl, el("h4", { text: title }), json(p.state)];
  if (p.error) parts.push(el("h4", { text: "error" }), el("pre", { class: "process-error", text: errorText(p.error) }));
  if (p.result !== null && p.result !== undefined) parts.push(el("h4", { text: "result" }), json(p.result));
  box.replaceChildren(...parts);
  box.hidden = false;
}

// -- workflow runs ---------------------------------------------------------------------------
async function refreshRuns() {
  let data;
  try {
    data = await get("workflows");
  } catch (error) {
    if (error.status === 404) {
      document.getElementById("workflows-section").hidden = true;
      return;
    }
    throw error;
  }
  document.getElementById("workflows-section").hidden = false;
  const rows = data.runs.map((r) =>
    el(
      "tr",
      { "data-run": r.run_id, class: isSelected("run", r.run_id) ? "selected" : "", onclick: () => select("run", r.run_id) },
      el("td", { class: "mono", title: r.run_id, text: short(r.run_id) }),
      el("td", { text: r.workflow }),
      el("td", {}, badge(r.step_error ? "parked" : r.status)),
      el("td", { text: when(r.started) }),
      el("td", { text: when(r.closed) }),
    ),
  );
  fill(document.querySelector("#runs tbody"), rows);
  document.getElementById("no-runs").hidden = rows.length > 0;
  document.getElementById("run-count").textContent = rows.length ? `(${rows.length})` : "";
}

const SKIP_FIELDS = new Set(["seq", "type", "time", "inbox", "command_seq"]);

function eventSummary(event) {
  const parts = [];
  if (event.cmd !== undefined) parts.push(`#${event.cmd}`);
  for (const [key, value] of Object.entries(event)) {
    if (SKIP_FIELDS.has(key) || key === "cmd") continue;
    if (key === "fire_at") {
      parts.push(`fires ${when(value)}`);
      continue;
    }
    if (key === "error" && value && typeof value === "object") {
      parts.push(`error=${errorText(value)}`);
      continue;
    }
    parts.push(`${key}=${typeof value === "string" ? value : JSON.stringify(value)}`);
  }
  return parts.join("  ");
}

function timeline(history) {
  const start = history.length ? history[0].time : 0;
  return el(
    "ol",
    { class: "timeline" },
    ...history.map((event) =>
      el(
        "li",
        { "data-type": event.type, "data-seq": event.seq },
        el("span", { class: "when", text: `+${(event.time - start).toFixed(2)}s` }),
        el("span", { class: "type", text: event.type }),
        el("span", { class: "mono", text: eventSummary(event) }),
      ),
    ),
  );
}

function pendingList(pending) {
  if (!pending.length) return el("p", { class: "empty", text: "Nothing pending." });
  const now = Date.now() / 1000;
  return el(
    "ul",
    { class: "pending" },
    ...pending.map((p) => {
      let text;
      if (p.kind === "timer") text = `timer #${p.cmd}: fires in ${duration(p.fire_at - now)} (${when(p.fire_at)})`;
      else if (p.kind === "activity") text = `activity #${p.cmd} ${p.target}, attempt ${p.attempt || 1}, waiting ${duration(now - p.since)}`;
      else text = `child #${p.cmd} ${p.target}, run ${p.child_run || "?"}`;
      const item = el("li", { "data-kind": p.kind, text });
      if (p.kind === "child" && p.child_run) {
        item.append(" ", el("a", { href: `#run=${encodeURIComponent(p.child_run)}`, text: "open" }));
      }
      return item;
    }),
  );
}

async function refreshRunDetail(runId) {
  const box = document.getElementById("run-detail");
  const data = await get("workflows/" + encodeURIComponent(runId));
  const run = data.run;
  const parked = data.parked || (data.step_error ? { message: data.step_error } : null);
  const dl = el("dl");
  const rows = [
    ["run", el("span", { class: "mono", text: run.run_id })],
    ["address", el("span", { class: "mono", text: run.address })],
    ["workflow", run.workflow],
    ["status", badge(parked && run.status === "running" ? "parked" : run.status)],
    ["started", when(run.started)],
  ];
  if (run.closed) rows.push(["closed", when(run.closed)]);
  if (run.parent) rows.push(["parent", el("a", { href: `#run=${encodeURIComponent(run.parent)}`, class: "mono", text: run.parent })]);
  for (const [name, value] of rows) dl.append(el("dt", { text: name }), el("dd", {}, value));
  const parts = [el("h3", { text: `Run ${run.workflow}` }), dl];
  if (parked) {
    parts.push(
      el("h4", { text: "parked: its steps fail (fix the code; the driver retries, then stops)" }),
      el("pre", { class: "parked-error", text: parkedText(parked) }),
    );
    if (data.parked) {  // the driver has stopped: after a fix, a new execution steps it on
      parts.push(el("button", { class: "resume", text: "resume", onclick: () => resume(run.run_id) }));
    }
  }
  if (run.error) parts.push(el("h4", { text: "error" }), el("pre", { class: "run-error", text: errorText(run.error) }));
  if (run.result !== undefined) parts.push(el("h4", { text: "result" }), json(run.result));
  parts.push(el("h4", { text: "waiting for" }), pendingList(data.pending));
  parts.push(el("h4", { text: `history (${data.history.length} events)` }), timeline(data.history));
  box.replaceChildren(...parts);
  box.hidden = false;
}

async function resume(runId) {
  const response = await fetch(`${API}workflows/${encodeURIComponent(runId)}/resume`, { method: "POST", body: "{}" });
  if (!response.ok) {
    const body = await response.json();
    alert(body.error ? `${body.error.kind}: ${body.error.message}` : response.statusText);
  }
  refresh();
}

// -- logs ------------------------------------------------------------------------------------
async function refreshLogs() {
  const data = await get(`logs?after=${state.logsAfter}`);
  state.logsAfter = data.next;
  if (!data.lines.length) return;
  const box = document.getElementById("logs");
  const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
  for (const line of data.lines) {
    const fields = Object.entries(line.fields || {})
      .filter(([key]) => key !== "entry")
      .map(([key, value]) => `${key}=${typeof value === "string" ? value : JSON.stringify(value)}`)
      .join(" ");
    box.append(
      el(
        "div",
        { class: `level-${line.level}`, "data-seq": line.seq },
        `${when(line.time)} `,
        el("span", { class: "unit", text: line.unit }),
        ` ${line.level} ${line.message} ${fields}`,
      ),
    );
  }
  while (box.childElementCount > 2000) box.firstElementChild.remove();
  if (atBottom) box.scrollTop = box.scrollHeight;
}

// -- the loop --------------------------------------------------------------------------------
function isSelected(kind, id) {
  return state.selected && state.selected.kind === kind && state.selected.id === id;
}

async function refreshSelection() {
  const processBox = document.getElementById("process-detail");
  const runBox = document.getElementById("run-detail");
  const selected = state.selected;
  processBox.hidden = !(selected && selected.kind === "process");
  runBox.hidden = !(selected && selected.kind === "run");
  if (!selected) return;
  if (selected.kind === "process") await refreshProcessDetail(selected.id);
  else await refreshRunDetail(selected.id);
}

let timer = null;

async function refresh() {
  clearTimeout(timer);
  const problems = [];
  const steps = [refreshStatus, refreshProcesses, refreshRuns, refreshSelection, refreshLogs];
  for (const step of steps) {
    try {
      await step();
    } catch (error) {
      problems.push(error.message);
    }
  }
  const box = document.getElementById("fetch-error");
  box.hidden = problems.length === 0;
  box.textContent = problems.join("\n");
  document.body.dataset.refreshed = String(Date.now());
  timer = setTimeout(refresh, REFRESH_MS);
}

window.addEventListener("hashchange", () => {
  readSelection();
  refresh();
});
readSelection();
refresh();
