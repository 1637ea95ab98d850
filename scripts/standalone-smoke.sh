#!/usr/bin/env bash
# Smoke test of the UI path, unattended, against a scratch Airflow home and database standalone_check:
#   1. start `airflow standalone`;
#   2. open movies_migration's trigger form in headless Chromium, screenshot it, check that every param
#      shows its title and description;
#   3. trigger a run with the form's defaults through the REST API the form posts to, wait for it;
#   4. trigger a run with non-default params (a subset of tables, a batch size), wait, and check that
#      it honoured them: the other tables' loads skipped, the batch size in the load tasks;
#   5. check that the film_work asset event triggered movies_downstream_example;
#   6. screenshot both run pages, the film_work asset's page and the Asset Events tab of the
#      example's run, stop everything.
# Needs Debian's chromium (apt-get install chromium). Screenshots go to $SCREENSHOTS (default /tmp/movies-smoke).
# Exits 1 when a check fails.
set -u
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
export MOVIES_AIRFLOW_HOME="${TMPDIR:-/tmp}/movies-standalone-home"
SCREENSHOTS="${SCREENSHOTS:-${TMPDIR:-/tmp}/movies-smoke}"
API=http://127.0.0.1:8080
rm -rf "$MOVIES_AIRFLOW_HOME"
mkdir -p "$SCREENSHOTS"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS=True
export MOVIES_PG_DSN="host=127.0.0.1 port=5432 user=postgres dbname=standalone_check"
psql -h 127.0.0.1 -U postgres -qc "drop database if exists standalone_check"
# Its own process group: standalone's children (api_server, scheduler, workers, serve-logs) go with it.
setsid scripts/airflow-env.sh airflow standalone > "$MOVIES_AIRFLOW_HOME.log" 2>&1 &
STANDALONE=$!
trap 'kill -TERM -- "-$STANDALONE" 2>/dev/null; sleep 5; kill -KILL -- "-$STANDALONE" 2>/dev/null' EXIT
FAILED=0
fail() { echo "FAILED: $*"; FAILED=1; }

for i in $(seq 1 60); do curl -sf "$API/api/v2/version" >/dev/null 2>&1 && break; sleep 2; done
TOKEN=$(curl -s "$API/auth/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
get() { curl -s -H "Authorization: Bearer $TOKEN" "$API/api/v2/$1"; }
for i in $(seq 1 30); do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$API/api/v2/dags/movies_migration")
  [ "$code" = 200 ] && break; sleep 2
done
# A task run before the scheduler reports healthy may find the execution API not answering yet.
for i in $(seq 1 30); do
  curl -s "$API/api/v2/monitor/health" | python3 -c '
import json,sys; h = json.load(sys.stdin)
sys.exit(0 if all(h.get(part, {}).get("status") == "healthy" for part in ("metadatabase", "scheduler", "triggerer", "dag_processor")) else 1)' && break
  sleep 2
done

# --- the trigger form -------------------------------------------------------------------------
echo "== trigger form"
python scripts/trigger_form_screenshot.py "$API" movies_migration "$SCREENSHOTS/trigger-form.png" > "$SCREENSHOTS/trigger-form.txt" \
  || fail "the trigger form did not open"
# Every param of the DAG, as the API describes them, must show its title and description in the form.
get dags/movies_migration/details | FORM="$SCREENSHOTS/trigger-form.txt" python3 -c '
import json, os, sys
text = " ".join(open(os.environ["FORM"]).read().split())
params = json.load(sys.stdin)["params"]
for name, param in params.items():
    schema = param.get("schema", {})
    for field in ("title", "description"):
        shown = " ".join(str(schema.get(field) or param.get(field) or "").split())
        print(f"  {name} {field}: {shown!r} " + ("shown" if shown and shown in text else "MISSING"))
        if not shown or shown not in text:
            sys.exit(1)
' || fail "a param's title or description is missing from the form"

# --- runs ---------------------------------------------------------------------------------------
trigger() {  # conf as JSON -> run id; the form posts the same body
  curl -s -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d "{\"logical_date\": null, \"conf\": $1}" "$API/api/v2/dags/movies_migration/dagRuns" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["dag_run_id"])'
}
wait_for() {  # run id -> final state
  local state
  for i in $(seq 1 100); do
    state=$(get "dags/movies_migration/dagRuns/$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')
    [ "$state" = success ] || [ "$state" = failed ] && break; sleep 3
  done
  echo "$state"
}
task_states() {
  get "dags/movies_migration/dagRuns/$1/taskInstances" | python3 -c '
import json,sys
for ti in sorted(json.load(sys.stdin)["task_instances"], key=lambda ti: ti["task_id"]):
    print(ti["task_id"], ti["state"], ti["rendered_fields"].get("batch_size", ""))'
}
screenshot() {  # page path, file
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --user-data-dir="$(mktemp -d)" --window-size=1600,1000 \
    --virtual-time-budget=8000 --screenshot="$2" "$API/$1" 2>/dev/null
}
quote() { python3 -c "import urllib.parse,sys; print(urllib.parse.quote(sys.argv[1]))" "$1"; }

echo "== a run with the form's defaults"
DEFAULT_RUN=$(trigger '{}')
state=$(wait_for "$DEFAULT_RUN"); echo "$DEFAULT_RUN: $state"
task_states "$DEFAULT_RUN"
[ "$state" = success ] || fail "the default run ended $state"

echo "== a run of genre, film_work and genre_film_work, 100 rows a batch"
CHOSEN_RUN=$(trigger '{"tables": ["genre", "film_work", "genre_film_work"], "batch_size": 100}')
state=$(wait_for "$CHOSEN_RUN"); echo "$CHOSEN_RUN: $state"
task_states "$CHOSEN_RUN" | tee "$SCREENSHOTS/chosen-run-tasks.txt"
[ "$state" = success ] || fail "the run with chosen params ended $state"
python3 - "$SCREENSHOTS/chosen-run-tasks.txt" <<'PY' || fail "the run did not honour its params"
import sys
rows = {line.split()[0]: line.split()[1:] for line in open(sys.argv[1]) if line.strip()}
expected = {"load_person": "skipped", "load_person_film_work": "skipped", "load_genre": "success",
            "load_film_work": "success", "load_genre_film_work": "success"}
wrong = {task: rows.get(task) for task, state in expected.items() if rows.get(task, [None])[0] != state}
batch = {task: row[1:] for task, row in rows.items() if task in expected and row[0] == "success" and row[1:] != ["100"]}
print("  states as chosen" if not wrong else f"  wrong states: {wrong}")
print("  batch_size 100 in every load that ran" if not batch else f"  other batch sizes: {batch}")
sys.exit(1 if wrong or batch else 0)
PY

echo "== the film_work asset event triggered movies_downstream_example"
for i in $(seq 1 40); do
  runs=$(get "dags/movies_downstream_example/dagRuns?order_by=-start_date" | python3 -c '
import json,sys
print(" ".join(r["run_type"] + ":" + r["state"] for r in json.load(sys.stdin)["dag_runs"]))')
  [[ "$runs" == *asset_triggered:success* ]] && break; sleep 3
done
echo "  runs: ${runs:-none}"
[[ "$runs" == *asset_triggered:success* ]] || fail "no asset-triggered run of movies_downstream_example succeeded"
get "assets/events?source_dag_id=movies_migration&limit=20" | python3 -c '
import json,sys
for e in json.load(sys.stdin)["asset_events"]:
    print("  event {id}: {uri} from {source_task_id} of {source_run_id}:".format(**e),
          ", ".join("{} {}".format(key, e["extra"].get(key)) for key in ("inserted", "updated", "unchanged", "rejected")))'

screenshot "dags/movies_migration/runs/$(quote "$DEFAULT_RUN")" "$SCREENSHOTS/default-run.png"
screenshot "dags/movies_migration/runs/$(quote "$CHOSEN_RUN")" "$SCREENSHOTS/chosen-run.png"
# The events a run records show on the asset's page and on the Asset Events tab of the runs they trigger.
FILM_WORK_ASSET=$(get "assets?name_pattern=film_work" | python3 -c '
import json,sys
print(next(a["id"] for a in json.load(sys.stdin)["assets"] if a["name"] == "movies_database.content.film_work"))')
CONSUMER_RUN=$(get "dags/movies_downstream_example/dagRuns?order_by=-start_date" | python3 -c '
import json,sys; print(json.load(sys.stdin)["dag_runs"][0]["dag_run_id"])')
screenshot "assets/$FILM_WORK_ASSET" "$SCREENSHOTS/film-work-asset.png"
screenshot "dags/movies_downstream_example/runs/$(quote "$CONSUMER_RUN")/asset_events" "$SCREENSHOTS/example-run-asset-events.png"
echo "screenshots in $SCREENSHOTS:" $(cd "$SCREENSHOTS" && ls *.png)
[ "$FAILED" = 0 ] && echo "smoke: all checks passed" || echo "smoke: FAILED"
exit "$FAILED"
