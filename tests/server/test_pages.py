"""The grader's pages in Debian's Chromium (Selenium) and their headers: the board a class watches
on a projector, a team's own page with its picks, the host's admin page; each screenshot at a
projector's and a phone's size (``SCREENSHOTS=DIR`` keeps them for a person to look at)."""

from __future__ import annotations

import os
import shutil
import time
from datetime import timedelta

import httpx
import numpy as np
import pytest
from PIL import Image

from competition import clock
from competition.server.store import Store
from tests.helpers import Server, chromium, host, submission

pytestmark = pytest.mark.usefixtures("clear_of_midnight")  # quotas follow the real UTC day

SIZES = {"projector": (1920, 1080), "phone": (390, 844)}


@pytest.fixture(scope="module")
def browser():
    driver = chromium()
    yield driver
    driver.quit()


def shoot(driver, name: str, folder) -> list:
    """A screenshot at each size; each must show a page that fits the width (no sideways scroll)."""
    taken = []
    for size, (width, height) in SIZES.items():
        driver.set_window_size(width, height)
        time.sleep(0.3)
        inner = driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
        assert inner[0] <= inner[1] + 1, f"{name} at {size}: the page is wider than the screen ({inner})"
        path = folder / f"{name}-{size}.png"
        driver.save_screenshot(str(path))
        picture = np.asarray(Image.open(path).convert("L"))
        assert picture.std() > 5, f"{name} at {size}: a blank screenshot"
        taken.append(path)
        if os.environ.get("SCREENSHOTS"):
            shutil.copy(path, os.environ["SCREENSHOTS"])
    return taken


def test_the_board_a_team_page_and_the_admin_page_in_a_browser(fashion_small, key, tmp_path, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    db = tmp_path / "grader.sqlite"
    made = Store(db).add_members([("Owls", "ana"), ("Owls", "ben"), ("Larks", "cho"), ("Wrens & <co>", "dee")])
    tokens = {member: token for _, member, token in made}
    server = Server(fashion_small, db, "--title", "Fashion-MNIST, class 7B",
                    "--deadline", clock.iso(clock.now() + timedelta(days=400)))
    try:
        for n, (member, wrong) in enumerate([("ana", 12), ("cho", 5), ("dee", 20), ("ben", 3), ("ana", 30)]):
            assert server.upload(tokens[member], submission(key, wrong=wrong, seed=n), name=f"try{n}.csv",
                                 message=f"attempt {n}").status_code == 201
        assert server.upload(tokens["cho"], b"junk", name="broken.csv").status_code == 400
        browser.set_window_size(1920, 1080)
        browser.get(server.url + "/")
        assert browser.title == "Leaderboard — Fashion-MNIST, class 7B"
        assert [c.text for c in browser.find_elements(By.CSS_SELECTOR, "#leaderboard td.team")] == [
            "Owls", "Larks", "Wrens & <co>"]
        countdown = browser.find_element(By.ID, "countdown").text
        assert countdown[0].isdigit() and ":" in countdown and "T" not in countdown, countdown
        facts = browser.find_element(By.CSS_SELECTOR, ".facts").text
        assert "public: 30 of 100 test rows (30%)" in facts and "scored by accuracy (higher is better)" in facts
        shoot(browser, "board", tmp_path)

        browser.set_window_size(1920, 1080)
        browser.get(server.url + "/me")
        browser.find_element(By.ID, "token").send_keys(tokens["ben"])
        browser.find_element(By.ID, "use-token").click()
        WebDriverWait(browser, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#submissions tbody tr")) == 3)
        assert (browser.find_element(By.ID, "team").text == "Owls"
                and browser.find_element(By.ID, "member").text == "ben")
        first = browser.find_element(By.CSS_SELECTOR, "#submissions tbody tr:last-child input.pick")
        first.click()
        WebDriverWait(browser, 30).until(lambda d: "is now a final pick" in d.find_element(By.ID, "status").text)
        picked = [s["id"] for s in server.get("/api/submissions", tokens["ana"]).json()["submissions"] if s["selected"]]
        assert picked == [1], "the toggle picked the team's first submission, for every member of the team"
        assert "1 of 2 final picks chosen" in browser.find_element(By.ID, "picks-note").text
        shoot(browser, "me", tmp_path)

        made_admin = host(db, "admin-token")
        admin_token = made_admin.stdout.strip().splitlines()[-1]
        browser.set_window_size(1920, 1080)
        browser.get(server.url + "/admin")
        browser.find_element(By.ID, "token").send_keys(admin_token)
        browser.find_element(By.ID, "use-token").click()
        WebDriverWait(browser, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#all tbody tr")) == 6)
        failed = browser.find_element(By.CSS_SELECTOR, "#all tbody tr:first-child").text
        assert "broken.csv" in failed and "expected columns" in failed, "failures show with their reasons"
        assert len(browser.find_elements(By.CSS_SELECTOR, "#teams tbody tr")) == 3
        assert browser.find_elements(By.CSS_SELECTOR, "#activity span")
        shoot(browser, "admin", tmp_path)
        browser.set_window_size(1920, 2400)  # the whole admin page, for a person to look at
        browser.save_screenshot(str(tmp_path / "admin-whole.png"))
        if os.environ.get("SCREENSHOTS"):
            shutil.copy(tmp_path / "admin-whole.png", os.environ["SCREENSHOTS"])

        scriptless = chromium(javascript=False)  # or Enter pressed before the script attaches
        try:
            scriptless.get(server.url + "/submit")
            assert "JavaScript, which is off" in scriptless.find_element(By.TAG_NAME, "noscript").text
            scriptless.save_screenshot(str(tmp_path / "submit-no-script.png"))
            if os.environ.get("SCREENSHOTS"):
                shutil.copy(tmp_path / "submit-no-script.png", os.environ["SCREENSHOTS"])
            (tmp_path / "mine.csv").write_bytes(submission(key, wrong=7))
            scriptless.find_element(By.ID, "token").send_keys(tokens["dee"])
            scriptless.find_element(By.ID, "file").send_keys(str(tmp_path / "mine.csv"))
            scriptless.find_element(By.ID, "message").send_keys("natively\n")  # Enter submits the form
            WebDriverWait(scriptless, 30).until(lambda d: "Method Not Allowed" in d.page_source or "?" in d.current_url)
            visited = [scriptless.current_url] + [line for line in scriptless.execute_cdp_cmd(
                "Page.getNavigationHistory", {})["entries"] for line in (line["url"],)]
        finally:
            scriptless.quit()
        assert visited[0] == server.url + "/submit" and not any("?" in url or tokens["dee"] in url for url in visited)
        assert len(server.get("/api/submissions", tokens["dee"]).json()["submissions"]) == 1, "nothing was sent"

        assert host(db, "reveal").returncode == 0
        browser.set_window_size(1920, 1080)
        browser.get(server.url + "/")
        assert "The competition has ended" in browser.find_element(By.ID, "ended").text
        shoot(browser, "board-ended", tmp_path)
        browser.get(server.url + "/me")
        WebDriverWait(browser, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#submissions tbody tr")) == 3)
        assert all(not box.is_enabled() for box in browser.find_elements(By.CSS_SELECTOR, "input.pick")), \
            "picks are frozen at the end"
    finally:
        server.stop()


def test_every_answer_carries_the_security_headers_and_wrong_tokens_are_throttled(fashion_small, key, tmp_path):
    db = tmp_path / "grader.sqlite"
    token = Store(db).add_team("ants")
    server = Server(fashion_small, db, "--root-path", "/grader")
    try:
        for path in ("/", "/me", "/admin", "/submit", "/static/style.css", "/api/leaderboard", "/nothing"):
            answer = server.get(path)
            assert "frame-ancestors 'none'" in answer.headers["content-security-policy"], path
            assert answer.headers["x-content-type-options"] == "nosniff" and answer.headers["referrer-policy"]
        page = server.get("/me").text
        assert 'href="/grader/static/style.css"' in page and 'href="/grader/"' in page and "<script>" not in page
        assert "http://" not in page and "https://" not in page, "no external asset"
        statuses = [server.get("/api/submissions", f"wrong-{n}").status_code for n in range(22)]
        assert statuses[:20] == [401] * 20 and statuses[20:] == [429, 429]
        limited = server.get("/api/submissions", "wrong-again")
        assert int(limited.headers["retry-after"]) > 0 and "too many wrong tokens" in limited.json()["error"]
        assert server.get("/api/submissions", token).status_code == 200, "a valid team is never slowed"
        assert server.upload(token, submission(key, wrong=1)).status_code == 201
        assert httpx.get(server.url + "/api/admin", timeout=30).status_code == 429
    finally:
        server.stop()


def test_a_class_of_35_the_competition_page_the_data_and_long_errors_in_a_browser(fashion_small, key, tmp_path,
                                                                                   browser):
    import zipfile

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from competition.data.loader import load_competition

    db = tmp_path / "grader.sqlite"
    made = Store(db).add_members([(f"Team {n:02d} of the back row", f"student{n:02d}") for n in range(35)])
    tokens = [token for _, _, token in made]
    page_text = tmp_path / "overview.md"
    page_text.write_text("# Sort the clothes\n\nRules: one account each.\n\n<script>alert('owned')</script>\n\n"
                         "| part | rows |\n|---|---|\n| train | 300 |\n")
    assert host(db, "set", "--overview", str(page_text)).returncode == 0
    deadline = (clock.now() + timedelta(days=400)).replace(hour=17, minute=0, second=0, microsecond=0)
    server = Server(fashion_small, db, "--title", "Fashion-MNIST, class 7B", "--deadline", clock.iso(deadline),
                    "--daily-limit", "3")
    try:
        for n, token in enumerate(tokens):
            assert server.upload(token, submission(key, wrong=n % 12, seed=n % 12)).status_code in (200, 201)
        long_header = "identifier_" * 40
        for _ in range(2):
            assert server.upload(tokens[0], f"{long_header},class\n1,2\n".encode(), name="x" * 90 + ".csv"
                                 ).status_code == 400
        browser.set_window_size(1920, 1080)
        browser.get(server.url + "/")
        time.sleep(0.5)
        pager = browser.find_element(By.ID, "pager")
        assert pager.is_displayed() and "of 35" in pager.text, "a board taller than the projector pages through"
        shown = [row for row in browser.find_elements(By.CSS_SELECTOR, "#leaderboard tbody tr") if row.is_displayed()]
        assert len(shown) >= 15 and all(row.rect["y"] + row.rect["height"] <= 1080 for row in shown), len(shown)
        first_page = [row.text for row in shown]
        pager.click()
        assert [r.text for r in browser.find_elements(By.CSS_SELECTOR, "#leaderboard tbody tr")
                if r.is_displayed()] != first_page, "a click turns the page"
        assert browser.find_element(By.CSS_SELECTOR, "#leaderboard td .tie"), "equal scores are marked"
        assert "reached its score first" in browser.find_element(By.ID, "ties").text
        assert browser.find_element(By.ID, "countdown").value_of_css_property("font-size") >= "40px"
        browser.save_screenshot(str(tmp_path / "board35-projector.png"))
        shoot(browser, "board35", tmp_path)

        browser.set_window_size(390, 844)
        browser.get(server.url + "/me")
        browser.find_element(By.ID, "token").send_keys(tokens[0])
        browser.find_element(By.ID, "use-token").click()
        WebDriverWait(browser, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#submissions tbody tr")) == 3)
        pick = browser.find_element(By.CSS_SELECTOR, "#submissions input.pick")
        public = browser.find_element(By.CSS_SELECTOR, "#submissions tbody tr:last-child td.num:nth-of-type(6)")
        assert pick.rect["x"] + pick.rect["width"] <= 390 and public.rect["x"] + public.rect["width"] <= 390, \
            "the scores and the pick column stay on a phone's screen beside long errors"
        shoot(browser, "me-long-errors", tmp_path)

        browser.set_window_size(1920, 1080)
        browser.get(server.url + "/overview")
        article = browser.find_element(By.ID, "overview")
        assert "<script>alert('owned')</script>" in article.text and not article.find_elements(By.TAG_NAME, "script")
        assert article.find_elements(By.CSS_SELECTOR, "table td") and "Sort the clothes" in article.text
        rules = browser.find_element(By.CSS_SELECTOR, "dl.rules").text
        assert "accuracy (higher is better)" in rules and "30 of 100 test rows" in rules and "3 scored" in rules
        assert str(deadline.year) in rules
        shoot(browser, "overview", tmp_path)

        downloads = tmp_path / "downloads"
        downloads.mkdir()
        browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
        browser.get(server.url + "/data")
        assert "test_sample.csv" in browser.find_element(By.ID, "files").text
        assert "T-shirt/top" in browser.find_element(By.ID, "classes").text
        assert browser.find_element(By.ID, "columns").text.startswith("A CSV with the columns id, class")
        shoot(browser, "data", tmp_path)
        assert browser.find_element(By.ID, "token").get_attribute("value") == tokens[0], "the token typed once"
        browser.find_element(By.ID, "token").clear()
        browser.find_element(By.ID, "token").send_keys(tokens[1])
        browser.find_element(By.ID, "get-zip").click()
        zipped = downloads / f"{fashion_small.name}.zip"
        WebDriverWait(browser, 60).until(lambda d: zipped.is_file())
        with zipfile.ZipFile(zipped) as bundle:
            bundle.extractall(tmp_path / "unpacked")
        theirs = load_competition(tmp_path / "unpacked", cache=False)
        assert theirs.fingerprint == load_competition(fashion_small, cache=False).fingerprint
        assert "token=" not in browser.current_url

        browser.get(server.url + "/no-such-page")
        assert browser.find_element(By.TAG_NAME, "h1").text == "No such page", "a browser gets a page"
        assert server.get("/api/no-such-thing").json()["error"].startswith("no such page"), "the API keeps JSON"
        assert server.get("/submit").text.count('id="ended"') == 0
        assert host(db, "reveal").returncode == 0
        browser.get(server.url + "/submit")
        assert "has ended" in browser.find_element(By.ID, "ended").text
        assert not browser.find_element(By.ID, "upload").is_displayed(), "no form to fill for nothing"
        browser.get(server.url + "/")
        heads = browser.find_element(By.CSS_SELECTOR, "#leaderboard thead").text.lower()
        assert "private (final pick)" in heads and "public (same pick)" in heads
    finally:
        server.stop()
    for name in ("board35-projector", "me-long-errors-phone", "overview-projector", "data-phone"):
        if os.environ.get("SCREENSHOTS") and (tmp_path / f"{name}.png").exists():
            shutil.copy(tmp_path / f"{name}.png", os.environ["SCREENSHOTS"])
