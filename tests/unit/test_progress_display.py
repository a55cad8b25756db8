"""What `pyacemaker run` shows while it watches: the live panel and the plain line are built from plain documents
(no database), and the plain line reads as words, never as a Python dict."""

from rich.console import Console

from pyacemaker.app import live
from pyacemaker.schemas.campaign import CampaignDoc


def _run(i: int, gamma: float | None, halted: bool = True) -> dict:
    return {"run_id": f"c:it{i:03d}:md0", "condition": {"name": "bulk 1100K", "temperature_K": 1100.0, "steps": 10},
            "halted": halted, "max_gamma": gamma}  # fmt: skip


DOC = CampaignDoc.model_validate({
    "_id": "tiny_cu", "state": "running", "stage": "label", "iteration": 2, "oracle_calls": 24,
    "latest_max_gamma": 1.7,
    "config": {"budget": {"max_oracle_calls": 60, "max_iterations": 5}, "explore": {"gamma_halt": 1.3}},
    "iterations": {
        "0": {"explore": {"0": _run(0, 5.2), "1": _run(0, 2.0)}, "decision": "continue",
              "decision_reason": "2 of 2 conditions halted on gamma", "oracle_calls": 12},
        "1": {"explore": {"0": _run(1, 3.14159), "1": _run(1, 1.7)}, "decision": "continue",
              "decision_reason": "2 of 2 conditions halted on gamma", "oracle_calls": 12},
        "2": {"oracle_calls": 0},
    },
})  # fmt: skip

FIREWORKS = [
    {"name": "seed (it 0)", "state": "COMPLETED", "spec": {"pyacemaker_class": "explore"}},
    *({"name": f"label (it 2) {k}", "state": "COMPLETED", "spec": {"pyacemaker_class": "label"}} for k in range(5)),
    *({"name": f"label (it 2) {k}", "state": "RUNNING", "spec": {"pyacemaker_class": "label"}} for k in range(3)),
    {"name": "label (it 2) 9", "state": "RESERVED", "spec": {"pyacemaker_class": "label"}},
    {"name": "train (it 1)", "state": "COMPLETED", "spec": {"pyacemaker_class": "train"}},
    {"name": "train (it 2)", "state": "WAITING", "spec": {"pyacemaker_class": "train"}},
    {"name": "explore (it 1) 0", "state": "FIZZLED"},  # no class in its spec (an older campaign): from its name
    {"name": "decide (it 1)", "state": "COMPLETED", "spec": {"pyacemaker_class": "light"}},
]  # fmt: skip


def _snap(**kw) -> live.Snapshot:
    return live.snapshot(
        DOC, live.class_counts(FIREWORKS), ["label (it 2) 0", "label (it 2) 1"], 187.0, 2, **kw
    )


def _text(renderable, width: int = 100) -> str:
    c = Console(record=True, width=width, color_system=None)
    c.print(renderable)
    return c.export_text()


def test_class_counts_per_class_and_state():
    c = live.class_counts(FIREWORKS)
    assert list(c) == ["label", "train", "explore", "light"]
    assert c["label"] == {
        "WAITING": 0,
        "READY": 1,
        "RUNNING": 3,
        "COMPLETED": 5,
        "FIZZLED": 0,
    }  # RESERVED: ready
    assert c["train"]["WAITING"] == 1 and c["train"]["COMPLETED"] == 1
    assert c["explore"] == {"WAITING": 0, "READY": 0, "RUNNING": 0, "COMPLETED": 1, "FIZZLED": 1}
    assert c["light"]["COMPLETED"] == 1
    assert live.class_counts([]) == {k: dict.fromkeys(("WAITING", "READY", "RUNNING", "COMPLETED", "FIZZLED"), 0)
                                     for k in ("label", "train", "explore", "light")}  # fmt: skip


def test_latest_gamma_is_the_highest_of_the_latest_iteration_that_explored():
    assert live.latest_gamma(DOC) == (1, 3.14159)
    assert live.latest_gamma(CampaignDoc.model_validate({"_id": "c", "latest_max_gamma": 2.5})) == (None, 2.5)
    assert live.latest_gamma(CampaignDoc.model_validate({"_id": "c"})) == (None, None)


def test_snapshot_reads_the_document():
    s = _snap()
    assert (s.campaign, s.iteration, s.stage, s.state) == ("tiny_cu", 2, "label", "running")
    assert (s.oracle_calls, s.oracle_budget, s.gamma_iteration, s.gamma_halt, s.workers) == (
        24,
        60,
        1,
        1.3,
        2,
    )
    bare = live.snapshot(CampaignDoc(name="c", state="-", iteration=0), live.class_counts([]))
    assert bare.oracle_budget is None and bare.gamma is None and bare.stage == "-"


def test_plain_line_is_words_without_a_dict():
    line = live.plain_line(_snap())
    assert line == (
        "iteration 2 · stage label · label 1 ready 3 running 5 done · train 1 done · explore 1 done 1 failed · "
        "light 1 done · oracle calls 24/60 · gamma max 3.14 (it 1)"
    )
    assert "{" not in line and "}" not in line and "'" not in line and "\n" not in line
    # no time in it: the same state gives the same line, so a log gets a line per change only
    assert live.plain_line(live.snapshot(DOC, live.class_counts(FIREWORKS), [], 999.0)) == line
    bare = live.plain_line(
        live.snapshot(CampaignDoc(name="c", state="-", iteration=0), live.class_counts([]))
    )
    assert bare == "iteration 0 · stage - · oracle calls 0"


def test_panel_shows_everything_at_a_glance():
    text = _text(live.panel(_snap()))
    for part in ("tiny_cu", "running", "iteration", "2", "stage", "label", "oracle calls", "24/60", "gamma max",
                 "3.14 (it 1), halts above 1.3", "elapsed", "3:07", "workers", "label (it 2) 0, label (it 2) 1"):  # fmt: skip
        assert part in text, part
    rows = {ln.split()[1]: ln.split()[2:-1] for ln in text.splitlines() if ln.split()[1:2] and
            ln.split()[1] in ("jobs", "label", "train", "explore", "light")}  # fmt: skip
    assert rows["jobs"] == ["waiting", "ready", "running", "done", "failed"]
    assert rows["label"] == ["·", "1", "3", "5", "·"]
    assert rows["train"] == ["1", "·", "·", "1", "·"]
    assert rows["explore"] == ["·", "·", "·", "1", "1"]
    assert "{" not in text


def test_panel_before_anything_ran():
    text = _text(
        live.panel(live.snapshot(CampaignDoc(name="new", state="-", iteration=0), live.class_counts([])))
    )
    assert "new" in text and "running: -" in text and "gamma max" in text


def test_panel_fits_an_80_column_terminal():
    text = _text(live.panel(_snap()), width=80)
    assert max(len(ln) for ln in text.splitlines()) <= 80
    assert "3:07" in text and "24/60" in text


def test_elapsed():
    assert [live.elapsed(s) for s in (-1, 0, 42, 187, 3723)] == ["0:00", "0:00", "0:42", "3:07", "1:02:03"]


def test_finished_iterations_read_as_sentences():
    lines = live.finished_iterations(DOC)
    assert sorted(lines) == [0, 1]
    assert lines[1] == ("iteration 1 done: continue (2 of 2 conditions halted on gamma) · gamma max 3.14 · "
                        "12 oracle calls")  # fmt: skip
    assert "{" not in lines[0]


class _Coll:
    def __init__(self, docs):
        self.docs = docs

    def find_one(self, q, *a, **kw):
        return next((d for d in self.docs if d.get("fw_id") == q.get("fw_id")), None)

    def find(self, q, *a, **kw):
        ids = q["fw_id"]["$in"]
        return [d for d in self.docs if d["fw_id"] in ids]


def test_a_failed_job_is_told_with_its_last_traceback_line_or_at_least_its_name():
    from types import SimpleNamespace

    from pyacemaker.app.progress import _failed_lines

    fws = _Coll([{"fw_id": 7, "name": "train (it 0)", "launches": [1]}])
    tb = {"action": {"stored_data": {"_exception": {"_stacktrace": "Traceback\n  ...\nValueError: broken"}}}}
    lp = SimpleNamespace(fireworks=fws, launches=SimpleNamespace(find_one=lambda *a, **kw: tb))
    assert _failed_lines(lp, [7]) == ["train (it 0) (fw 7): ValueError: broken"]
    odd = SimpleNamespace(fireworks=fws, launches=SimpleNamespace(find_one=lambda *a, **kw: {"action": 1}))
    assert _failed_lines(odd, [7]) == ["train (it 0) (fw 7)"]
    assert _failed_lines(lp, []) == []
