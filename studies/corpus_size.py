"""Exact match against corpus size under the corpus defaults (docs/real-text.md):

    python -m studies.corpus_size --sizes 1000,3000,10000,25000,all --presets long,default

Draws files of each size from the docstring sentences of the installed packages
(benchmarks.corpus; `all` is every one of them) and 1,000 sentences of the standard library's
docstrings that none of those files holds (another source). Each preset is trained on each file
as a user trains it, `revseq train --preset P --corpus FILE` and no other flag, then scored on
its own test split (the accuracy line) and on the other source (`revseq evaluate --sentences`).
Prints one markdown row a run: sentences, split, steps and epochs taken, both exact matches,
seconds to the accuracy line and to exit.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks import corpus
from benchmarks.seed_sweep import ACCURACY, train


def draw(found: list[str], count: int, seed: int = 0) -> list[str]:
    """`count` of the sentences (all of them for count 0), in the order drawn by the seed."""
    if not count or count >= len(found):
        return list(found)
    rng = np.random.default_rng(seed)
    return [found[i] for i in rng.choice(len(found), size=count, replace=False)]


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(s + "\n" for s in lines))
    return path


def other_source(folder: Path, sentences: Path) -> tuple[int, int]:
    """(exact, total) of the run's model on a file of other sentences."""
    cmd = [sys.executable, "-m", "revseq", "evaluate", "--checkpoint", str(folder),
           "--sentences", str(sentences), "--examples", "0"]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    m = ACCURACY.search(out)
    return (int(m.group(2)), int(m.group(3))) if m else (0, 0)


def row(preset: str, path: Path, out: Path, stdlib: Path) -> dict:
    """Train `preset` on `path` into `out` and measure it."""
    r = train(preset, "jax", 42, out, ["--corpus", str(path)])
    if r["returncode"]:
        raise SystemExit(f"revseq train --preset {preset} --corpus {path} failed")
    cfg = json.loads((out / "run.json").read_text())["config"]
    epochs = len((out / "metrics.jsonl").read_text().splitlines())
    about = (out / "corpus" / "about.json").read_text()
    split = re.search(r"split (\d+/\d+/\d+)", about)
    r |= {"preset": preset, "file": path.name, "split": split.group(1) if split else "?"}
    r |= {"steps": cfg["train"]["steps"], "epochs": epochs, "vocab": cfg["model"]["vocab_size"]}
    r["other_exact"], r["other_total"] = other_source(out, stdlib)
    return r


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", default="1000,3000,10000,25000,all")
    p.add_argument("--presets", default="long,default")
    p.add_argument("--out", type=Path, help="keep the corpora and runs here")
    p.add_argument("--json", type=Path, help="also write the rows here")
    args = p.parse_args()
    root = args.out or Path(tempfile.mkdtemp(prefix="corpus-size-"))
    root.mkdir(parents=True, exist_ok=True)
    found = corpus.collect("packages")
    files = {s: write(root / f"packages-{s}.txt", draw(found, 0 if s == "all" else int(s)))
             for s in args.sizes.split(",")}  # fmt: skip
    stdlib = write(
        root / "stdlib.txt", draw(corpus.collect("stdlib", {s.casefold() for s in found}), 1000)
    )
    print(
        "| preset | file | split | vocabulary | steps | epochs | test exact | other source "
        "| s to accuracy | s to exit |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|"
    )
    rows = []
    for preset in args.presets.split(","):
        for size, path in files.items():
            r = row(preset, path, root / f"{preset}-{size}", stdlib)
            rows.append(r)
            cells = [preset, size, r["split"], r["vocab"], r["steps"], r["epochs"],
                     f"{r['exact']}/{r['total']}", f"{r['other_exact']}/{r['other_total']}",
                     r["to_accuracy_s"], r["exit_s"]]  # fmt: skip
            print("| " + " | ".join(map(str, cells)) + " |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
