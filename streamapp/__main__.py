"""`python -m streamapp` is the `streamapp` command."""

import sys

from streamapp.cli import main

sys.exit(main())
