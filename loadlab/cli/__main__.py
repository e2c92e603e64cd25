"""`python -m loadlab.cli`: the lab's command line."""

from loadlab.cli.app import main

main()
