"""A real PKCS#11 token for the tests: SoftHSM2 (Debian's softhsm2), initialised in a
temporary directory that ``SOFTHSM2_CONF`` points at, with a PIN given by environment.

`SoftHSM.reinit` re-initialises the token from another process (softhsm2-util) while this
process holds sessions on it: what a reset or a replaced token looks like to the module
(the objects and the login are gone, the slot id changes), used by the fault tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

MODULE_PATHS = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
)
PIN = "246810"
SO_PIN = "13579111"
PIN_ENV = "GPAY_TEST_TOKEN_PIN"


def module_path() -> str | None:
    """The SoftHSM2 module, or None when softhsm2 is not installed."""
    if shutil.which("softhsm2-util") is None:
        return None
    return next((p for p in MODULE_PATHS if Path(p).is_file()), None)


@dataclass
class SoftHSM:
    """One SoftHSM2 token in ``root``; ``uri(object)`` names a key in it."""

    root: Path
    module: str
    label: str = "gpay-test"

    @property
    def conf(self) -> Path:
        return self.root / "softhsm2.conf"

    def init(self) -> None:
        tokens = self.root / "tokens"
        tokens.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(
            f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
        )
        os.environ["SOFTHSM2_CONF"] = str(self.conf)
        self._init_token()

    def _init_token(self) -> None:
        subprocess.run(
            [
                "softhsm2-util",
                "--init-token",
                "--free",
                "--label",
                self.label,
                "--pin",
                PIN,
                "--so-pin",
                SO_PIN,
            ],
            check=True,
            capture_output=True,
            timeout=60,
            env={**os.environ, "SOFTHSM2_CONF": str(self.conf)},
        )

    def reinit(self) -> None:
        """Wipe the token and make an empty one of the same label (a reset token)."""
        shutil.rmtree(self.root / "tokens")
        (self.root / "tokens").mkdir()
        self._init_token()

    def uri(self, obj: str | None = None) -> str:
        path = f"pkcs11:token={self.label}" + (f";object={obj}" if obj else "")
        return f"{path}?module-path={self.module}"
