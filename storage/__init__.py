"""What the bot remembers: SQLAlchemy models, a small repository API, Alembic migrations."""
