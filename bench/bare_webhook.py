"""The reference for bench/webhook.py: a Flask endpoint that only checks the LINE signature.

    gunicorn --pythonpath bench 'bare_webhook:create_app()'   (LINE_CHANNEL_SECRET in the environment)
"""
from __future__ import annotations

import os

from flask import Flask, Response, request
from linebot.v3.webhook import SignatureValidator


def create_app() -> Flask:
    """Return an app whose /line/webhook answers 200 to a correctly signed body, 400 otherwise."""
    app = Flask(__name__)
    validator = SignatureValidator(os.environ["LINE_CHANNEL_SECRET"])

    @app.post("/line/webhook")
    def line_webhook() -> Response:
        body = request.get_data(as_text=True)
        if not validator.validate(body, request.headers.get("X-Line-Signature", "")):
            return Response("invalid signature", status=400)
        return Response("OK", status=200)

    @app.get("/healthz")
    def healthz() -> Response:
        return Response("ok")

    return app
