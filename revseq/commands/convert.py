"""Import a notebook state_dict into a run folder, or export a run folder as one.

python scripts/convert.py import best_model.pt --vocab vocab.json --out runs/notebook
python scripts/convert.py export runs/<time> --out best_model.pt
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from revseq import cli
from revseq.errors import RevseqError
from revseq.task.config import PRESETS
from revseq.task.layout import check_shapes, infer_config
from revseq.task.vocab import Vocabulary
from revseq.training import backends, checkpoint


def read_vocab(path: Path) -> Vocabulary:
    """A JSON word list (index order) or the notebook's word2idx dict."""
    try:
        data = json.loads(path.read_text())
    except OSError as e:
        raise RevseqError(f"cannot read {path}: {e.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RevseqError(f"{path} is not valid JSON ({e})") from None
    if isinstance(data, dict):
        ints = all(isinstance(i, int) for i in data.values())
        if not ints or sorted(data.values()) != list(range(len(data))):
            raise RevseqError(f"{path}: word2idx indices must be 0..{len(data) - 1}")
        data = sorted(data, key=lambda word: data[word])
    return Vocabulary.from_json(data)


def add_arguments(p: cli.ArgumentParser) -> None:
    """convert's command line: import or export."""
    sub = p.add_subparsers(dest="command", required=True)
    imp = sub.add_parser("import", help="state_dict file -> run folder")
    imp.add_argument("state_dict", type=Path)
    imp.add_argument(
        "--vocab",
        type=Path,
        required=True,
        help="the notebook's vocabulary: JSON word list or word2idx dict",
    )
    imp.add_argument("--out", type=Path, required=True)
    imp.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="seed",
        help="data and training settings to record (default: the notebook's)",
    )
    exp = sub.add_parser("export", help="run folder -> state_dict file")
    exp.add_argument("checkpoint", type=Path)
    exp.add_argument("--out", type=Path, required=True)


def main(args) -> None:

    if not backends.installed("torch"):
        raise RevseqError(backends.missing("torch", "convert (torch.save files)"))
    from revseq_torch.convert import read_state_dict, write_state_dict

    if args.command == "export":
        if args.out.exists():
            raise RevseqError(f"{args.out} exists; choose a new --out")
        write_state_dict(checkpoint.load(args.checkpoint).params, args.out)
        print(f"wrote {args.out}")
        return
    arrays = read_state_dict(args.state_dict)
    vocab = read_vocab(args.vocab)
    base = PRESETS[args.preset]
    try:
        model = infer_config({k: tuple(v.shape) for k, v in arrays.items()}, base.model.dropout)
    except (KeyError, ValueError):
        raise RevseqError(
            f"{args.state_dict} is not a state_dict of the notebook's model"
        ) from None
    check_shapes(arrays, model)
    if len(vocab) != model.vocab_size:
        raise RevseqError(f"vocabulary has {len(vocab)} words, the weights {model.vocab_size}")
    if (args.out / f"{checkpoint.BEST}.safetensors").exists():
        raise RevseqError(f"{args.out} already holds a checkpoint")
    data = dataclasses.replace(base.data, n_words=model.vocab_size - 4)
    cfg = type(base)(model=model, data=data, train=base.train)
    extra = {"imported_from": str(args.state_dict)}
    checkpoint.save(args.out, arrays, config=cfg, vocab=vocab, extra=extra)
    print(f"wrote {args.out}")
