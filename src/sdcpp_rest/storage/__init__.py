"""The server's database: engines, tables, and the Alembic migrations that create and upgrade them."""

import logging

# Alembic 1.18+ logs "setup plugin ..." at INFO for each built-in plugin when it is imported: seven
# lines at every start-up that tell an operator nothing. Its migration lines stay at INFO.
logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
