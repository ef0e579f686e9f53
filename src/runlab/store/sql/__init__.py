"""The SQL tracking store (SQLAlchemy 2 Core) for SQLite, PostgreSQL and MySQL/MariaDB."""
