import subprocess
import sys
from pathlib import Path

import flask_migrate
import sqlalchemy as sa

from retreat import create_app
from retreat.extensions import db

ROOT = Path(__file__).resolve().parent.parent


def test_migrations_match_the_models(database_url):
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url)
    with app.app_context():
        flask_migrate.check()  # raises when autogenerate would find a difference
        db.engine.dispose()


def test_migrations_downgrade_and_upgrade_cleanly(tmp_path):
    url = f"sqlite:///{tmp_path / 'roundtrip.sqlite3'}"
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        flask_migrate.upgrade()
        flask_migrate.downgrade(revision="base")
        assert sa.inspect(db.engine).get_table_names() == ["alembic_version"]
        flask_migrate.upgrade()
        assert "booking" in sa.inspect(db.engine).get_table_names()
        db.engine.dispose()


def test_importing_the_app_creates_no_tables(tmp_path):
    """gunicorn workers import wsgi.py at once; tables come only from `flask db upgrade`."""
    script = "import wsgi, sqlalchemy as sa; e = sa.create_engine(wsgi.app.config['SQLALCHEMY_DATABASE_URI']); " \
             "print(sa.inspect(e).get_table_names())"
    env = {"RETREAT_INSTANCE_PATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
