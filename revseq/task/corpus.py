"""A run on the user's own sentences: `train.py --corpus FILE`.

FILE holds one sentence a line, UTF-8; a sentence is its whitespace-separated words as typed
(revseq.task.data.split_words). Reading it drops blank lines, lines over the tools' limit of
MAX_WORDS words, and duplicates (sentences equal word for word in normal form,
revseq.task.vocab.normal: "The cat." repeats "the cat"), keeping the first. The seed then splits
the sentences deterministically into test (DataConfig.n_test of them), validation (n_val) and
training (the rest, at most n_train when asked): no sentence is in two splits. Training
sentences longer than max_len are kept out of training (the run says how many); validation and
test keep them, as a user's text would have them. The vocabulary is the training split's
normal forms seen at least min_count times, the max_vocab most frequent of them when capped;
every other word reads <UNK>, which the output writes back as typed (revseq.task.as_typed).

The run folder keeps the splits (corpus/train.txt, val.txt, test.txt) and what reading the
corpus found (corpus/about.json), so `--resume` needs only the folder; the config names the
file and the SHA-256 of its bytes, checked when a new run reads it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from revseq.errors import RevseqError
from revseq.files import atomic_write, read_bytes_once
from revseq.task.config import Config
from revseq.task.conventions import MAX_WORDS
from revseq.task.data import Sentence, Splits, split_words
from revseq.task.vocab import SPECIALS, Vocabulary, normal

MAX_BYTES = 256 << 20  # the largest corpus file read
FOLDER = "corpus"  # in the run folder
ABOUT = "about.json"
SPLIT_NAMES = ("train", "val", "test")
SPLIT_STREAM = 20220  # the split's generator: seeded by (seed, this), apart from the run's own


@dataclass(frozen=True)
class Corpus:
    """A corpus file's distinct sentences in file order, and what reading it dropped."""

    path: Path
    sha256: str
    sentences: list[Sentence]
    lines: int  # non-blank lines
    duplicates: int
    too_long: int  # over MAX_WORDS words
    blank: int = 0  # blank lines


def _text(path: Path) -> tuple[str, str]:
    """The file's text and the SHA-256 of its bytes, read once (a pipe or `<(...)` too, up to
    MAX_BYTES); RevseqError for a missing, unreadable, binary or non-UTF-8 file, a folder, a
    device or a file over the limit."""
    try:
        data = read_bytes_once(path, MAX_BYTES)
    except RevseqError as e:
        raise RevseqError(f"--corpus {e}") from None
    except OSError as e:
        raise RevseqError(f"cannot read {path}: {e.strerror}") from None
    if (nul := data.find(b"\0")) >= 0:
        raise RevseqError(f"{path} is binary (a NUL byte at {nul}), not text")
    try:
        return data.decode("utf-8"), hashlib.sha256(data).hexdigest()
    except UnicodeDecodeError as e:
        raise RevseqError(f"{path} is not UTF-8 text (byte {e.start})") from None


def read(path: Path) -> Corpus:
    """The corpus at `path`: its distinct sentences (module docstring), in file order."""
    path = Path(path)
    text, digest = _text(path)
    lines = text.splitlines()
    sentences = [s for s in map(split_words, lines) if s]
    seen: set[Sentence] = set()
    kept: list[Sentence] = []
    too_long = 0
    for s in sentences:
        key = tuple(map(normal, s))
        if len(s) > MAX_WORDS:
            too_long += 1
        elif key not in seen:
            seen.add(key)
            kept.append(s)
    if not kept:
        over = f" ({too_long} line(s) over the tools' limit)" if too_long else ""
        raise RevseqError(f"{path} holds no sentence of at most {MAX_WORDS} words{over}")
    duplicates = len(sentences) - too_long - len(kept)
    blank = len(lines) - len(sentences)
    return Corpus(path, digest, kept, len(sentences), duplicates, too_long, blank)


def split(corpus: Corpus, cfg: Config, n_train: int | None = None) -> tuple[Splits, int]:
    """(test, validation and training splits, training sentences kept out as longer than
    max_len), drawn by the seed (module docstring); training capped at n_train if given."""
    d, sentences = cfg.data, corpus.sentences
    need = d.n_val + d.n_test
    if len(sentences) <= need:
        raise RevseqError(
            f"{corpus.path} has {len(sentences)} distinct sentences; a run needs more than "
            f"{need} ({d.n_val} for validation, {d.n_test} for test: --n-val, --n-test)"
        )
    order = np.random.default_rng([cfg.train.seed, SPLIT_STREAM]).permutation(len(sentences))
    chosen = [sentences[i] for i in order]
    test, val, rest = chosen[: d.n_test], chosen[d.n_test : need], chosen[need:]
    train = [s for s in rest if len(s) <= d.max_len]
    if not train:
        raise RevseqError(
            f"{corpus.path}: no training sentence has at most {d.max_len} words (--max-len)"
        )
    kept_out = len(rest) - len(train)
    return Splits(train=train[:n_train] if n_train else train, val=val, test=test), kept_out


def vocabulary(train: list[Sentence], min_count: int, max_vocab: int = 0) -> Vocabulary:
    """The training split's normal forms seen at least min_count times, most frequent first
    (ties in code-point order), the first max_vocab of them when max_vocab > 0."""
    counts = Counter(normal(w) for s in train for w in s)
    kept = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    return Vocabulary(kept[:max_vocab] if max_vocab else kept)


def coverage(train: list[Sentence], vocab: Vocabulary) -> float:
    """The share of the training split's words the vocabulary holds (the rest read <UNK>)."""
    ids = [i for s in train for i in vocab.encode(s, add_eos=False)]
    return sum(i >= len(SPECIALS) for i in ids) / max(len(ids), 1)


def describe(corpus: Corpus, splits: Splits, *, kept_out: int, vocab: Vocabulary, cfg: Config):
    """The lines a run prints about its corpus."""
    d = cfg.data
    return [
        f"Corpus {corpus.path}: {len(corpus.sentences)} distinct sentences of "
        f"{corpus.lines} lines ({corpus.duplicates} duplicates removed"
        + (f", {corpus.too_long} over {MAX_WORDS} words left out" if corpus.too_long else "")
        + (f", {corpus.blank} blank skipped" if corpus.blank else "")
        + f"); split {len(splits.train)}/{len(splits.val)}/{len(splits.test)} by seed "
        f"{cfg.train.seed}",
        f"  {kept_out} training sentences longer than {d.max_len} words (--max-len) kept out "
        f"of training",
        f"  vocabulary: {len(vocab) - len(SPECIALS)} words seen at least {d.min_count} times "
        f"in training (--min-count"
        + (f", at most {d.max_vocab}: --max-vocab" if d.max_vocab else "")
        + f"), {100 * coverage(splits.train, vocab):.1f} % of training words; the others "
        "read <UNK> and are copied back as typed",
        *([BAHDANAU_NOTE] if cfg.model.attention == "bahdanau" else []),
    ]


BAHDANAU_NOTE = (
    "  note: Bahdanau attention cannot tell <UNK>s apart; --preset long (location attention) "
    "reverses real text far better (docs/real-text.md)"
)


# What a corpus run takes by default, whatever the file's size (docs/real-text.md): a tenth of
# the sentences each for validation and test, at most HELD_OUT; every sentence the tools take
# trained on (up to MAX_WORDS words), in padded lengths BUCKET_WIDTH tokens apart; and
# STEP_BUDGET optimizer steps, however many epochs of the file that makes.
HELD_OUT = 1000
BUCKET_WIDTH = 16
STEP_BUDGET = 4000


def suggested(corpus: Corpus) -> dict:
    """The settings a run on `corpus` takes unless the user sets them (module constants)."""
    held_out = min(HELD_OUT, max(1, len(corpus.sentences) // 10))
    lengths = [len(s) for s in corpus.sentences]
    return {
        "n_val": held_out,
        "n_test": held_out,
        "min_len": min(lengths),
        "max_len": max(lengths),
        "length_buckets": -(-(max(lengths) + 1) // BUCKET_WIDTH),
        "steps": STEP_BUDGET,
    }


def configure(cfg: Config, path: Path, settings: dict | None = None) -> tuple[Config, Corpus]:
    """(`cfg` (a preset's) for a run on the corpus at `path`, the corpus read once): the settings
    the corpus suggests, then the user's `settings` over them (with `epochs` and no `steps`,
    epochs decide; `n_train` caps the training split), then its file, digest, split sizes and
    vocabulary size."""
    settings = dict(settings or {})
    n_train = settings.pop("n_train", None)
    corpus = read(path)
    derived = suggested(corpus)
    if "epochs" in settings:
        derived["steps"] = 0
    cfg = cfg.replace(**{**derived, **settings})
    splits, _ = split(corpus, cfg, n_train)
    vocab = vocabulary(splits.train, cfg.data.min_count, cfg.data.max_vocab)
    if len(vocab) == len(SPECIALS):
        raise RevseqError(
            f"no word of {path}'s training split occurs {cfg.data.min_count} times; "
            "lower --min-count"
        )
    cfg = cfg.replace(
        corpus=str(Path(path).absolute()),
        corpus_sha256=corpus.sha256,
        n_train=len(splits.train),
        n_words=len(vocab) - len(SPECIALS),
        vocab_size=len(vocab),
    )
    return cfg, corpus


def prepare(
    cfg: Config, folder: Path | None = None, corpus: Corpus | None = None
) -> tuple[Splits, Vocabulary]:
    """(splits, vocabulary) of a corpus run, the splits' `about` the lines it prints: from the
    run folder's copy when `folder` has one (a resume), else from `corpus` (as configure read
    it) or the file, which must still have the digest the run was configured with."""
    if folder is not None and (Path(folder) / FOLDER / ABOUT).is_file():
        splits = load(folder)
    else:
        corpus = corpus or read(Path(cfg.data.corpus))
        if corpus.sha256 != cfg.data.corpus_sha256:
            raise RevseqError(f"{corpus.path} has changed since this run was configured")
        splits, kept_out = split(corpus, cfg, cfg.data.n_train)
        about = describe(corpus, splits, kept_out=kept_out, vocab=_vocab(splits, cfg), cfg=cfg)
        splits = dataclasses.replace(splits, about=tuple(about))
    return splits, _vocab(splits, cfg)


def _vocab(splits: Splits, cfg: Config) -> Vocabulary:
    """The run's vocabulary, checked against its config."""
    vocab = vocabulary(splits.train, cfg.data.min_count, cfg.data.max_vocab)
    if len(vocab) != cfg.model.vocab_size:
        raise RevseqError(
            f"the corpus splits give {len(vocab)} vocabulary entries; the run's config has "
            f"{cfg.model.vocab_size}"
        )
    return vocab


def save(folder: Path, splits: Splits) -> None:
    """corpus/{train,val,test}.txt (one sentence a line, as typed) and corpus/about.json
    (the splits' `about` lines)."""
    where = Path(folder) / FOLDER
    where.mkdir(parents=True, exist_ok=True)
    for name in SPLIT_NAMES:
        text = "".join(" ".join(s) + "\n" for s in getattr(splits, name))
        atomic_write(where / f"{name}.txt", text.encode())
    atomic_write(
        where / ABOUT, (json.dumps({"lines": list(splits.about)}, indent=2) + "\n").encode()
    )


def load(folder: Path) -> Splits:
    """The splits (and their `about` lines) that save wrote."""
    where = Path(folder) / FOLDER
    try:
        parts = {
            name: [split_words(line) for line in (where / f"{name}.txt").read_text().splitlines()]
            for name in SPLIT_NAMES
        }
        lines = list(json.loads((where / ABOUT).read_text())["lines"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise RevseqError(f"{where} is damaged ({e})") from None
    return Splits(**parts, about=(*lines, f"  (splits read back from {where})"))
