"""Bundle entry point: `labdock` (no command opens the window), the same as the installed script."""

from desktop.cli import main

raise SystemExit(main())
