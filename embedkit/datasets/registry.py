"""The data set registry: every ``embedkit convert`` and ``embedkit build`` command is an entry here.

A converter or builder is a function plus its config dataclass (fields made with
``embedkit.options.opt``); its entry says where both live, what the command reads and writes, and its
``--help`` text. ``embedkit/cli/datasets.py`` generates the command from the entry: the input argument,
``--out`` / ``--overwrite``, one option per config field, and the call. Adding a data set is one module
plus one entry (here, or in another package through the ``embedkit.datasets`` entry-point group:
:mod:`embedkit.plugins`).

The kinds of command (:attr:`DatasetEntry.kind`):

- ``rows``: ``run(INPUT, **config) -> pair rows``; the command writes them to the ``--out`` pair file;
- ``ratings``: ``run(INPUT, config, pairing, split=, skip_bad=) -> (rows, report)``: per-item ratings
  paired within each annotator (``PairingConfig`` and the split column's options are added), the pairs
  and ``OUT.report.json`` written together;
- ``folder``: ``run(INPUT, out_dir=, cfg=, progress=) -> summary`` writes a folder with ``pairs.jsonl``
  and returns a summary that ``summary(result, cfg, out_dir, **options) -> lines`` puts into words.

Torch-free: functions and configs are ``module:attribute`` paths imported on first use.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from embedkit.plugins import GROUPS, Registry

KINDS = ("rows", "ratings", "folder")
INPUTS = ("file", "files", "pairs", None)


@dataclass(frozen=True)
class DatasetEntry:
    """One ``embedkit COMMAND NAME`` (``command``: convert or build)."""

    name: str
    command: str
    kind: str
    run: str
    """``module:function`` that converts or builds (see the module docstring for its call)."""
    config: str | None
    """``module:Class``: the config dataclass whose fields are the command's options (None: none)."""
    help: str
    """The command's ``--help`` text (its first sentence is the line in ``embedkit COMMAND --help``)."""
    inputs: str | None = "file"
    """``file``: one INPUT_PATH; ``files``: INPUTS... (one or more); ``pairs``: an existing pair file
    PAIRS; None: no input argument."""
    out_help: str = "Pair file to write (JSONL)."
    overwrite_help: str = "Replace an existing output file."
    skip: tuple[str, ...] = ()
    """Config fields that are not options of the command."""
    progress_help: str | None = None
    """A ``--progress/--no-progress`` flag with this help (None: no such flag)."""
    extras: tuple[str, ...] = ()
    """Options with no config home (a path that must exist, a cache), by name in
    ``embedkit.cli.datasets.EXTRA_OPTIONS``; a new data set puts its options in its config instead."""
    summary: str | None = None
    """``module:function`` ``(result, cfg, out_dir, **extras) -> lines`` printed after a ``folder`` run."""
    defaults: dict = field(default_factory=dict)
    """Config defaults that differ for this command."""
    handwritten: str | None = None
    """``module:attribute`` of a command written by hand instead of generated from this entry."""

    def __post_init__(self):
        if self.command not in ("convert", "build"):
            raise ValueError(
                f"data set {self.name!r}: command must be convert or build, not {self.command!r}"
            )
        if self.kind not in KINDS:
            raise ValueError(
                f"data set {self.name!r}: kind must be one of {', '.join(KINDS)}, not {self.kind!r}"
            )
        if self.inputs not in INPUTS:
            raise ValueError(f"data set {self.name!r}: inputs must be file, files, pairs or None")

    def load(self):
        """The converter or builder function."""
        return _resolve(self.run)

    def load_config(self) -> type | None:
        """The config dataclass, or None."""
        return _resolve(self.config) if self.config else None


_DATA = "embedkit.data"
_SETS = "embedkit.datasets"
_OUT_FOLDER = "Replace an existing pairs.jsonl in --out."

_ENTRIES = (
    DatasetEntry(
        "trl",
        "convert",
        "rows",
        f"{_DATA}.convert:from_trl",
        None,
        """TRL preference data: chosen/rejected as text or conversations, explicit or implicit prompt.

        Conversations become text as "role: content" blocks; an implicit prompt is the shared beginning of
        chosen and rejected. user, split, weight and margin fields are kept.
        """,
    ),
    DatasetEntry(
        "columns",
        "convert",
        "rows",
        f"{_DATA}.convert:from_columns",
        f"{_DATA}.convert:ColumnsConfig",
        """Any one-row-per-pair layout (JSONL, CSV, Parquet), mapped field by field; multi-annotator rows
        keep their list of labels.""",
    ),
    DatasetEntry(
        "ratings",
        "convert",
        "ratings",
        f"{_DATA}.ratings:ratings_to_pairs",
        f"{_DATA}.ratings_reader:RatingsFields",
        """Per-item ratings (one row per annotator, item and score) -> preference pairs.

        Pairs are drawn within each annotator from two items they rated; their scores decide the label (a
        difference of 1 is a slight preference, 2 or more a strong one, equal scores a tie) and left/right
        is random. A split column is drawn as fit-head would (seen and new annotators), or item-disjoint
        (--split-by item). Bad rows (missing or non-numeric score, missing field) are named with file and
        line; annotators with a single item are listed (they give no pairs). A report goes next to --out
        (OUT.report.json).

        \b
        Example (1-5 offensiveness ratings, less offensive preferred):
          embedkit convert ratings ratings.csv --out pairs.jsonl --user annotator --item comment_id \\
              --text comment --score offensiveness --prefer lower --prompt "Which comment is less offensive?"
        """,
    ),
    DatasetEntry(
        "lewidi",
        "convert",
        "ratings",
        f"{_SETS}.lewidi:lewidi_to_pairs",
        f"{_SETS}.lewidi:LeWiDiConfig",
        "LeWiDi JSON files (per-annotator labels: MD-Agreement, CSC, ...) -> preference pairs.",
        inputs="files",
        defaults={"prefer": "lower"},
        # written by hand (embedkit/cli/convert.py) while the annotator-attributes work (#30) changes it
        handwritten="embedkit.cli.convert:lewidi_command",
    ),
    DatasetEntry(
        "multipref",
        "convert",
        "rows",
        f"{_SETS}.multipref:from_multipref",
        f"{_SETS}.multipref:MultiPrefConfig",
        """MultiPref (allenai/multipref, MultiPref-Train.jsonl layout): comparisons with their crowd and
        expert annotations -> pairs with graded labels (A-is-clearly-better = 2 ... B-is-clearly-better = -2).""",
    ),
    DatasetEntry(
        "helpsteer2",
        "convert",
        "rows",
        f"{_SETS}.helpsteer2:from_helpsteer2",
        f"{_SETS}.helpsteer2:HelpSteer2Config",
        """HelpSteer2 with per-annotator scores (the disagreements file: one row per response, a list of 0-4
        scores per attribute, the two responses of a prompt one after the other) -> pairs with per-annotator
        graded labels and Likert scores (mean-var, mse, likert-kl).""",
    ),
    DatasetEntry(
        "rewardbench",
        "convert",
        "rows",
        f"{_SETS}.rewardbench:from_rewardbench",
        f"{_SETS}.rewardbench:RewardBenchConfig",
        """RewardBench (allenai/reward-bench, the filtered split) or RewardBench 2 (allenai/reward-bench-2)
        -> pairs that `embedkit extract` embeds and `embedkit rewardbench` scores.

        Version 1 rows (prompt, chosen and rejected strings, subset, id) become one pair each. A version 2
        row (chosen and rejected lists: best-of-4, or the Ties subset's several correct answers) becomes a pair
        of chosen[0] with every rejected completion and of every other chosen with rejected[0], each with the
        completions' positions (chosen_index, rejected_index), so every completion is scored once and best-of-4
        is recomputed by id. Bad rows stop the run naming file, line and field; nothing is written then.
        The files: the Hugging Face data sets allenai/reward-bench (split filtered) and allenai/reward-bench-2
        (split test), as Parquet or JSONL.

        \b
        Then:
          embedkit extract OUT --cache CACHE --encoder E
          embedkit rewardbench HEAD --data OUT --cache CACHE --out results.json
        """,
    ),
    DatasetEntry(
        "pick-a-pic",
        "convert",
        "folder",
        f"{_SETS}.pick_a_pic:convert_pickapic_inputs",
        None,
        """Pick-a-Pic parquet files (or folders of them) -> an image pair file.

        Reads the Pick-a-Pic layout (caption, jpg_0 / jpg_1 image bytes, label_0 / label_1 with 0.5 / 0.5 for a
        tie, user_id, image and ranking ids) one record batch at a time, so multi-GB files never sit in memory.
        Each distinct image is written once under OUT/images/ by SHA-256; OUT/pairs.jsonl has user, prompt =
        caption, left / right = image paths relative to it, label (left, right or tie) and source_split (from a
        split column, else from the file name: train, validation or test).

        \b
        Then:
          embedkit build pick-a-filter OUT/pairs.jsonl --out FILTERED
          embedkit extract OUT/pairs.jsonl --cache CACHE --encoder clip-h14
        """,
        inputs="files",
        out_help="Folder for pairs.jsonl and images/ (each image once, by content hash).",
        overwrite_help="Replace an existing OUT/pairs.jsonl (images are kept and reused).",
        progress_help="Show a progress bar over the records.",
        summary=f"{_SETS}.pick_a_pic:summary_lines",
    ),
    DatasetEntry(
        "persona",
        "build",
        "folder",
        f"{_SETS}.persona:build_persona",
        f"{_SETS}.persona:PersonaConfig",
        """PAL's semi-synthetic persona dataset (section 4.2.1): a user prefers "Yes" exactly when the
        statement agrees with their persona.

        \b
        Then:
          embedkit extract OUT/texts.jsonl --cache CACHE
          embedkit fit-head --model pal-b --K 2 --pairs OUT/pairs.jsonl --cache CACHE --out HEAD
        """,
        inputs=None,
        out_help="Output folder for pairs.jsonl, texts.jsonl and persona.json.",
        overwrite_help=_OUT_FOLDER,
        skip=("val_frac", "test_frac"),
        extras=("personas", "persona_dir"),
        summary=f"{_SETS}.persona:summary_lines",
    ),
    DatasetEntry(
        "synthetic",
        "build",
        "folder",
        f"{_SETS}.synthetic:build_synthetic",
        f"{_SETS}.synthetic:SyntheticConfig",
        """PAL's synthetic ideal-point data (section 4.1, appendix C.1): items and prototypes from N(0, I/d),
        a linear f*, users preferring the item closer to their ideal point. The item vectors go straight into
        --cache (namespace encoder "synthetic"); no encoder runs.

        \b
        Then:
          embedkit fit-head --model pal-a --K 3 --pairs OUT/pairs.jsonl --cache CACHE --encoder NAMESPACE --out HEAD
        """,
        inputs=None,
        out_help="Folder for pairs.jsonl and truth.json.",
        overwrite_help=_OUT_FOLDER,
        extras=("cache",),
        summary=f"{_SETS}.synthetic:summary_lines",
    ),
    DatasetEntry(
        "annotators",
        "build",
        "folder",
        f"{_SETS}.annotators:build_annotators",
        f"{_SETS}.annotators:AnnotatorsConfig",
        """A semi-synthetic multi-annotator set from the persona statements: simulated annotators who are fans,
        critics or indifferent on each topic judge "Yes" against "No" with graded strengths and Likert scores;
        divisive topics split them, so pairs there diverge; on --agreed-ties topics nearly everyone is indifferent
        (high-agreement ties). Stands in for MultiPref / HelpSteer2 (Diverging
        Preferences, Table 3) and for Beyond the Binary's synthetic judgments; see embedkit/datasets/annotators.py.

        \b
        Then:
          embedkit extract OUT/texts.jsonl --cache CACHE
          embedkit fit-head --model mean-var --pairs OUT/pairs.jsonl --cache CACHE --out HEAD
        """,
        inputs=None,
        out_help="Folder for pairs.jsonl and texts.jsonl.",
        overwrite_help=_OUT_FOLDER,
        skip=("val_frac", "test_frac"),
        summary=f"{_SETS}.annotators:summary_lines",
    ),
    DatasetEntry(
        "pick-a-filter",
        "build",
        "folder",
        f"{_SETS}.pick_a_filter:build_pick_a_filter",
        f"{_SETS}.pick_a_filter:PickAFilterConfig",
        """PAL's Pick-a-Filter (section 4.2.2, appendix B) from a converted Pick-a-Pic pair file.

        Keeps non-tie pairs of users with pairs in both train and test and more than --min-labels of them,
        sorts them by count and alternates them into two equal groups with similar totals: G1 prefers cold tones
        (blue filter), G2 warm (red). The --seen-users most active of each group are seen. Per user, a share
        --mixture-ratio of the pairs is shortlisted; half get the group's winning filter on the winner, half the
        losing filter on the loser; labels are unchanged. Rows record group, filtered (none / winner / loser),
        user_split and an embedkit split. A Table 5 report is printed and written to OUT/report.json; see
        embedkit/datasets/pick_a_filter.py.

        \b
        Then:
          embedkit extract OUT/pairs.jsonl --cache CACHE --encoder clip-h14
          embedkit fit-head --model pal-b --K 2 --pairs OUT/pairs.jsonl --cache CACHE --encoder clip-h14 --out HEAD
        """,
        inputs="pairs",
        out_help="Folder for pairs.jsonl, images/ and report.json.",
        overwrite_help="Replace an existing OUT/pairs.jsonl.",
        progress_help="Show a progress bar.",
        summary=f"{_SETS}.pick_a_filter:summary_lines",
    ),
)

DATASETS: Registry[DatasetEntry] = Registry(
    "data set",
    {e.name: e for e in _ENTRIES},
    GROUPS["datasets"],
    DatasetEntry,
    name_of=lambda ep_name, entry: entry.name,
)
"""Every data set, built-in and from plugins, by name (``embedkit COMMAND NAME``)."""


def dataset_entry(name: str) -> DatasetEntry:
    """The entry of a data set; an unknown name lists the valid ones and the closest match."""
    return DATASETS.entry(name)


def datasets_of(command: str) -> dict[str, DatasetEntry]:
    """The entries of ``embedkit COMMAND`` (convert or build), by name."""
    return {name: e for name, e in DATASETS.items() if e.command == command}


def _resolve(path: str):
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)
