"""``python -m pulserec.cli``: the same command line as ``pulserec``."""

from pulserec.cli import main

if __name__ == "__main__":
    main()
