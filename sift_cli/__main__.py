"""``python -m sift_cli``: the ``sift`` command without the console script."""

import sys

from sift_cli.main import main

sys.exit(main())
