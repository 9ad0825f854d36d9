"""`python -m hinder` is the `hinder` command."""

from hinder.cli import main

main()
