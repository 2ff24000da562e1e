"""The request path: what answers `/prompt` and records votes, inside Discord's 3-second window.

``prompt_service`` validates keywords, assigns the experiment arm, searches and records the
request; ``model_pool`` holds loaded search engines and swaps the champion without a restart.
Nothing here imports torch, sentence-transformers or evaluation code: a serving process stays
light (ONNX Runtime + tokenizers + numpy) and starts in a fraction of a second. The import
contract in ``tests/test_architecture.py`` keeps it so.
"""
