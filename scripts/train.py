"""python scripts/train.py FLAGS: `revseq train FLAGS` (revseq/commands/train.py)."""

from revseq.commands import script

if __name__ == "__main__":
    script("train")
