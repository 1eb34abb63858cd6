"""Old import paths (before the 0.3 layout, docs/architecture.md) still work, warn, and give the very
objects of the new paths."""

import importlib
import sys
import warnings

import pytest

MOVED = [
    ("embedkit.data.texts", "Items", "embedkit.data.items"),
    ("embedkit.data.texts", "join_in_context", "embedkit.data.pairs"),
    ("embedkit.data.persona", "build_persona", "embedkit.datasets.persona"),
    ("embedkit.data.synthetic", "SyntheticConfig", "embedkit.datasets.synthetic"),
    ("embedkit.data.annotators", "build_annotators", "embedkit.datasets.annotators"),
    ("embedkit.data.pickapic", "convert_pickapic", "embedkit.datasets.pick_a_pic"),
    ("embedkit.data.pickapic", "build_pick_a_filter", "embedkit.datasets.pick_a_filter"),
    ("embedkit.data.leakage", "split_leakage", "embedkit.index.leakage"),
    ("embedkit.ray_extract", "extract_ray", "embedkit.extract.ray"),
    ("embedkit.heads.data", "load_pair_data", "embedkit.heads.pair_data"),
    ("embedkit.heads.setup", "DataSetup", "embedkit.heads.provenance"),
]


@pytest.mark.parametrize(("old", "name", "new"), MOVED)
def test_old_module_paths_warn_and_re_export(old, name, new):
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=f"{old} moved to"):
        module = importlib.import_module(old)
    assert getattr(module, name) is getattr(importlib.import_module(new), name)


def test_moved_names_warn_and_re_export():
    import embedkit
    import embedkit.cache.store
    import embedkit.data.convert
    from embedkit.cache.writer import CacheWriter
    from embedkit.datasets.multipref import from_multipref
    from embedkit.score import load_reward_model

    with pytest.warns(DeprecationWarning):
        assert embedkit.data.convert.from_multipref is from_multipref
    with pytest.warns(DeprecationWarning):
        assert embedkit.cache.store.CacheWriter is CacheWriter
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert embedkit.load_reward_model.__doc__ and load_reward_model  # the new names are silent
    with pytest.raises(AttributeError):
        embedkit.data.convert.no_such_name  # noqa: B018
