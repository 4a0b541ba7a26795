"""`python -m bot.cli`: the forgebot command."""

from bot.cli.main import main

raise SystemExit(main())
