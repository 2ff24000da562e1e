"""Package discovery for the wheel; everything else about the project is in pyproject.toml.

The corpus, vocabulary, judged queries and migrations live in the top-level folders data/ and
alembic/, where people look for them in the repository. A wheel can only ship files that belong
to a package, and neither folder can be a top-level package of its own: ``alembic`` would shadow
the Alembic library and ``data`` is too generic a name to claim in site-packages. So the build
maps both folders under our storage package, as ``storage/_shipped/data`` and
``storage/_shipped/alembic``, with ``package_dir``; storage.settings looks there first and falls
back to the source tree.

This needs a setup.py because pyproject.toml can either find packages or list them by hand with
extra mappings, not both; listing every package by hand would silently drop the next new one.
"""

from __future__ import annotations

from setuptools import find_packages, setup

CODE_PACKAGES = ["bot*", "serving*", "retrieval*", "retraining*", "storage*", "bench*"]

# Shipped package name -> folder in the repository.
SHIPPED_DIRS = {
    "storage._shipped.data": "data",
    "storage._shipped.alembic": "alembic",
    "storage._shipped.alembic.versions": "alembic/versions",
}

SHIPPED_FILES = {
    "storage._shipped.data": [
        "prompts.jsonl",
        "LICENSE",
        "vocabulary.json",
        "eval/queries.jsonl",
        "eval/split.json",
        "eval/README.md",
    ],
    "storage._shipped.alembic": ["env.py", "script.py.mako"],
    "storage._shipped.alembic.versions": ["*.py"],
}

setup(
    packages=[*find_packages(include=CODE_PACKAGES), *SHIPPED_DIRS],
    package_dir=SHIPPED_DIRS,
    package_data=SHIPPED_FILES,
)
