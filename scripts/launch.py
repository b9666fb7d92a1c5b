"""python scripts/launch.py FLAGS: `revseq launch FLAGS` (revseq/commands/launch.py)."""

from revseq.commands import script

if __name__ == "__main__":
    script("launch")
