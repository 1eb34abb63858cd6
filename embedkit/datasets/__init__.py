"""Named and simulated preference data sets, one module each: a converter or builder is a function plus
its config dataclass (the options of its ``embedkit convert`` / ``embedkit build`` command).

- ``persona``: PAL's persona set (section 4.2.1), from the anthropics/evals statements in ``data/persona``;
- ``synthetic``: PAL's synthetic ideal-point data (section 4.1), vectors straight into the cache;
- ``annotators``: a semi-synthetic multi-annotator set (fans, critics, indifferent annotators per topic);
- ``pick_a_pic`` and ``pick_a_filter``: the Pick-a-Pic import and PAL's Pick-a-Filter (appendix B);
- ``multipref`` and ``helpsteer2``: the Diverging Preferences paper's sets, from their published layouts.

Generic formats and converters (pair files, ratings, TRL, columns) are in ``embedkit.data``.
"""
