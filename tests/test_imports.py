"""The layers the folder names promise, held by the imports: what sits below never imports what
sits above it (CONTRIBUTING.md, "Layers").

    revseq.errors, revseq.files, revseq.timing      the base: no other revseq module
    revseq.task                                     the task, the config, the Backend protocol
    revseq.report | revseq_jax | revseq_torch       what a model made of sentences | the backends
    revseq.training                                 a run: the recipe, its folder, its end
    revseq.inference, .api, .doctor, .cli, .commands   what users call

Every import counts: at the top, inside functions, under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import ROOT

TOP = ("revseq.inference", "revseq.api", "revseq.doctor", "revseq.cli", "revseq.commands")
BACKENDS = ("revseq_jax", "revseq_torch")
# A package (or module) -> the revseq packages and modules it must not import.
FORBIDDEN = {
    "revseq.errors": ("revseq",),
    "revseq.files": ("revseq.task", "revseq.report", "revseq.training", *TOP, *BACKENDS),
    "revseq.timing": ("revseq.task", "revseq.report", "revseq.training", *TOP, *BACKENDS),
    "revseq.task": ("revseq.report", "revseq.training", *TOP, *BACKENDS),
    "revseq.report": ("revseq.training", *TOP, *BACKENDS),
    "revseq_jax": ("revseq.report", "revseq.training", *TOP, "revseq_torch"),
    "revseq_torch": ("revseq.report", "revseq.training", *TOP, "revseq_jax"),
    "revseq.training": TOP,
}


def under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, root: Path) -> set[str]:
    """Every module a file imports, absolute (relative imports resolved), with each name it
    takes from one (`from revseq.training import run` imports revseq.training.run too)."""
    out, package = set(), module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(p for p in [*package[: len(package) - node.level + 1], base] if p)
            out |= {base} | {f"{base}.{a.name}" for a in node.names}
    return out


def violations(root: Path) -> list[str]:
    """`module imports module` for every import across a layer the wrong way."""
    found = []
    for path in sorted([*root.glob("revseq/**/*.py"), *root.glob("revseq_*/**/*.py")]):
        name = module_name(path, root)
        banned = [b for owner, bs in FORBIDDEN.items() if under(name, owner) for b in bs]
        wrong = [m for m in imported(path, root) if any(under(m, b) for b in banned)]
        found += [f"{name} imports {m}" for m in sorted(wrong) if m != name]
    return found


def test_no_layer_imports_one_above_it():
    assert violations(ROOT) == []


def test_the_check_sees_a_wrong_import(tmp_path):
    """A negative control: the same check on a copy of the tree with one import the wrong way,
    inside a function."""
    for folder in ("revseq", "revseq_jax", "revseq_torch"):
        for path in (ROOT / folder).rglob("*.py"):
            target = tmp_path / path.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(path.read_text())
    vocab = tmp_path / "revseq" / "task" / "vocab.py"
    vocab.write_text(vocab.read_text() + "\n\ndef _late():\n    from revseq.training import run\n")
    assert violations(tmp_path) == [
        "revseq.task.vocab imports revseq.training",
        "revseq.task.vocab imports revseq.training.run",
    ]
