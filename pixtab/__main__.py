"""Allow ``python -m pixtab``."""

from pixtab.cli import main

if __name__ == "__main__":  # pragma: no cover
    main(prog_name="pixtab")
