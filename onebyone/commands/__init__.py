"""CLI subcommands, one module each; see onebyone/cli.py."""
