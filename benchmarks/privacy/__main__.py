"""``python -m benchmarks.privacy``."""

from benchmarks.privacy.run import main

raise SystemExit(main())
