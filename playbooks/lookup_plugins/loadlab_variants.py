"""Read loadlab's variant registry (loadlab/data/variants.toml) for the playbooks.

The registry is the one declaration of every variant (TechEmpower-style): the local backend,
the compose file's consistency test and the Ansible `app` role all read it, so the units on
the nodes run exactly the registry's command lines.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: loadlab_variants
short_description: the variants of loadlab's registry, defaults applied
description:
  - Returns one dictionary per variant of C(loadlab/data/variants.toml), in the registry's
    order, each with C(name) and the registry's keys (C([defaults]) merged in), exactly as
    C(loadlab.core.registry.load_registry) reads them, except for the knobs.
  - C(knobs) maps each knob of the variant to its stock value; a stock value of C(cpus)
    (the CPUs given to the app) is left for the caller to fill (the app role fills in app_workers).
  - C(knob_kinds) maps each knob to its kind in the registry's catalogue (int, bool, choice);
    a bool goes into a command line or an environment variable as 1 or 0.
  - C(search) maps each knob to the candidates C(loadlab tune) tries.
  - C(env) holds the environment templates, C(LOADLAB_POOL_SIZE) included, as
    C(loadlab.core.registry.Variant.environment) renders them (DATABASE_URL is the caller's).
options:
  _terms:
    description: Path of the registry file; the repository's own by default.
    required: false
"""

EXAMPLES = r"""
- name: Show the variants
  ansible.builtin.debug:
    msg: "{{ lookup('loadlab_variants', '/path/to/variants.toml', wantlist=True) }}"
"""

RETURN = r"""
_raw:
  description: the variants
  type: list
  elements: dict
"""

# Ansible's convention: the documentation strings come before the imports.
import tomllib  # noqa: E402
from pathlib import Path  # noqa: E402

from ansible.errors import AnsibleLookupError  # noqa: E402
from ansible.plugins.lookup import LookupBase  # noqa: E402

DEFAULT_REGISTRY = Path(__file__).resolve().parents[2] / "loadlab" / "data" / "variants.toml"


def _variant(name: str, spec: dict, defaults: dict, catalogue: dict) -> dict:
    variant = {"name": name, **defaults, **spec}
    settings = variant.get("knobs", {})
    variant["knobs"] = {knob: setting["stock"] for knob, setting in settings.items()}
    variant["search"] = {
        knob: list(setting.get("search", [])) for knob, setting in settings.items()
    }
    variant["knob_kinds"] = {knob: catalogue.get(knob, {}).get("kind", "int") for knob in settings}
    # every variant gets LOADLAB_POOL_SIZE (loadlab.core.registry.Variant.environment)
    pool_size = "{pool_size}" if "pool_size" in settings else "10"
    variant["env"] = {"LOADLAB_POOL_SIZE": pool_size, **variant.get("env", {})}
    return variant


def read_registry(path: Path) -> list[dict]:
    raw = tomllib.loads(path.read_text())
    defaults = raw.get("defaults", {})
    catalogue = raw.get("knobs", {})
    return [
        _variant(name, spec, defaults, catalogue) for name, spec in raw.get("variants", {}).items()
    ]


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        path = Path(terms[0]) if terms else DEFAULT_REGISTRY
        try:
            return read_registry(path)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise AnsibleLookupError(f"cannot read the variant registry {path}: {exc}") from exc
