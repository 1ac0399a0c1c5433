"""The web process answers LINE without the SDK's messaging package (over a second and ~20 MB to import)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from pytest_httpserver import HTTPServer

from line_fake import SECRET, TOKEN, FakeLine, encode, fixture, sign
from storage.db import Database

# Runs in a fresh interpreter: builds the app from the environment, as gunicorn does, and answers one webhook.
WEB_PROCESS = """
import json, sys
from bot.app import create_app
with create_app().test_client() as client:
    response = client.post("/line/webhook", data=sys.stdin.buffer.read(),
                           headers={"Content-Type": "application/json", "X-Line-Signature": sys.argv[1]})
print(json.dumps({"status": response.status_code, "imported": "linebot.v3.messaging" in sys.modules}))
"""


def test_answering_a_webhook_never_imports_the_sdk_messaging_package(db: Database, httpserver: HTTPServer) -> None:
    line = FakeLine(httpserver)
    body = encode(fixture("text"))
    env = {**os.environ, "DATABASE_URL": db.url, "LINE_CHANNEL_SECRET": SECRET, "LINE_CHANNEL_ACCESS_TOKEN": TOKEN,
           "LINE_API_BASE_URL": httpserver.url_for("/").rstrip("/")}
    done = subprocess.run([sys.executable, "-c", WEB_PROCESS, sign(body)], input=body, capture_output=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    result = json.loads(done.stdout.decode().splitlines()[-1])
    assert result["status"] == 200 and len(line.requests("/v2/bot/message/reply")) == 1, "the webhook was answered"
    assert not result["imported"], "linebot.v3.messaging is imported: only the rich menu commands may load it"
