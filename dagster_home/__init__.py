"""The Dagster instance template shipped with dvnet: ``dagster.yaml`` (see README.md here)."""
