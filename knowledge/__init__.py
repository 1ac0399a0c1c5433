"""What the bot knows: the YAML files admins edit, their schema, the loader and the search index."""
