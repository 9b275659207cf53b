"""Heketi's Python client against Brickyard: clusters, nodes and devices.

Expectations are what Heketi's own server gives the same client.
"""

import uuid

import pytest
import requests


def unique(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


def test_hello(client):
    assert client.hello()


def test_cluster_lifecycle(client):
    cluster = client.cluster_create()
    assert len(cluster["id"]) == 32
    assert cluster["nodes"] == [] and cluster["volumes"] == []
    # The client sends {} so both flags are false, as on Heketi.
    assert cluster["block"] is False and cluster["file"] is False
    assert client.cluster_info(cluster["id"]) == cluster
    assert cluster["id"] in client.cluster_list()["clusters"]
    with pytest.raises(requests.exceptions.HTTPError):
        client.cluster_info("bad")
    with pytest.raises(requests.exceptions.HTTPError):
        client.cluster_delete("0123456789abcdef0123456789abcdef")
    assert client.cluster_delete(cluster["id"]) is True
    with pytest.raises(requests.exceptions.HTTPError):
        client.cluster_info(cluster["id"])


def test_node_lifecycle(client):
    cluster = client.cluster_create()
    with pytest.raises(requests.exceptions.HTTPError):
        client.node_add({"zone": 1, "cluster": "bad_id",
                         "hostnames": {"manage": ["a"], "storage": ["b"]}})
    request = {
        "zone": 10,
        "cluster": cluster["id"],
        "hostnames": {"manage": [unique("manage")], "storage": [unique("storage")]},
    }
    node = client.node_add(request)
    assert node["zone"] == 10
    assert node["hostnames"] == request["hostnames"]
    assert node["devices"] == []
    info = client.node_info(node["id"])
    assert info == node and info["state"] == "online"

    # This client expects 200 after the queue while Heketi answers 204, so it
    # reports False for state changes on both servers; the change happens.
    client.node_state(node["id"], {"state": "offline"})
    assert client.node_info(node["id"])["state"] == "offline"
    client.node_state(node["id"], {"state": "online"})
    assert client.node_info(node["id"])["state"] == "online"

    with pytest.raises(requests.exceptions.HTTPError):
        client.node_delete("0123456789abcdef0123456789abcdef")
    # A cluster holding a node cannot go.
    with pytest.raises(requests.exceptions.HTTPError):
        client.cluster_delete(cluster["id"])
    assert client.node_delete(node["id"]) is True
    assert client.cluster_delete(cluster["id"]) is True


def test_device_lifecycle(client):
    cluster = client.cluster_create()
    node = client.node_add({
        "zone": 1,
        "cluster": cluster["id"],
        "hostnames": {"manage": [unique("manage")], "storage": [unique("storage")]},
    })
    assert client.device_add({"name": "/dev/sda", "node": node["id"]}) is True
    info = client.node_info(node["id"])
    assert len(info["devices"]) == 1
    device = info["devices"][0]
    assert device["name"] == "/dev/sda" and device["bricks"] == []
    assert client.device_info(device["id"]) == device
    with pytest.raises(requests.exceptions.HTTPError):
        client.device_info("badid")

    client.device_state(device["id"], {"state": "offline"})
    assert client.device_info(device["id"])["state"] == "offline"
    client.device_state(device["id"], {"state": "online"})
    assert client.device_info(device["id"])["state"] == "online"

    # A node holding a device cannot go.
    with pytest.raises(requests.exceptions.HTTPError):
        client.node_delete(node["id"])
    client.device_state(device["id"], {"state": "offline"})
    client.device_state(device["id"], {"state": "failed"})
    assert client.device_info(device["id"])["state"] == "failed"
    assert client.device_delete(device["id"]) is True
    assert client.node_info(node["id"])["devices"] == []
    assert client.node_delete(node["id"]) is True
    assert client.cluster_delete(cluster["id"]) is True
