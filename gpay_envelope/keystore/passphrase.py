"""`PassphraseRef`: where a key file's passphrase (or a token's PIN) comes from, an
environment variable or a file, never the manifest itself."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import KeySetError
from .files import Reader, detach_errors, read_capped

__all__ = ["PassphraseRef"]

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*").fullmatch


@dataclass(frozen=True, slots=True)
class PassphraseRef:
    """Where a passphrase comes from: an environment variable or a file, never the manifest."""

    env: str | None = None
    file: str | None = None

    def __post_init__(self) -> None:
        if (self.env is None) == (self.file is None):
            raise KeySetError("a passphrase reference names exactly one of 'env' or 'file'")
        if self.env is not None and not _ENV_NAME(self.env):
            raise KeySetError(f"{self.env!r} is not an environment variable name")
        if self.file is not None and (not isinstance(self.file, str) or not self.file):
            raise KeySetError("a passphrase file must be a non-empty path")

    @classmethod
    def from_json(cls, value: object, where: str) -> PassphraseRef:
        """Parse ``{"env": NAME}`` or ``{"file": PATH}``; an inline passphrase is refused."""
        if isinstance(value, str):
            raise KeySetError(
                f"{where}: passphrases are never stored in a manifest; use "
                '{"env": "VARIABLE"} or {"file": "path"}'
            )
        if not isinstance(value, Mapping) or set(value) - {"env", "file"}:
            raise KeySetError(f'{where}: passphrase must be {{"env": NAME}} or {{"file": PATH}}')
        env, file = value.get("env"), value.get("file")
        if (env is not None and not isinstance(env, str)) or (
            file is not None and not isinstance(file, str)
        ):
            raise KeySetError(f"{where}: passphrase env and file must be strings")
        return cls(env=env, file=file)

    def to_json(self) -> dict[str, str]:
        """The JSON form."""
        return {"env": self.env} if self.env is not None else {"file": str(self.file)}

    @property
    def source(self) -> str:
        """Where the passphrase is read from, for messages: the variable or the file."""
        return f"environment variable {self.env}" if self.env is not None else f"file {self.file}"

    def path(self, base: Path) -> Path | None:
        """The passphrase file, resolved against ``base``, or None for an environment variable."""
        return None if self.file is None else base / self.file

    @detach_errors
    def resolve(self, base: Path, read: Reader = read_capped) -> str:
        """The passphrase. Raises `KeySetError` when the variable is unset or the file empty."""
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise KeySetError(f"environment variable {self.env} (a passphrase) is not set")
            return value
        path = self.path(base)
        assert path is not None
        text = _utf8(read(path))
        if text is None:
            raise KeySetError(f"passphrase file {self.file} is not UTF-8")
        text = text[:-1] if text.endswith("\n") else text
        text = text[:-1] if text.endswith("\r") else text
        if not text:
            raise KeySetError(f"passphrase file {self.file} is empty")
        return text


def _utf8(data: bytes) -> str | None:
    # The decoding error is dropped here: its arguments hold the bytes, a passphrase.
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None
