"""Run the command-line interface as `python -m newsletter`."""

from newsletter.cli import main

main()
