"""The key broker's release policy for clean-room datasets, made from the owners' approvals.

A dataset's key goes only to a program whose measurement its owner approved in a job:
``release_policy`` writes that as Rego for ``trustroom.kbs`` (the language Trustee users
write), with the grants as data, so a denial names the dataset and the measurement refused.
Other resources the broker holds are not this policy's business: it refuses them, so a
broker that serves more than clean rooms needs its own policy merged in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

__all__ = ["release_policy"]

_TEMPLATE = """package policy

import rego.v1

default allow := false

# Dataset resource -> the program measurements (hex) its owner approved a job for.
grants := {grants}

allow_sim := {allow_sim}

cpu0 := object.get(object.get(input, "submods", {{}}), "cpu0", {{}})

evidence := object.get(cpu0, "ear.veraison.annotated-evidence", {{}})

path := concat("/", data["resource-path"])

measurements contains m if {{
	some tee, claims in evidence
	tee != "report_data"
	tee != "runtime_data_claims"
	m := claims.measurements.mrenclave
}}

approved contains m if {{
	some m in measurements
	m in object.get(grants, path, [])
}}

allow if {{
	data.plugin == "resource"
	count(reasons) == 0
}}

# concat, not sprintf: rego-cpp writes a string formatted with %v in quotes, unescaped.
reasons contains concat("", ["no approved job reads ", path]) if {{
	not grants[path]
}}

reasons contains msg if {{
	grants[path]
	count(approved) == 0
	msg := concat("", [
		"the program's measurement ", concat(", ", measurements),
		" is not one the owner of ", path, " approved",
	])
}}

reasons contains "the evidence comes from the simulated TEE, which this broker refuses" if {{
	evidence.sim
	not allow_sim
}}

tolerated contains "simulated_tee" if allow_sim

reasons contains concat("", ["the appraisal failed its rule ", r.rule]) if {{
	some r in object.get(cpu0, "trustroom.reasons", [])
	not r.rule in tolerated
}}

reasons contains "the token has no cpu0 appraisal" if count(cpu0) == 0
"""


def release_policy(grants: Mapping[str, Iterable[str]], *, allow_sim: bool = False) -> str:
    """Rego releasing each dataset resource (``OWNER/dataset-key/NAME``) to the program
    measurements (``sha256:<hex>``, as job specs write them) in ``grants``; ``allow_sim``
    lets the simulated TEE through (it protects nothing: for trying jobs out)."""
    table = {
        path: sorted({m.removeprefix("sha256:") for m in measurements})
        for path, measurements in sorted(grants.items())
    }
    return _TEMPLATE.format(grants=json.dumps(table), allow_sim=json.dumps(allow_sim))
