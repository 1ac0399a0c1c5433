"""What the bot can do, one module per capability; pure functions of a Turn."""
