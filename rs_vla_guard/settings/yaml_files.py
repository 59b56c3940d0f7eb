"""The one bounded YAML loader of the project: every fleet and parameter file is read through it.

A configuration file comes from wherever a fleet's tooling or a hostile neighbour put it, so reading one
is bounded before anything is parsed: at most ``MAX_BYTES`` bytes, no anchors or aliases (a few hundred
bytes of nested aliases expand to gigabytes), no key written twice in one mapping (the first value would
be lost without a word), and at most ``MAX_DEPTH`` levels of nesting. Each refusal is one line naming
the file, the line and the problem (:class:`YamlFileError`, a ValueError).
"""
from __future__ import annotations

import os
from typing import Any

import yaml

MAX_BYTES = 1_000_000  # a parameter file is a few kB; a fleet of 1,000 robots fits many times over
MAX_DEPTH = 32  # a parameter file nests 3 deep, a fleet file 4


class YamlFileError(ValueError):
    """A configuration file refused before or while parsing: one line, naming the file and the place."""


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing anchors, aliases, duplicate keys and deep nesting as it composes."""

    def __init__(self, stream, source: str):
        super().__init__(stream)
        self.source, self.depth = source, 0

    def _refuse(self, mark, problem: str):
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "somewhere"
        raise YamlFileError(f"{self.source}: {where}: {problem}")

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            self._refuse(event.start_mark, f"alias *{event.anchor} refused (anchors and aliases are not allowed)")
        if getattr(event, "anchor", None) is not None:
            self._refuse(event.start_mark, f"anchor &{event.anchor} refused (anchors and aliases are not allowed)")
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self._refuse(event.start_mark, f"nested more than {MAX_DEPTH} levels deep")
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key (a list as a key): the base class says so
                break
            if first is not None:
                self._refuse(key_node.start_mark, f"key {key!r} appears twice in one mapping (first on line "
                                                  f"{first.line + 1})")
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


_BoundedLoader.add_constructor("tag:yaml.org,2002:map", _BoundedLoader.construct_yaml_map)


def load_yaml_text(text: str, source: str = "<text>") -> Any:
    """The document in ``text`` under the same bounds as a file (YamlFileError otherwise)."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise YamlFileError(f"{source}: more than {MAX_BYTES} bytes; a configuration file is a few kB")
    loader = _BoundedLoader(text, source)
    try:
        return loader.get_single_data()
    except YamlFileError:
        raise
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise YamlFileError(f"{source}: {where}not valid YAML: {problem}") from None
    except RecursionError:
        raise YamlFileError(f"{source}: nested too deep to read") from None
    finally:
        loader.dispose()


def load_yaml_file(path: str) -> Any:
    """The document in the file at ``path``, bounded as :func:`load_yaml_text` bounds text; the size is
    checked before reading, and reading stops past the bound."""
    try:
        size = os.path.getsize(path)
        if size > MAX_BYTES:
            raise YamlFileError(f"{path}: {size} bytes, more than the {MAX_BYTES} a configuration file may have")
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as error:
        raise YamlFileError(f"{path}: cannot read: {error.strerror}") from None
    if len(data) > MAX_BYTES:
        raise YamlFileError(f"{path}: more than the {MAX_BYTES} bytes a configuration file may have")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise YamlFileError(f"{path}: not UTF-8 text (byte {error.start})") from None
    return load_yaml_text(text, path)
