"""Background services that run inside `driftline serve` (sync and pipeline schedulers...).

Every module here with a ``create(state)`` function is started by the app's lifespan after
the store opens, and stopped (in reverse order) before it closes. ``create`` returns an
object with ``async start()`` and ``async stop()``, or ``None`` to stay off.
"""

from __future__ import annotations

import pkgutil
from importlib import import_module
from typing import Any, Protocol


class Service(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


def create_services(state: Any) -> list[Service]:
    import driftline.server.services as package

    services: list[Service] = []
    for module in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        factory = getattr(import_module(f"{package.__name__}.{module.name}"), "create", None)
        if factory is None:
            continue
        service = factory(state)
        if service is not None:
            services.append(service)
    return services
