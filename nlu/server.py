"""Managing Rasa: a model trained only when data or config changed, and a ``rasa run
--enable-api`` process bound to 127.0.0.1 with an auth token.

Rasa cannot live in the bot's interpreter (it needs Python < 3.11 and old SQLAlchemy/pydantic), so
everything here talks to it through files, subprocesses and HTTP. Its Python 3.10 virtualenv is
set up by scripts/lib.sh (``ensure_rasa_venv``) before anything runs; a pip install of 2.7 GB is
no step for a bot to take while starting, so here it is only checked.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from nlu.settings import NluSettings, RasaPlaces

log = logging.getLogger(__name__)

KEEP_MODELS = 3
EXTENSIONS = Path(__file__).resolve().parent / "rasa_ext"
"""Our code that runs inside Rasa (the intent classifier, the batch parse route)."""
CREDENTIALS = EXTENSIONS / "credentials.yml"
LAUNCHER = Path(__file__).resolve().parent / "rasa_launch.py"
"""Runs ``rasa`` with the auth token from the environment (outside rasa_ext: not model content)."""


class NluServerError(RuntimeError):
    """Rasa is not installed, or could not be trained or started; the message says which and why."""


def rasa_env(token: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = f"{EXTENSIONS}{os.pathsep}{path}" if path else str(EXTENSIONS)
    if token is not None:
        # read by the launcher (rasa's --auth-token) and by the batch route through credentials.yml
        env["TOUSU_RASA_TOKEN"] = token
    env.update(
        RASA_TELEMETRY_ENABLED="false",
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONWARNINGS="ignore",
        PYTHONHASHSEED="0",
        SQLALCHEMY_SILENCE_UBER_WARNING="1",
    )
    return env


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now (for a second Rasa server)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def installed_rasa(nlu: NluSettings, places: RasaPlaces) -> Path:
    """The ``rasa`` command of the virtualenv scripts/lib.sh installed (its stamp file names the
    pinned requirement); a missing or outdated one is an error saying how to install it."""
    stamp = places.venv / ".tousu-stamp"
    try:
        installed = stamp.read_text(encoding="utf-8").strip()
    except OSError:
        installed = ""
    if places.rasa.exists() and installed == nlu.rasa_requirement:
        return places.rasa
    found = f"it has {installed}" if installed and places.rasa.exists() else "it has no Rasa"
    raise NluServerError(
        f"{nlu.rasa_requirement} is not installed in {places.venv} ({found}); "
        "run ./scripts/run (or ./scripts/test), which installs it"
    )


def _run(cmd: list[str], what: str, *, cwd: Path | None = None) -> None:
    done = subprocess.run(cmd, cwd=cwd, env=rasa_env(), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise NluServerError(f"could not {what} (exit {done.returncode}):\n{tail}")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive file lock, so two processes (say, two test runs) never train or install at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def training_files(data: Path) -> list[Path]:
    return sorted(p for p in data.rglob("*") if p.suffix in {".yml", ".yaml"} and p.is_file())


def content_hash(config: Path, data: Path, rasa_version: str, extra: Path | None = None) -> str:
    """The model's identity: Rasa version, pipeline config, our components' code, every training
    file and the reviewed examples (``extra``) when there are any."""
    digest = hashlib.sha256(f"rasa {rasa_version}\n".encode())
    digest.update(config.read_bytes())
    for path in sorted(EXTENSIONS.rglob("*.py")):
        digest.update(f"\n--- code {path.relative_to(EXTENSIONS).as_posix()}\n".encode())
        digest.update(path.read_bytes())
    for path in training_files(data):
        digest.update(f"\n--- {path.relative_to(data).as_posix()}\n".encode())
        digest.update(path.read_bytes())
    if extra is not None:
        digest.update(b"\n--- reviewed\n")
        digest.update(extra.read_bytes())
    return digest.hexdigest()[:16]


def reviewed_file(places: RasaPlaces) -> Path | None:
    """The live reviewed examples (from the console's NLU review), if any were switched live."""
    path = places.reviewed_data
    return path if path.is_file() else None


def model_path(nlu: NluSettings, places: RasaPlaces, reviewed: Path | None = None) -> Path:
    project = places.project_dir
    extra = reviewed if reviewed is not None else reviewed_file(places)
    name = content_hash(project / "config.yml", project / "data", nlu.rasa_version, extra)
    return places.models_dir / f"nlu-{name}.tar.gz"


def train(rasa: Path, *, config: Path, data: Path, out: Path) -> float:
    """Train an NLU model into the file ``out`` (atomically); returns seconds spent."""
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".train-") as tmp:
        _run(
            [
                str(rasa),
                "train",
                "nlu",
                "--config",
                str(config),
                "--nlu",
                str(data),
                "--out",
                tmp,
                "--fixed-model-name",
                "model",
                "--quiet",
            ],
            f"train the NLU model from {data}",
            cwd=Path(tmp),
        )
        produced = Path(tmp) / "model.tar.gz"
        if not produced.exists():
            raise NluServerError(f"rasa train produced no model in {tmp}")
        os.replace(produced, out)
    return time.monotonic() - started


def ensure_model(nlu: NluSettings, places: RasaPlaces, reviewed: Path | None = None) -> Path:
    """The trained model for the current data, config and reviewed examples (or ``reviewed``, a
    candidate's); trains only when it is missing."""
    rasa = installed_rasa(nlu, places)
    extra = reviewed if reviewed is not None else reviewed_file(places)
    target = model_path(nlu, places, extra)
    if target.exists():
        return target
    project = places.project_dir
    with _locked(target.parent / ".train.lock"):
        if target.exists():
            return target
        log.warning("training the NLU model %s", target.name)
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".data-") as staging:
            data = project / "data"
            if extra is not None:  # Rasa reads one folder: nlu/data plus the reviewed file
                data = Path(staging) / "data"
                shutil.copytree(project / "data", data)
                shutil.copyfile(extra, data / "reviewed.yml")
            seconds = train(rasa, config=project / "config.yml", data=data, out=target)
        log.warning("trained %s in %.1f s", target.name, seconds)
        _prune(target.parent, keep=target)
    return target


def _prune(models: Path, *, keep: Path) -> None:
    old = sorted(models.glob("nlu-*.tar.gz"), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in [p for p in old if p != keep][KEEP_MODELS - 1 :]:
        with contextlib.suppress(OSError):
            path.unlink()


def auth_token(nlu: NluSettings, places: RasaPlaces) -> str:
    """The configured token, else one generated once and kept (mode 600) in ``token_file``."""
    if nlu.token is not None and nlu.token.get_secret_value():
        return nlu.token.get_secret_value()
    path = places.token_file
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path.with_suffix(".lock")):
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        token = secrets.token_urlsafe(24)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(token + "\n")
        return token


class RasaServer:
    """One ``rasa run`` process. ``start`` adopts a server that already answers with the same model
    (so ``tousu nlu eval`` can use the bot's), and ``stop`` only stops what it started."""

    def __init__(
        self,
        nlu: NluSettings,
        places: RasaPlaces,
        *,
        port: int | None = None,
        log_path: Path | None = None,
        model: Path | None = None,
    ):
        self.nlu = nlu
        self.places = places
        parts = urlsplit(nlu.url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = port or parts.port or 5005
        self.url = f"http://{self.host}:{self.port}"
        self.token = auth_token(nlu, places)
        self.log_path = log_path or places.logs_dir / "rasa.log"
        self.model: Path | None = model
        self.process: subprocess.Popen[bytes] | None = None
        self.adopted = False
        self.started_in: float | None = None

    async def status(self) -> dict[str, object] | None:
        try:
            async with httpx.AsyncClient(timeout=2.0) as http:
                response = await http.get(f"{self.url}/status", params={"token": self.token})
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return {"error": response.status_code}
        data = response.json()
        return data if isinstance(data, dict) else None

    async def start(self) -> None:
        began = time.monotonic()
        if self.model is None:
            self.model = await asyncio.to_thread(ensure_model, self.nlu, self.places)
        running = await self.status()
        if running is not None:
            loaded = Path(str(running.get("model_file") or "")).name
            if loaded == self.model.name:
                self.adopted = True
                self.started_in = time.monotonic() - began
                return
            raise NluServerError(
                f"{self.url} is already taken by another server (model {loaded or running}); "
                "stop it or set nlu.url to a free port"
            )
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log_file:
            # A plain Popen, not an asyncio subprocess: the process outlives any one event loop
            # (pytest's session fixture starts it in one loop and stops it in another).
            self.process = subprocess.Popen(  # noqa: ASYNC220 - fork/exec only, returns at once
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=rasa_env(self.token),
                cwd=str(self.model.parent),
                start_new_session=True,
            )
        await self._wait_ready(began)
        self.started_in = time.monotonic() - began

    def command(self) -> list[str]:
        """``rasa run`` through our launcher, which reads the auth token from the environment
        (``rasa_env``): on the command line every user's ``ps`` would show it."""
        assert self.model is not None
        return [
            str(self.places.python),
            str(LAUNCHER),
            "run",
            "--enable-api",
            "--model",
            str(self.model),
            "--interface",
            self.host,
            "--port",
            str(self.port),
            "--credentials",
            str(CREDENTIALS),
        ]

    async def _wait_ready(self, began: float) -> None:
        deadline = began + self.nlu.startup_timeout_seconds
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise NluServerError(f"rasa exited with {self.process.returncode}:\n{self._log_tail()}")
            status = await self.status()
            if status is not None and status.get("model_file"):
                return
            await asyncio.sleep(0.5)
        await self.stop()
        raise NluServerError(f"rasa did not answer within {self.nlu.startup_timeout_seconds:.0f} s")

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is not None:  # the leader died (say, kill -9): its group goes with it
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            await asyncio.to_thread(process.wait, 15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await asyncio.to_thread(process.wait)

    async def wait(self) -> int:
        """Block until the server process ends (``tousu nlu serve``)."""
        if self.process is None:
            return 0
        return await asyncio.to_thread(self.process.wait)

    def kill(self) -> None:
        """Kill the process at once (tests use it to play a crash)."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
