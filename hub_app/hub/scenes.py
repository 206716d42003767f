"""Scenes: saved states of several lights, applied together. Persisted as JSON."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .evented import EventedList


@dataclass(frozen=True)
class SceneLight:
    """The state one light takes in a scene."""

    device_id: str
    on: bool
    brightness: int | None = None
    rgb: tuple[int, int, int] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "device_id": self.device_id,
            "on": self.on,
            "brightness": self.brightness,
            "rgb": list(self.rgb) if self.rgb is not None else None,
        }

    @classmethod
    def from_json(cls, data: Any) -> SceneLight:
        if not isinstance(data, dict) or not isinstance(data.get("device_id"), str):
            raise ValueError("a scene light needs a device_id")
        on = data.get("on")
        brightness = data.get("brightness")
        rgb = data.get("rgb")
        if not isinstance(on, bool):
            raise ValueError("on: must be a boolean")
        if brightness is not None and not (isinstance(brightness, int) and 0 <= brightness <= 100):
            raise ValueError("brightness: must be 0..100")
        if rgb is not None and not (
            isinstance(rgb, list) and len(rgb) == 3 and all(isinstance(c, int) for c in rgb)
        ):
            raise ValueError("rgb: must be three integers")
        return cls(
            data["device_id"], on, brightness, (rgb[0], rgb[1], rgb[2]) if rgb else None
        )


@dataclass(frozen=True)
class Scene:
    """A named set of light states."""

    name: str
    lights: tuple[SceneLight, ...]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "lights": [light.to_json() for light in self.lights]}

    @classmethod
    def from_json(cls, data: Any) -> Scene:
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            raise ValueError("a scene needs a name")
        lights = data.get("lights")
        if not isinstance(lights, list):
            raise ValueError("lights: must be a list")
        return cls(data["name"], tuple(SceneLight.from_json(x) for x in lights))


class SceneList(EventedList[Scene]):
    """The saved scenes, sorted by name (the owner is the ``Hub``)."""

    def get(self, name: str) -> Scene | None:
        index = self.index_where(lambda scene: scene.name == name)
        return self[index] if index >= 0 else None

    def put(self, scene: Scene) -> None:
        index = self.index_where(lambda s: s.name == scene.name)
        if index >= 0:
            self.replace(index, scene)
            return
        position = 0
        while position < len(self) and self[position].name.casefold() < scene.name.casefold():
            position += 1
        self.insert(position, scene)

    def discard(self, name: str) -> bool:
        index = self.index_where(lambda scene: scene.name == name)
        if index < 0:
            return False
        self.pop(index)
        return True

    def to_json(self) -> dict[str, Any]:
        return {"version": 1, "scenes": [scene.to_json() for scene in self]}

    @staticmethod
    def parse(data: Any) -> list[Scene]:
        """Scenes from the JSON document; a malformed scene is skipped (not the whole file)."""
        if not isinstance(data, dict) or not isinstance(data.get("scenes"), list):
            return []
        scenes = []
        for item in data["scenes"]:
            try:
                scenes.append(Scene.from_json(item))
            except ValueError:
                continue
        return sorted(scenes, key=lambda scene: scene.name.casefold())
