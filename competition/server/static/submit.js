// Upload a file with the team's token; the answer says the score, the team's rank and the quota left.
"use strict";
(function () {
  const token = document.getElementById("token");
  token.value = sessionStorage.getItem("competition-token") || "";
  document.getElementById("upload").addEventListener("submit", async (event) => {
    event.preventDefault();
    const result = document.getElementById("result");
    const body = new FormData();
    body.append("file", document.getElementById("file").files[0]);
    body.append("message", document.getElementById("message").value);
    sessionStorage.setItem("competition-token", token.value.trim());
    result.className = ""; result.textContent = "uploading…";
    try {
      const {ok, status, answer} = await api("/api/submissions", token.value.trim(), {method: "POST", body});
      if (ok) {
        result.className = "ok";
        const standing = answer.late ? "late: scored for your team, not ranked" : "rank " + answer.rank;
        result.textContent = (answer.duplicate ? "Same file as submission " + answer.id + ": " : "Scored: ") +
          "public " + answer.public.toFixed(4) + ", " + standing + "; " + answer.submissions_left_today +
          " submission(s) left today (resets " + localTime(answer.resets_at) + ").";
      } else {
        result.className = "error";
        result.textContent = "Refused (" + status + "): " + answer.error;
      }
    } catch (error) {
      result.className = "error"; result.textContent = "Upload failed: " + error;
    }
  });
})();
