"""python scripts/convert.py FLAGS: `revseq convert FLAGS` (revseq/commands/convert.py)."""

from revseq.commands import script

if __name__ == "__main__":
    script("convert")
