"""pairlab_jupyter.export: history replay, compact packing, the page, the folder."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from jupyter_ydoc import YNotebook
from pycrdt import Doc

from datagen import access
from pairlab_jupyter import export
from pairlab_jupyter.export import ExportError, State, pack, replay, unpack

START = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
T0 = START.timestamp()


def code(cell_id: str, source: str) -> dict:
    return {
        "id": cell_id,
        "cell_type": "code",
        "source": source,
        "metadata": {},
        "outputs": [],
        "execution_count": None,
    }


class Recorder:
    """A notebook document whose every change is kept with a chosen timestamp."""

    def __init__(self) -> None:
        self.doc = Doc()
        self.notebook = YNotebook(self.doc)
        self.updates: list[tuple[float, bytes]] = []
        self.now = T0
        self.doc.observe(lambda event: self.updates.append((self.now, event.update)))

    def at(self, seconds: float) -> YNotebook:
        self.now = T0 + seconds
        return self.notebook

    def source(self, index: int):
        return self.notebook.ycells[index]["source"]


def typed_session() -> Recorder:
    recorder = Recorder()
    recorder.at(0).set({"cells": [code("a", "import polars as pl")], "metadata": {}})
    notebook = recorder.at(5)
    notebook.ycells.append(notebook.create_ycell(code("b", "")))
    for offset, letter in enumerate("df.head()"):
        recorder.at(10 + offset * 0.1)
        recorder.source(1).insert(offset, letter)
    recorder.at(20)
    recorder.source(0).insert(0, "# \N{ALARM CLOCK} setup\n")
    recorder.at(25)
    del recorder.notebook.ycells[0]
    return recorder


def test_replay_merges_keystrokes_within_a_second_into_one_state() -> None:
    recorder = typed_session()

    states = replay(recorder.updates)

    assert [round(s.time - T0, 1) for s in states] == [0, 5, 10.8, 20, 25]
    assert [s.cells for s in states] == [
        (("a", "code", "import polars as pl"),),
        (("a", "code", "import polars as pl"), ("b", "code", "")),
        (("a", "code", "import polars as pl"), ("b", "code", "df.head()")),
        (
            ("a", "code", "# \N{ALARM CLOCK} setup\nimport polars as pl"),
            ("b", "code", "df.head()"),
        ),
        (("b", "code", "df.head()"),),
    ]


def test_replay_skips_updates_that_change_nothing_visible() -> None:
    recorder = typed_session()
    # Running a cell changes its count and outputs, not the source the page shows.
    recorder.at(40).ycells[0]["execution_count"] = 3

    states = replay(recorder.updates)

    assert len(states) == 5
    assert round(states[-1].time - T0) == 25


def test_pack_then_unpack_gives_back_every_state_exactly() -> None:
    states = replay(typed_session().updates)

    packed = pack(states)

    unpacked = unpack(packed)
    assert [s.cells for s in unpacked] == [s.cells for s in states]
    assert [s.time for s in unpacked] == pytest.approx([s.time for s in states])
    assert packed["cells"] == [["a", "code"], ["b", "code"]]


def test_pack_stores_a_keystroke_as_a_small_edit_not_a_copy() -> None:
    before = State(time=T0, cells=(("a", "code", "x" * 5000),))
    after = State(time=T0 + 2, cells=(("a", "code", "x" * 2500 + "y" + "x" * 2500),))

    packed = pack([before, after])

    assert packed["states"][1] == [2000, 0, [[0, 2500, 0, "y"]]]


def test_offsets_count_utf16_units_as_the_page_does() -> None:
    before = State(time=T0, cells=(("a", "code", "\N{ALARM CLOCK}\N{ROCKET}x"),))
    after = State(time=T0 + 1, cells=(("a", "code", "\N{ALARM CLOCK}\N{ROCKET}yx"),))

    packed = pack([before, after])

    # The alarm clock is one UTF-16 unit, the rocket two (a surrogate pair).
    assert packed["states"][1][2] == [[0, 3, 0, "y"]]
    assert unpack(packed)[1].cells == after.cells


def test_a_typed_closing_script_tag_stays_data_in_the_page() -> None:
    hostile = "</script><script>alert(1)</script><!--"
    states = [State(time=T0, cells=(("a", "code", hostile),))]

    page = export.render_playback(
        title="<b>Ada</b>", notebooks={"n.ipynb": pack(states)}, runs=[]
    )

    assert "alert(1)</script>" not in page
    assert "<b>Ada</b>" not in page
    assert unpack(export.playback_data(page)["notebooks"]["n.ipynb"])[0].cells == (
        ("a", "code", hostile),
    )


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run the JS")
def test_the_page_script_rebuilds_the_same_states_as_python(tmp_path: Path) -> None:
    states = replay(typed_session().updates)
    long_session = [
        State(time=T0 + i, cells=(("a", "code", "x" * (i % 7)), ("b", "code", str(i))))
        for i in range(130)
    ]
    notebooks = {"short.ipynb": pack(states), "long.ipynb": pack(long_session)}
    page = export.render_playback(title="t", notebooks=notebooks, runs=[])
    (tmp_path / "playback.js").write_text(export.playback_script(page))
    (tmp_path / "data.json").write_text(json.dumps(export.playback_data(page)))
    driver = tmp_path / "driver.js"
    driver.write_text(
        "const { Playback } = require('./playback.js');\n"
        "const data = require('./data.json');\n"
        "const out = {};\n"
        "for (const [path, nb] of Object.entries(data.notebooks)) {\n"
        "  const p = new Playback(nb);\n"
        "  out[path] = [];\n"
        "  for (let i = p.length - 1; i >= 0; i--) {\n"
        "    const s = p.stateAt(i);\n"
        "    out[path][i] = [s.time, s.cells.map((c) => [c.id, c.type, c.source])];\n"
        "  }\n"
        "}\n"
        "console.log(JSON.stringify(out));\n"
    )

    result = subprocess.run(
        ["node", str(driver)], capture_output=True, text=True, check=True
    )

    from_js = json.loads(result.stdout)
    for path, packed in notebooks.items():
        expected = [
            [round(s.time * 1000), [list(c) for c in s.cells]] for s in unpack(packed)
        ]
        got = [[round(time), cells] for time, cells in from_js[path]]
        assert got == expected, path


# Just enough of a browser's DOM for the page's own drawing code to run in node.
FAKE_DOM = """
const fs = require("fs");
const page = fs.readFileSync(process.argv[2], "utf8");
const dataText = page.split('id="pairlab-data">')[1].split("</script>")[0];
function node(tag) {
  return {
    tag, textContent: "", value: "0", max: "0", hidden: false, className: "",
    options: [], children: [], listeners: {},
    add(option) { this.options.push(option); },
    addEventListener(type, listener) { this.listeners[type] = listener; },
    append(...children) { this.children.push(...children); },
    replaceChildren(fragment) { this.children = fragment.children; },
    closest() { return null; },
  };
}
const byId = {};
global.document = {
  getElementById: (id) =>
    id === "pairlab-data" ? { textContent: dataText } : (byId[id] ||= node(id)),
  createElement: node,
  createDocumentFragment: () => node("fragment"),
  addEventListener: (type, listener) => { byId["document:" + type] = listener; },
};
global.Option = function (text, value) { this.text = text; this.value = value; };
global.requestAnimationFrame = (callback) => callback();
const script = page.split('<script id="pairlab-playback">')[1].split("</script>")[0];
new Function("module", script)(undefined);
const seen = () =>
  byId.cells.children.map((box) => [box.className, box.children[1].textContent]);
const text = (id) => byId[id].textContent;
const last = { clock: text("clock"), position: text("position"), cells: seen() };
last.runs = text("runs");
byId.slider.value = "0";
byId.slider.listeners.input();
const first = { position: text("position"), cells: seen(), runs: text("runs") };
console.log(JSON.stringify({ last, first }));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run the JS")
def test_the_page_draws_the_last_state_then_the_first_when_the_slider_moves(
    tmp_path: Path,
) -> None:
    states = replay(typed_session().updates)
    page = export.render_playback(
        title="t",
        notebooks={"n.ipynb": pack(states)},
        runs=[[T0 + 11, "Ada Lovelace", "b", "error"]],
    )
    (tmp_path / "playback.html").write_text(page)
    (tmp_path / "dom.js").write_text(FAKE_DOM)

    result = subprocess.run(
        ["node", str(tmp_path / "dom.js"), str(tmp_path / "playback.html")],
        capture_output=True,
        text=True,
        check=True,
    )

    drawn = json.loads(result.stdout)
    assert drawn["last"]["cells"] == [["cell code", "df.head()"]]
    assert drawn["last"]["position"] == "+0:25 \u00b7 state 5 of 5"
    assert drawn["last"]["clock"] != ""
    assert drawn["last"]["runs"].startswith("1 cell run so far\n")
    assert drawn["last"]["runs"].endswith("Ada Lovelace ran cell b: error")
    assert drawn["first"]["cells"] == [["cell code changed", "import polars as pl"]]
    assert drawn["first"]["position"] == "+0:00 \u00b7 state 1 of 5"
    assert drawn["first"]["runs"] == "0 cell runs so far"


def write_stack_volumes(root: Path, recorder: Recorder) -> dict[str, Path]:
    """A notebooks folder, state folder and access file as the stack leaves them."""
    notebooks, state, access_dir = root / "work", root / "state", root / "access"
    for folder in (notebooks / "data", state / "collab", access_dir, root / "links"):
        folder.mkdir(parents=True)
    access.issue(
        {"CANDIDATE_NAME": "Ada Lovelace", "INTERVIEWER_NAME": "Grace Hopper"},
        access_dir=access_dir,
        links_dir=root / "links",
        now=START,
    )
    final = recorder.notebook.get()
    (notebooks / "interview.ipynb").write_text(json.dumps(final))
    (notebooks / "data" / "hidden.ipynb").write_text(json.dumps(final))
    with sqlite3.connect(state / "collab" / "file_id.db") as db:
        db.execute("CREATE TABLE Files (id TEXT PRIMARY KEY, path TEXT)")
        db.execute(
            "INSERT INTO Files VALUES ('f-1', '/home/pairlab/work/interview.ipynb')"
        )
    with sqlite3.connect(state / "collab" / "ystore.db") as db:
        db.execute(
            "CREATE TABLE yupdates (path TEXT NOT NULL, yupdate BLOB, "
            "metadata BLOB, timestamp REAL NOT NULL)"
        )
        db.executemany(
            "INSERT INTO yupdates VALUES ('.notebook:f-1.y', ?, NULL, ?)",
            [(update, at) for at, update in recorder.updates],
        )
    runs = [
        {
            "username": "candidate",
            "cell_id": "b",
            "code": "df.head()",
            "started_at": "2026-12-04T09:00:11.000+00:00",
            "finished_at": "2026-12-04T09:00:11.500+00:00",
            "status": "error",
            "error": "NameError: name 'df' is not defined",
            "execution_count": 1,
        },
        {
            "username": "interviewer",
            "cell_id": "gone",
            "code": "1",
            "started_at": "2026-12-04T09:00:30.000+00:00",
            "finished_at": "2026-12-04T09:00:30.100+00:00",
            "status": "ok",
            "error": None,
            "execution_count": 2,
        },
    ]
    (state / "executions.jsonl").write_text(
        "".join(json.dumps(run) + "\n" for run in runs) + '{"torn'
    )
    return {
        "notebook_dir": notebooks,
        "state_dir": state,
        "access_file": access_dir / "access.json",
    }


def test_export_writes_notebooks_log_and_playback_into_a_dated_folder(
    tmp_path: Path,
) -> None:
    volumes = write_stack_volumes(tmp_path, typed_session())

    folder = export.export(**volumes, export_dir=tmp_path / "out")
    again = export.export(**volumes, export_dir=tmp_path / "out")

    assert folder.name == "2026-12-04-ada-lovelace"
    assert again.name == "2026-12-04-ada-lovelace-2"
    assert sorted(
        str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()
    ) == [
        "execution-log.csv",
        "execution-log.json",
        "notebooks/interview.html",
        "notebooks/interview.ipynb",
        "playback.html",
    ]
    log = json.loads((folder / "execution-log.json").read_text())
    assert [(e["ran_by"], e["notebook"], e["status"]) for e in log] == [
        ("Ada Lovelace", "interview.ipynb", "error"),
        ("Grace Hopper", None, "ok"),
    ]
    csv_header = (folder / "execution-log.csv").read_text().splitlines()[0]
    assert csv_header.startswith("started_at,finished_at,ran_by,role,notebook")
    page = (folder / "playback.html").read_text()
    assert len(unpack(export.playback_data(page)["notebooks"]["interview.ipynb"])) == 5
    assert "http://" not in page and "https://" not in page
    static = (folder / "notebooks" / "interview.html").read_text()
    assert "df.head()" in re.sub(r"<[^>]+>", "", static)
    assert 'src="http' not in static


def test_export_without_notebooks_says_to_run_it_before_down_v(
    tmp_path: Path,
) -> None:
    volumes = write_stack_volumes(tmp_path, typed_session())
    (volumes["notebook_dir"] / "interview.ipynb").unlink()

    with pytest.raises(ExportError) as raised:
        export.export(**volumes, export_dir=tmp_path / "out")

    assert "docker compose down -v" in str(raised.value)
    assert "\n" not in str(raised.value)
    assert not (tmp_path / "out").exists()


def test_main_reports_a_missing_access_file_with_exit_code_2(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    code = export.main(
        ["--access-file", str(tmp_path / "nope.json"), "--out", str(tmp_path)]
    )

    assert code == 2
    assert "there is no interview to export" in caplog.text
    assert "docker compose down -v" in caplog.text


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Ada Lovelace", "ada-lovelace"),
        ("José Núñez", "jose-nunez"),
        ("李", "candidate"),
    ],
)
def test_folder_names_are_plain_ascii_slugs_of_the_name(
    name: str, expected: str
) -> None:
    assert export.slug(name) == expected


def test_the_export_goes_to_the_owner_of_the_project_files(tmp_path: Path) -> None:
    folder = tmp_path / "interviews" / "2026-12-04-ada"
    (folder / "notebooks").mkdir(parents=True)
    (folder / "notebooks" / "interview.ipynb").write_text("{}")
    reference = tmp_path / "compose.yaml"
    reference.write_text("")
    try:
        os.chown(reference, 4321, 4322)
    except PermissionError:
        pytest.skip("handing files over needs root, as the export service has")

    said = export.hand_over(folder, reference=reference)

    owners = {
        (path.stat().st_uid, path.stat().st_gid)
        for path in [folder.parent, folder, *folder.rglob("*")]
    }
    assert owners == {(4321, 4322)}
    assert said == "owned by uid 4321, the owner of the pairlab folder"
