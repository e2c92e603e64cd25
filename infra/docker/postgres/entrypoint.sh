#!/bin/sh
# Initialise the cluster on first start (the user, the database, pg_stat_statements), then run
# postgres in the foreground with the settings given as arguments (`-c name=value` ...).
#   POSTGRES_USER (loadlab), POSTGRES_DB (loadlab), POSTGRES_PASSWORD (required, run time only)
set -eu

: "${PGDATA:=/var/lib/postgresql/data}"
: "${POSTGRES_USER:=loadlab}"
: "${POSTGRES_DB:=loadlab}"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ]; then
        echo "loadlab-postgres: set POSTGRES_PASSWORD for the first start" >&2
        exit 1
    fi
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    initdb -D "$PGDATA" --username="$POSTGRES_USER" --pwfile="$pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C >/dev/null
    rm -f "$pwfile"
    # initdb allows host connections from loopback only; the compose network needs the rest.
    printf 'host all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
    printf "listen_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
    if [ "$POSTGRES_DB" != postgres ]; then
        echo "CREATE DATABASE \"$POSTGRES_DB\" OWNER \"$POSTGRES_USER\"" |
            postgres --single -D "$PGDATA" postgres >/dev/null
    fi
    echo "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" |
        postgres --single -D "$PGDATA" "$POSTGRES_DB" >/dev/null
    echo "loadlab-postgres: initialised $PGDATA (database $POSTGRES_DB, user $POSTGRES_USER)"
fi

exec postgres -D "$PGDATA" "$@"
