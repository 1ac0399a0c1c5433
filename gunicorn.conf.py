"""gunicorn's settings for the web process, the one place for them: the Procfile's `web:` line names this file.

The master builds the app once before it forks any worker (preload_app): the imports, the knowledge
and its search index, and the schema check are done once, not by every worker at the same time,
and the workers share those pages with the master copy-on-write. A worker answers as soon as it
is forked. No database connection crosses a fork (the hooks below), and the master starts no thread.
"""
from __future__ import annotations

import gc
import os
import sys
from typing import Any

from bot.config import Settings, configure_logging

# The app's own log (bot.*, storage.*, …) on standard output beside gunicorn's, at LOG_LEVEL. Without
# it Python's last-resort handler would print warnings bare and drop everything below. gunicorn's
# own loggers do not propagate to the root logger: nothing is printed twice.
configure_logging(Settings.from_env().log_level, sys.stdout)

wsgi_app = "bot.app:create_app()"
bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
# Two workers per core (gunicorn's docs advise 2-4), of two threads each. A webhook is about 2 ms of
# Python on the CPU, where a process's threads take turns (one GIL), then a wait for LINE's reply API,
# which the second thread covers. On the 2-core bench machine, under 32 connections with both layouts
# serving and loaded in turn, four workers of two threads answered 1,070 webhooks/s with a p99 of 57 ms
# where two of four answered 1,041 with 77 ms, as many in progress at once; they hold ~80 MB more in
# all (PSS). WEB_CONCURRENCY (which Heroku sets per dyno size) overrides the count.
workers = int(os.environ.get("WEB_CONCURRENCY") or 2 * len(os.sched_getaffinity(0)))
worker_class = "gthread"
threads = 2
preload_app = True
# gunicornc's control socket: nothing here uses it, and it is one more thread in the master, stopped
# and restarted around every fork, at a path every gunicorn on the machine shares by default.
control_socket_disable = True
accesslog = "-"
# gunicorn's default format, then the time taken and the worker (its process id) that answered.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms worker=%(p)s'


def _database(server: Any) -> Any:
    """Return the Database of the app the master preloaded (None for an app without one, e.g. bench/bare_webhook.py)."""
    engine = getattr(server.app.wsgi(), "extensions", {}).get("sme_engine")
    return engine.db if engine is not None else None


def when_ready(server: Any) -> None:
    """Before the first fork: close the connection the master opened to check the schema, and freeze the heap.

    The master answers nothing; a connection it kept would stay open, idle, for its whole life.
    gc.freeze() keeps the objects built so far out of every later garbage collection, so that a
    worker's collections do not write to (and so copy) the pages it shares with the master
    (Python's gc docs). What a worker drops of them, a reloaded knowledge's predecessor, is freed
    by reference counting or else stays as the master's copy does: no memory of its own is lost.
    """
    database = _database(server)
    if database is not None:
        database.dispose()
    gc.freeze()


def post_fork(server: Any, worker: Any) -> None:
    """In a new worker: start an empty connection pool, leaving alone (not closing) any connection the master held.

    SQLAlchemy, "Using Connection Pools with Multiprocessing or os.fork()": a connection shared by
    two processes mixes their traffic on one socket (or one SQLite handle).
    """
    database = _database(server)
    if database is not None:
        database.engine.dispose(close=False)
