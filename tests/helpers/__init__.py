"""Plain helpers shared by several test modules: constants, builders, waiting and assertions.

Fixtures live in the ``conftest.py`` next to the tests that use them; anything a test module
imports by name lives here, one module per area, so no test imports from a conftest.
"""
