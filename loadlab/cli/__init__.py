"""The command line: `loadlab` and its subcommands."""
