"""``python -m devhost`` — see ``python -m devhost --help``."""

from devhost._cli import main

raise SystemExit(main())
