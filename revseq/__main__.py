"""python -m revseq COMMAND [FLAGS]: the `revseq` command."""

from revseq.commands import run

run()
