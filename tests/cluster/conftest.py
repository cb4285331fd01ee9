"""A simulated two-node cluster: the head declares `head`, a second node a GPU and `gpu_worker`.

The suite's own local Ray is shut down for these tests and started again after them."""

from __future__ import annotations


import pytest
import ray
from ray.cluster_utils import Cluster
from tests.helpers import free_port


@pytest.fixture
def two_nodes(request):
    was_up = ray.is_initialized()
    ray.shutdown()
    dashboard = request.node.get_closest_marker("dashboard") is not None
    head_args = {"num_cpus": 1, "resources": {"head": 1}, "include_dashboard": dashboard,
                 "_system_config": {"health_check_period_ms": 500, "health_check_failure_threshold": 4,
                                    "health_check_initial_delay_ms": 0,
                                    # task events (what the state API lists) reach the GCS sooner
                                    "task_events_report_interval_ms": 200}}
    # the head's dashboard agent would take Ray's default port 52365, which another Ray on this
    # host (a user's, or a test's own local one) may hold: then jobs never get an agent
    head_args["dashboard_agent_listen_port"] = free_port()
    if dashboard:
        head_args["dashboard_port"] = free_port()
        head_args["dashboard_host"] = "127.0.0.1"
    cluster = Cluster(initialize_head=True, head_node_args=head_args)
    worker = cluster.add_node(num_cpus=1, num_gpus=1, resources={"gpu_worker": 1})
    ray.init(address=cluster.address, log_to_driver=False)
    cluster.wait_for_nodes()
    yield cluster, worker, head_args.get("dashboard_port")
    ray.shutdown()
    cluster.shutdown()
    if was_up:
        from tests.conftest import start_test_ray
        start_test_ray()
