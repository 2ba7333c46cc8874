"""`python -m bertvino` is the `bertvino` command."""

import sys

from bertvino.cli import main

sys.exit(main())
