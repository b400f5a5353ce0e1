"""Helpers shared by the tests (imported as ``helpers.<name>``; tests/ is on sys.path).

The tests mirror the code: tests/core/{fits,format,io,ops} test the core's modules, tests/cli
one command per file, tests/api and tests/mpdaf the Python API and the MPDAF facade; the
end-to-end suites have their own folders (conformance, e2e, faults, interop). pytest imports
test files by basename (no __init__.py), so a basename is used once in the whole tree.

- ``helpers.cli``: the one way to run pixtab (``invoke`` in process, ``run_pixtab`` and
  ``pixtab_cmd`` as a subprocess);
- ``helpers.decode``, ``helpers.extract``, ``helpers.sources``: independent references
  (origin decoding, row selection, injected sources);
- ``helpers.faults``: small tables and broken variants for the fault catalogue;
- ``helpers.drs``: the MUSE pipeline (esorex) harness; ``helpers.reconstruct_oracle`` and
  ``helpers.skyimages``: a whole-image reconstruct-det and sky masks.
"""
