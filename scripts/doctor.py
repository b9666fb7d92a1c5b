"""python scripts/doctor.py FLAGS: `revseq doctor FLAGS` (revseq/commands/doctor.py)."""

from revseq.commands import script

if __name__ == "__main__":
    script("doctor")
