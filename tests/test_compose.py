"""docker-compose.yaml, checked statically (Docker does not run here): it must refer only to what exists."""

from __future__ import annotations

import ast
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yaml"
DAG_FILE = PROJECT_ROOT / "dags" / "movies_migration.py"
AIRFLOW_COMMANDS = {"api-server", "scheduler", "dag-processor", "triggerer"}
# ${NAME:-default} or ${NAME-default}: compose substitutes the default when NAME is unset.
VARIABLE = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def airflow_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        name: service for name, service in services.items() if "apache/airflow" in service.get("image", "")
    }


def with_defaults(text: str) -> str:
    """The text as compose would expand it with no variables set."""
    return VARIABLE.sub(lambda match: match.group(2) or "", text)


def bind_mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(host path, container path) of the service's bind mounts; named volumes are left out."""
    mounts = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            if volume.get("type") == "bind":
                mounts.append((with_defaults(volume["source"]), volume["target"]))
            continue
        source, target = with_defaults(volume).split(":")[:2]
        if source.startswith((".", "/", "~")):
            mounts.append((source, target))
    return mounts


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: with_defaults(str(value)) for key, value in env.items()}


def dag_constant(name: str) -> str:
    """A module-level string constant of the DAG file, read without importing Airflow."""
    for node in ast.parse(DAG_FILE.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return str(ast.literal_eval(node.value))
    raise AssertionError(f"{DAG_FILE.name} has no constant {name}")


def test_compose_file_parses_with_the_full_stack(services: dict[str, dict[str, Any]]) -> None:
    commands = {str(service.get("command", "")) for service in services.values()}
    assert commands >= AIRFLOW_COMMANDS
    assert any("db migrate" in command for command in commands), "no init job migrating Airflow's database"
    postgres = [
        name for name, service in services.items() if service.get("image", "").startswith("postgres:")
    ]
    assert len(postgres) == 2, "expected Airflow's metadata PostgreSQL and the target PostgreSQL"


def test_every_bind_mount_exists_in_the_repository(services: dict[str, dict[str, Any]]) -> None:
    missing = [
        f"{name}: {source}"
        for name, service in services.items()
        for source, _ in bind_mounts(service)
        if not (PROJECT_ROOT / source).exists()
    ]
    assert not missing, f"mounted paths absent from the repository: {missing}"


def test_named_volumes_are_declared(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    declared = set(compose.get("volumes") or {})
    used = {
        volume.split(":")[0]
        for service in services.values()
        for volume in service.get("volumes", [])
        if isinstance(volume, str) and not with_defaults(volume).startswith((".", "/", "~"))
    }
    assert used <= declared


def test_airflow_services_mount_what_the_dag_needs(airflow_services: dict[str, dict[str, Any]]) -> None:
    assert {str(service.get("command")) for service in airflow_services.values()} >= AIRFLOW_COMMANDS
    for name, service in airflow_services.items():
        mounts = dict(bind_mounts(service))
        env = environment(service)
        assert mounts.get("./dags") == env["AIRFLOW__CORE__DAGS_FOLDER"], name
        assert mounts.get("./plugins") == env["AIRFLOW__CORE__PLUGINS_FOLDER"], name
        library = mounts.get("./sqlite_to_postgres")
        assert library is not None and str(Path(library).parent) in env["PYTHONPATH"].split(":"), name
        assert (PROJECT_ROOT / "sqlite_to_postgres" / "ddl" / "movies_database.ddl").is_file()


def test_connections_are_the_ones_the_dag_uses(
    services: dict[str, dict[str, Any]], airflow_services: dict[str, dict[str, Any]]
) -> None:
    sqlite_var = f"AIRFLOW_CONN_{dag_constant('SQLITE_CONN_ID').upper()}"
    postgres_var = f"AIRFLOW_CONN_{dag_constant('POSTGRES_CONN_ID').upper()}"
    for name, service in airflow_services.items():
        env = environment(service)
        sqlite_conn = json.loads(env[sqlite_var])
        assert sqlite_conn["conn_type"] == "sqlite"
        # The SQLite file the connection names is the one mounted from the repository.
        mounted = {target: source for source, target in bind_mounts(service)}
        assert sqlite_conn["host"] in mounted, f"{name}: {sqlite_conn['host']} is not mounted"
        assert (PROJECT_ROOT / mounted[sqlite_conn["host"]]).name.endswith(".sqlite")

        pg_conn = json.loads(env[postgres_var])
        assert pg_conn["conn_type"] == "postgres"
        target = services[pg_conn["host"]]
        target_env = environment(target)
        assert pg_conn["schema"] == target_env["POSTGRES_DB"] == "movies_database"
        assert pg_conn["login"] == target_env["POSTGRES_USER"]
        assert pg_conn["password"] == target_env["POSTGRES_PASSWORD"]


def test_metadata_database_points_at_a_service(
    services: dict[str, dict[str, Any]], airflow_services: dict[str, dict[str, Any]]
) -> None:
    for service in airflow_services.values():
        url = environment(service)["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        host = re.search(r"@([\w-]+)[:/]", url)
        assert host and host.group(1) in services
        api = re.search(r"//([\w-]+):", environment(service)["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
        assert api and services[api.group(1)].get("command") == "api-server"


def test_depends_on_refers_to_existing_services(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        depends = service.get("depends_on", {})
        for dependency in depends if isinstance(depends, list) else depends.keys():
            assert dependency in services, f"{name} depends on unknown service {dependency}"
            assert dependency != name


def test_image_tag_matches_the_pinned_airflow(airflow_services: dict[str, dict[str, Any]]) -> None:
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    pins = [
        requirement.split("==", 1)[1].strip()
        for requirement in pyproject["project"]["optional-dependencies"]["airflow"]
        if re.match(r"apache-airflow\s*==", requirement)
    ]
    assert len(pins) == 1
    assert airflow_services
    for name, service in airflow_services.items():
        assert service["image"] == f"apache/airflow:{pins[0]}", name
