"""What one running app shares between its sessions: who may do what (its access policy) and the
jobs running now, so Cancel stops the right one. app.main makes one from the command line and hands
it to build_demo, which hands it to the tabs; a test makes its own. No module global holds it."""

from __future__ import annotations

from dataclasses import dataclass, field

from unlearn.serve.access import AccessPolicy
from unlearn.serve.jobs import Job


@dataclass
class Server:
    access: AccessPolicy = field(default_factory=AccessPolicy)  # --public, --allow-model, --operator, ...
    jobs: dict[str, Job] = field(default_factory=dict)  # session hash (":audit" for its audit) -> its job
