"""What the container and the newcomer path must have; there is no Docker engine here to build it."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def test_dockerfile_is_multi_stage_non_root_with_volume_and_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+\S+", text, flags=re.M)
    assert len(stages) >= 2
    assert "COPY --from=build" in text
    user = re.findall(r"^USER\s+(\S+)", text, flags=re.M)
    assert user and user[-1] not in ("root", "0")
    assert 'VOLUME ["/data"]' in text and "DATABASE_URL=sqlite:////data/bot.sqlite3" in text
    health = re.search(r"^HEALTHCHECK .*?CMD (.+)$", text, flags=re.M | re.S)
    assert health and "/healthz" in health.group(1) and "curl" not in health.group(1)
    assert re.search(r'^CMD \["python", "-m", "bot"\]', text, flags=re.M)


def test_dockerignore_is_an_allow_list_that_keeps_secrets_out() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert {"pyproject.toml", "bot", "cogs"} <= allowed
    assert not any(name.startswith((".env", "data", ".venv")) for name in allowed)


def test_compose_mounts_the_data_volume() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    assert "/data" in text and "env_file: .env" in text


def test_env_example_lists_every_setting_the_bot_reads() -> None:
    from bot.config import DEFAULTS

    documented = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), flags=re.M))
    assert sorted(set(DEFAULTS) - documented) == []


def test_env_example_lists_every_spec_variable() -> None:
    documented = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), flags=re.M))
    spec = {
        "DISCORD_TOKEN",
        "DISCORD_API_BASE_URL",
        "DISCORD_GATEWAY_URL",
        "MJ_PROVIDER",
        "MIDAPI_API_KEY",
        "MIDAPI_BASE_URL",
        "MIDAPI_IMAGE_INDEX_BASE",
        "VTRIX_API_KEY",
        "VTRIX_BASE_URL",
        "VTRIX_SUBMIT_PATH",
        "VTRIX_STATUS_PATH",
        "VTRIX_IMAGINE_MODEL",
        "DATABASE_URL",
        "CALLBACK_PUBLIC_URL",
        "HTTP_HOST",
        "HTTP_PORT",
        "CALLBACK_SECRET",
        "POLL_FIRST_S",
        "POLL_MAX_S",
        "TASK_TIMEOUT_S",
        "MAX_ACTIVE_PER_USER",
        "COMMAND_SYNC",
        "DEV_GUILD_IDS",
        "LOG_LEVEL",
        "LOG_FORMAT",
    }
    assert spec <= documented
    config = (ROOT / "bot" / "config.py").read_text()
    assert documented <= set(re.findall(r'"([A-Z][A-Z_]+)"', config))


def test_pyproject_names_the_packages_and_dependencies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    deps = " ".join(project["project"]["dependencies"])
    for name in ("discord.py", "aiohttp", "python-dotenv", "aiosqlite"):
        assert name in deps
    included = set(project["tool"]["setuptools"]["packages"]["find"]["include"])
    assert {"bot", "bot.*", "cogs", "cogs.*", "sandbox", "sandbox.*"} <= included
    assert not any(name.startswith(("tests", "bench")) for name in included)


def test_the_image_leaves_the_sandbox_out() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    allowed = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line.startswith("!")]
    assert "sandbox" not in dockerfile and not any("sandbox" in line for line in allowed)


def test_readme_first_screen_has_the_two_commands() -> None:
    first_screen = "\n".join((ROOT / "README.md").read_text().splitlines()[:25])
    assert "make run" in first_screen and "make test" in first_screen


def _lock() -> dict[str, tuple[str, list[str]]]:
    """requirements.lock as {normalised name: (version, hashes)}."""
    pins: dict[str, tuple[str, list[str]]] = {}
    current = None
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        pin = re.match(r"^([A-Za-z0-9._-]+)==([^\s\\;]+)", line)
        if pin:
            current = canonicalize_name(pin.group(1))
            pins[current] = (pin.group(2), [])
        elif current and (digest := re.search(r"--hash=sha256:([0-9a-f]{64})", line)):
            pins[current][1].append(digest.group(1))
    return pins


def test_the_lock_pins_every_runtime_dependency_with_hashes() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = _lock()
    for dependency in project["project"]["dependencies"]:
        wanted = Requirement(dependency)
        name = canonicalize_name(wanted.name)
        assert name in pins, f"{wanted.name} is not in requirements.lock (run make lock)"
        version, hashes = pins[name]
        assert wanted.specifier.contains(version), f"lock has {name}=={version}, pyproject wants {wanted}"
        assert hashes, f"{name} has no hash in requirements.lock"
    assert all(hashes for _version, hashes in pins.values())


def test_the_image_installs_from_the_lock_only() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "pip install --require-hashes -r requirements.lock" in text
    assert "pip install --no-deps ." in text
    assert text.index("--require-hashes") < text.index("--no-deps")
    assert "!requirements.lock" in (ROOT / ".dockerignore").read_text()
    assert re.search(r"^lock:", (ROOT / "Makefile").read_text(), flags=re.M)


def dry_run(target: str, venv: Path) -> list[str]:
    """The commands `make <target>` would run on a fresh clone (nothing is executed)."""
    # --no-print-directory: under `make check` this runs inside another make, which would otherwise
    # add "Entering/Leaving directory" lines.
    done = subprocess.run(
        ["make", "--dry-run", "--no-print-directory", target, f"VENV={venv}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.splitlines()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_install_and_run_install_the_runtime_only(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    for target in ("install", "run", "doctor"):
        installs = [
            line for line in dry_run(target, venv) if "pip install" in line and "--upgrade pip" not in line
        ]
        assert installs == [f"{venv}/bin/python -m pip install --quiet -e ."], (target, installs)
    assert dry_run("run", venv)[-1] == f"{venv}/bin/python -m bot"
    assert dry_run("doctor", venv)[-1] == f"{venv}/bin/python -m bot doctor"


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_development_targets_install_the_dev_tools(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    for target in ("test", "check", "demo", "bench"):
        assert f"{venv}/bin/python -m pip install --quiet -e '.[dev]'" in dry_run(target, venv), target


def test_owner_documents_stand_on_their_own() -> None:
    """README, changelog and .env.example point only at things inside the repository."""
    for name in ("README.md", "CHANGELOG.md", ".env.example"):
        text = (ROOT / name).read_text()
        assert "../" not in text and ("SP" + "EC") not in text, name
        for linked in re.findall(r"docs/[\w./-]*[\w/]", text):  # a sentence may end after the path
            assert (ROOT / linked).exists(), f"{name} points at {linked}, which does not exist"
    license_text = (ROOT / "LICENSE").read_text()
    assert license_text.startswith("MIT License") and "the mjbot authors" in license_text
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"] == {"text": "MIT"}
    assert "## Unreleased" in (ROOT / "CHANGELOG.md").read_text()


def test_readme_deploys_with_make_install_and_backs_up_without_sqlite3() -> None:
    readme = (ROOT / "README.md").read_text()
    systemd = readme[readme.index("### systemd") : readme.index("### Data and backups")]
    assert "make install" in systemd and "python -m bot doctor" in systemd
    backups = readme[readme.index("### Data and backups") : readme.index("### Rotating keys")]
    assert "docker exec mjbot python -m bot backup" in backups and "chown 10001:10001" in backups
    assert '".backup' not in readme  # the sqlite3 tool's command: the image does not have it
