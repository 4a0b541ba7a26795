"""The files in deploy/ checked by the tools that understand them, and what the image runs, run.

Each check skips, saying why, when its tool is missing: systemd-analyze is a system package
(`.ci/run` installs it; `make test` never installs system packages). hadolint, kubernetes-validate
and the Compose schema (vendored by check-jsonschema) come with the test extra.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent
# The Kubernetes release the manifests are held to: the oldest minor still maintained upstream when
# this was written (1.33 to 1.35 were), so the manifests work on every maintained cluster.
KUBERNETES_VERSION = "1.33.0"
# `systemd-analyze security` scores exposure from 0 (locked down) to 10 (none); systemd calls up to
# 2.0 "OK". The unit scores 1.2: what remains is what a webhook server needs (the network, its own
# root filesystem for the virtual environment) and writable-executable memory, left allowed because
# Python extensions using libffi closures need it.
EXPOSURE_AT_MOST = 2.0


def tool(name: str) -> str:
    """A tool from the test environment's own bin directory, or from PATH."""
    found = BIN / name
    if found.exists():
        return str(found)
    on_path = shutil.which(name)
    if on_path is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[test]')")
    return on_path


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)


# -- Dockerfile --------------------------------------------------------------------------------


def test_the_dockerfile_passes_hadolint_with_every_ignore_explained() -> None:
    result = run(tool("hadolint"), "--no-color", str(DEPLOY / "Dockerfile"))
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
    lines = (DEPLOY / "Dockerfile").read_text().splitlines()
    for number, line in enumerate(lines):
        if "hadolint ignore=" in line:
            # the comment line just above an ignore says why
            assert number > 0 and lines[number - 1].startswith("#") and "hadolint" not in lines[number - 1], line


def test_hadolint_would_catch_a_mistake(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text((DEPLOY / "Dockerfile").read_text() + "RUN cd /tmp && apt-get install curl\n")
    result = run(tool("hadolint"), "--no-color", str(bad))
    assert result.returncode != 0 and "DL3003" in result.stdout


# -- Kubernetes --------------------------------------------------------------------------------


def kubernetes() -> dict[tuple[str, str], dict[str, Any]]:
    """The manifest's objects by (kind, name)."""
    documents = [d for d in yaml.safe_load_all((DEPLOY / "kubernetes.yaml").read_text()) if d]
    return {(d["kind"], d["metadata"]["name"]): d for d in documents}


def test_the_kubernetes_manifests_validate_strictly() -> None:
    import kubernetes_validate

    objects = kubernetes()
    assert {kind for kind, _ in objects} == {"Deployment", "StatefulSet", "Service", "PodDisruptionBudget"}
    for document in objects.values():
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def env_of(workload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    [container] = workload["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e for e in container["env"]}


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def test_kubernetes_runs_two_replicas_on_postgresql_and_one_worktree_host() -> None:
    objects = kubernetes()
    replicas = objects["Deployment", "forgebot"]
    host = objects["StatefulSet", "forgebot-worktrees"]
    assert (replicas["spec"]["replicas"], host["spec"]["replicas"]) == (2, 1)
    for workload in (replicas, host):
        env = env_of(workload)
        # the URL (it may carry a password) comes from a Secret, never a value in the manifest
        assert "value" not in env["FORGEBOT_DATABASE_URL"]
        assert env["FORGEBOT_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "forgebot-database"
        [container] = workload["spec"]["template"]["spec"]["containers"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert env_of(replicas)["FORGEBOT_WORKTREE_HOST"]["value"] == "false"
    assert env_of(host)["FORGEBOT_WORKTREE_HOST"]["value"] == "true"
    [claim] = host["spec"]["volumeClaimTemplates"]  # the git root is on the host's own disk
    [mount] = host["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    assert mount["name"] == claim["metadata"]["name"] and mount["mountPath"] == "/var/lib/forgebot"
    budget = objects["PodDisruptionBudget", "forgebot"]["spec"]
    replica_labels = replicas["spec"]["template"]["metadata"]["labels"]
    assert selects(budget["selector"]["matchLabels"], replica_labels)
    assert 0 < budget["minAvailable"] < replicas["spec"]["replicas"]  # a drain can go on, one at a time
    web = objects["Service", "forgebot"]["spec"]["selector"]  # webhooks reach every replica
    assert selects(web, replica_labels) and selects(web, host["spec"]["template"]["metadata"]["labels"])


def test_strict_validation_would_catch_an_unknown_field() -> None:
    import kubernetes_validate

    deployment = next(d for d in yaml.safe_load_all((DEPLOY / "kubernetes.yaml").read_text()) if d and d["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


# -- compose -----------------------------------------------------------------------------------


def compose_schema() -> dict[str, Any]:
    """The Compose specification's schema as check-jsonschema vendors it (with its license, Apache-2.0)."""
    from importlib.resources import files

    try:
        vendor = files("check_jsonschema.builtin_schemas.vendor")
    except ModuleNotFoundError:
        pytest.skip("check-jsonschema is not installed (pip install -e '.[test]')")
    return dict(json.loads(vendor.joinpath("compose-spec.json").read_text()))


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((DEPLOY / "compose.yaml").read_text()))  # YAML merge keys resolved


def test_the_compose_file_follows_the_compose_specification() -> None:
    import jsonschema

    schema = compose_schema()
    services = compose()
    jsonschema.validators.validator_for(schema)(schema).validate(services)
    for name in ("forgebot-1", "forgebot-2"):
        build = services["services"][name]["build"]
        assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def test_compose_runs_two_replicas_on_one_postgresql_without_a_password_in_the_file() -> None:
    services = compose()["services"]
    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:")  # the official image
    assert postgres["volumes"][0].startswith("postgres-data:")
    assert "pg_isready" in postgres["healthcheck"]["test"]
    replicas = {name: s for name, s in services.items() if name.startswith("forgebot")}
    assert len(replicas) == 2
    urls = {s["environment"]["FORGEBOT_DATABASE_URL"] for s in replicas.values()}
    [url] = urls  # one database for both
    assert urlsplit(url).scheme == "postgresql" and urlsplit(url).hostname == "postgres"
    assert urlsplit(url).password is None
    for service in replicas.values():
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        # libpq reads PGPASSWORD; its value comes from deploy/.env, the same one PostgreSQL gets
        assert service["environment"]["PGPASSWORD"] == postgres["environment"]["POSTGRES_PASSWORD"]
        assert re.fullmatch(r"\$\{FORGEBOT_POSTGRES_PASSWORD:\?[^}]+\}", service["environment"]["PGPASSWORD"])
    assert {s["environment"]["FORGEBOT_REPLICA_ID"] for s in replicas.values()} == set(replicas)
    hosts = [s for s in replicas.values() if s["environment"]["FORGEBOT_WORKTREE_HOST"] == "true"]
    assert len(hosts) == 1 and hosts[0]["volumes"][0].endswith(":/var/lib/forgebot")
    # no URL anywhere in the file carries a password
    for text in strings(compose()):
        for found in re.findall(r"postgres(?:ql)?://\S+", text):
            assert urlsplit(found).password is None, found


def test_the_compose_schema_would_catch_a_mistake() -> None:
    import jsonschema

    schema = compose_schema()
    services = compose()
    services["services"]["forgebot-1"]["restart_policy"] = "always"  # a key of `deploy`, not of a service
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validators.validator_for(schema)(schema).validate(services)


def test_a_database_url_without_its_password_connects_with_pgpassword(
    postgres_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the compose file relies on: the URL names no password and libpq, inside forgebot's
    psycopg pool, takes it from PGPASSWORD. The server is made to ask this role for a password."""
    import asyncio

    import psycopg

    from bot.storage.open import open_storage
    from tests.conftest import make_settings

    role, password = f"pgpass_{os.getpid()}", "correct horse battery"
    with psycopg.connect(postgres_server.admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        conn.execute(f"CREATE DATABASE {role} OWNER {role}")
        hba = Path(conn.execute("SHOW hba_file").fetchone()[0])
        before = hba.read_text()
        hba.write_text(f"local all {role} scram-sha-256\n{before}")
        conn.execute("SELECT pg_reload_conf()")
    try:
        parts = urlsplit(postgres_server.url(role))
        url = parts._replace(netloc=f"{role}@{parts.netloc.rpartition('@')[2]}").geturl()
        settings = make_settings(tmp_path, database_url=url)

        async def start_and_stop() -> str:
            storage = open_storage(settings)
            await storage.start()  # migrates the empty database
            try:
                return storage.describe()
            finally:
                await storage.stop()

        monkeypatch.delenv("PGPASSWORD", raising=False)
        monkeypatch.setenv("PGPASSFILE", str(tmp_path / "none"))
        with pytest.raises(psycopg.OperationalError, match="no password supplied"):
            psycopg.connect(url).close()  # the server does ask for it
        monkeypatch.setenv("PGPASSWORD", password)
        described = asyncio.run(start_and_stop())
        assert described.startswith("postgresql") and password not in described
        with psycopg.connect(postgres_server.admin_url.replace("/postgres?", f"/{role}?", 1)) as conn:
            assert conn.execute("SELECT count(*) FROM leases").fetchone() == (0,)  # the schema is there
    finally:
        hba.write_text(before)
        with psycopg.connect(postgres_server.admin_url, autocommit=True) as conn:
            conn.execute("SELECT pg_reload_conf()")


# -- systemd -----------------------------------------------------------------------------------


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd; .ci/run does)")
    return found


def verify_root(tmp_path: Path, unit: str) -> Path:
    """A root directory holding the unit, systemd's own units and an executable at ExecStart's path,
    so that `verify` checks the unit and not this machine's layout."""
    root = tmp_path / "root"
    (root / "etc/systemd/system").mkdir(parents=True)
    (root / "etc/systemd/system/forgebot.service").write_text(unit)
    units = next((p for p in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")) if p.is_dir()), None)
    if units is None:
        pytest.skip("systemd's unit directory is missing")
    shutil.copytree(units, root / "usr/lib/systemd/system", symlinks=True)
    exec_start = re.search(r"^ExecStart=(\S+)", unit, re.M)
    assert exec_start is not None
    program = root / exec_start.group(1).lstrip("/")
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    return root


def verify(tmp_path: Path, unit: str) -> subprocess.CompletedProcess[str]:
    root = verify_root(tmp_path, unit)
    return run(systemd_analyze(), "verify", f"--root={root}", "/etc/systemd/system/forgebot.service")


def test_the_systemd_unit_verifies_without_a_warning(tmp_path: Path) -> None:
    result = verify(tmp_path, (DEPLOY / "forgebot.service").read_text())
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_verify_would_report_an_unknown_key(tmp_path: Path) -> None:
    unit = (DEPLOY / "forgebot.service").read_text().replace("[Service]\n", "[Service]\nRestartSecs=2\n")
    result = verify(tmp_path, unit)
    assert "Unknown key 'RestartSecs'" in result.stdout + result.stderr


def exposure(unit: Path) -> float:
    result = run(systemd_analyze(), "security", "--offline=yes", "--no-pager", str(unit))
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d)", result.stdout + result.stderr)
    assert found is not None, result.stdout + result.stderr
    return float(found.group(1))


def test_the_systemd_unit_is_hardened(tmp_path: Path) -> None:
    unit = DEPLOY / "forgebot.service"
    assert exposure(unit) <= EXPOSURE_AT_MOST
    bare = tmp_path / "forgebot.service"  # the same unit without its hardening scores far worse
    bare.write_text("\n".join(line for line in unit.read_text().splitlines()
                              if not line.startswith(("Protect", "Private", "Restrict", "SystemCall", "Capability",
                                                      "NoNewPrivileges", "LockPersonality", "ProcSubset"))))
    assert exposure(bare) > EXPOSURE_AT_MOST


# -- what the image runs -------------------------------------------------------------------------


def dockerfile() -> tuple[list[str], dict[str, str]]:
    """The image's command (ENTRYPOINT + CMD, exec form) and its ENV, read from the Dockerfile."""
    text = re.sub(r"\\\n\s*", " ", (DEPLOY / "Dockerfile").read_text())
    entrypoint: list[str] = []
    command: list[str] = []
    env: dict[str, str] = {}
    for line in text.splitlines():
        word, _, rest = line.strip().partition(" ")
        if word == "ENTRYPOINT":
            entrypoint = json.loads(rest)
        elif word == "CMD":
            command = json.loads(rest)
        elif word == "ENV":
            env.update(dict(pair.split("=", 1) for pair in rest.split()))
    return entrypoint + command, env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_the_image_command_answers_readyz_from_a_fresh_environment_made_from_the_wheel(tmp_path: Path) -> None:
    """What `docker build` and `docker run` would do, without docker: build the wheel from the
    files the Dockerfile copies, install it alone into a new virtual environment, and run the
    image's command with the image's environment, its volume in a temporary directory."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "bot", "handlers", "config"):  # the Dockerfile's COPY lines
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(ROOT / name, source / name)
    built = run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", str(source), "-w", str(tmp_path / "dist"))
    assert built.returncode == 0, built.stderr
    [wheel] = (tmp_path / "dist").glob("forgebot-*.whl")
    venv = tmp_path / "venv"
    made = run(sys.executable, "-m", "venv", str(venv))
    assert made.returncode == 0, made.stderr
    installed = run(str(venv / "bin/python"), "-m", "pip", "install", "--quiet", str(wheel), timeout=600)
    assert installed.returncode == 0, installed.stderr

    command, image_env = dockerfile()
    assert command == ["forgebot", "serve"]
    volume = tmp_path / "var-lib-forgebot"
    volume.mkdir()
    port = free_port()
    env = {key: value.replace("/var/lib/forgebot", str(volume)) for key, value in image_env.items()}
    env.update({"FORGEBOT_HOST": "127.0.0.1", "FORGEBOT_PORT": str(port),  # loopback, not the image's 0.0.0.0
                "PATH": f"{venv / 'bin'}{os.pathsep}{os.defpath}", "HOME": str(tmp_path)})
    program = shutil.which(command[0], path=env["PATH"])
    assert program == str(venv / "bin" / command[0])
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen([program, *command[1:]], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        status, body = wait_for_readyz(port, proc)
        assert status == 200, body
        assert (volume / "webhook-secret").is_file() and (volume / "forgebot.db").is_file()
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        log.close()
    assert code in (0, -signal.SIGTERM), (tmp_path / "serve.log").read_text()


def wait_for_readyz(port: int, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> tuple[int, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the image's command exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            if exc.code != 503:  # 503: still starting
                return exc.code, exc.read().decode()
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError("no answer from /readyz")
