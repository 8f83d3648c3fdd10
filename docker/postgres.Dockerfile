# PostgreSQL 15 with the wal2json logical decoding plugin (the official image's apt sources
# carry it). wal_level and the slot settings are passed on the command line (compose.yaml).
FROM postgres:15-bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-15-wal2json \
    && rm -rf /var/lib/apt/lists/*
