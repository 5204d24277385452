"""Write template.yaml translated to plain CloudFormation (what the Serverless transform deploys), offline, with
aws-sam-translator as the local stack does (local/hokodo_local/template.py), for checkov to read:
`python tools/sam_translate.py OUT.json`. Parameters keep their defaults; CodeUri/ContentUri are a placeholder."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "local"))

from hokodo_local.template import SamTemplate  # noqa: E402 - after the path it lives on


def main(out: str) -> None:
    translated = SamTemplate.load().translate("s3://placeholder/code.zip", {}, "eu-west-1")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(translated, indent=1, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv[1])
