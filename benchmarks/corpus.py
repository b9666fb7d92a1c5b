"""Real-English corpora from text already on this machine: sentences of docstrings.

    python -m benchmarks.corpus --source packages --count 25000 \
        --out corpora/packages.txt
    python -m benchmarks.corpus --source stdlib --count 1000 \
        --exclude corpora/packages.txt --out corpora/stdlib.txt

`packages` reads the docstrings of the installed packages (the site-packages folder of this
Python), `stdlib` those of the Python standard library: another code base, written by other
people, with many words the first never uses. Nothing is downloaded and nothing is imported:
each .py file is parsed (ast), in sorted path order. A docstring's prose paragraphs (not
doctests, parameter lists, headings or indented blocks) are joined and cut after ".", "!" or
"?"; a sentence is kept when it has 3-12 words, starts with a capital letter, ends with ".",
and every word is a plain English word (letters, apostrophes, hyphens) with at most an
opening bracket or quote before it and punctuation after it: mixed case, punctuation
attached, as people write. Duplicates (case-folded) go, then `count` of them are drawn by the
seed, in the order drawn. Same machine, same packages, same seed: the same file.
"""

from __future__ import annotations

import argparse
import ast
import re
import site
import sysconfig
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

WORD = re.compile(r"^[(\"']?[A-Za-z][A-Za-z'-]*[.,;:!?)\"']*$")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
MIN_WORDS, MAX_WORDS = 3, 12


def roots(source: str) -> list[Path]:
    """The folders whose .py files a source reads."""
    if source == "stdlib":
        return [Path(sysconfig.get_paths()["stdlib"])]
    return [Path(p) for p in site.getsitepackages()]


def python_files(source: str) -> Iterator[Path]:
    """Every .py file of the source, in sorted order (stdlib: not its site-packages or tests)."""
    for root in roots(source):
        for path in sorted(root.rglob("*.py")):
            parts = set(path.relative_to(root).parts)
            if source == "stdlib" and parts & {"site-packages", "test", "tests", "idlelib"}:
                continue
            yield path


def docstrings(path: Path) -> Iterator[str]:
    """The module, class and function docstrings of one file (none if it does not parse)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(path.read_bytes())
    except (SyntaxError, ValueError, OSError, RecursionError):
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node, clean=True)
            if doc:
                yield doc


def prose(doc: str) -> Iterator[str]:
    """The docstring's paragraphs of prose, each joined into one line."""
    for para in re.split(r"\n\s*\n", doc):
        lines = para.split("\n")
        if any(ln.startswith((" ", "\t", ">>>", "...")) or set(ln) <= set("-=~^ ") for ln in lines):
            continue
        if "::" in para:
            continue
        yield " ".join(ln.strip() for ln in lines)


def sentences(doc: str) -> Iterator[str]:
    """The sentences of a docstring that pass the module's filter."""
    for para in prose(doc):
        for s in SENTENCE_END.split(para):
            words = s.split()
            if (
                MIN_WORDS <= len(words) <= MAX_WORDS
                and s[0].isupper()
                and s.endswith(".")
                and all(WORD.match(w) for w in words)
            ):
                yield " ".join(words)


def collect(source: str, exclude: frozenset[str] | set[str] = frozenset()) -> list[str]:
    """The source's distinct sentences (case-folded), in file order, none of `exclude`."""
    seen, out = set(exclude), []
    for path in python_files(source):
        for doc in docstrings(path):
            for s in sentences(doc):
                key = s.casefold()
                if key not in seen:
                    seen.add(key)
                    out.append(s)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--source", choices=("packages", "stdlib"), required=True)
    p.add_argument("--count", type=int, required=True, help="sentences to draw")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--exclude", type=Path, help="leave out the sentences of this corpus file")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    exclude = set()
    if args.exclude:
        exclude = {line.casefold() for line in args.exclude.read_text().splitlines()}
    found = collect(args.source, exclude)
    if len(found) < args.count:
        p.error(f"{args.source} has only {len(found)} such sentences")
    rng = np.random.default_rng(args.seed)
    drawn = [found[i] for i in rng.choice(len(found), size=args.count, replace=False)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(s + "\n" for s in drawn))
    print(f"{args.out}: {len(drawn)} of {len(found)} sentences of {args.source} docstrings")


if __name__ == "__main__":
    main()
