// agenthub console: live updates with the browser's EventSource. Text from the hub (model
// output, tool arguments, results) is only ever set as textContent, never parsed as HTML;
// fragments fetched from the console itself are server-escaped.
"use strict";

function swapFrom(url, selector) {
  return fetch(url, { credentials: "same-origin" })
    .then((r) => (r.ok ? r.text() : Promise.reject(new Error(String(r.status)))))
    .then((html) => {
      const fresh = new DOMParser().parseFromString(html, "text/html").querySelector(selector);
      const here = document.querySelector(selector);
      if (fresh && here) here.replaceWith(document.importNode(fresh, true));
    });
}

function eventLine(item) {
  const li = document.createElement("li");
  const kind = String(item.kind || "event");
  if (/^[a-z_]+$/.test(kind)) li.classList.add("ev-" + kind);
  const k = document.createElement("span");
  k.className = "kind";
  k.textContent = kind.replace(/_/g, " ");
  const t = document.createElement("span");
  t.className = "text";
  t.textContent = String(item.text == null ? "" : item.text);
  li.append(k, " ", t);
  return li;
}

function followTask(list) {
  const state = document.getElementById("stream-state");
  const undos = document.getElementById("undos");
  let last = -1;
  const source = new EventSource(list.dataset.stream);
  source.onmessage = (message) => {
    const offset = Number(message.lastEventId);
    if (Number.isInteger(offset) && offset <= last) return; // seen already: never twice
    if (Number.isInteger(offset)) last = offset;
    const item = JSON.parse(message.data);
    const line = eventLine(item);
    line.dataset.offset = String(offset);
    list.append(line);
    if (item.kind === "undo" && undos) {
      const empty = undos.querySelector(".empty");
      if (empty) empty.remove();
      undos.append(eventLine(item));
    }
    state.textContent = "Following live…";
  };
  source.addEventListener("end", () => {
    source.close();
    state.textContent = "The task has ended.";
    state.dataset.ended = "true";
    swapFrom(list.dataset.summary, "#summary").catch(() => {});
    const cancel = document.getElementById("cancel");
    if (cancel) cancel.remove();
  });
  source.onerror = () => {
    // The browser reconnects by itself and sends Last-Event-ID: no gap, no duplicate.
    if (source.readyState !== EventSource.CLOSED) state.textContent = "Reconnecting…";
  };
}

function followInbox(hint) {
  const source = new EventSource(hint.dataset.stream);
  source.addEventListener("pending", (message) => {
    const ids = new Set(JSON.parse(message.data).ids);
    let unseen = false;
    for (const article of document.querySelectorAll("article[data-approval-id]")) {
      if (!ids.has(article.dataset.approvalId)) article.remove();
    }
    const shown = new Set(
      [...document.querySelectorAll("article[data-approval-id]")].map((a) => a.dataset.approvalId)
    );
    for (const id of ids) if (!shown.has(id)) unseen = true;
    if (unseen || (ids.size === 0 && !document.getElementById("inbox-empty"))) {
      swapFrom(window.location.pathname, "#inbox").catch(() => {});
    }
  });
}

function submitOnce(form) {
  form.addEventListener("submit", () => {
    // After the browser has taken the clicked button's value, so the request keeps it.
    setTimeout(() => form.querySelectorAll("button").forEach((b) => (b.disabled = true)), 0);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const events = document.getElementById("events");
  if (events && events.dataset.stream) followTask(events);
  const inbox = document.getElementById("inbox-state");
  if (inbox && inbox.dataset.stream) followInbox(inbox);
  document.querySelectorAll("form[data-once]").forEach(submitOnce);
});
