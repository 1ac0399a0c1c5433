"""The shell of the bot: channels in, replies out."""
