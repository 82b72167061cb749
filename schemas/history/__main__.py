"""``python -m schemas.history``: freeze the current schema version's snapshots (see __init__)."""

from schemas import SCHEMA_VERSION
from schemas.history import current_tables, freeze

if __name__ == "__main__":
    written = freeze(SCHEMA_VERSION, current_tables())
    print("\n".join(str(p) for p in written) or f"schema version {SCHEMA_VERSION} is frozen already")
