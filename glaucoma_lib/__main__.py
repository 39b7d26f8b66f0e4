"""``python -m glaucoma_lib ...``: see glaucoma_lib.cli.main. Stop signals are handled before
the (slow) imports, so Ctrl-C at any moment ends in one line, never a traceback."""

import sys

from glaucoma_lib.cli import signals

signals.install()
try:
    from glaucoma_lib.cli.main import main
except KeyboardInterrupt as interrupt:
    print("error: interrupted; no CSV written", file=sys.stderr)
    raise SystemExit(signals.exit_code(interrupt)) from None

raise SystemExit(main())
