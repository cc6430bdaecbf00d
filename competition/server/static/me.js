// A team's own page: every submission with its status and scores, and the final picks as toggles.
"use strict";
(function () {
  const line = document.getElementById("status");
  let token = null;

  function say(text, kind) { line.textContent = text; line.className = kind || ""; }

  async function toggle(id, chosen) {
    const {ok, answer} = await api("/api/submissions/" + id + "/select", token, {method: chosen ? "POST" : "DELETE"});
    await show();
    say(ok ? "Submission " + id + (answer.selected ? " is now a final pick." : " is no longer a final pick.")
           : "Refused: " + answer.error, ok ? "ok" : "error");
  }

  async function show() {
    const {ok, status, answer} = await api("/api/submissions", token);
    if (!ok) {
      document.getElementById("mine").hidden = true;
      if (status === 401) tokenRefused("competition-token");
      say("Refused: " + answer.error, "error");
      return;
    }
    document.getElementById("mine").hidden = false;
    document.getElementById("team").textContent = answer.team + (answer.disabled ? " (disabled by the host)" : "");
    document.getElementById("member").textContent = answer.member;
    const quota = answer.quota;
    document.getElementById("quota").textContent = answer.ended ? "The competition has ended."
      : quota.submissions_left_today + " of " + quota.daily_limit + " submissions left today (resets " +
        localTime(quota.resets_at) + ")";
    const picked = answer.submissions.filter((s) => s.selected).length;
    document.getElementById("picks-note").textContent = answer.ended
      ? "Final picks are frozen (" + picked + " held)."
      : picked + " of " + answer.final_picks + " final picks chosen";
    const revealed = answer.submissions.some((s) => "private" in s);
    document.getElementById("private-head").hidden = !revealed;
    const body = document.querySelector("#submissions tbody");
    body.replaceChildren();
    for (const s of answer.submissions.slice().reverse()) {
      const row = document.createElement("tr");
      row.dataset.id = s.id;
      cell(row, s.id, "num");
      cell(row, localTime(s.time), "wide");
      cell(row, s.member, "wide");
      const file = cell(row, "");
      const name = document.createElement("span");
      name.className = "clamp"; name.textContent = s.name; name.title = s.name;
      file.appendChild(name);
      if (s.message) { const note = document.createElement("div"); note.className = "note"; note.textContent = s.message; file.appendChild(note); }
      const state = cell(row, s.void_reason ? "voided" : s.status === "ok" ? (s.late ? "late" : "scored") : s.status,
                         s.status === "ok" && !s.void_reason ? "" : "error");
      if (s.void_reason) {
        const why = document.createElement("div"); why.className = "note"; why.textContent = "by the host: " + s.void_reason;
        state.appendChild(why); row.classList.add("voided-row");
      }
      if (s.error) { const why = document.createElement("div"); why.className = "note"; why.textContent = s.error; state.appendChild(why); }
      cell(row, score(s.public), "num");
      if (revealed) cell(row, score(s.private), "num");
      const pick = cell(row, "");
      if (s.status === "ok" && !s.late && !s.void_reason) {
        const box = document.createElement("input");
        box.type = "checkbox";
        box.className = "pick";
        box.checked = s.selected;
        box.disabled = answer.ended || answer.disabled;
        box.setAttribute("aria-label", "final pick " + s.id);
        box.addEventListener("change", () => toggle(s.id, box.checked));
        pick.appendChild(box);
      }
      body.appendChild(row);
    }
    say(answer.submissions.length ? "" : "No submission yet: upload one on the Submit page.");
  }

  tokenBox("competition-token", (saved) => { token = saved; show(); });
})();
