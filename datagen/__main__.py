"""Entry point for `python -m datagen`."""

from datagen.cli import main

raise SystemExit(main())
