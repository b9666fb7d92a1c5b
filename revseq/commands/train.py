"""Train the attention seq2seq on the reversal task: revseq train --backend jax
(on the generated task, or on your own sentences: --corpus FILE)."""

from __future__ import annotations

from pathlib import Path

from revseq import cli
from revseq.errors import RevseqError
from revseq.task import corpus
from revseq.task.config import (
    ATTENTION_PRIORS,
    ATTENTIONS,
    COMPUTE_DTYPES,
    DECODER_INITS,
    PRESETS,
    Config,
    preset,
)
from revseq.training import record, run, run_folder
from revseq.training.backends import BACKENDS
from revseq.training.processes import Processes, initialize

# flag -> (type, help); each overrides the preset's setting of the same name.
SETTINGS = {
    "epochs": (cli.positive_int, "training epochs"),
    "batch_size": (cli.positive_int, "sentences per step"),
    "lr": (float, "Adam learning rate"),
    "embed_dim": (cli.positive_int, "embedding size E"),
    "hidden_dim": (cli.positive_int, "GRU hidden size H"),
    "num_layers": (cli.positive_int, "GRU layers in encoder and decoder"),
    "dropout": (float, "dropout rate"),
    "attention": (
        cli.one_of(*ATTENTIONS),
        "bahdanau (content only, the notebook's) or location (adds a convolution over the "
        "previous step's weights; docs/length-generalisation.md)",
    ),
    "attention_prior": (
        cli.one_of(*ATTENTION_PRIORS),
        "location attention: the weights the first step reads as the previous step's "
        "(eos: a one-hot on the source <EOS>)",
    ),
    "location_filters": (cli.positive_int, "location attention: convolution filters"),
    "location_width": (cli.positive_int, "location attention: convolution width (odd)"),
    "decoder_init": (
        cli.one_of(*DECODER_INITS),
        "the decoder's first state: the encoder's final state (the notebook's), zeros, or learned",
    ),
    "teacher_forcing": (float, "probability that a decoder step reads the reference token"),
    "max_norm": (float, "global gradient-norm clip"),
    "seed": (int, "seed of data, init, dropout and forcing draws"),
    "n_train": (cli.positive_int, "training sentences"),
    "min_len": (cli.positive_int, "shortest sentence of the task, in words"),
    "max_len": (cli.positive_int, "longest sentence of the task, in words"),
    "n_words": (cli.positive_int, "distinct words of the task (over 34: made-up ones added)"),
    "n_val": (cli.positive_int, "validation sentences"),
    "n_test": (cli.positive_int, "test sentences"),
    "min_count": (
        cli.positive_int,
        "--corpus: the vocabulary's words are those seen this often in training (default 20)",
    ),
    "max_vocab": (
        cli.int_at_least(0),
        "--corpus: at most this many words, the most frequent (default 0: no cap)",
    ),
    "length_buckets": (cli.positive_int, "padded lengths (compiled step shapes)"),
    "chunk": (cli.positive_int, "batches of one length back to back (JAX: one compiled call)"),
    "unk_rate": (float, "share of training words made <UNK> each epoch (unknown-word handling)"),
    "scan_unroll": (cli.positive_int, "JAX: time steps per lax.scan body (speed only)"),
    "compute_dtype": (
        cli.one_of(*COMPUTE_DTYPES),
        "JAX: bfloat16 trains in mixed precision (params and optimizer state stay float32)",
    ),
}


def add_arguments(p: cli.ArgumentParser) -> None:
    """train's command line: the run's own flags, then one per setting it may override."""
    p.add_argument("--backend", choices=sorted(BACKENDS))
    p.add_argument("--preset", choices=sorted(PRESETS))
    p.add_argument("--out", type=Path, help="run folder (default: a new one under runs/)")
    p.add_argument(
        "--resume",
        type=Path,
        metavar="DIR",
        help="go on with an interrupted run, with its own settings (no other flag)",
    )
    p.add_argument(
        "--corpus",
        type=Path,
        metavar="FILE",
        help="train on your own sentences, one a line (UTF-8), instead of the generated task: "
        "split by the seed into train/validation/test (--n-val, --n-test), the vocabulary "
        "from the training split (--min-count, --max-vocab); docs/runs.md",
    )
    p.add_argument(
        "--skip-nonfinite",
        dest="skip_nonfinite",
        action="store_const",
        const=True,
        help="skip (and count) a step with a NaN or Inf loss or gradient instead of stopping",
    )
    p.add_argument(
        "--devices",
        type=cli.device_count,
        metavar="N|all",
        help="JAX: split each batch over N local devices, or all of them (default: 1; "
        "with several processes N counts all of theirs, default one each)",
    )
    add_process_flags(p)
    for name, (kind, help_) in SETTINGS.items():
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind, help=help_)
    cli.add_cache_flag(p)


def main(args) -> None:
    processes = initialize(args.coordinator, args.num_processes, args.process_id)
    devices = devices_for(args.devices, processes)
    settings = [*SETTINGS, "skip_nonfinite"]
    overrides = {k: getattr(args, k) for k in settings if getattr(args, k) is not None}
    with cli.StopSignals() as stop, processes.fail_fast():
        if args.resume:
            given = [
                k for k in ("backend", "preset", "out", "corpus", *overrides) if getattr(args, k)
            ]
            if given:
                flags = ", ".join(f"--{k.replace('_', '-')}" for k in given)
                raise RevseqError(f"--resume continues a run with its own settings; drop {flags}")
            cli.compilation_cache(args, record.read(args.resume).backend)
            run.resume(args.resume, stop=stop, devices=devices, processes=processes)
            return
        if "n_words" in overrides:
            overrides["vocab_size"] = overrides["n_words"] + 4  # the specials, then the words
        cfg, text = with_corpus(args, preset(args.preset or "default"), overrides)
        out = Path(processes.from_writer(str(args.out or run_folder.new_run_dir())))
        backend = args.backend or "jax"
        cli.compilation_cache(args, backend)
        run.train(cfg, backend, out, preset=args.preset or "default", text=text, stop=stop,
                  devices=devices, processes=processes)  # fmt: skip


def with_corpus(args, cfg, overrides: dict) -> tuple[Config, corpus.Corpus | None]:
    """(The preset with the flags' overrides, None); with --corpus, (configured for that file,
    the corpus as read: revseq.task.corpus: split sizes and vocabulary from it; --n-train caps
    the training split)."""
    if not args.corpus:
        given = [k for k in ("min_count", "max_vocab") if k in overrides]
        if given:
            raise RevseqError(f"--{given[0].replace('_', '-')} is for a --corpus run")
        return cfg.replace(**overrides), None
    if "n_words" in overrides:
        raise RevseqError(
            "--n-words is for the generated task; a corpus's vocabulary comes from "
            "--min-count and --max-vocab"
        )
    return corpus.configure(cfg, args.corpus, overrides)


def devices_for(flag: int | str | None, processes: Processes) -> int | None:
    """--devices as a backend takes it: N; None (every device) for "all"; when the flag is not
    given, one device per process."""
    if flag is None:
        return processes.count
    return None if flag == "all" else flag


def add_process_flags(p: cli.ArgumentParser) -> None:
    """--coordinator, --num-processes, --process-id: one of several JAX processes."""
    p.add_argument(
        "--coordinator",
        metavar="HOST:PORT|auto",
        help="JAX: one of several processes (jax.distributed) whose process 0 listens at "
        "HOST:PORT; auto: JAX's own cluster detection (Cloud TPU; SLURM and Open MPI with "
        "several tasks need no flag)",
    )
    p.add_argument("--num-processes", type=cli.positive_int, metavar="N", help="with --coordinator")
    p.add_argument(
        "--process-id", type=cli.int_at_least(0), metavar="I", help="with --coordinator: 0..N-1"
    )
