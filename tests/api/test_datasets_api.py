"""Datasets through the API: list, get, prepare (a job), delete with its files."""

from studio_stack import assert_error

from app.store.settings import get_settings


def test_list_get_prepare_delete(client):
    created = client.post("/api/v1/datasets?name=a.txt", content=b"abc abc\n" * 100).json()
    listing = client.get("/api/v1/datasets").json()
    assert created["id"] in [d["id"] for d in listing["items"]] and listing["total"] >= 1
    got = client.get(f"/api/v1/datasets/{created['id']}").json()
    assert got["vocab"] == ["\n", " ", "a", "b", "c"] and got["preparations"] == []

    body = {"tokenizer": "char", "val_fraction": 0.2}
    first = client.post(f"/api/v1/datasets/{created['id']}/prepare", json=body)
    assert first.status_code == 202 and first.json()["state"] == "queued"
    again = client.post(f"/api/v1/datasets/{created['id']}/prepare", json=body).json()
    assert again["id"] == first.json()["id"]  # one preparation per tokenizer and split
    bad = client.post(f"/api/v1/datasets/{created['id']}/prepare", json={"tokenizer": "x"})
    assert_error(bad, 422, "invalid", "tokenizer")
    bad = {"tokenizer": "char", "val_fraction": 1.5}
    assert_error(client.post(f"/api/v1/datasets/{created['id']}/prepare", json=bad), 422)

    folder = get_settings().dataset_dir(created["id"])
    assert (folder / "input.txt").is_file()
    assert client.delete(f"/api/v1/datasets/{created['id']}").status_code == 204
    assert not folder.exists()
    assert_error(client.get(f"/api/v1/datasets/{created['id']}"), 404, "not_found")
