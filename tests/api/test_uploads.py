"""Uploads stream to disk under a server-made name; limits hold while streaming; nothing is
left behind by a refused upload."""

from pathlib import Path

from studio_stack import assert_error

from app.store.settings import get_settings


def leftovers() -> list[Path]:
    return list((get_settings().data_dir / "uploads").glob("*"))


def test_raw_body_with_name(client):
    response = client.post("/api/v1/datasets?name=notes.txt", content="héllo\nwörld\n".encode())
    assert response.status_code == 201, response.text
    dataset = response.json()
    assert dataset["name"] == "notes.txt" and dataset["characters"] == 12 and dataset["lines"] == 2
    stored = get_settings().dataset_dir(dataset["id"]) / "input.txt"
    assert stored.read_text(encoding="utf-8") == "héllo\nwörld\n"
    assert leftovers() == []


def test_multipart_never_trusts_the_file_name(client):
    files = {"file": ("../../../../tmp/evil.txt", b"to be or not to be\n", "text/plain")}
    response = client.post("/api/v1/datasets", files=files)
    assert response.status_code == 201
    dataset = response.json()
    assert dataset["name"] == "evil.txt"
    assert (get_settings().dataset_dir(dataset["id"]) / "input.txt").is_file()


def test_multipart_name_field_and_chunked_body(client):
    def body():
        yield b'--XyZ\r\nContent-Disposition: form-data; name="name"\r\n\r\nmy corpus\r\n'
        yield b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
        yield b"Content-Type: text/plain\r\n\r\n"
        for _ in range(100):
            yield b"all the world's a stage\n"
        yield b"\r\n--XyZ--\r\n"

    headers = {"Content-Type": "multipart/form-data; boundary=XyZ"}
    response = client.post("/api/v1/datasets", content=body(), headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "my corpus" and response.json()["lines"] == 100


def test_refusals_leave_nothing_behind(client, monkeypatch):
    before = client.get("/api/v1/datasets").json()["total"]
    assert_error(client.post("/api/v1/datasets?name=b", content=b"\xff\xfe\x00bin"), 415)
    assert_error(client.post("/api/v1/datasets", files={"other": ("a", b"x")}), 422, field="file")
    monkeypatch.setattr(client.app.state.settings, "max_upload_bytes", 1000)

    def stream():  # no Content-Length: the limit must hold while streaming
        for _ in range(100):
            yield b"x" * 100

    assert_error(client.post("/api/v1/datasets?name=c", content=stream()), 413, "too_large")
    assert leftovers() == []
    assert client.get("/api/v1/datasets").json()["total"] == before


def test_bundled_sample_is_created_once(client):
    first = client.post("/api/v1/datasets/sample")
    again = client.post("/api/v1/datasets/sample")
    assert first.status_code == 201 and first.json()["id"] == again.json()["id"]
    assert first.json()["characters"] == 1_115_394 and len(first.json()["vocab"]) == 65


def test_an_oversized_form_field_is_refused_not_dropped(client):
    """A 1 MB `name` was once cut to nothing and the upload went on under another name."""
    before = client.get("/api/v1/datasets").json()["total"]
    files = {"file": ("a.txt", b"to be or not to be\n", "text/plain")}
    response = client.post("/api/v1/datasets", data={"name": "n" * 1_000_000}, files=files)
    assert_error(response, 413, "too_large", "name")
    response = client.post("/api/v1/datasets", data={"name": b"caf\xe9"}, files=files)
    assert_error(response, 422, "invalid", "name")  # not UTF-8: refused, not patched
    assert leftovers() == []
    assert client.get("/api/v1/datasets").json()["total"] == before
