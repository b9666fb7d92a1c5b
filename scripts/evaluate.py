"""python scripts/evaluate.py FLAGS: `revseq evaluate FLAGS` (revseq/commands/evaluate.py)."""

from revseq.commands import script

if __name__ == "__main__":
    script("evaluate")
