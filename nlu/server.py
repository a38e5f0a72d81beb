"""Managing Rasa: its own Python 3.10 virtualenv, a model trained only when data or config changed,
and a ``rasa run --enable-api`` process bound to 127.0.0.1 with an auth token.

Rasa cannot live in the bot's interpreter (it needs Python < 3.11 and old SQLAlchemy/pydantic), so
everything here talks to it through files, subprocesses and HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import glob
import hashlib
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger(__name__)

KEEP_MODELS = 3
EXTENSIONS = Path(__file__).resolve().parent / "rasa_ext"
"""Our code that runs inside Rasa (the intent classifier, the batch parse route)."""
CREDENTIALS = EXTENSIONS / "credentials.yml"
LAUNCHER = Path(__file__).resolve().parent / "rasa_launch.py"
"""Runs ``rasa`` with the auth token from the environment (outside rasa_ext: not model content)."""


class NluServerError(RuntimeError):
    """Rasa could not be installed, trained or started; the message says which and why."""


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


def find_python(version: str) -> str:
    """A Python ``version`` interpreter: pyenv's, else one on PATH."""
    roots = [os.environ.get("PYENV_ROOT", ""), str(Path.home() / ".pyenv")]
    for root in filter(None, roots):
        found = sorted(glob.glob(os.path.join(root, "versions", f"{version}.*", "bin", "python")))
        if found:
            return found[-1]
    on_path = shutil.which(f"python{version}")
    if on_path:
        return on_path
    raise NluServerError(f"Python {version} is needed for Rasa; install it (e.g. `pyenv install {version}`)")


def ensure_venv(settings: Settings) -> Path:
    """Create Rasa's virtualenv and install the pinned Rasa into it unless already done."""
    nlu = settings.nlu
    venv = settings.path(nlu.venv)
    rasa = venv / "bin" / "rasa"
    requirement = f"rasa[jieba]=={nlu.rasa_version}"
    stamp = venv / ".tousu-stamp"
    if rasa.exists() and stamp.exists() and stamp.read_text().strip() == requirement:
        return rasa
    with _locked(venv.with_name(venv.name + ".lock")):
        if rasa.exists() and stamp.exists() and stamp.read_text().strip() == requirement:
            return rasa
        log.warning("installing %s into %s (a few minutes, once)", requirement, venv)
        python = venv / "bin" / "python"
        if not python.exists():
            _run([find_python(nlu.python), "-m", "venv", str(venv)], "create the Rasa virtualenv")
        _run([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip<25"], "upgrade pip")
        _run([str(python), "-m", "pip", "install", "-q", requirement], f"install {requirement}")
        stamp.write_text(requirement + "\n")
    return rasa


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


def reviewed_file(settings: Settings) -> Path | None:
    """The live reviewed examples (from the console's NLU review), if any were switched live."""
    path = settings.path(settings.nlu.reviewed_data)
    return path if path.is_file() else None


def model_path(settings: Settings, reviewed: Path | None = None) -> Path:
    project = settings.path(settings.nlu.project_dir)
    extra = reviewed if reviewed is not None else reviewed_file(settings)
    name = content_hash(project / "config.yml", project / "data", settings.nlu.rasa_version, extra)
    return settings.path(settings.nlu.models_dir) / f"nlu-{name}.tar.gz"


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


def ensure_model(settings: Settings, reviewed: Path | None = None) -> Path:
    """The trained model for the current data, config and reviewed examples (or ``reviewed``, a
    candidate's); trains only when it is missing."""
    rasa = ensure_venv(settings)
    extra = reviewed if reviewed is not None else reviewed_file(settings)
    target = model_path(settings, extra)
    if target.exists():
        return target
    project = settings.path(settings.nlu.project_dir)
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


def auth_token(settings: Settings) -> str:
    """The configured token, else one generated once and kept (mode 600) in the data folder."""
    if settings.nlu.token is not None and settings.nlu.token.get_secret_value():
        return settings.nlu.token.get_secret_value()
    path = settings.path(settings.general.data_dir) / "nlu.token"
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
        settings: Settings,
        *,
        port: int | None = None,
        log_path: Path | None = None,
        model: Path | None = None,
    ):
        self.settings = settings
        parts = urlsplit(settings.nlu.url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = port or parts.port or 5005
        self.url = f"http://{self.host}:{self.port}"
        self.token = auth_token(settings)
        self.log_path = log_path or settings.path(settings.general.data_dir) / "logs" / "rasa.log"
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
            self.model = await asyncio.to_thread(ensure_model, self.settings)
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
        python = self.settings.path(self.settings.nlu.venv) / "bin" / "python"
        return [
            str(python),
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
        deadline = began + self.settings.nlu.startup_timeout_seconds
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise NluServerError(f"rasa exited with {self.process.returncode}:\n{self._log_tail()}")
            status = await self.status()
            if status is not None and status.get("model_file"):
                return
            await asyncio.sleep(0.5)
        await self.stop()
        raise NluServerError(f"rasa did not answer within {self.settings.nlu.startup_timeout_seconds:.0f} s")

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


def main() -> None:  # pragma: no cover - debugging aid: python -m nlu.server
    from bot.settings import load_settings

    logging.basicConfig(level=logging.INFO)
    print(ensure_model(load_settings(sys.argv[1] if len(sys.argv) > 1 else None)))


if __name__ == "__main__":  # pragma: no cover
    main()
