"""``python -m glaucoma_lib ...``: see glaucoma_lib.cli."""

from glaucoma_lib.cli import main

raise SystemExit(main())
