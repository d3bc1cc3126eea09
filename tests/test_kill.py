"""Kill `pooling run` at any moment: its output folder holds the previous complete set or the new one (DESIGN §14).

A few kills here; ``benchmarks/bench_kill.py`` runs the 20-kill loop. The staging machinery itself is checked
directly too: an interrupted command leaves the folder as it was, a kill between the two renames is recovered."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pooling.io import recover_folder, staged_folder
from tests.killing import kill_loop


@pytest.mark.slow
def test_sigkill_at_random_moments_leaves_a_whole_folder(tmp_path: Path) -> None:
    report = kill_loop(tmp_path, kills=4, seed=1)
    assert not report.broken, report.broken
    assert report.kills == 4
    leftovers = [p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".") or p.suffix == ".tmp"]
    assert not leftovers


def test_stage_without_commit_leaves_the_folder_untouched(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.csv").write_text("old\n")
    with pytest.raises(KeyboardInterrupt), staged_folder(target) as stage:
        (stage.path / "keep.csv").write_text("new\n")
        (stage.path / "half.csv").write_text("partial")
        raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert [p.name for p in target.iterdir()] == ["keep.csv"] and (target / "keep.csv").read_text() == "old\n"


def test_commit_swaps_in_the_new_set_and_keeps_untouched_files(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "pool.csv").write_text("pool\n")
    (target / "tranches.csv").write_text("old\n")
    with staged_folder(target) as stage:
        (stage.path / "tranches.csv").write_text("new\n")
        stage.commit()
    assert {p.name: p.read_text() for p in target.iterdir()} == {"pool.csv": "pool\n", "tranches.csv": "new\n"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_stage_that_wrote_nothing_creates_no_folder(tmp_path: Path) -> None:
    with staged_folder(tmp_path / "out") as stage:
        stage.commit()
    assert not (tmp_path / "out").exists() and not list(tmp_path.iterdir())


def test_kill_between_the_renames_is_recovered(tmp_path: Path) -> None:
    target = tmp_path / "out"
    dead = 2 ** 22 + 12345  # above the default pid_max: no such process
    previous = tmp_path / f".out.previous-{dead}"
    previous.mkdir()
    (previous / "pool.csv").write_text("old\n")
    (tmp_path / f".out.staging-{dead}").mkdir()
    recover_folder(target)
    assert (target / "pool.csv").read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert os.getpid() != dead


def test_the_working_folder_and_big_folders_are_written_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pooling.io as pio

    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.txt").write_text("x")
    with staged_folder(Path(".")) as stage:
        assert stage.path == tmp_path
        (stage.path / "pool.csv").write_text("p\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt", "pool.csv"]
    big = tmp_path / "big"
    big.mkdir()
    for i in range(3):
        (big / f"f{i}").write_text("y")
    monkeypatch.setattr(pio, "STAGE_MAX_FILES", 2)
    with staged_folder(big) as stage:
        assert stage.path == big
