// The host's page: settings, uploads per hour, teams and every submission with its failure reason.
"use strict";
(function () {
  const status = document.getElementById("status");

  function fill(tableId, rows, render) {
    const body = document.querySelector("#" + tableId + " tbody");
    body.replaceChildren();
    for (const item of rows) {
      const row = document.createElement("tr");
      render(row, item);
      body.appendChild(row);
    }
  }

  async function show(token) {
    const {ok, status: code, answer} = await api("/api/admin", token);
    if (code === 401) tokenRefused("competition-admin-token");
    if (!ok) { status.textContent = "Refused: " + answer.error; status.className = "error"; return; }
    status.textContent = ""; status.className = "";
    document.getElementById("admin").hidden = false;
    const facts = document.getElementById("settings");
    facts.replaceChildren();
    for (const [key, value] of Object.entries(answer.settings)) {
      const fact = document.createElement("span");
      const name = document.createElement("strong");
      name.textContent = key.replace(/^--/, "") + " ";
      fact.append(name, String(value));
      facts.appendChild(fact);
    }
    const bars = document.getElementById("activity");
    bars.replaceChildren();
    const most = Math.max(1, ...answer.activity.map((hour) => hour.uploads));
    for (const hour of answer.activity) {
      const bar = document.createElement("span");
      bar.style.height = (100 * hour.uploads / most) + "%";
      bar.title = localTime(hour.hour) + ": " + hour.uploads + " upload(s), " + hour.failed + " failed";
      bars.appendChild(bar);
    }
    bars.setAttribute("aria-label", answer.activity.length + " hours of uploads");
    document.getElementById("activity-note").textContent = answer.activity.length
      ? "From " + localTime(answer.activity[0].hour) + "; the tallest bar is " + most + " upload(s) in an hour."
      : "No upload yet.";
    fill("teams", answer.teams, (row, team) => {
      cell(row, team.team); cell(row, team.members.join(", "));
      cell(row, team.scored_today, "num"); cell(row, team.scored, "num");
      cell(row, team.failed_today, "num"); cell(row, team.failed, "num");
      cell(row, team.last ? localTime(team.last) : "–", "wide"); cell(row, team.disabled ? "disabled" : "");
    });
    fill("sameness", answer.sameness, (row, pair) => {
      cell(row, pair.first, "num"); cell(row, pair.first_team); cell(row, pair.second, "num"); cell(row, pair.second_team);
      cell(row, (100 * pair.agreement).toFixed(1) + "%", "num"); cell(row, pair.identical ? "yes" : "");
    });
    if (!answer.sameness.length) fill("sameness", [null], (row) => { cell(row, "no alike pair").colSpan = 6; });
    fill("journal", answer.journal, (row, line) => {
      cell(row, localTime(line.time), "wide"); cell(row, line.action, line.action === "refused" ? "error" : "");
      cell(row, line.detail);
    });
    fill("all", answer.submissions.slice().reverse(), (row, s) => {
      cell(row, s.id, "num"); cell(row, localTime(s.time), "wide"); cell(row, s.team); cell(row, s.member, "wide");
      cell(row, s.name);
      const state = cell(row, s.status + (s.late ? " (late)" : "") + (s.void_reason ? " (voided)" : ""),
                         s.status === "ok" && !s.void_reason ? "" : "error");
      if (s.void_reason) { const why = document.createElement("div"); why.className = "note"; why.textContent = "voided: " + s.void_reason; state.appendChild(why); }
      if (s.error) { const why = document.createElement("div"); why.className = "note"; why.textContent = s.error; state.appendChild(why); }
      cell(row, score(s.public), "num"); cell(row, score(s.private), "num"); cell(row, s.selected ? "yes" : "");
    });
  }

  tokenBox("competition-admin-token", show);
})();
