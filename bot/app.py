"""The web app: platform webhooks, the web chat and health check."""
from __future__ import annotations

import logging

from flask import Flask, jsonify

from bot.config import Settings
from bot.engine import Engine

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> Flask:
    """Build the Flask app; the knowledge and database are checked before it serves anything."""
    settings = settings or Settings.from_env()
    engine = engine or Engine.from_settings(settings)
    app = Flask(__name__, static_folder=None)  # bot/static belongs to the web chat, off in production
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.extensions["sme_engine"] = engine

    from bot.channels import line

    app.register_blueprint(line.blueprint(settings, engine))

    from bot.channels import slack

    app.register_blueprint(slack.blueprint(settings, engine))

    from bot import calendar_feed

    app.register_blueprint(calendar_feed.blueprint)

    from bot import webchat

    app.register_blueprint(webchat.blueprint(settings, engine))

    @app.get("/healthz")
    def healthz():  # type: ignore[no-untyped-def]
        return jsonify(status="ok", knowledge=engine.kb.version)

    return app
