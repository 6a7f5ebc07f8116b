"""Who may load what: the server's access policy.

A private server (the default, bound to 127.0.0.1) trusts its one user: any hub id, folder or .gguf
file. A public one (`app.py --public`, for a class or a team) loads models only from an allow-list
given by whoever runs it: the bundled model, listed hub ids, folders under listed roots and the app's
own cache (models it taught itself). Arbitrary local paths are refused, so nobody can make the server
read files it was not meant to, and `trust_remote_code` is never allowed there.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from unlearn.errors import UserError
from unlearn.model.models import BUNDLED, ModelLoadError, parse_source
from unlearn.model.paths import cache_dir

_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")  # org/name, as the hub spells ids


class AccessDenied(UserError):
    """A request the policy refuses; its message says what is allowed instead."""


@dataclass(frozen=True)
class AccessPolicy:
    public: bool = False
    model_ids: frozenset[str] = field(default_factory=frozenset)  # hub ids allowed in public mode
    model_roots: tuple[Path, ...] = ()  # folders (and everything below) allowed in public mode
    allow_remote_code: bool = False  # trust_remote_code may be ticked (never in public mode)
    # users who may change the shared model (load, teach, run, undo, switch or delete runs); empty: everyone
    operators: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_allow_list(cls, entries: Iterable[str], public: bool, allow_remote_code: bool = False) -> AccessPolicy:
        """Each entry is a hub id ('org/name') or an existing folder; anything else is an error."""
        if public and allow_remote_code:
            raise AccessDenied("--allow-remote-code cannot be used with --public: it runs code from the hub")
        ids, roots = set(), []
        for e in entries:
            path = Path(e).expanduser()
            if path.is_dir():
                roots.append(path.resolve())
            elif "/" in e and not e.startswith((".", "/", "~")):
                ids.add(e)
            else:
                raise AccessDenied(f"--allow-model {e!r} is neither an existing folder nor a hub id 'org/name'")
        return cls(public, frozenset(ids), tuple(roots), allow_remote_code)

    def check_model(self, ref: str, trust_remote_code: bool = False) -> None:
        """Raise AccessDenied unless `ref` may be loaded (with `trust_remote_code` as asked)."""
        if trust_remote_code and not self.allow_remote_code:
            raise AccessDenied(
                "Running a repository's own code is off on this server. Whoever runs it can allow it with "
                "`python app.py --allow-remote-code` (never in --public mode)."
            )
        if not self.public or (ref or "").strip() in ("", BUNDLED):
            return
        try:
            src = parse_source(ref)
        except ModelLoadError:
            raise AccessDenied(self._refusal(ref)) from None  # do not say whether the path exists
        if src.kind == "hub":
            if src.ref in self.model_ids:
                return
        else:
            path = Path(src.ref).resolve()  # symlinks and '..' resolved before the prefix test
            if any(path.is_relative_to(root) for root in (*self.model_roots, cache_dir().resolve())):
                return
        raise AccessDenied(self._refusal(ref))

    def _refusal(self, ref: str) -> str:
        allowed = ["the bundled model"]
        if self.model_ids:
            allowed.append("the hub ids " + ", ".join(sorted(self.model_ids)))
        allowed.append("folders its operator listed" if self.model_roots else "models this app taught")
        return (
            f"This is a shared server: {ref!r} is not on its list of models. Allowed: {', '.join(allowed)}. "
            "Ask whoever runs it to add yours (--allow-model)."
        )

    def check_operator(self, user: str | None, what: str) -> None:
        """With operators named (`--operator`), only they may change the model everyone shares: in a
        class, thirty students pressing Run would queue thirty runs, each replacing the last."""
        if not self.operators or user in self.operators:
            return
        raise AccessDenied(
            f"Only this server's operators ({', '.join(sorted(self.operators))}) may {what}: it changes the model "
            "for everyone. You can ask, compare and audit the run on the model."
        )

    def check_dataset(self, repo_id: str) -> None:
        """In public mode a dataset comes from the hub only: `datasets.load_dataset` also reads local
        folders and files, which would let a user read the server's disk through the preview table."""
        if not self.public:
            return
        repo = (repo_id or "").strip()
        local = repo.startswith((".", "/", "~")) or ".." in repo or "\\" in repo or Path(repo).expanduser().exists()
        if local or not _HUB_ID.fullmatch(repo):
            raise AccessDenied(
                f"This is a shared server: datasets come from the hub only, as 'org/name' (got {repo[:100]!r}). "
                "To use your own file, upload it in the Upload tab."
            )

    def check_run(self, run_dir: str) -> None:
        """In public mode a run is opened only from the server's runs folder (an API caller could
        otherwise name any folder on the machine)."""
        if not self.public:
            return
        from unlearn.train.runs import runs_dir

        path = Path(run_dir).resolve()
        if path.parent != runs_dir().resolve():
            raise AccessDenied(
                f"{Path(run_dir).name!r} is not one of this server's saved runs: pick one from the list."
            )


def parse_auth(values: Iterable[str]) -> list[tuple[str, str]]:
    """'user:password' entries to Gradio's auth list; an entry without both parts is an error."""
    out = []
    for v in values:
        user, sep, password = v.partition(":")
        if not sep or not user or not password:
            raise AccessDenied(f"--auth {v!r}: give USER:PASSWORD (both non-empty)")
        out.append((user, password))
    return out
