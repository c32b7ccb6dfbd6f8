"""Shim so `python cli.py ...` works from a checkout: the real CLI is gensynth.cli."""

from gensynth.cli import main

main()
