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
  // A board taller than the screen pages through by itself on a projector (a wide screen: a phone
  // scrolls), a page every PAGE_SECONDS; the pager line says which rows show, and a click turns it.
  const PAGE_SECONDS = 12;
  const table = document.getElementById("leaderboard");
  const pager = document.getElementById("pager");
  if (table && pager && window.innerWidth >= 1000) {
    const rows = Array.from(table.tBodies[0].rows);
    const pages = [];
    const overflows = table.getBoundingClientRect().bottom > window.innerHeight;
    pager.hidden = !overflows;  // shown before measuring: it sits above the table
    pager.textContent = "Teams";
    const room = window.innerHeight - table.tBodies[0].getBoundingClientRect().top - 16;
    if (overflows && room > 0) {
      let start = 0;
      while (start < rows.length) {
        let end = start, used = 0;
        while (end < rows.length && (end === start || used + rows[end].offsetHeight <= room)) {
          used += rows[end].offsetHeight; end += 1;
        }
        pages.push([start, end]); start = end;
      }
    }
    pager.hidden = pages.length < 2;
    if (pages.length > 1) {
      let at = 0, timer = null;
      const turn = (to) => {
        at = to % pages.length;
        const [start, end] = pages[at];
        rows.forEach((row, i) => { row.hidden = i < start || i >= end; });
        pager.textContent = "Teams " + (start + 1) + "–" + end + " of " + rows.length + " (page " + (at + 1) + " of " +
          pages.length + ", the next in " + PAGE_SECONDS + " s; click for it now)";
        clearTimeout(timer);
        timer = setTimeout(() => turn(at + 1), PAGE_SECONDS * 1000);
      };
      pager.classList.add("pager");
      pager.addEventListener("click", () => turn(at + 1));
      window.addEventListener("resize", () => {  // narrowed to a phone's width: every row, scrolled
        if (window.innerWidth >= 1000) return;
        clearTimeout(timer);
        rows.forEach((row) => { row.hidden = false; });
        pager.hidden = true;
      });
      turn(0);
    }
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
