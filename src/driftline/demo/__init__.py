"""The demo dataset: a seeded, realistic SaaS product (``driftline demo``, ``serve --demo``).

See ``docs/demo.md`` for what it contains. :func:`load_demo` writes it through the store's
writer; :class:`DemoData` gives the tables without writing them.
"""

from driftline.demo.generator import DemoData, DemoSpec, load_demo

__all__ = ["DemoData", "DemoSpec", "load_demo"]
