"""Where the project's own files are, in a source checkout: the schemas, the rule set, the chart
and the local components' build files (a deployment points settings at its own copies)."""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCHEMAS = REPO / "schemas" / "avro"
RULES = REPO / "rules"
CHART_FILES = REPO / "deploy" / "helm" / "infusion-validator" / "files"
DEPLOY_LOCAL = REPO / "deploy" / "local"
