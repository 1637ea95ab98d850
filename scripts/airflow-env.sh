#!/usr/bin/env bash
# A project-local Airflow: metadata in .airflow/ (SQLite), this repo's dags/ and plugins/,
# and the two connections the DAG uses, given by environment variables.
#
# Source it, then use airflow as usual:
#     source scripts/airflow-env.sh && airflow dags test movies_migration
# or run one command inside it:
#     scripts/airflow-env.sh airflow dags test movies_migration
#     scripts/airflow-env.sh airflow standalone
#
# Inputs (all optional):
#     SQLITE_PATH          the SQLite catalog             (default: <project>/db.sqlite)
#     MOVIES_PG_DSN        the target PostgreSQL, as a libpq DSN or a postgresql:// URI
#                          (default: host=127.0.0.1 port=5432 user=postgres dbname=movies_database)
#     MOVIES_AIRFLOW_HOME  where Airflow keeps its metadata (default: <project>/.airflow)
# The target database is created when the server does not have it yet, and
# `airflow db migrate` runs when the metadata database is missing or from another version.

_movies_airflow_env() {
    local root python
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" || return 1
    if [[ -x "$root/.venv/bin/airflow" && ":$PATH:" != *":$root/.venv/bin:"* ]]; then
        export PATH="$root/.venv/bin:$PATH"
    fi
    python="$(command -v python3 || command -v python)"
    if ! command -v airflow >/dev/null; then
        echo "airflow-env: airflow is not installed; run: pip install -e '.[airflow]'" >&2
        return 1
    fi

    export AIRFLOW_HOME="${MOVIES_AIRFLOW_HOME:-$root/.airflow}"
    export AIRFLOW__CORE__DAGS_FOLDER="$root/dags"
    export AIRFLOW__CORE__PLUGINS_FOLDER="$root/plugins"
    export AIRFLOW__CORE__LOAD_EXAMPLES=False
    # The DAG has no schedule: unpaused it only runs when triggered, so a UI trigger just works.
    export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=False

    local sqlite_path="${SQLITE_PATH:-$root/db.sqlite}"
    [[ "$sqlite_path" = /* ]] || sqlite_path="$PWD/$sqlite_path"
    local dsn="${MOVIES_PG_DSN:-host=127.0.0.1 port=5432 user=postgres dbname=movies_database}"

    # JSON, not URIs: a sqlite:// URI loses the leading slash of an absolute path, and a
    # libpq keyword DSN is not a URI at all. Creating the target database here means a
    # fresh clone runs without any manual step.
    local connections
    connections="$(cd "$root" && SQLITE_PATH="$sqlite_path" DSN="$dsn" "$python" - <<'PY'
import json, os, sys
from psycopg2.extensions import make_dsn, parse_dsn
from sqlite_to_postgres.connections import describe_dsn, ensure_database

dsn = os.environ["DSN"]
params = parse_dsn(dsn)
params.setdefault("dbname", "movies_database")
try:
    ensure_database(make_dsn(**params))
except Exception as error:  # noqa: BLE001 - any failure here is reported, the DAG will say more
    print(f"airflow-env: warning: cannot reach PostgreSQL ({describe_dsn(dsn)}): "
          f"{str(error).strip().splitlines()[0] if str(error).strip() else error}", file=sys.stderr)
pg = {
    "conn_type": "postgres",
    "host": params.pop("host", None),
    "port": int(params.pop("port")) if "port" in params else None,
    "login": params.pop("user", None),
    "password": params.pop("password", None),
    "schema": params.pop("dbname"),
    "extra": params,
}
print(json.dumps({"conn_type": "sqlite", "host": os.environ["SQLITE_PATH"]}))
print(json.dumps({key: value for key, value in pg.items() if value not in (None, {})}))
PY
)" || return 1
    export AIRFLOW_CONN_MOVIES_SQLITE="${connections%%$'\n'*}"
    export AIRFLOW_CONN_MOVIES_PG="${connections#*$'\n'}"
    [[ -f "$sqlite_path" ]] || echo "airflow-env: warning: SQLite file $sqlite_path does not exist" >&2

    local version stamp
    version="$("$python" -c 'import importlib.metadata as m; print(m.version("apache-airflow-core"))')" || return 1
    stamp="$AIRFLOW_HOME/.migrated-$version"
    if [[ ! -f "$stamp" || ! -f "$AIRFLOW_HOME/airflow.db" ]]; then
        mkdir -p "$AIRFLOW_HOME"
        echo "airflow-env: airflow db migrate into $AIRFLOW_HOME" >&2
        (cd "$root" && airflow db migrate >"$AIRFLOW_HOME/db-migrate.log" 2>&1) || {
            echo "airflow-env: airflow db migrate failed; see $AIRFLOW_HOME/db-migrate.log" >&2
            return 1
        }
        rm -f "$AIRFLOW_HOME"/.migrated-* && touch "$stamp"
    fi
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    # Executed: set up, then run the given command (default: a shell) inside the environment.
    set -euo pipefail
    _movies_airflow_env
    unset -f _movies_airflow_env
    if (($#)); then exec "$@"; else exec "${SHELL:-bash}"; fi
else
    if _movies_airflow_env; then
        unset -f _movies_airflow_env
    else
        unset -f _movies_airflow_env
        return 1
    fi
fi
