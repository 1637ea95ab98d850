#!/usr/bin/env bash
# Smoke test of the UI path: start `airflow standalone` in a scratch home, trigger movies_migration
# through the REST API, poll it to the end, list its tasks, screenshot the run page (needs Debian's
# chromium: apt-get install chromium), stop everything. Uses database standalone_check on the local server.
set -u
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
export MOVIES_AIRFLOW_HOME="${TMPDIR:-/tmp}/movies-standalone-home"
rm -rf "$MOVIES_AIRFLOW_HOME"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS=True
export MOVIES_PG_DSN="host=127.0.0.1 port=5432 user=postgres dbname=standalone_check"
psql -h 127.0.0.1 -U postgres -qc "drop database if exists standalone_check"
# Its own process group: standalone's children (api_server, scheduler, workers, serve-logs) go with it.
setsid scripts/airflow-env.sh airflow standalone > "$MOVIES_AIRFLOW_HOME.log" 2>&1 &
STANDALONE=$!
for i in $(seq 1 60); do curl -sf http://127.0.0.1:8080/api/v2/version >/dev/null 2>&1 && break; sleep 2; done
TOKEN=$(curl -s http://127.0.0.1:8080/auth/token | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
for i in $(seq 1 30); do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/api/v2/dags/movies_migration)
  [ "$code" = 200 ] && break; sleep 2
done
RUN=$(curl -s -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d '{"logical_date": null, "conf": {"batch_size": 5000}}' http://127.0.0.1:8080/api/v2/dags/movies_migration/dagRuns)
echo "$RUN" | head -c 300; echo
RUN_ID=$(echo "$RUN" | python3 -c 'import json,sys; print(json.load(sys.stdin)["dag_run_id"])')
for i in $(seq 1 60); do
  STATE=$(curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:8080/api/v2/dags/movies_migration/dagRuns/$RUN_ID" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')
  echo "state=$STATE"; [ "$STATE" = success ] || [ "$STATE" = failed ] && break; sleep 3
done
curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:8080/api/v2/dags/movies_migration/dagRuns/$RUN_ID/taskInstances" | python3 -c '
import json,sys
for ti in json.load(sys.stdin)["task_instances"]: print(ti["task_id"], ti["state"], ti["try_number"])'
ENC=$(python3 -c "import urllib.parse,sys; print(urllib.parse.quote(sys.argv[1]))" "$RUN_ID")
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking --disable-component-update --disable-sync --user-data-dir="$(mktemp -d)" --window-size=1600,1000 --virtual-time-budget=8000 --screenshot="${SCREENSHOT:-$PWD/standalone-run.png}" "http://127.0.0.1:8080/dags/movies_migration/runs/$ENC" 2>/dev/null
kill -TERM -- "-$STANDALONE"; sleep 5; kill -KILL -- "-$STANDALONE" 2>/dev/null
echo "stopped; screenshot in ${SCREENSHOT:-$PWD/standalone-run.png}"
