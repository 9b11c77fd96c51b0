"""``python -m fpcodec.bench PATH... -o REPORT_DIR`` (same as ``fpcodec bench``)."""

import sys

from .cli import main

sys.exit(main())
