"""ROS 2 parameter files: writing one with each parameter's description, reading a node's section, and
rewriting root keys so a file applies in any namespace."""
from __future__ import annotations

from typing import Any, Dict, Optional

from .schema import NODE_NAME, PARAMETERS, ConfigError
from .yaml_files import YamlFileError, load_yaml_file, load_yaml_text


def _yaml_value(value) -> str:
    import yaml

    return yaml.safe_dump(value, default_flow_style=True, width=1000).strip().removesuffix("\n...").strip()


def node_key(node_name: str = NODE_NAME) -> str:
    """The parameter-file key of a node in any namespace: ``/**/rs_vla_guard`` (a plain ``rs_vla_guard:``
    key matches only the root namespace, so a namespaced launch would silently ignore the file)."""
    return f"/**/{node_name}"


def to_ros_yaml(params: Dict[str, Any], *, header: str = "", node_name: str = NODE_NAME) -> str:
    """A ROS 2 parameter file (``/**/node: ros__parameters: ...``, so it applies in any namespace) with each
    parameter's description."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    lines += [f"{node_key(node_name)}:", "  ros__parameters:"]
    for param in PARAMETERS:
        if param.name not in params:
            continue
        note = param.description
        if param.choices:
            note += f" [{' | '.join(param.choices)}]"
        elif param.low is not None:
            low = "(" if param.low_open else "["
            high = ")" if param.high_open else "]"
            note += f" {low}{param.low}, {param.high}{high}"
        if param.read_only:
            note += " (read-only: set at start)"
        lines.append(f"    # {note}")
        lines.append(f"    {param.name}: {_yaml_value(params[param.name])}")
    return "\n".join(lines) + "\n"


def from_ros_yaml(text: str, node_name: str = NODE_NAME, source: str = "parameter file") -> Dict[str, Any]:
    """The parameters of ``node_name`` (any of its spellings, or the ``/**`` wildcard) in a ROS 2 parameter
    file's text (read by the bounded loader: YamlFileError for a refused file)."""
    return ros_parameters(load_yaml_text(text, source), node_name, source)


def read_params_file(path: str, node_name: str = NODE_NAME) -> Dict[str, Any]:
    """The parameters of ``node_name`` in the ROS 2 parameter file at ``path`` (bounded loader)."""
    return ros_parameters(load_yaml_file(path), node_name, path)


def ros_parameters(document: Any, node_name: str = NODE_NAME, source: str = "parameter file") -> Dict[str, Any]:
    """The ``ros__parameters`` of ``node_name`` in a loaded parameter file; ConfigError when it has none."""
    document = document or {}
    if not isinstance(document, dict):
        raise ConfigError([f"{source}: not a ROS parameter file (a mapping of node names)"])
    for key in (node_key(node_name), node_name, f"/{node_name}", "/**"):
        section = document.get(key)
        if isinstance(section, dict) and isinstance(section.get("ros__parameters"), dict):
            return dict(section["ros__parameters"])
    raise ConfigError([f"{source}: no '{node_key(node_name)}: ros__parameters:' section"])


def for_any_namespace(path: str, node_name: str = NODE_NAME, out_dir: Optional[str] = None) -> str:
    """A parameter file whose ``node_name:`` / ``/node_name:`` root keys are rewritten to ``/**/node_name:``
    so it applies in any namespace (what the launch file passes on, as Nav2's launch files rewrite theirs);
    the file itself when nothing needs rewriting. ConfigError when it is not a parameter file."""
    import tempfile

    import yaml

    try:
        document = load_yaml_file(path)
    except YamlFileError as error:
        raise ConfigError([f"parameter file refused: {error}"]) from None
    if not isinstance(document, dict):
        raise ConfigError([f"{path} is not a ROS parameter file (a mapping of node names)"])
    keys = [k for k in document if k in (node_name, f"/{node_name}")]
    if not keys:
        return path
    rewritten = {(node_key(node_name) if k in keys else k): v for k, v in document.items()}
    handle = tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix=f"{node_name}_", dir=out_dir, delete=False)
    with handle:
        yaml.safe_dump(rewritten, handle, sort_keys=False)
    return handle.name
