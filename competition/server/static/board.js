// The leaderboard: a countdown to the deadline, and a reload whenever the standings change.
"use strict";
(function () {
  const countdown = document.getElementById("countdown");
  if (countdown) {
    const end = new Date(countdown.getAttribute("datetime"));
    const tick = () => {
      let left = Math.max(0, Math.floor((end - Date.now()) / 1000));
      if (left === 0) { location.reload(); return; }
      const days = Math.floor(left / 86400); left %= 86400;
      const hours = Math.floor(left / 3600); left %= 3600;
      const minutes = Math.floor(left / 60), seconds = left % 60;
      const pad = (n) => String(n).padStart(2, "0");
      countdown.textContent = (days ? days + "d " : "") + pad(hours) + ":" + pad(minutes) + ":" + pad(seconds);
      setTimeout(tick, 1000);
    };
    tick();
  }
  let seen = null;
  const poll = async () => {
    try {
      const {ok, answer} = await api("/api/leaderboard");
      if (ok) {
        const now = JSON.stringify([answer.ended, answer.deadline, answer.teams]);
        if (seen !== null && now !== seen) { location.reload(); return; }
        seen = now;
      }
    } catch (error) { /* the server is restarting: try again later */ }
    setTimeout(poll, 15000);
  };
  poll();
})();
