"""`python -m pipeline.cli` = the `tankerwatch` command."""

from pipeline.cli import main

main()
