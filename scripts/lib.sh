# Shared set-up steps for scripts/run and scripts/test. Each step is idempotent and quick when
# nothing changed, so both commands can run it every time on a fresh or an old machine.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
PY311="${TOUSU_PYTHON:-}"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# pip install, tried a second time after a failure: a download cut short on the way (seen here: a
# wheel whose sha256 did not match its index entry, right the next time) should not fail a fresh
# machine's set-up; a second failure is real and stops the run.
pip_install() {
    local python="$1"; shift
    "$python" -m pip install -q "$@" && return
    say "pip install $* failed; trying once more"
    "$python" -m pip install -q "$@"
}

find_python311() {
    if [ -n "$PY311" ]; then echo "$PY311"; return; fi
    for candidate in python3.11 python3.12 python3.13 python3; do
        if command -v "$candidate" >/dev/null 2>&1 && \
           "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
            command -v "$candidate"; return
        fi
    done
    die "Python >= 3.11 is required (set TOUSU_PYTHON to its path)"
}

ensure_app_venv() {
    local stamp="$VENV/.tousu-stamp" want
    want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
    if [ -x "$VENV/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return
    fi
    say "installing the app virtualenv (.venv)"
    [ -x "$VENV/bin/python" ] || "$(find_python311)" -m venv "$VENV"
    pip_install "$VENV/bin/python" --upgrade pip
    pip_install "$VENV/bin/python" -e '.[dev]'
    echo "$want" > "$stamp"
}

find_python_version() {  # $1 e.g. 3.10: pyenv's newest 3.10.x, else python3.10 on PATH
    local version="$1" root found
    for root in "${PYENV_ROOT:-}" "$HOME/.pyenv"; do
        [ -n "$root" ] || continue
        found="$(ls -d "$root/versions/$version".*/bin/python 2>/dev/null | sort -V | tail -n 1 || true)"
        if [ -n "$found" ]; then echo "$found"; return; fi
    done
    command -v "python$version" && return
    die "Python $version is needed for Rasa; install it (e.g. pyenv install $version)"
}

# Rasa's own virtualenv (nlu.venv, Python nlu.python, rasa[jieba]==nlu.rasa_version; 2.7 GB and a
# few minutes, once). The app only checks it (nlu/server.py installed_rasa): installing is no step
# for a bot to take while it starts. The stamp file names the requirement installed.
ensure_rasa_venv() {
    local info venv version requirement python lock
    info="$("$VENV/bin/python" -c 'from bot.settings import load_settings
s = load_settings()
print(s.rasa_places.venv, s.nlu.python, s.nlu.rasa_requirement, sep="\n")')" || die "could not read the nlu settings"
    venv="$(sed -n 1p <<<"$info")" version="$(sed -n 2p <<<"$info")" requirement="$(sed -n 3p <<<"$info")"
    rasa_installed() { [ -x "$venv/bin/rasa" ] && [ "$(cat "$venv/.tousu-stamp" 2>/dev/null)" = "$requirement" ]; }
    rasa_installed && return
    mkdir -p "$(dirname "$venv")"
    exec {lock}>"$venv.lock"
    flock "$lock"  # two runs at once (say, two test runs) install once
    if ! rasa_installed; then
        say "installing $requirement into $venv (a few minutes, once)"
        if [ ! -x "$venv/bin/python" ]; then
            python="$(find_python_version "$version")"
            "$python" -m venv "$venv"
        fi
        pip_install "$venv/bin/python" --upgrade 'pip<25'
        pip_install "$venv/bin/python" "$requirement"
        echo "$requirement" > "$venv/.tousu-stamp"
    fi
    exec {lock}>&-
}

ensure_rasa() {
    ensure_rasa_venv
    say "checking the Rasa NLU model"
    "$VENV/bin/tousu" nlu train
}

ensure_apt_packages() {
    local missing=()
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return
    say "installing Debian packages: ${missing[*]}"
    command -v apt-get >/dev/null || die "apt-get not found; install ${missing[*]} by hand"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_postgres() {
    local url="${TOUSU_TEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/test}"
    if "$VENV/bin/python" - "$url" <<'PY' 2>/dev/null; then return; fi
import sys, psycopg
psycopg.connect(sys.argv[1], connect_timeout=3).close()
PY
    say "PostgreSQL does not answer; starting it"
    if command -v pg_ctlcluster >/dev/null 2>&1; then
        local version
        version="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)"
        [ -n "$version" ] || die "PostgreSQL is not installed (no /etc/postgresql)"
        pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    fi
    for _ in $(seq 1 30); do
        if "$VENV/bin/python" -c "import sys, psycopg; psycopg.connect(sys.argv[1], connect_timeout=2).close()" "$url" 2>/dev/null; then
            return
        fi
        sleep 1
    done
    die "PostgreSQL at $url is required by the storage tests and could not be reached"
}
