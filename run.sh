#!/usr/bin/env bash
# One entry point for people and CI. Each command first makes sure .venv/ has the project installed.
#
#   ./run.sh dag       run the movies_migration DAG end to end (airflow dags test) from db.sqlite into PostgreSQL
#   ./run.sh migrate   the same migration without Airflow, via the library's CLI, then the consistency check
#   ./run.sh test      ruff, mypy and the whole test suite
#   ./run.sh bench     the benchmarks in bench/ (results in docs/BENCHMARKS.md)
#
# PostgreSQL: $MOVIES_PG_DSN when set, else 127.0.0.1:5432 as postgres, else an embedded server in .pgserver/.
set -euo pipefail
cd "$(dirname "$0")"

setup() {
    # Reinstall only when pyproject.toml changed since the last install.
    local stamp=.venv/.installed
    if [[ ! -x .venv/bin/python ]]; then
        python3 -m venv .venv
    fi
    if [[ ! -f $stamp ]] || ! cmp -s pyproject.toml "$stamp"; then
        .venv/bin/python -m pip install --quiet --upgrade pip
        .venv/bin/python -m pip install --quiet -e '.[airflow,dev]'
        cp pyproject.toml "$stamp"
    fi
    export PATH="$PWD/.venv/bin:$PATH"
}

command="${1:-}"
[[ $# -gt 0 ]] && shift
case "$command" in
    dag)
        setup
        # The DAG's own last task checks consistency; the check run after it prints the verdict as a
        # table at the end of Airflow's long log, where a person looks.
        exec python -m sqlite_to_postgres exec -- bash -c \
            'scripts/airflow-env.sh airflow dags test movies_migration "$@" &&
             python -m sqlite_to_postgres check --sqlite "${SQLITE_PATH:-db.sqlite}"' dag "$@"
        ;;
    migrate)
        setup
        exec python -m sqlite_to_postgres exec -- bash -c \
            'python -m sqlite_to_postgres migrate --sqlite "${SQLITE_PATH:-db.sqlite}" "$@" &&
             python -m sqlite_to_postgres check --sqlite "${SQLITE_PATH:-db.sqlite}"' migrate "$@"
        ;;
    test)
        setup
        ruff check .
        mypy
        exec python -m pytest "$@"
        ;;
    bench)
        setup
        python -c 'import matplotlib' 2>/dev/null || python -m pip install --quiet -e '.[bench]'
        exec python bench/run.py "$@"
        ;;
    *)
        sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
esac
