"""Piccolo's configuration module (PICCOLO_CONF=app.piccolo_conf).

The engine here serves Piccolo's own CLI (`piccolo migrations ...`); the running service replaces it
through `app.db.activate()` with the engine built from settings.
"""

import os

from piccolo.conf.apps import AppRegistry

from app.db import make_engine
from app.settings import DEFAULT_VAR_DIR, DatabaseConfig, _database_url

DB = make_engine(DatabaseConfig(url=_database_url(os.environ.get("DATABASE_URL"), DEFAULT_VAR_DIR)))

APP_REGISTRY = AppRegistry(apps=["app.piccolo_app"])
