"""A torch run needs no JAX: scripts/train.py --backend torch trains, reports and exits with
every import of jax failing (a package named jax first on the path, whose import raises)."""

from __future__ import annotations

import os

import pytest
from helpers import script

REFUSE = 'raise RuntimeError("a torch run imported jax")\n'


# the second tier: a torch run of its own
@pytest.mark.integration
def test_a_torch_run_trains_with_jax_unimportable(tmp_path):
    fake = tmp_path / "no_jax" / "jax"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(REFUSE)
    path = os.pathsep.join(p for p in (str(fake.parent), os.environ.get("PYTHONPATH")) if p)
    proc = script(
        "train.py", "--backend", "torch", "--preset", "tiny", "--epochs", "2",
        "--n-train", "640", "--out", str(tmp_path / "run"), PYTHONPATH=path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Exact Match Accuracy" in proc.stdout
    assert (tmp_path / "run" / "best.safetensors").exists()
