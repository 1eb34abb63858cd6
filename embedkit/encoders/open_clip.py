"""open_clip encoders: CLIP ViT-H/14 (``clip-h14``) and any open_clip model (``open_clip:ARCH:PRETRAINED``,
or, named as open_clip itself names them, ``open_clip:hf-hub:ORG/NAME`` and ``open_clip:local-dir:PATH``).

Texts go through the text tower, images through the image tower with open_clip's own preprocessing, and
both land in one namespace: the model's joint embedding space, where a pair file with text prompts and
image responses resolves in one place. The stored vector is the tower's output after the projection and
before normalisation (``normalize=True`` stores it L2-normalised, as a separate namespace). Each shard
records which tower produced its rows.

Weights are never downloaded here: PRETRAINED is an open_clip tag whose weights are already on disk (the
Hugging Face cache, or open_clip's ``~/.cache/clip``), or a local checkpoint file (``.safetensors``
preferred; ``.bin``/``.pt`` files are read with ``torch.load(weights_only=True)``, which runs no pickled
code). The fingerprint holds the SHA-256 of the weights file, so two copies of one checkpoint share a
namespace and a retrained one does not.

``local-dir:PATH`` is a folder as open_clip reads one: ``open_clip_config.json`` (``model_cfg`` and
``preprocess_cfg``) beside the weights; ``hf-hub:ORG/NAME`` is a Hub repo of that layout, taken from the
local Hugging Face cache (never downloaded here) and then read as a local-dir. Their fingerprints name
``hf-hub:ORG/NAME`` or ``local-dir:<folder name>`` and hold a hash of the config besides the weights'.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from embedkit.device import resolve_device
from embedkit.encoders.base import Encoder, autocast_for, cached_weights_hash, l2_normalise_rows, precision_of
from embedkit.fingerprint import Fingerprint, format_options

log = logging.getLogger(__name__)

SCHEMAS = ("hf-hub:", "local-dir:")
"""open_clip's own model-name schemas: a Hub repo, a local folder (config + weights)."""

CLIP_H14 = ("ViT-H-14", "laion2b_s32b_b79k")
"""PAL's image features: CLIP-H/14 trained on LAION-2B."""


def parse_open_clip_spec(spec: str) -> tuple[str, str]:
    """``clip-h14`` or ``open_clip:ARCH:PRETRAINED`` -> (architecture, pretrained tag or checkpoint path)."""
    if spec == "clip-h14":
        return CLIP_H14
    if not spec.startswith("open_clip:"):
        raise ValueError(f"not an open_clip encoder: {spec!r}")
    rest = spec[len("open_clip:") :]
    if rest.startswith(SCHEMAS):
        if not rest.partition(":")[2]:
            raise ValueError(
                f"--encoder {spec}: expected open_clip:hf-hub:ORG/NAME or open_clip:local-dir:PATH"
            )
        return rest, ""
    arch, sep, pretrained = rest.partition(":")
    if not sep or not arch or not pretrained:
        raise ValueError(
            f"--encoder {spec}: expected open_clip:ARCH:PRETRAINED, e.g. open_clip:ViT-H-14:laion2b_s32b_b79k "
            "or open_clip:ViT-B-32:/path/to/checkpoint.safetensors"
        )
    return arch, pretrained


def resolve_model_dir(name: str) -> Path:
    """The folder of ``hf-hub:ORG/NAME`` (its snapshot in the local Hugging Face cache) or
    ``local-dir:PATH``, checked to hold ``open_clip_config.json`` with a ``model_cfg``."""
    schema, _, ident = name.partition(":")
    if schema == "hf-hub":
        from huggingface_hub import snapshot_download

        try:
            folder = Path(snapshot_download(ident, local_files_only=True))
        except Exception as e:
            raise FileNotFoundError(
                f"open_clip hf-hub:{ident} is not in the local Hugging Face cache ({type(e).__name__}), and "
                f"embedkit downloads nothing. Get it where there is internet (`hf download {ident}`, or "
                f"python -c \"import open_clip; open_clip.create_model('hf-hub:{ident}')\") and copy the "
                f"Hugging Face cache here, or give the folder: --encoder open_clip:local-dir:/path/to/folder"
            ) from None
    else:
        folder = Path(os.path.expanduser(ident))
        if not folder.is_dir():
            raise FileNotFoundError(f"open_clip local-dir:{ident}: no such folder")
    config = folder / "open_clip_config.json"
    if not config.is_file():
        raise FileNotFoundError(
            f"open_clip {name}: {folder} has no open_clip_config.json (open_clip's folder layout: "
            "open_clip_config.json with model_cfg and preprocess_cfg, beside open_clip_model.safetensors)"
        )
    try:
        model_cfg = json.loads(config.read_text())["model_cfg"]
        int(model_cfg["embed_dim"])
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{config}: not an open_clip config (needs model_cfg.embed_dim; {e!r})") from None
    return folder


def locate_weights(arch: str, pretrained: str) -> Path:
    """The weights file of ``pretrained`` (a checkpoint path, or an open_clip tag already on disk).

    Raises ``FileNotFoundError`` saying where it looked and how to point embedkit at a checkpoint.
    """
    import open_clip

    if arch.startswith(SCHEMAS):
        from open_clip.factory import _find_checkpoint_in_dir  # the file open_clip itself will load

        folder = resolve_model_dir(arch)
        found = _find_checkpoint_in_dir(folder)
        if found is None:
            raise FileNotFoundError(f"open_clip {arch}: no weights (.safetensors, .bin, .pth) in {folder}")
        return Path(found)
    if arch not in open_clip.list_models():
        from embedkit.errors import UnknownNameError

        raise UnknownNameError("open_clip architecture", arch, open_clip.list_models())
    path = Path(os.path.expanduser(pretrained))
    if path.suffix or os.sep in pretrained or path.exists():
        if not path.is_file():
            raise FileNotFoundError(f"open_clip checkpoint {path} does not exist")
        return path
    from open_clip.pretrained import get_pretrained_cfg

    cfg = get_pretrained_cfg(arch, pretrained)
    if not cfg:
        tags = open_clip.list_pretrained_tags_by_model(arch)
        raise FileNotFoundError(
            f"{pretrained!r} is neither a file nor an open_clip pretrained tag of {arch} "
            f"(tags: {', '.join(tags) or 'none'})"
        )
    looked = []
    if cfg.get("hf_hub"):
        from huggingface_hub import try_to_load_from_cache

        repo, name = os.path.split(cfg["hf_hub"])  # 'org/model/' (default file name) or 'org/model/file'
        for fname in [n for n in ("open_clip_model.safetensors", name, "open_clip_pytorch_model.bin") if n]:
            hit = try_to_load_from_cache(repo, fname)
            looked.append(f"{repo}/{fname} in the Hugging Face cache")
            if isinstance(hit, str) and os.path.isfile(hit):
                return Path(hit)
    if cfg.get("url"):
        local = Path(os.path.expanduser("~/.cache/clip")) / os.path.basename(cfg["url"])
        looked.append(str(local))
        if local.is_file():
            return local
    raise FileNotFoundError(
        f"the weights of open_clip {arch} ({pretrained}) are not on disk (looked for "
        f"{'; '.join(looked)}), and embedkit downloads nothing. Download them where there is internet "
        f"(e.g. python -c \"import open_clip; open_clip.create_model('{arch}', pretrained='{pretrained}')\") "
        f"and copy the Hugging Face cache here, or pass the checkpoint file: "
        f"--encoder open_clip:{arch}:/path/to/open_clip_model.safetensors"
    )


class OpenCLIPEncoder(Encoder):
    """An open_clip model's text and image towers (post-projection features)."""

    modalities = ("text", "image")

    def __init__(
        self,
        arch: str,
        pretrained: str,
        *,
        name: str = "open_clip",
        device: str | None = "auto",
        normalize: bool = False,
        fp16: bool = False,
        bf16: bool = False,
        dtype: str = "float16",
        **_ignored,
    ):
        import open_clip

        self.arch, self.pretrained = arch, pretrained
        self.weights_path = locate_weights(arch, pretrained)
        self.model_name = arch  # what open_clip's factory is given
        config_hash = None
        if arch.startswith(SCHEMAS):  # hf-hub: and local-dir: load as the folder they resolve to
            folder = self.weights_path.parent
            self.model_name = f"local-dir:{folder}"
            config_hash = hashlib.sha256((folder / "open_clip_config.json").read_bytes()).hexdigest()[:12]
            pretrained = ""
        self.requested_device = device
        self.normalize = normalize
        self.precision = precision_of(fp16, bf16)
        self._model = None
        self._preprocess = None
        cfg = open_clip.get_model_config(self.model_name)
        self._vision_cfg = cfg.get("vision_cfg", {})
        tag = pretrained if pretrained and not Path(os.path.expanduser(pretrained)).is_file() else None
        model = arch
        if arch.startswith("local-dir:"):
            model = f"local-dir:{Path(os.path.expanduser(arch.partition(':')[2])).resolve().name}"
        self.fingerprint = Fingerprint(
            encoder=name,
            model=model,
            weights=cached_weights_hash(self.weights_path),
            layer="projection",
            pooling="towers:text+image",
            normalized=normalize,
            dim=int(cfg["embed_dim"]),
            dtype=dtype,
            options=format_options(pretrained=tag, config=config_hash),
        )

    def _load(self):
        if self._model is None:
            import open_clip

            self.device = resolve_device(self.requested_device)
            self._autocast, self.compute_dtype = autocast_for(self.precision, self.device)
            pretrained = None if self.model_name.startswith(SCHEMAS) else str(self.weights_path)
            model, _, preprocess = open_clip.create_model_and_transforms(
                self.model_name, pretrained=pretrained, device="cpu", weights_only=True
            )
            model.eval().to(self.device)
            self._tokenizer = open_clip.get_tokenizer(self.model_name)
            self._model, self._preprocess = model, preprocess
        return self._model

    def load(self) -> None:
        self._load()

    def _run(self, fn, x) -> np.ndarray:
        import contextlib

        import torch

        with torch.inference_mode(), self._autocast or contextlib.nullcontext():
            out = fn(x.to(self.device, non_blocking=True), normalize=False).float()
        out = out.cpu().numpy()
        return l2_normalise_rows(out) if self.normalize else out

    def encode(self, texts: Sequence[str], batch_size: int = 32, parts=None) -> np.ndarray:
        model = self._load()
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for s in range(0, len(texts), batch_size):
            tokens = self._tokenizer(list(texts[s : s + batch_size]))
            out[s : s + len(tokens)] = self._run(model.encode_text, tokens)
        return out

    @property
    def image_size(self) -> int | None:
        size = self._vision_cfg.get("image_size", 224)
        return int(size if isinstance(size, int) else max(size))

    def image_transform(self) -> Callable:
        self._load()
        return self._preprocess

    def encode_pixels(self, pixels) -> np.ndarray:
        return self._run(self._load().encode_image, pixels)


# --- registry factories (see embedkit.encoders.registry) ------------------------------------------------
def clip_h14(spec: str, **opts) -> OpenCLIPEncoder:
    """``clip-h14``: ViT-H-14 laion2b_s32b_b79k, PAL's image features."""
    return OpenCLIPEncoder(*CLIP_H14, name="clip-h14", **opts)


def clip_h14_weights() -> str:
    """What ``clip-h14`` lacks on this machine ("" when its weights are in the Hugging Face cache)."""
    from huggingface_hub import try_to_load_from_cache

    repo = "laion/CLIP-ViT-H-14-laion2B-s32B-b79K"
    for name in ("open_clip_model.safetensors", "open_clip_pytorch_model.bin"):
        if isinstance(try_to_load_from_cache(repo, name), str):
            return ""
    return f"weights not on disk ({repo} is not in the Hugging Face cache)"


def from_spec(spec: str, **opts) -> OpenCLIPEncoder:
    """``open_clip:ARCH:PRETRAINED``."""
    return OpenCLIPEncoder(*parse_open_clip_spec(spec), **opts)


def absolute_spec(spec: str) -> str:
    """The spec with a checkpoint path (or a local-dir folder) made absolute."""
    rest = spec[len("open_clip:") :]
    if rest.startswith("local-dir:"):
        return f"open_clip:local-dir:{os.path.abspath(os.path.expanduser(rest[len('local-dir:') :]))}"
    if rest.startswith("hf-hub:"):
        return spec
    arch, _, pretrained = rest.partition(":")
    if os.path.exists(os.path.expanduser(pretrained)):
        return f"open_clip:{arch}:{os.path.abspath(os.path.expanduser(pretrained))}"
    return spec


def spec_of(fp: Fingerprint) -> str:
    """The ``--encoder`` value of an open_clip fingerprint (hints)."""
    if fp.model.startswith("hf-hub:"):
        return f"open_clip:{fp.model}"
    if fp.model.startswith("local-dir:"):
        return f"open_clip:local-dir:<path of the open_clip folder {fp.model.partition(':')[2]}>"
    tag = fp.weights if not fp.weights.startswith("sha256:") else f"<checkpoint of {fp.model}>"
    if fp.option("pretrained"):
        tag = fp.option("pretrained")
    return f"open_clip:{fp.model}:{tag}"
