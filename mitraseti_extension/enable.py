"""Switch the extension on in an environment's Jupyter configuration.

Jupyter Server loads the extensions named in ``jupyter_server_config.d/*.json`` under each
``etc/jupyter`` of its config path. A regular install (a wheel: pip, or the pip step of a
conda environment) puts ``jupyter-config/jupyter_server_config.d/mitraseti_extension.json``
into ``<prefix>/etc/jupyter`` as a data file. An editable install (``pip install -e``, as
``make install`` does) skips data files, so ``make install`` then runs
``python -m mitraseti_extension enable``, which writes the same file into the environment's
own config folder (``sys.prefix/etc/jupyter``) with Jupyter's own config writer.

    python -m mitraseti_extension enable            # this environment
    python -m mitraseti_extension status            # enabled? where from?
"""
from __future__ import annotations

import sys
from pathlib import Path

NAME = "mitraseti_extension"
CONFIG_D = "jupyter_server_config.d"


def env_config_dir(prefix: str | Path | None = None) -> Path:
    """``<prefix>/etc/jupyter`` (default: this environment's, ``sys.prefix``)."""
    return Path(sys.prefix if prefix is None else prefix) / "etc" / "jupyter"


def config_file(prefix: str | Path | None = None) -> Path:
    """The JSON file that enables the extension in ``prefix``."""
    return env_config_dir(prefix) / CONFIG_D / f"{NAME}.json"


def enable(prefix: str | Path | None = None) -> Path:
    """Write ``{"ServerApp": {"jpserver_extensions": {"mitraseti_extension": true}}}`` into
    ``<prefix>/etc/jupyter/jupyter_server_config.d``; returns the file written."""
    from jupyter_server.extension.config import ExtensionConfigManager

    folder = env_config_dir(prefix) / CONFIG_D
    folder.mkdir(parents=True, exist_ok=True)
    ExtensionConfigManager(read_config_path=[str(env_config_dir(prefix))],
                           write_config_dir=str(folder)).enable(NAME)
    return config_file(prefix)


def is_enabled() -> bool:
    """True when Jupyter's config path (the one ``jupyter server`` reads) enables us."""
    from jupyter_core.paths import jupyter_config_path
    from jupyter_server.extension.config import ExtensionConfigManager

    manager = ExtensionConfigManager(read_config_path=jupyter_config_path())
    return bool(manager.enabled(NAME))


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m mitraseti_extension",
                                     description="Enable the MitraSETI Jupyter Server "
                                     "extension in this environment.")
    parser.add_argument("action", choices=["enable", "status"])
    parser.add_argument("--prefix", help="environment prefix (default: this Python's)")
    args = parser.parse_args(argv)
    if args.action == "enable":
        print(f"enabled {NAME}: {enable(args.prefix)}")
        return 0
    enabled = is_enabled()
    print(f"{NAME} is {'enabled' if enabled else 'not enabled'} in Jupyter's config path")
    return 0 if enabled else 1
