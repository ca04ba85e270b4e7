# dlt's sql_database with its defaults (SQLAlchemy backend, full reflection): every table.
from dlt.sources.sql_database import sql_database

from _harness import DB_URL, pipeline, run

run(pipeline(), sql_database(DB_URL))
