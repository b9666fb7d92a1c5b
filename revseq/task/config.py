"""Frozen settings of a run: the model, the generated task, the training, and named presets.

Every field is declared with `setting`: its default (the default preset's), one line of help,
and what values it takes. Config.validate checks those for every field, the command line makes
a flag of every field not marked derived (revseq.commands.train), and a config file sets any
of them by name (revseq.task.settings).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from revseq.errors import RevseqError
from revseq.task.conventions import MAX_WORDS

BIG = 10**9  # a bound for counts that only a typo or a tampered file reaches


def setting(
    default,
    help: str,
    *,
    choices: tuple[str, ...] = (),
    at_least: float | None = None,
    above: float | None = None,
    at_most: float | None = None,
    below: float | None = None,
    derived: bool = False,
):
    """A config field: its default, its help line, and the values it takes (choices, or
    bounds). `derived`: filled in by revseq (the vocabulary's size, a corpus's digest), not a
    setting of its own."""
    rules = {"choices": choices, "at_least": at_least, "above": above, "at_most": at_most,
             "below": below}  # fmt: skip
    return field(default=default, metadata={"help": help, "derived": derived, **rules})


@dataclass(frozen=True)
class ModelConfig:
    """Shapes of the encoder-decoder; vocab_size comes from the vocabulary."""

    vocab_size: int = setting(38, "vocabulary entries, the 4 specials included", at_least=5,
                              at_most=BIG, derived=True)  # fmt: skip
    embed_dim: int = setting(32, "embedding size E", at_least=1, at_most=2**20)
    hidden_dim: int = setting(64, "GRU hidden size H", at_least=1, at_most=2**20)
    num_layers: int = setting(1, "GRU layers in encoder and decoder", at_least=1, at_most=64)
    dropout: float = setting(0.0, "dropout rate", at_least=0.0, below=1.0)
    # How the JAX loops are compiled, never what they compute: 1 is fastest on the 2-core CPU
    # it was measured on; `python -m benchmarks` prints the step time at 1, 2 and 4 anywhere.
    scan_unroll: int = setting(1, "JAX: time steps per lax.scan body (speed only)",
                               at_least=1, at_most=MAX_WORDS + 1)  # fmt: skip
    # docs/length-generalisation.md: location adds U (F * a_prev), a 1-D convolution F over
    # the previous step's weights (Chorowski et al., 2015).
    attention: str = setting(
        "bahdanau",
        "bahdanau (content only, the notebook's) or location (adds a convolution over the "
        "previous step's weights)",
        choices=("bahdanau", "location"),
    )
    location_filters: int = setting(8, "location attention: convolution filters",
                                    at_least=1, at_most=4096)  # fmt: skip
    location_width: int = setting(5, "location attention: convolution width, odd",
                                  at_least=1, at_most=2 * MAX_WORDS + 1)  # fmt: skip
    # eos: a one-hot on the source <EOS>, so that a shift one position left lands on the last
    # word, the first one the reversal emits.
    attention_prior: str = setting(
        "zeros",
        "location attention: the weights its first step reads as the previous step's "
        "(zeros: none; uniform over the source; eos: a one-hot on the source <EOS>)",
        choices=("zeros", "uniform", "eos"),
    )
    decoder_init: str = setting(
        "encoder",
        "the decoder's first state: the encoder's final state (the notebook's), zeros, or "
        "learned (a parameter decoder.h0)",
        choices=("encoder", "zeros", "learned"),
    )


@dataclass(frozen=True)
class DataConfig:
    """The generated reversal task (the notebook's 34 words, or fewer, or more with made-up
    ones: revseq.task.data), or a corpus of the user's sentences (revseq.task.corpus)."""

    n_train: int = setting(16000, "training sentences (a corpus: a cap on them)",
                           at_least=1, at_most=10**8)  # fmt: skip
    n_val: int = setting(1000, "validation sentences", at_least=1, at_most=10**7)
    n_test: int = setting(1000, "test sentences", at_least=1, at_most=10**7)
    min_len: int = setting(3, "shortest sentence, in words", at_least=1, at_most=MAX_WORDS)
    max_len: int = setting(10, "longest sentence trained on, in words", at_least=1,
                           at_most=MAX_WORDS)  # fmt: skip
    n_words: int = setting(34, "distinct words of the generated task (over 34: made-up ones)",
                           at_least=1, at_most=BIG)  # fmt: skip
    corpus: str = setting("", "a file of your own sentences, one a line (UTF-8), to train on "
                          "instead of the generated task")  # fmt: skip
    corpus_sha256: str = setting("", "the SHA-256 of the corpus file's bytes", derived=True)
    min_count: int = setting(20, "corpus: the vocabulary's words are those seen this often in "
                             "training", at_least=1, at_most=BIG)  # fmt: skip
    max_vocab: int = setting(0, "corpus: at most this many words, the most frequent (0: no cap)",
                             at_least=0, at_most=BIG)  # fmt: skip


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings: Adam with bias correction and global-norm clipping."""

    epochs: int = setting(4, "passes over the training split", at_least=1, at_most=10**6)
    steps: int = setting(0, "optimizer steps of the run, the last epoch cut short "
                         "(0: epochs decide)", at_least=0, at_most=BIG)  # fmt: skip
    batch_size: int = setting(16, "sentences per step", at_least=1, at_most=2**20)
    lr: float = setting(3e-3, "Adam's learning rate", above=0.0, at_most=1e3)
    lr_schedule: str = setting("cosine", "constant, or cosine: decayed to 0 over the run",
                               choices=("constant", "cosine"))  # fmt: skip
    # Goyal et al. (2017): a large batch's large rate, reached over the first steps.
    warmup: int = setting(0, "steps over which the rate rises linearly from 0 to lr before "
                          "its schedule", at_least=0, at_most=BIG)  # fmt: skip
    b1: float = setting(0.9, "Adam's first-moment decay", at_least=0.0, below=1.0)
    b2: float = setting(0.999, "Adam's second-moment decay", at_least=0.0, below=1.0)
    eps: float = setting(1e-8, "Adam's epsilon", above=0.0, at_most=1.0)
    max_norm: float = setting(1.0, "global gradient-norm clip", above=0.0, at_most=1e9)
    teacher_forcing: float = setting(0.75, "probability that a decoder step reads the "
                                     "reference token", at_least=0.0, at_most=1.0)  # fmt: skip
    seed: int = setting(42, "seed of data, init, dropout and forcing draws", at_least=0,
                        at_most=2**63 - 1)  # fmt: skip
    # More buckets waste less compute on padding, fewer compile less (each one compiled shape
    # of the JAX step).
    length_buckets: int = setting(1, "padded lengths (compiled step shapes)", at_least=1,
                                  at_most=MAX_WORDS + 1)  # fmt: skip
    # The JAX backend trains a run of batches of one length in one compiled call, so a small
    # model pays no dispatch per step.
    chunk: int = setting(25, "batches of one length back to back (JAX: one compiled call)",
                         at_least=1, at_most=10**4)  # fmt: skip
    skip_nonfinite: bool = setting(False, "skip (and count) a step with a NaN or Inf loss or "
                                   "gradient instead of stopping")  # fmt: skip
    # So the model learns to emit <UNK> where it reads one: unknown words in use then come out
    # as <UNK> in the right place, which inference replaces by the attended source word.
    unk_rate: float = setting(0.01, "share of training words made <UNK> each epoch (their "
                              "mirrored target too)", at_least=0.0, below=1.0)  # fmt: skip
    # Params, gradients and optimizer state stay float32.
    compute_dtype: str = setting("float32", "JAX: bfloat16 trains in mixed precision",
                                 choices=("float32", "bfloat16"))  # fmt: skip

    def total_steps(self, steps_per_epoch: int) -> int:
        """Optimizer steps of the whole run: the budget, else `epochs` passes."""
        return self.steps or self.epochs * steps_per_epoch

    def epoch_count(self, steps_per_epoch: int) -> int:
        """Epochs the run takes, the last one possibly cut short."""
        return -(-self.total_steps(steps_per_epoch) // steps_per_epoch)

    def epoch_length(self, epoch: int, steps_per_epoch: int) -> int:
        """Steps of epoch `epoch` (1-based): a whole one, or what is left of the budget."""
        done = run_step(epoch, 0, steps_per_epoch)
        return min(steps_per_epoch, self.total_steps(steps_per_epoch) - done)


def run_step(epoch: int, done: int, steps_per_epoch: int) -> int:
    """The run's optimizer steps after `done` batches of epoch `epoch` (1-based)."""
    return (epoch - 1) * steps_per_epoch + done


SECTIONS = ("model", "data", "train")
TYPES = {"int": int, "float": float, "str": str, "bool": bool}


@dataclass(frozen=True)
class Config:
    """Everything a run needs, saved beside its weights. Config() is the default preset."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        """Nested plain dict for JSON."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Config:
        """Inverse of to_dict. An unknown key raises RevseqError; a missing one takes the
        notebook's value (NOTEBOOK), which is what a run written before that setting existed
        did."""
        try:
            return cls(
                model=dataclasses.replace(NOTEBOOK.model, **d["model"]),
                data=dataclasses.replace(NOTEBOOK.data, **d["data"]),
                train=dataclasses.replace(NOTEBOOK.train, **d["train"]),
            )
        except (KeyError, TypeError) as e:
            raise RevseqError(f"config does not match this version of revseq: {e}") from None

    def replace(self, **overrides) -> Config:
        """Copy with flat overrides, each routed to the section that has the field."""
        sections: dict[str, dict] = {"model": {}, "data": {}, "train": {}}
        for key, value in overrides.items():
            owner = [s for s in sections if key in _fields(getattr(self, s))]
            if not owner:
                raise RevseqError(f"unknown setting {key!r}")
            sections[owner[0]][key] = value
        new = Config(
            model=dataclasses.replace(self.model, **sections["model"]),
            data=dataclasses.replace(self.data, **sections["data"]),
            train=dataclasses.replace(self.train, **sections["train"]),
        )
        new.validate()
        return new

    def validate(self) -> None:
        """Raise RevseqError naming the first setting of the wrong type or out of range."""
        for name in SECTIONS:
            section = getattr(self, name)
            for f in dataclasses.fields(section):
                check(f, getattr(section, f.name), f"{name}.{f.name}")
        m, d = self.model, self.data
        checks = [
            (m.location_width % 2 == 1, "model.location_width must be odd"),
            (d.min_len <= d.max_len, "need data.min_len <= data.max_len"),
            (m.vocab_size == d.n_words + 4, "model.vocab_size must be n_words + 4 (the specials)"),
        ]
        for ok, message in checks:
            if not ok:
                raise RevseqError(message)


def check(f: dataclasses.Field, value, where: str) -> None:
    """RevseqError unless `value` is of field f's type and within its rules (`setting`)."""
    kind, rule = TYPES[str(f.type)], f.metadata
    ok_type = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
    if kind is float:
        ok_type = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok_type:
        raise RevseqError(f"{where} must be of type {kind.__name__}, not {value!r}")
    if rule.get("choices") and value not in rule["choices"]:
        raise RevseqError(f"{where} must be one of {', '.join(rule['choices'])}, not {value!r}")
    if kind is float and not math.isfinite(value):
        raise RevseqError(f"{where} must be a finite number, not {value!r}")
    if rule.get("at_least") is not None and not value >= rule["at_least"]:
        raise RevseqError(f"{where} must be at least {rule['at_least']}")
    if rule.get("above") is not None and not value > rule["above"]:
        raise RevseqError(f"{where} must be above {rule['above']}" if rule["above"] else
                          f"{where} must be positive")  # fmt: skip
    if rule.get("at_most") is not None and not value <= rule["at_most"]:
        raise RevseqError(f"{where} must be at most {rule['at_most']:,}")
    if rule.get("below") is not None and not value < rule["below"]:
        raise RevseqError(f"{where} must be below {rule['below']}")


def _fields(section) -> set[str]:
    return {f.name for f in dataclasses.fields(section)}


# The notebook's settings, and those of a run recorded before a setting existed (from_dict).
NOTEBOOK = Config(
    model=ModelConfig(embed_dim=128, hidden_dim=256, num_layers=2, dropout=0.1),
    data=DataConfig(n_train=8000),
    train=TrainConfig(
        epochs=30,
        batch_size=64,
        lr=1e-3,
        lr_schedule="constant",
        teacher_forcing=0.5,
        length_buckets=2,
        chunk=1,
    ),
)

PRESETS: dict[str, Config] = {
    # The notebook's settings; its constant rate oscillates to the last epoch (99.3 % test exact
    # match, docs/presets.md), so the rate decays from the same 1e-3 on a cosine. One length
    # bucket, as the notebook's batches mix lengths: batches of short or of long sentences only,
    # each clipped to norm 1, learn about 3x more slowly per epoch (docs/presets.md). JAX runs
    # 25 steps a compiled call (the 125 of an epoch in 5): a call of one step copies the whole
    # train state in and out, 1.28x slower a step (docs/performance.md).
    "seed": NOTEBOOK.replace(lr_schedule="cosine", length_buckets=1, chunk=25),
    # Chosen by measurement (docs/presets.md): the least training that reached 100 % test exact
    # match on 10 of 10 seeds in JAX and 9 of 10 in torch, within 10 s on 2 CPU cores. The
    # defaults of Config() are this preset's.
    "default": Config(),
    # The default's training with location attention whose first step reads a one-hot on the
    # source <EOS> (the switch that decides it; the decoder's first state did not matter):
    # trained on 3-10 words, it reverses 1-40 (docs/length-generalisation.md, docs/presets.md).
    "long": Config().replace(attention="location", attention_prior="eos"),
    # Fewer, larger steps, for accelerators, where a step costs about the same at batch 16 as
    # at 512 (Goyal et al., 2017: a large rate, reached by a warm-up): long's model, 64 steps
    # of 512 sentences, one compiled call an epoch (docs/presets.md, "Large batches").
    "large-batch": Config().replace(
        attention="location",
        attention_prior="eos",
        batch_size=512,
        lr=0.03,
        warmup=8,
        steps=64,
        chunk=32,
    ),
    # A few seconds: for tests and smoke runs.
    "tiny": Config(
        data=DataConfig(n_train=2000, n_val=200, n_test=200, min_len=3, max_len=6),
        train=TrainConfig(
            epochs=8, batch_size=32, lr=5e-3, teacher_forcing=0.5, length_buckets=2, chunk=1
        ),
    ),
}


def preset(name: str) -> Config:
    """The named preset, or RevseqError listing the names."""
    if name not in PRESETS:
        raise RevseqError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]
