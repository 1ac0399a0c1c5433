"""One module per platform: parse its payload into Incoming, render Reply into its own types."""
