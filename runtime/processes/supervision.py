"""Supervision trees: ``process.service`` entries with ``children`` run the kit's supervisor
actor (``lua/supervisor.lua``), which starts the children monitored and restarts them per
``strategy`` within ``intensity``, escalating to its own supervisor past it."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from runtime import manifest

#: The entry id of the kit's supervisor actor (not in any manifest).
SUPERVISOR_ID = "units:supervisor"


def supervisor_entry() -> manifest.ProcessEntry:
    """The supervisor as a ``process.lua`` entry, compiled like application code."""
    source = resources.files("runtime").joinpath("lua/supervisor.lua")
    return manifest.ProcessEntry(
        id=SUPERVISOR_ID,
        namespace="units",
        name="supervisor",
        file="(kit)",
        source="kit://supervisor.lua",
        source_path=Path(str(source)),
        source_name="[kit]supervisor.lua",
        code=source.read_text(encoding="utf-8"),
    )


def tree_children(registry: manifest.Registry) -> set[str]:
    """Ids of services started by a tree rather than on their own."""
    return {child for s in registry.of_kind(manifest.ServiceEntry) for child in s.children}


def tree_host(registry: manifest.Registry, service: manifest.ServiceEntry) -> str:
    """Where a tree's supervisor runs: the host of its first leaf."""
    if service.host:
        return service.host
    first = registry.get(service.children[0])
    assert isinstance(first, manifest.ServiceEntry)
    return tree_host(registry, first)


def spec(registry: manifest.Registry, service: manifest.ServiceEntry) -> dict[str, Any]:
    """The supervisor's init argument for the tree rooted at ``service``."""
    children = []
    for child_id in service.children:
        child = registry.get(child_id)
        assert isinstance(child, manifest.ServiceEntry)
        node: dict[str, Any] = {
            "id": child.id,
            "name": child.registry_name,
            "type": child.lifecycle.restart.type,
        }
        if child.children:
            node.update(
                process=SUPERVISOR_ID, host=tree_host(registry, child), args=[spec(registry, child)]
            )
        else:
            node.update(process=child.process, host=child.host, args=list(child.args))
        children.append({k: v for k, v in node.items() if v is not None})
    return {
        "strategy": service.strategy,
        "intensity": {
            "max_restarts": service.intensity.max_restarts,
            "period": service.intensity.period,
        },
        "children": children,
    }
