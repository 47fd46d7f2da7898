"""Downloading recordings (F28): one as its .opus, several as a zip whose index.html lists and
plays them in a real browser; audited per recording, refused outside the user's rights."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import zipfile
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mm_engine.audit import AuditAction
from mm_engine.domain import Recording, Verification
from mm_engine.engine import Engine
from mm_engine.errors import InvalidInput, Refused
from mm_engine.passwords import ScryptParams
from mm_engine.principal import SYSTEM, Principal, ReplayScope, Rights, Role
from mm_engine.session import Session
from mm_tui.cli import app
from tests.conftest import BASE_START, AddRecording


def stored(engine: Engine, rec: Recording) -> bytes:
    return (engine.store().root / rec.path).read_bytes()


def downloads(engine: Engine) -> list[Any]:
    return [e for e in engine.audit.list(limit=500).items if e.action == AuditAction.DOWNLOAD]


@pytest.fixture
def admin(engine: Engine) -> Session:
    return Session(engine, SYSTEM)


@pytest.fixture
def awkward(add_recording: AddRecording) -> list[Recording]:
    """Three calls whose details need escaping in HTML, one in Unicode."""
    return [
        add_recording(
            call_id="A&B-1",
            parties=["201", "0301 <ext>"],
            agents=["Zoë Ærø"],
            direction="inbound",
            owner="201",
            target="0800 555",
            skill="Sales & Support",
            start=BASE_START,
        ),
        add_recording(
            call_id='<script>alert("x")</script>',
            parties=["202"],
            direction="outbound",
            start=BASE_START + timedelta(minutes=5),
        ),
        add_recording(call_id="C-3", parties=["203", "204"], start=BASE_START + timedelta(hours=1)),
    ]


# -- one recording -----------------------------------------------------------------------------
def test_one_recording_is_written_as_its_opus_file_and_audited(
    engine: Engine, add_recording: AddRecording, admin: Session, tmp_path: Path
) -> None:
    rec = add_recording(call_id="CALL-7", parties=["201"])
    result = admin.download([rec.id], tmp_path / "out")
    assert result.path == tmp_path / "out" / "CALL-7-1.opus"
    assert result.path.read_bytes() == stored(engine, rec)
    assert result.size == rec.size
    assert result.verification == {rec.id: Verification.VERIFIED}
    assert result.path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["CALL-7-1.opus"]  # no leftovers
    (event,) = downloads(engine)
    assert (event.user, event.details["call_id"]) == (SYSTEM.name, "CALL-7")
    assert event.details["file"] == str(result.path)


def test_an_existing_file_is_never_overwritten(
    engine: Engine, add_recording: AddRecording, admin: Session, tmp_path: Path
) -> None:
    rec = add_recording(call_id="CALL-7")
    (tmp_path / "CALL-7-1.opus").write_bytes(b"mine, keep it")
    first = admin.download([rec.id], tmp_path)
    second = admin.download([rec.id], tmp_path)
    assert (first.path.name, second.path.name) == ("CALL-7-1 (2).opus", "CALL-7-1 (3).opus")
    assert (tmp_path / "CALL-7-1.opus").read_bytes() == b"mine, keep it"
    assert second.path.read_bytes() == stored(engine, rec)


def test_the_default_folder_is_made_in_the_home_directory(
    add_recording: AddRecording, admin: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "person"))
    rec = add_recording(call_id="H1")
    result = admin.download([rec.id])
    assert result.path == tmp_path / "person" / "mm-downloads" / "H1-1.opus"


def test_a_file_in_the_way_of_the_folder_is_reported(
    add_recording: AddRecording, admin: Session, tmp_path: Path
) -> None:
    rec = add_recording()
    (tmp_path / "taken").write_text("a file")
    with pytest.raises(InvalidInput, match="exists and is not a folder"):
        admin.download([rec.id], tmp_path / "taken")


def test_a_changed_file_is_still_written_but_marked_not_verified(
    engine: Engine, awkward: list[Recording], admin: Session, tmp_path: Path
) -> None:
    bad = awkward[2]
    path = engine.store().root / bad.path
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    result = admin.download([r.id for r in awkward], tmp_path)
    assert result.not_verified == [bad.id]
    assert result.verification[bad.id] is Verification.TAMPERED
    with zipfile.ZipFile(result.path) as archive:
        page = archive.read("index.html").decode("utf-8")
    row = re.search(rf'<tr data-recording="{bad.id}">.*?</tr>', page)
    assert row is not None and "✗ not verified" in row.group(0)
    assert page.count("✓ verified") == 2


# -- several recordings: the zip ---------------------------------------------------------------
class Page(HTMLParser):
    """The rows, audio sources and any outside references of the exported page."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.sources: list[str] = []
        self.outside: list[str] = []
        self.scripts = 0
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "tr" and "data-recording" in values:
            self.rows.append([])
        if tag == "td" and self.rows:
            self._cell = []
        if tag == "audio":
            self.sources.append(values["src"] or "")
        if tag == "script":
            self.scripts += 1
        for name in ("src", "href"):
            value = values.get(name) or ""
            if re.match(r"^[a-z]+:|^//", value):
                self.outside.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def test_several_recordings_make_one_zip_with_a_page_listing_each(
    engine: Engine, awkward: list[Recording], admin: Session, tmp_path: Path
) -> None:
    result = admin.download([r.id for r in awkward], tmp_path)
    assert re.fullmatch(r"mm-recordings-\d{8}-\d{6}\.zip", result.path.name)
    assert result.ids == tuple(r.id for r in awkward)
    assert result.size == result.path.stat().st_size
    with zipfile.ZipFile(result.path) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        assert sorted(names) == sorted(
            ["A_B-1-1.opus", "script_alert_x_script-1.opus", "C-3-1.opus", "index.html"]
        )
        for rec, name in zip(awkward, names, strict=False):
            assert archive.read(name) == stored(engine, rec)
        raw = archive.read("index.html")
    page = raw.decode("utf-8")
    assert '<meta charset="utf-8">' in page
    assert "<script>" not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    parsed = Page()
    parsed.feed(page)
    assert parsed.scripts == 0 and parsed.outside == []
    assert parsed.sources == ["A_B-1-1.opus", "script_alert_x_script-1.opus", "C-3-1.opus"]
    first = parsed.rows[0]
    assert first[:10] == [
        "2026-03-02 09:00:00",
        "0:01",
        "201, 0301 <ext>",
        "inbound",
        "Zoë Ærø",
        "201",
        "0800 555",
        "Sales & Support",
        "A&B-1",
        "✓ verified",
    ]
    assert [row[8] for row in parsed.rows] == [r.details.call_id for r in awkward]
    assert "Downloaded files leave the audit's control" in html.unescape(page)
    # one audit event per recording, each naming the zip
    events = downloads(engine)
    assert sorted(e.details["id"] for e in events) == sorted(r.id for r in awkward)
    assert {e.details["file"] for e in events} == {str(result.path)}


def test_an_end_user_needs_the_download_right_and_every_recording_in_scope(
    engine: Engine, awkward: list[Recording], tmp_path: Path
) -> None:
    mine = awkward[0]  # extension 201 is a party
    no_right = Session(
        engine, Principal("eve", Role.END_USER, Rights(True, ReplayScope.MINE, extension="201"))
    )
    with pytest.raises(Refused, match="this account has no download right"):
        no_right.download([mine.id], tmp_path / "eve")
    may = Session(
        engine,
        Principal(
            "dora", Role.END_USER, Rights(True, ReplayScope.MINE, extension="201", download=True)
        ),
    )
    foreign = awkward[2]
    with pytest.raises(Refused, match=f"recording {foreign.id} is not in your recordings"):
        may.download([mine.id, foreign.id], tmp_path / "dora")
    assert not (tmp_path / "eve").exists() and not (tmp_path / "dora").exists()
    refused = downloads(engine)
    assert [(e.user, e.details["refused"]) for e in refused] == [("dora", True), ("eve", True)]
    assert refused[0].details["ids"] == [foreign.id]
    written = may.download([mine.id], tmp_path / "dora")
    assert written.path.name == "A_B-1-1.opus"
    assert downloads(engine)[0].user == "dora"


# -- the CLI -----------------------------------------------------------------------------------
def test_cli_prints_the_path_written_and_json_for_scripts(
    awkward: list[Recording], tmp_path: Path
) -> None:
    runner = CliRunner()
    one = runner.invoke(app, ["recordings", "download", str(awkward[2].id), "--to", str(tmp_path)])
    assert one.exit_code == 0, one.stderr
    assert one.stdout == f"{tmp_path / 'C-3-1.opus'}\n"
    ids = [str(r.id) for r in awkward]
    many = runner.invoke(app, ["recordings", "download", *ids, "--to", str(tmp_path), "--json"])
    assert many.exit_code == 0, many.stderr
    data = json.loads(many.stdout)
    assert data["count"] == 3 and data["ids"] == [r.id for r in awkward]
    assert Path(data["path"]).is_file() and data["path"].endswith(".zip")
    assert set(data["verification"].values()) == {"verified"}


def test_cli_refuses_an_end_user_without_the_right(
    engine: Engine, awkward: list[Recording], tmp_path: Path
) -> None:
    engine.users.params = ScryptParams(n=2**10, r=8, p=1)
    engine.users.add(
        SYSTEM,
        "eve",
        Role.END_USER,
        "correct horse",
        Rights(True, ReplayScope.ALL, extension="201"),
    )
    out = CliRunner().invoke(
        app,
        [
            "--user",
            "eve",
            "recordings",
            "download",
            str(awkward[0].id),
            "--to",
            str(tmp_path / "o"),
        ],
        env={"MM_PASSWORD": "correct horse"},
    )
    assert out.exit_code == 3
    assert "eve may not download recordings: this account has no download right" in out.stderr
    assert not (tmp_path / "o").exists()


# -- the page in a real browser ----------------------------------------------------------------
PROBE = """
<script>
(function () {
  function report() {
    var out = document.createElement("pre");
    out.id = "probe";
    var items = [];
    document.querySelectorAll("audio").forEach(function (a) {
      items.push({src: a.getAttribute("src"), readyState: a.readyState,
                  duration: isFinite(a.duration) ? a.duration : null,
                  error: a.error ? a.error.code : null});
    });
    out.textContent = JSON.stringify({rows: document.querySelectorAll("tbody tr").length,
                                      audio: items});
    document.body.appendChild(out);
  }
  var audios = Array.prototype.slice.call(document.querySelectorAll("audio"));
  var waiting = audios.length, done = false;
  function settle() { if (--waiting === 0 && !done) { done = true; report(); } }
  audios.forEach(function (a) {
    if (a.readyState >= 1 || a.error) { settle(); return; }
    a.addEventListener("loadedmetadata", settle, {once: true});
    a.addEventListener("error", settle, {once: true});
  });
  setTimeout(function () { if (!done) { done = true; report(); } }, 4000);
})();
</script>
"""


def test_the_page_lists_every_recording_and_each_plays_in_chromium(
    awkward: list[Recording], admin: Session, tmp_path: Path
) -> None:
    """The page ships as is; the test opens a copy with a probe script appended that writes
    each audio element's state into the DOM, which --dump-dom prints."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is missing: ./scripts/test installs it (Debian package chromium)")
    result = admin.download([r.id for r in awkward], tmp_path / "zip")
    site = tmp_path / "site"
    with zipfile.ZipFile(result.path) as archive:
        archive.extractall(site)
    page = (site / "index.html").read_text(encoding="utf-8")
    probed = site / "probe.html"
    probed.write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    out = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            probed.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    match = re.search(r'<pre id="probe">(.*?)</pre>', out.stdout, re.DOTALL)
    assert match is not None, out.stdout[-2000:] + out.stderr[-2000:]
    probe = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert probe["rows"] == len(awkward)
    assert [a["src"] for a in probe["audio"]] == [
        "A_B-1-1.opus",
        "script_alert_x_script-1.opus",
        "C-3-1.opus",
    ]
    for audio in probe["audio"]:
        assert audio["error"] is None, audio
        assert audio["readyState"] >= 1, audio
        assert audio["duration"] == pytest.approx(1.0, abs=0.05), audio
    assert "<script>alert" not in out.stdout  # the call ID stayed text
