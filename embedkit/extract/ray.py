"""``embedkit extract --ray``: the same extraction, spread over a Ray cluster with Ray Data.

The driver (the process running ``embedkit extract``) holds the cache lock, reads the inputs in
windows (as in single-node mode), and filters out every item the cache or an earlier window already
holds, so nothing cached is ever re-encoded. What each window leaves goes into Ray's object store as
Arrow blocks of one shard each (longest texts first, as in single-node mode), so the driver holds one
window at a time; once all are read, they become one Ray dataset that ``map_batches`` sends to a
pool of actors, one per GPU (or per few CPUs): each actor builds the encoder once, encodes one shard's
worth of items per batch and writes the shard itself, into the shared cache folder, under a name that
carries the writer (``shard-<host>-<pid>-<random>-<n>.h5``) so workers never collide. The driver
gathers what each worker wrote and records it all in one manifest update at the end.

Crashes: a worker killed mid-shard leaves a temporary file that readers never see and the next
writer deletes; Ray restarts the actor and retries the batch. A worker killed after writing a shard
but before reporting it leaves a complete, unrecorded shard: the retry writes another copy, and the
copy is deleted (at the commit, or by the next writer, which checks such shards in full and adopts
those that hold items the cache lacks). If the driver itself dies, the shards written so far are
adopted by the next run, so a re-run resumes instead of starting over.

The cache folder must be reachable at the same path from every node (a shared filesystem).
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from embedkit.cache.shards import ShardInfo, write_shard
from embedkit.cache.store import EmbeddingCache
from embedkit.data.items import Items
from embedkit.encoders.spec import EncoderSpec
from embedkit.errors import EmbedkitError, InputError
from embedkit.extract.inputs import check_modalities
from embedkit.extract.loop import EncodingLoop
from embedkit.extract.plan import WindowPlan
from embedkit.extract.run import ExtractResult, window_stream
from embedkit.faults import ENV, ONCE_ENV, crash_point
from embedkit.fingerprint import Fingerprint

log = logging.getLogger(__name__)

CPUS_PER_CPU_WORKER = 4
"""CPUs an actor takes when it encodes on CPU (torch uses that many threads)."""


class ShardWorker:
    """A Ray actor: builds the encoder once, then turns each batch of items into one shard (two when a
    batch mixes texts and images). Returns one row per shard written."""

    def __init__(self, spec: EncoderSpec, root, fingerprint_json, batch_size, skip_bad):
        self.fingerprint = Fingerprint.from_json(fingerprint_json)
        self.encoder = spec.create()
        if self.encoder.fingerprint != self.fingerprint:
            raise EmbedkitError(
                f"on {socket.gethostname()}, --encoder {spec.spec} is {self.encoder.fingerprint.describe()}, but "
                f"the driver's is {self.fingerprint.describe()}: every node needs the same model files"
            )
        self.encoder.load()
        self.run = EncodingLoop(self.encoder, batch_size)
        self.dir = Path(root) / self.fingerprint.namespace
        host = re.sub(r"[^A-Za-z0-9]+", "-", socket.gethostname())[:24]
        self.writer = f"{host}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.seq = 0
        self.skip_bad = skip_bad

    def __call__(self, batch: dict) -> dict:
        out = {k: [] for k in ("file", "rows", "content_sha256", "created_at", "seconds", "bad", "truncated")}
        is_image = np.asarray(batch["is_image"], dtype=bool)
        keys = np.asarray(batch["key"]).astype("S64")
        for image in (False, True):
            sel = np.nonzero(is_image == image)[0]
            if not len(sel):
                continue
            t0, trunc0 = self.run.seconds, self.encoder.truncated
            bad: list[list] = []  # [file, reason] of each unreadable image
            if image:
                paths = [Path(batch["path"][i]) for i in sel]
                good, emb = self.run.images(paths, workers=0, skip_bad=self.skip_bad)
                bad = [[e.file, e.reason] for e in self.run.bad]
                self.run.bad.clear()
                sel = sel[good]
            else:
                texts = [str(batch["text"][i]) for i in sel]
                parts = [
                    (str(batch["prompt"][i]), str(batch["response"][i]))
                    if batch["response"][i]
                    else (t, None)
                    for i, t in zip(sel, texts, strict=True)
                ]
                emb = self.run.texts(texts, parts)
            if len(sel):
                info = write_shard(
                    self.dir / f"shard-{self.writer}-{self.seq:06d}.h5",
                    keys[sel],
                    emb,
                    self.fingerprint,
                    {**self.run.attrs("image" if image else "text"), "writer": self.writer},
                )
                self.seq += 1
                crash_point("ray-shard")
                out["file"].append(info.file)
                out["rows"].append(info.rows)
                out["content_sha256"].append(info.content_sha256)
                out["created_at"].append(info.created_at)
            else:
                out["file"].append("")
                out["rows"].append(0)
                out["content_sha256"].append("")
                out["created_at"].append("")
            out["seconds"].append(self.run.seconds - t0)
            out["bad"].append(json.dumps(bad))
            out["truncated"].append(self.encoder.truncated - trunc0)
        return out


def extract_ray(
    items: Items | list[str] | Iterable[Items],
    cache: EmbeddingCache | str | os.PathLike,
    spec: EncoderSpec | str,
    options: dict | None = None,
    *,
    address: str | None = None,
    workers: int | None = None,
    batch_size: int = 64,
    shard_size: int = 10_000,
    progress: bool = True,
    skip_bad: bool = False,
    wait_lock: float = 0.0,
) -> ExtractResult:
    """Embed what the cache lacks on a Ray cluster; see the module docstring.

    ``items``: an :class:`Items`, a list of texts, or an iterator of windows of items
    (:func:`embedkit.data.items.iter_item_windows`): the driver then holds one window at a time, and
    what each window adds goes into Ray's object store (which spills to disk) before any encoding
    starts, so every record is read, and a bad one stops the run, before any shard is written.
    ``spec``: the encoder as an :class:`EncoderSpec` (or its ``--encoder`` value, with ``options`` what
    :func:`embedkit.encoders.registry.create_encoder` takes); each actor builds its own encoder from it (``device="auto"`` uses the GPU Ray gives the actor). ``address``: an
    existing cluster (``auto``, ``HOST:PORT``, ``ray://HOST:PORT``), or None / ``local`` to start Ray on
    this machine. ``workers``: actors (default: one per GPU in the cluster, else one per 4 CPUs).
    ``shard_size``: items per shard, which is also the unit of work of one actor call (and what a
    worker crash can cost).
    """
    import ray

    spec = spec if isinstance(spec, EncoderSpec) else EncoderSpec(spec, dict(options or {}))
    cache = cache if isinstance(cache, EmbeddingCache) else EmbeddingCache(cache)
    encoder = spec.create()  # not loaded here: only its fingerprint is needed
    # the actors get the spec the encoder recorded (paths made absolute, so every node finds them)
    spec = EncoderSpec(encoder.spec, spec.options)
    windows = window_stream(items, encoder)
    fp = encoder.fingerprint
    start = time.perf_counter()
    result = ExtractResult(fp, 0, 0, 0, 0, 0.0, 0.0, max_length=getattr(encoder, "max_length", None))
    started_ray = False
    with cache.writer(fp, spec=encoder.spec, wait=wait_lock) as writer:
        plan = WindowPlan(writer, result)  # its ``elsewhere``: what earlier windows handed to Ray
        blocks: list = []  # object refs of Arrow tables, one shard's worth each
        n_todo = 0
        try:
            for window in windows:
                check_modalities(window, encoder)
                keys, image_keys, todo, todo_img = plan(window)
                if len(todo) or len(todo_img):
                    if not ray.is_initialized():
                        _init_ray(ray, address)
                        started_ray = True
                    blocks += [
                        ray.put(t) for t in _tables(window, todo, todo_img, keys, image_keys, shard_size)
                    ]
                    plan.elsewhere.add(keys[todo])
                    plan.elsewhere.add(image_keys[todo_img])
                    n_todo += len(todo) + len(todo_img)
                del window, keys, image_keys, todo, todo_img  # memory holds one window at a time
            recorded: list[ShardInfo] = []
            if n_todo:
                recorded = _encode_on_pool(
                    ray, blocks, n_todo, writer, encoder, spec, result,
                    workers=workers, batch_size=batch_size, shard_size=shard_size, skip_bad=skip_bad,
                    progress=progress,
                )  # fmt: skip
                del blocks
                writer.tidy()  # what killed workers left: temporaries, unreported copies
        finally:
            if started_ray:
                ray.shutdown()
        result.quarantined = writer.quarantined
    result.shards_written = len(recorded)
    result.encoded = sum(i.rows for i in recorded)
    result.seconds = time.perf_counter() - start
    lost = n_todo - result.encoded - len(result.bad_images)
    if lost > 0:  # a shard dropped as a copy although not all of its items were held elsewhere
        log.warning(
            "%d of the %d items sent to the workers are not in the cache; run the same extract again to "
            "encode just them",
            lost,
            n_todo,
        )
    return result


def _encode_on_pool(
    ray,
    blocks,
    n_todo,
    writer,
    encoder,
    spec: EncoderSpec,
    result,
    *,
    workers,
    batch_size,
    shard_size,
    skip_bad,
    progress,
) -> list[ShardInfo]:
    """Encode ``blocks`` (``n_todo`` items) on a pool of :class:`ShardWorker` actors and record the
    shards they write in one manifest commit (also when the run fails, so that a re-run resumes from
    there); returns what was recorded. Adds to ``result``'s bad images, encoding time and truncations."""
    fp = encoder.fingerprint
    infos: list[ShardInfo] = []
    ds = ray.data.from_arrow_refs(blocks)
    device = spec.options.get("device", "auto")
    n_workers = workers or default_workers(ray, device)
    gpus = _gpus_per_worker(ray, device)
    cpus = min(CPUS_PER_CPU_WORKER, max(1, _cluster(ray, "CPU") // n_workers))
    ds = ds.map_batches(
        ShardWorker,
        fn_constructor_kwargs={
            "spec": spec,
            "root": str(writer.cache.root.resolve()),
            "fingerprint_json": fp.to_json(),
            "batch_size": batch_size,
            "skip_bad": skip_bad,
        },
        batch_size=shard_size,
        compute=ray.data.ActorPoolStrategy(size=n_workers),
        num_gpus=gpus,
        num_cpus=0 if gpus else cpus,
        batch_format="numpy",
        **_crash_test_env(),
    )
    with tqdm(
        total=n_todo,
        unit="item",
        desc=f"encoding on Ray ({n_workers} worker(s), {fp.encoder})",
        disable=not progress,
        dynamic_ncols=True,
    ) as bar:
        try:
            for row in ds.iter_rows():
                if row["file"]:
                    infos.append(
                        ShardInfo(
                            str(row["file"]),
                            int(row["rows"]),
                            str(row["content_sha256"]),
                            str(row["created_at"]),
                        )
                    )
                bad = [InputError(reason, file=file) for file, reason in json.loads(str(row["bad"]))]
                result.bad_images += bad
                result.encode_seconds += float(row["seconds"])
                result.truncated += int(row["truncated"])
                bar.update(int(row["rows"]) + len(bad))
        except Exception as e:
            writer.commit(infos)  # keep what finished: a re-run resumes from there
            raise _user_error(e) from e
    return writer.commit(infos)


def _init_ray(ray, address: str | None) -> None:
    if address in (None, "", "local"):
        ray.init(include_dashboard=False, logging_level=logging.WARNING)
    else:
        try:
            ray.init(address=address, logging_level=logging.WARNING)
        except ConnectionError as e:
            raise EmbedkitError(
                f"cannot reach a Ray cluster at {address} ({e}); start one with `ray start --head` or give "
                "--ray with no address to run Ray on this machine"
            ) from None
    ray.data.DataContext.get_current().enable_progress_bars = False  # ours counts items, not blocks
    for name in ("ray.data", "ray"):  # Ray Data's per-run INFO lines; `embedkit -v` shows them
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().getEffectiveLevel()))


def _crash_test_env() -> dict:
    """The crash points of the crash-safety tests, passed on to the workers (nothing otherwise)."""
    env = {k: os.environ[k] for k in (ENV, ONCE_ENV) if k in os.environ}
    return {"runtime_env": {"env_vars": env}} if env else {}


def _cluster(ray, resource: str) -> int:
    return int(ray.cluster_resources().get(resource, 0))


def _gpus_per_worker(ray, device: str) -> int:
    return 1 if device != "cpu" and _cluster(ray, "GPU") > 0 else 0


def default_workers(ray, device: str = "auto") -> int:
    """One actor per GPU in the cluster; on CPUs only, one per 4 CPUs (at least one)."""
    if _gpus_per_worker(ray, device):
        return _cluster(ray, "GPU")
    return max(1, _cluster(ray, "CPU") // CPUS_PER_CPU_WORKER)


def _tables(items: Items, todo, todo_img, keys, image_keys, shard_size: int) -> list:
    """What one window adds, as Arrow tables of one shard's worth each (so that the blocks spread over
    the actors): texts longest first, then images."""
    import pyarrow as pa

    parts = [items.parts[i] for i in todo]
    table = pa.table(
        {
            "key": pa.array([k.decode() for k in keys[todo]] + [k.decode() for k in image_keys[todo_img]]),
            "is_image": pa.array([False] * len(todo) + [True] * len(todo_img)),
            "text": pa.array([items.texts[i] for i in todo] + [""] * len(todo_img)),
            "prompt": pa.array([p[0] if p[1] is not None else "" for p in parts] + [""] * len(todo_img)),
            "response": pa.array([p[1] or "" for p in parts] + [""] * len(todo_img)),
            "path": pa.array([""] * len(todo) + [str(items.images[i].resolve()) for i in todo_img]),
        }
    )
    return [table.slice(s, shard_size) for s in range(0, len(table), shard_size)]


def _user_error(e: BaseException) -> BaseException:
    """The embedkit error inside a Ray task failure, if there is one (so the CLI prints one line)."""
    seen = e
    while seen is not None:
        if isinstance(seen, EmbedkitError):
            return seen
        cause = getattr(seen, "cause", None)
        seen = cause if isinstance(cause, BaseException) else seen.__cause__
    return e
