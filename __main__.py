"""`python -m bertvino` is the `bertvino` command."""

import sys

from .cli import main

sys.exit(main())
