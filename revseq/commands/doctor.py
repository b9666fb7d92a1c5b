"""Check an install: revseq doctor (or python scripts/doctor.py).

Prints the platform, the devices JAX sees and the library versions; when torch is installed,
checks that the JAX and torch backends compute the same function on shared weights on the
default device (float32 matmuls pinned exact); times the JAX backend (training sentences/s,
greedy decoding of the 1,000 test sentences); trains the tiny preset. Ends with one verdict
line; exits 1 when parity fails or the tiny run does not learn.
"""

from __future__ import annotations

from revseq import cli, doctor
from revseq.task.config import preset
from revseq.training import backends


def add_arguments(p: cli.ArgumentParser) -> None:
    """doctor's command line."""
    p.add_argument("--preset", default="default", help="the preset timed (default: default)")


def main(args) -> int:
    cfg = preset(args.preset)
    for line in doctor.environment(backends.load("jax", cfg)):
        print(line)
    parity_ok, parity = check_parity()
    fast = doctor.speed(cfg)
    print(
        f"speed ({args.preset} preset, jax): {fast['train_sentences_per_s']:,.0f} training "
        f"sentences/s; greedy decoding of {fast['n']:,} sentences in {fast['decode_ms']:.0f} ms"
    )
    learned = doctor.tiny_run()
    print(f"tiny preset trained (jax): {learned:.2f} % test exact match")
    ok = parity_ok and learned >= doctor.LEARNS
    print(
        f"doctor: {'OK' if ok else 'FAILED'} | {parity} | "
        f"tiny run {learned:.1f} % (needs {doctor.LEARNS:g}) | "
        f"{fast['train_sentences_per_s']:,.0f} sentences/s"
    )
    return 0 if ok else 1


def check_parity() -> tuple[bool, str]:
    """Print both backends' differences on shared weights -> (within tolerance, the verdict's
    words); with no torch installed, say so: nothing to compare, nothing failed."""
    if not backends.installed("torch"):
        print(f"parity, jax vs torch: not checked ({backends.missing('torch')})")
        return True, "parity not checked (no torch)"
    checks = doctor.parity()
    worst = max(v for k, v in checks.items() if k != "tokens_equal")
    for what, value in checks.items():
        print(f"parity, jax vs torch, {what}: {value:.2e}" if what != "tokens_equal" else
              f"parity, greedy tokens equal: {value}")  # fmt: skip
    ok = checks["tokens_equal"] and worst <= doctor.PARITY_TOL
    return ok, f"parity {'within' if ok else 'OUTSIDE'} {doctor.PARITY_TOL:g} (worst {worst:.1e})"
