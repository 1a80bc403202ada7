"""The fastmlp playground: the TensorFlow Playground's experience, with a
fastmlp estimator trained in Python behind the page.

Run ``python -m fastmlp.playground`` (``--help`` for the options); see the
documentation's "Playground" page for the JSON API.
"""

from fastmlp.playground._server import make_server

__all__ = ["make_server", "main"]


def main(argv=None):
    from fastmlp.playground.__main__ import main as _main

    return _main(argv)
