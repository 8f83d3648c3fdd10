"""Django-free change data capture: wal2json v2 over a psycopg2 logical replication stream."""
