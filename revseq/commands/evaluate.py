"""Evaluate a trained model: examples and exact match on a file of sentences or its test split."""

from __future__ import annotations

from pathlib import Path

from revseq import cli
from revseq.errors import RevseqError
from revseq.inference import Model
from revseq.report import markdown, outputs, probes
from revseq.task.data import split_words
from revseq.training import checkpoint, run_folder
from revseq.training.backends import BACKENDS


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


def add_arguments(p: cli.ArgumentParser) -> None:
    """evaluate's command line."""
    p.add_argument("--checkpoint", type=Path, required=True, help="a run folder")
    p.add_argument("--backend", choices=sorted(BACKENDS), default="jax")
    cli.add_decoding_flags(p)
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
    cli.add_cache_flag(p)


def main(args) -> None:
    if args.report and (args.report / checkpoint.BEST_FILE).exists():
        raise RevseqError(f"{args.report} holds a run; --report writes into a folder of its own")
    cli.compilation_cache(args)
    model = Model.load(args.checkpoint, args.backend)
    options = cli.decoding_options(args)
    sentences = read_sentences(args.sentences or args.checkpoint / "test.txt")
    items = model.decode(sentences, **options)
    model.warn(sentences)
    print(markdown.examples(items, args.examples))
    print(markdown.accuracy_line(items))
    if args.report:
        ev = probes.gather(
            lambda s: model.decode(s, **options),
            items,
            data=model.ckpt.config.data,
            greedy=lambda s, rule: model.decode(s, attention=rule),
            test_is_greedy=args.beam == 1,
            attention=model.ckpt.config.model.attention,
            words=probes.probe_words(model.ckpt.vocab),
        )
        history = run_folder.read_metrics(args.checkpoint)
        title = f"revseq evaluation of {args.checkpoint}" + (
            f", beam {args.beam}" if args.beam > 1 else ""
        )
        about = markdown.provenance(model.ckpt.config, model.ckpt.extra)
        about += f" Evaluated by `{run_folder.command()}`."
        steps = run_folder.read_steps(args.checkpoint)
        outputs.write(args.report, ev, history, steps=steps, title=title, about=about)
        print(f"Wrote {args.report / 'report.md'} and its figures")
