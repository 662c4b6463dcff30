"""The production Serve config on a multi-node Ray cluster made by Ray's own autoscaler.

One cluster per module (:class:`tests.support.fake_cluster.FakeCluster`): a head that takes no
work, a CPU group of one node, and a GPU group from zero whose nodes carry ``GPU`` and
``accelerator_type:A10G``. The models are the offline ones, published to the local S3 store
and fetched by the replicas as production fetches its own; everything else is
``cluster/serve/production.yaml`` with ``overlay.yaml`` on top, deployed with ``serve deploy``
through the head's dashboard, as an operator deploys it. The cluster has a database, a Redis
prefix and a LanceDB prefix of its own, so its processor never takes another tier's jobs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tellmemore.settings import RedisSettings, S3Settings
from tests.support.production_cluster import Deployed, production_cluster


@pytest.fixture(scope="module")
def deployed(
    tmp_path_factory: pytest.TempPathFactory,
    redis_settings: RedisSettings,
    s3_settings: S3Settings,
    database_url: str,
) -> Iterator[Deployed]:
    server = os.environ.get("TMM_DATABASE__URL", database_url)
    with production_cluster(
        tmp_path_factory.mktemp("cluster"), server, redis_settings, s3_settings
    ) as deployed:
        yield deployed
