"""``python -m bench.peers``: see ``bench/peers/__init__.py``."""

import sys

from bench.peers.run import main

sys.exit(main())
