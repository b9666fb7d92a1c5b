"""Where a corpus run's test errors come from: the model's tokens, or the copy that writes
them back as typed (docs/real-text.md).

    python -m studies.copy_errors RUN [RUN ...]

For each run folder, of its test split: the sentences whose emitted tokens are right (an
<UNK> counts as right where the reference word reads <UNK> in the run's vocabulary), and the
sentences right as the user sees them (revseq.task.as_typed: every word, <UNK>s included,
copied from the source word the attention picks). The difference is what the copy loses.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from revseq.inference import Model
from revseq.training.run_folder import read_test


def count(run: Path) -> tuple[int, int, int]:
    """(sentences with the right tokens, sentences right as typed, sentences)."""
    model = Model.load(run)
    sentences = read_test(run)
    ids = lambda words: model.ckpt.vocab.encode(list(words), add_eos=False)  # noqa: E731
    tokens = model.decode(sentences, restore_unk=False)
    right = sum(ids(d.prediction) == ids(d.reference) for d in tokens)
    as_typed = sum(d.match for d in model.decode(sentences))
    return right, as_typed, len(sentences)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    for run in parser.parse_args().runs:
        right, as_typed, n = count(run)
        print(f"{run.name}: right tokens {right}/{n}, right as typed {as_typed}/{n}")


if __name__ == "__main__":
    main()
