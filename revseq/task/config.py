"""Frozen settings of a run: the model, the generated task, the training, and named presets."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from revseq.errors import RevseqError


@dataclass(frozen=True)
class ModelConfig:
    """Shapes of the encoder-decoder; vocab_size comes from the vocabulary. The defaults are
    the default preset's (the notebook's model: NOTEBOOK)."""

    vocab_size: int = 38
    embed_dim: int = 32
    hidden_dim: int = 64
    num_layers: int = 1
    dropout: float = 0.0
    # Time steps per lax.scan body in the JAX backend (lax.scan's `unroll`): how the loops are
    # compiled, never what they compute. 1 is fastest on the 2-core CPU this was measured on;
    # `python -m benchmarks` prints the step time at 1, 2 and 4 on any device.
    scan_unroll: int = 1
    # Attention (docs/length-generalisation.md): "bahdanau", the notebook's content-only
    # additive attention, or "location", the hybrid of Chorowski et al. (2015) whose energy
    # adds U (F * a_prev), a 1-D convolution F over the previous step's weights.
    attention: str = "bahdanau"
    location_filters: int = 8  # F's output channels (location attention)
    location_width: int = 5  # F's width in source positions, odd: centred on each one
    # The previous weights the first decoder step's location term reads: "zeros" (no
    # location term at that step), "uniform" over the source, or "eos" (a one-hot on the
    # source <EOS>, so that a shift one position left lands on the last word).
    attention_prior: str = "zeros"
    # The decoder's first state: "encoder" (the encoder's final states, the notebook's),
    # "zeros", or "learned" (a parameter decoder.h0 [L, H], the same for every sentence).
    decoder_init: str = "encoder"


ATTENTIONS = ("bahdanau", "location")
ATTENTION_PRIORS = ("zeros", "uniform", "eos")
DECODER_INITS = ("encoder", "zeros", "learned")


@dataclass(frozen=True)
class DataConfig:
    """The generated reversal task: split sizes, sentence lengths in words, and how many
    distinct words (the notebook's 34, or fewer, or more with made-up ones: revseq.task.data).
    The defaults are the default preset's."""

    n_train: int = 16000
    n_val: int = 1000
    n_test: int = 1000
    min_len: int = 3
    max_len: int = 10
    n_words: int = 34
    # A run on the user's own sentences (revseq.task.corpus) names its file here, with the SHA-256
    # of its bytes; its split sizes and n_words are then those the corpus gave. Its vocabulary
    # is the training split's words seen min_count times or more, the max_vocab most frequent
    # of them (0: no cap).
    corpus: str = ""
    corpus_sha256: str = ""
    min_count: int = 20
    max_vocab: int = 0


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (Adam with bias correction, global-norm clipping). The defaults
    are the default preset's."""

    epochs: int = 4
    # The run's length in optimizer steps; 0: `epochs` whole passes over the training split.
    # With a budget the run takes the epochs it needs, the last one cut short where it ends.
    steps: int = 0
    batch_size: int = 16
    lr: float = 3e-3
    lr_schedule: str = "cosine"  # or "constant"; cosine decays to 0 over the run
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8
    max_norm: float = 1.0
    teacher_forcing: float = 0.75
    seed: int = 42
    # Padded lengths a run uses (each one compiled shape of the JAX step): more buckets waste
    # less compute on padding, fewer compile less.
    length_buckets: int = 1
    # Batches of one length come in runs of this many (the order of runs is shuffled); the JAX
    # backend trains a run in one compiled call, so a small model pays no dispatch per step.
    chunk: int = 25
    # A step with a NaN or Inf loss or gradient stops the run (False) or is skipped and counted.
    skip_nonfinite: bool = False
    # Share of training source words replaced by <UNK> each epoch (their mirrored target too),
    # so the model learns to emit <UNK> where it reads one: unknown words in use then come out
    # as <UNK> in the right place, which inference replaces by the attended source word.
    unk_rate: float = 0.01
    # Mixed precision (JAX backend): "bfloat16" runs the training forward and backward passes
    # in bfloat16, params, gradients and optimizer state staying float32.
    compute_dtype: str = "float32"

    def total_steps(self, steps_per_epoch: int) -> int:
        """Optimizer steps of the whole run: the budget, else `epochs` passes."""
        return self.steps or self.epochs * steps_per_epoch

    def epoch_count(self, steps_per_epoch: int) -> int:
        """Epochs the run takes, the last one possibly cut short."""
        return -(-self.total_steps(steps_per_epoch) // steps_per_epoch)

    def epoch_length(self, epoch: int, steps_per_epoch: int) -> int:
        """Steps of epoch `epoch` (1-based): a whole one, or what is left of the budget."""
        done = (epoch - 1) * steps_per_epoch
        return min(steps_per_epoch, self.total_steps(steps_per_epoch) - done)


COMPUTE_DTYPES = ("float32", "bfloat16")


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
        sections = {"model": {}, "data": {}, "train": {}}
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
        """Raise RevseqError naming the first setting out of range."""
        m, d, t = self.model, self.data, self.train
        checks = [
            (m.embed_dim >= 1, "embed_dim must be at least 1"),
            (m.hidden_dim >= 1, "hidden_dim must be at least 1"),
            (m.num_layers >= 1, "num_layers must be at least 1"),
            (m.scan_unroll >= 1, "scan_unroll must be at least 1"),
            (0.0 <= m.dropout < 1.0, "dropout must be in [0, 1)"),
            (m.attention in ATTENTIONS, "attention must be bahdanau or location"),
            (m.location_filters >= 1, "location_filters must be at least 1"),
            (m.location_width % 2 == 1 and m.location_width >= 1, "location_width must be odd"),
            (m.attention_prior in ATTENTION_PRIORS, "attention_prior must be zeros/uniform/eos"),
            (m.decoder_init in DECODER_INITS, "decoder_init must be encoder, zeros or learned"),
            (d.n_train >= 1 and d.n_val >= 1 and d.n_test >= 1, "split sizes must be at least 1"),
            (1 <= d.min_len <= d.max_len, "need 1 <= min_len <= max_len"),
            (d.n_words >= 1, "n_words must be at least 1"),
            (d.min_count >= 1, "min_count must be at least 1"),
            (d.max_vocab >= 0, "max_vocab must be at least 0 (0: no cap)"),
            (m.vocab_size == d.n_words + 4, "vocab_size must be n_words + 4 (the specials)"),
            (t.epochs >= 1, "epochs must be at least 1"),
            (t.steps >= 0, "steps must be at least 0 (0: epochs decide)"),
            (t.batch_size >= 1, "batch_size must be at least 1"),
            (t.lr > 0, "lr must be positive"),
            (t.lr_schedule in ("constant", "cosine"), "lr_schedule must be constant or cosine"),
            (t.max_norm > 0, "max_norm must be positive"),
            (0.0 <= t.teacher_forcing <= 1.0, "teacher_forcing must be in [0, 1]"),
            (t.seed >= 0, "seed must be non-negative"),
            (t.length_buckets >= 1, "length_buckets must be at least 1"),
            (t.chunk >= 1, "chunk must be at least 1"),
            (0.0 <= t.unk_rate < 1.0, "unk_rate must be in [0, 1)"),
            (t.compute_dtype in COMPUTE_DTYPES, "compute_dtype must be float32 or bfloat16"),
        ]
        for ok, message in checks:
            if not ok:
                raise RevseqError(message)


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
