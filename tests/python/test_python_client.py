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


def test_volume_lifecycle(client):
    cluster = client.cluster_create()
    # This client release has no cluster_setflags(); its cluster_create()
    # sends {} (both flags off), so set the file flag through its own
    # request helper, as Heketi's newer client does.
    client._make_request("POST", "/clusters/" + cluster["id"] + "/flags",
                         {"block": True, "file": True})
    nodes = []
    for zone in (1, 2, 3):
        node = client.node_add({
            "zone": zone,
            "cluster": cluster["id"],
            "hostnames": {"manage": [unique("manage")], "storage": [unique("storage")]},
        })
        nodes.append(node)
        for name in ("/dev/sda1", "/dev/sda2", "/dev/sda3"):
            assert client.device_add({"name": name, "node": node["id"]}) is True
    before = client.volume_list()["volumes"]
    # No durability: the server's default (distribute only), as on Heketi.
    volume = client.volume_create({"size": 10, "clusters": [cluster["id"]]})
    assert volume["size"] == 10
    assert volume["durability"]["type"] == "none"
    assert volume["id"] in client.volume_list()["volumes"]
    assert len(client.volume_list()["volumes"]) == len(before) + 1
    assert client.volume_info(volume["id"]) == volume
    with pytest.raises(requests.exceptions.HTTPError):
        client.volume_info("badid")
    with pytest.raises(requests.exceptions.HTTPError):
        client.volume_expand("badid", {"expand_size": 10})
    expanded = client.volume_expand(volume["id"], {"expand_size": 10})
    assert expanded["size"] == 20
    with pytest.raises(requests.exceptions.HTTPError):
        client.volume_delete("badid")
    assert client.volume_delete(volume["id"]) is True
    assert volume["id"] not in client.volume_list()["volumes"]
    for node in nodes:
        for device in client.node_info(node["id"])["devices"]:
            assert device["storage"]["used"] == 0
            client.device_state(device["id"], {"state": "offline"})
            client.device_state(device["id"], {"state": "failed"})
            assert client.device_delete(device["id"]) is True
        assert client.node_delete(node["id"]) is True
    assert client.cluster_delete(cluster["id"]) is True
