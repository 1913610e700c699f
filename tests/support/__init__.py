"""Helpers shared by the tests (and by benchmarks/): servers, browsers, WebRTC players,
fuzzing strategies, stand-ins and rigs. Nothing here is collected as a test.

pyproject's ``pythonpath = ["tests"]`` puts this package on the path:
``from support.servers import Publisher``.
"""
