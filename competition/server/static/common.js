// Shared by the grader's pages: the app's base path, times in the viewer's zone, and safe rendering
// (text only: names and messages from teams never become markup).
"use strict";
const ROOT = document.body.dataset.root || "";

function localTime(iso) {
  const moment = new Date(iso);
  return isNaN(moment) ? iso : moment.toLocaleString(undefined, {dateStyle: "medium", timeStyle: "short"});
}

function showLocalTimes(scope) {
  for (const element of (scope || document).querySelectorAll("time.local")) {
    element.textContent = localTime(element.getAttribute("datetime"));
    element.title = element.getAttribute("datetime");
  }
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "–" : String(text);
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function score(value) {
  return typeof value === "number" ? value.toFixed(4) : "–";
}

async function api(path, token, options) {
  const headers = token ? {"Authorization": "Bearer " + token} : {};
  const response = await fetch(ROOT + path, Object.assign({headers}, options || {}));
  let answer = {};
  try { answer = await response.json(); } catch (error) { answer = {error: "not a grader's answer"}; }
  return {ok: response.ok, status: response.status, answer};
}

// A token the server refused: forget it and ask again.
function tokenRefused(storageKey) {
  sessionStorage.removeItem(storageKey);
  document.getElementById("token-form").hidden = false;
  document.getElementById("signed-in").hidden = true;
}

// A token entered once, kept for this browser tab only (sessionStorage), under its own key.
function tokenBox(storageKey, onToken) {
  const form = document.getElementById("token-form");
  const input = document.getElementById("token");
  const forget = document.getElementById("forget");
  const use = (token) => {
    form.hidden = true;
    document.getElementById("signed-in").hidden = false;
    onToken(token);
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(storageKey, input.value.trim());
    input.value = "";
    use(sessionStorage.getItem(storageKey));
  });
  forget.addEventListener("click", () => { sessionStorage.removeItem(storageKey); location.reload(); });
  const saved = sessionStorage.getItem(storageKey);
  if (saved) use(saved);
}

showLocalTimes();
