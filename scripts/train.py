"""Train the attention seq2seq on the reversal task: python scripts/train.py --backend jax."""

from __future__ import annotations

from pathlib import Path

from revseq import cli, run
from revseq.backends import BACKENDS
from revseq.config import PRESETS, preset

# flag -> (type, help); each overrides the preset's setting of the same name.
SETTINGS = {
    "epochs": (cli.positive_int, "training epochs"),
    "batch_size": (cli.positive_int, "sentences per step"),
    "lr": (float, "Adam learning rate"),
    "embed_dim": (cli.positive_int, "embedding size E"),
    "hidden_dim": (cli.positive_int, "GRU hidden size H"),
    "num_layers": (cli.positive_int, "GRU layers in encoder and decoder"),
    "dropout": (float, "dropout rate"),
    "teacher_forcing": (float, "probability that a decoder step reads the reference token"),
    "max_norm": (float, "global gradient-norm clip"),
    "seed": (int, "seed of data, init, dropout and forcing draws"),
    "n_train": (cli.positive_int, "training sentences"),
    "length_buckets": (cli.positive_int, "padded lengths (compiled step shapes)"),
    "chunk": (cli.positive_int, "batches of one length back to back (JAX: one compiled call)"),
}


def main() -> None:
    p = cli.ArgumentParser(description=__doc__)
    p.add_argument("--backend", choices=sorted(BACKENDS), default="jax")
    p.add_argument("--preset", choices=sorted(PRESETS), default="default")
    p.add_argument("--out", type=Path, help="run folder (default: a new one under runs/)")
    for name, (kind, help_) in SETTINGS.items():
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind, help=help_)
    args = p.parse_args()
    overrides = {k: getattr(args, k) for k in SETTINGS if getattr(args, k) is not None}
    cfg = preset(args.preset).replace(**overrides)
    run.train(cfg, args.backend, args.out or run.new_run_dir())


if __name__ == "__main__":
    cli.run(main)
