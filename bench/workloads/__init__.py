"""Benchmark workloads. Each module runs under both interpreters and imports only the stdlib.

A workload is ``run(api, params) -> dict``: ``api`` (see ``driver.Api``) holds the tool imported
as ``mlflow`` plus its client and entity classes; ``params`` holds the sizes and a ``workdir``
(an empty temporary folder that is also the working directory).
"""
