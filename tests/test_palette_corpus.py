"""The wider palettized corpus: which clips a source gives, the split by package, the per-source report."""

from __future__ import annotations

import json

import pytest

from fpcodec.bench import natural_corpus, palette_corpus


def _clip(name: str, package: str, split: str = "test") -> dict:
    return {"name": name, "split": split, "package": {"name": package}}


def test_split_is_by_package_and_leaves_dev_out():
    clips = natural_corpus.load_manifest()["clips"]
    splits = {c["name"]: palette_corpus.split_of(c) for c in clips}
    assert {n for n, s in splits.items() if s is None} == {"carphone", "bikes", "bigbuckbunny"}
    by_package: dict[str, set] = {}
    for c in clips:
        by_package.setdefault(c["package"]["name"], set()).add(splits[c["name"]])
    assert all(len(s) == 1 for s in by_package.values())  # no package on both sides
    assert {"train", "test"} <= {s for v in by_package.values() for s in v}
    reserved = set(natural_corpus.load_manifest()["reserved_packages"])
    assert not reserved & set(by_package)


@pytest.mark.parametrize(
    ("frames", "stride", "count", "catz"), [(400, 2, 17, 3), (40, 2, 17, 1), (30, 1, 17, 1), (16, 1, 16, 1)]
)
def test_plan_fits_the_source(frames, stride, count, catz):
    specs = palette_corpus.plan(_clip("x", "hug"), frames)
    kinds = [s["kind"] for s in specs]
    assert kinds == ["catz96"] * catz + ["giphy200"]
    for s in specs:
        assert (s["stride"], s["frames"]) == (stride, count)
        assert 0 <= s["start"] and s["start"] + (s["frames"] - 1) * s["stride"] < frames
    assert len({s["file"] for s in specs}) == len(specs)
    assert specs == palette_corpus.plan(_clip("x", "hug"), frames)  # the same clips every time


def test_train_sources_give_more_clips():
    test = palette_corpus.plan(_clip("a", "hug", "test"), 1000)
    train = palette_corpus.plan(_clip("a", "gem-doc", "test"), 1000)
    assert len(test) == palette_corpus.MAX_CATZ["test"] + 1
    assert len(train) == palette_corpus.MAX_CATZ["train"] + 1
    assert train[0]["file"].startswith("train/") and test[0]["file"].startswith("test/")


def _report(models: dict[str, dict[str, int]], webp_counted: bool = True) -> dict:
    names = sorted({n for m in models.values() for n in m})
    clips = []
    for n in names:
        clip = {"name": n, "gif_bytes": 1000, "webp_bytes": 800, "webp": {"counted": webp_counted}}
        clip["models"] = {m: {"bytes": sizes[n]} for m, sizes in models.items() if n in sizes}
        clips.append(clip)
    return {"models": list(models), "clips": clips}


def test_report_sums_per_source_and_folder(tmp_path, capsys):
    a = _report(
        {"last-frame": {"catz96/dog_000.gif": 500, "catz96/dog_001.gif": 300, "giphy200/dog.gif": 200}}
    )
    b = _report(
        {"learned": {"catz96/dog_000.gif": 450, "catz96/dog_001.gif": 300, "giphy200/dog.gif": 250}},
        webp_counted=False,
    )
    models, rows = palette_corpus.by_source([a, b])
    assert models == ["last-frame", "learned"]
    assert rows["dog"] == {"gif": 3000, "webp": 2400, "last-frame": 1000, "learned": 1000}
    assert rows["catz96"]["learned"] == 750 and rows["giphy200"]["last-frame"] == 200
    table = palette_corpus.report_table(models, rows)
    assert "| **catz96** | 2,000 | 1,600 | 800 | 750 | -6.25 % |" in table
    assert "| **giphy200** | 1,000 | 800 | 200 | 250 | +25.00 % |" in table
    files = []
    for i, rep in enumerate((a, b)):
        files.append(tmp_path / f"{i}.json")
        files[-1].write_text(json.dumps(rep))
    assert palette_corpus.main(["report", *map(str, files)]) == 0
    assert "| dog | 3,000 | 2,400 | 1,000 | 1,000 | +0.00 % |" in capsys.readouterr().out


def test_report_marks_webp_missing_and_refuses_skipped_clips(tmp_path, capsys):
    rep = _report({"last-frame": {"catz96/dog_000.gif": 500}}, webp_counted=False)
    _, rows = palette_corpus.by_source([rep])
    assert rows["dog"]["webp"] == -1
    assert "| dog | 1,000 | n/a | 500 |" in palette_corpus.report_table(["last-frame"], rows)
    rep["clips"].append({"name": "catz96/cat_000.gif", "skipped": "damaged"})
    path = tmp_path / "r.json"
    path.write_text(json.dumps(rep))
    assert palette_corpus.main(["report", str(path)]) == 1
    assert "cat_000.gif was skipped" in capsys.readouterr().err
