from flask.cli import AppGroup

screening_cli = AppGroup("screening", help="Pre-screens.")
