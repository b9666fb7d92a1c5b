"""Evaluate a trained model: examples and exact match on a file of sentences or its test split."""

from __future__ import annotations

from pathlib import Path

from revseq import cli, probes, report, report_files, run
from revseq.backends import BACKENDS
from revseq.data import split_words
from revseq.errors import RevseqError
from revseq.inference import Model


def read_sentences(path: Path) -> list[tuple[str, ...]]:
    """Non-empty lines of a UTF-8 text file, as sentences."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as e:
        raise RevseqError(f"cannot read {path}: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise RevseqError(f"{path} is not valid UTF-8 (byte {e.start})") from None
    sentences = [split_words(line) for line in text.splitlines()]
    sentences = [s for s in sentences if s]
    if not sentences:
        raise RevseqError(f"{path} holds no sentence")
    return sentences


def main() -> None:
    p = cli.ArgumentParser(description=__doc__)
    p.add_argument("--checkpoint", type=Path, required=True, help="a run folder")
    p.add_argument("--backend", choices=sorted(BACKENDS), default="jax")
    p.add_argument(
        "--keep-unk",
        action="store_true",
        help="print <UNK> where the model emits it (default: the source word it attends to)",
    )
    p.add_argument(
        "--sentences", type=Path, help="one source sentence per line (default: the run's test.txt)"
    )
    p.add_argument(
        "--examples", type=cli.int_at_least(0), default=10, help="how many examples to print"
    )
    p.add_argument(
        "--report",
        type=Path,
        metavar="DIR",
        help="also write report.md and its figures (probes of unseen lengths and repeated "
        "words, errors, attention statistics, a heatmap gallery) into DIR",
    )
    args = p.parse_args()
    model = Model.load(args.checkpoint, args.backend)
    items = model.decode(
        read_sentences(args.sentences or args.checkpoint / "test.txt"), not args.keep_unk
    )
    print(report.examples(items, args.examples))
    print(report.accuracy_line(items))
    if args.report:
        ev = probes.gather(
            lambda s: model.decode(s, not args.keep_unk), items, model.ckpt.config.data
        )
        history = run.read_metrics(args.checkpoint)
        report_files.write(args.report, ev, history, f"revseq evaluation of {args.checkpoint}")
        print(f"Wrote {args.report / 'report.md'} and its figures")


if __name__ == "__main__":
    cli.run(main)
