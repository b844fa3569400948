"""``python -m bot``: run the bot until SIGTERM."""

from bot.main import main

raise SystemExit(main())
