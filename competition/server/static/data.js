// The data page: the token typed once (kept in this tab, shared with My team and Submit) fills the download form.
"use strict";
(function () {
  const token = document.getElementById("token");
  token.value = sessionStorage.getItem("competition-token") || "";
  document.getElementById("download").addEventListener("submit", () => {
    sessionStorage.setItem("competition-token", token.value.trim());
  });
})();
