"""python scripts/reverse.py FLAGS: `revseq reverse FLAGS` (revseq/commands/reverse.py)."""

from revseq.commands import script

if __name__ == "__main__":
    script("reverse")
