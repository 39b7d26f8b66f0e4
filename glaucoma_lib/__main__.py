"""``python -m glaucoma_lib ...``: see glaucoma_lib.cli.main."""

from glaucoma_lib.cli.main import main

raise SystemExit(main())
