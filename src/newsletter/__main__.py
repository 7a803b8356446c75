"""Run the command-line interface as `python -m newsletter`."""

from newsletter.launcher import main

main()
