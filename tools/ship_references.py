"""Copy retrained references (made by `train --exclude`) into assets/references/ under the store's names.

    python tools/ship_references.py /work/refs/*.safetensors

Each file must be a retrained model with its training settings in the metadata; it is named by its
`ReferenceKey` (`<data set>-<arch>-without-<classes>-<digest>.safetensors`), so the reference store finds
it by what it is. Prints one line per file with its A_Dr; an existing file of the same name is kept.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from unsir_core.checkpoints.references import SHIPPED_DIR, ReferenceKey  # noqa: E402
from unsir_core.checkpoints.store import read_info  # noqa: E402
from unsir_core.common.errors import CheckpointError  # noqa: E402


def main(paths: list[str]) -> int:
    SHIPPED_DIR.mkdir(parents=True, exist_ok=True)
    status = 0
    for name in paths:
        try:
            info = read_info(name)
        except CheckpointError as err:
            print(f"skipped {name}: {err}")
            status = 2
            continue
        key = ReferenceKey.of(info)
        if key is None:
            print(f"skipped {name}: not a retrained model with recorded training settings")
            status = 2
            continue
        target = SHIPPED_DIR / key.file_name(info.class_names)
        if target.exists():
            print(f"kept {target.name} (already there)")
            continue
        shutil.copyfile(name, target)
        print(
            f"{name} -> {target.relative_to(SHIPPED_DIR.parent.parent)}: A_Dr {info.test_acc}%, "
            f"{key.train.epochs} epochs, seed {key.train.seed}"
        )
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
