"""Where GPT-NeoX models come from: the Hugging Face hub or a local directory.

A local directory is laid out as the hub is addressed, one folder per model and revision::

    <local_dir>/<model>/<revision>/config.json, model.safetensors, tokenizer.json, ...

which is what ``save_pretrained`` writes and what the offline family (``neox.family``)
produces. Hub models are ``<hub_org>/<model>`` at an explicit git revision
(``EleutherAI/pythia-70m-seed3`` at ``step143000``). Weights load through ``transformers``
with ``trust_remote_code=False``: safetensors where the repository has them, otherwise
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from transformers import GPTNeoXForCausalLM, PreTrainedTokenizerBase

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class ModelNotFound(FileNotFoundError):
    """A model or revision that neither the local directory nor the hub could provide."""


@dataclass(frozen=True)
class ModelSource:
    """Where to look for models: ``kind`` is ``local`` (``local_dir``) or ``hub`` (``hub_org``)."""

    kind: str
    local_dir: Path | None = None
    hub_org: str | None = None

    def path(self, model: str, revision: str) -> Path:
        """The folder of a local model revision."""
        if self.local_dir is None:
            raise ValueError("a local model source needs local_dir")
        return Path(self.local_dir) / model / revision

    def repo(self, model: str) -> str:
        return f"{self.hub_org}/{model}" if self.hub_org else model

    def locate(self, model: str, revision: str) -> tuple[str, dict[str, Any]]:
        """What ``from_pretrained`` is given: a path or repository, and its keyword arguments.

        Raises ``ModelNotFound`` (naming what was looked for) for a missing local folder.
        """
        if self.kind == "local":
            folder = self.path(model, revision)
            if not (folder / "config.json").is_file() or not any((folder / w).is_file() for w in WEIGHT_FILES):
                raise ModelNotFound(
                    _not_found(self, model, revision, f"no model folder with config.json and weights at {folder}")
                )
            return str(folder), {"local_files_only": True}
        return self.repo(model), {"revision": revision}


def _not_found(source: ModelSource, model: str, revision: str, why: str) -> str:
    looked = (
        f"{source.path(model, revision)}"
        if source.kind == "local"
        else f"hub repository {source.repo(model)} at revision {revision}"
    )
    return (
        f"GPT-NeoX model {model!r} revision {revision!r} not found ({why}).\n"
        f"Looked for: {looked}.\n"
        "Provide it in one of these ways:\n"
        "  - hub access: 'neox.source: hub' with network access to huggingface.co;\n"
        "  - a filled hub cache: set HF_HOME to it (and HF_HUB_OFFLINE=1 on a machine without network);\n"
        "  - a local copy: 'neox.source: local' and 'neox.local_dir: DIR' with DIR/<model>/<revision>/ holding\n"
        "    config.json, model.safetensors (or pytorch_model.bin) and the tokenizer files, as save_pretrained writes them;\n"
        "  - offline: 'neox.source: family' trains a small GPT-NeoX family here (config/config.yaml does)."
    )


def load_model(
    source: ModelSource, model: str, revision: str, dtype: str = "float32", device: str | torch.device = "cpu"
) -> GPTNeoXForCausalLM:
    """A GPT-NeoX causal LM in eval mode. Anything but GPT-NeoX is refused."""
    from transformers import AutoConfig, GPTNeoXForCausalLM

    where, kwargs = source.locate(model, revision)
    try:
        config = AutoConfig.from_pretrained(where, trust_remote_code=False, **kwargs)
        if config.model_type != "gpt_neox":
            raise ValueError(f"{where} is a {config.model_type!r} model, not GPT-NeoX")
        net = GPTNeoXForCausalLM.from_pretrained(
            where, config=config, dtype=DTYPES[dtype], trust_remote_code=False, weights_only=True, **kwargs
        )
    except OSError as err:  # transformers reports missing repos, revisions and files as OSError
        raise ModelNotFound(_not_found(source, model, revision, str(err).splitlines()[0])) from err
    return net.to(device).eval()


def load_tokenizer(source: ModelSource, model: str, revision: str) -> PreTrainedTokenizerBase:
    """The model's tokenizer (every seed of a family shares one)."""
    from transformers import AutoTokenizer

    where, kwargs = source.locate(model, revision)
    try:
        return AutoTokenizer.from_pretrained(where, trust_remote_code=False, **kwargs)
    except OSError as err:
        raise ModelNotFound(_not_found(source, model, revision, str(err).splitlines()[0])) from err
