"""A corpus from the upload page in Chromium: several files and a folder in one upload, the
text field chosen from the server's choices, and the dataset page showing the sources, the
document lengths and the documents with their boundaries."""

from __future__ import annotations

import json
import re

from browser_helpers import Studio, assert_labelled, screenshot
from playwright.sync_api import expect

LONG = 60_000  # ms


def text_file(name: str, text: str, mime: str = "text/plain") -> dict:
    return {"name": name, "mimeType": mime, "buffer": text.encode()}


def open_dataset(page) -> int:
    page.wait_for_url(re.compile(r"/datasets/\d+$"), timeout=LONG)
    return int(page.url.rsplit("/", 1)[1])


def test_several_files_become_documents_shown_apart(page, studio: Studio):
    page.goto(studio.base + "/upload")
    assert_labelled(page)
    records = "".join(json.dumps({"text": f"record {i}"}) + "\n" for i in range(3))
    page.set_input_files(
        "#file",
        [
            text_file("a.txt", "Alpha is the first.\n"),
            text_file("b.md", "# Beta\nThe second.\n"),
            text_file("c.jsonl", records, "application/json"),
        ],
    )
    open_dataset(page)
    expect(page.locator('[data-stat="documents"]')).to_have_text("5")
    sources = page.locator("[data-sources] tbody tr")
    expect(sources).to_have_count(3)
    expect(sources.nth(2)).to_contain_text("jsonl")
    documents = page.locator("[data-preview] li")
    expect(documents).to_have_count(5)
    expect(documents.nth(2)).to_contain_text("record 0")
    expect(documents.nth(2).locator(".boundary")).to_have_text("end of document")
    expect(page.locator("[data-preview]")).not_to_contain_text('{"text"')
    expect(page.locator("[data-histogram] rect")).not_to_have_count(0)
    screenshot(page, "upload-corpus-dataset")


def test_a_folder_keeps_its_paths(page, studio: Studio, tmp_path):
    folder = tmp_path / "letters"
    (folder / "inner").mkdir(parents=True)
    (folder / "one.txt").write_text("Dear reader,\n")
    (folder / "inner" / "two.txt").write_text("Yours truly.\n")
    page.goto(studio.base + "/upload")
    page.set_input_files("#folder", str(folder))
    open_dataset(page)
    expect(page.locator("h1")).to_have_text("letters")
    names = page.locator("[data-sources] tbody tr td:first-child")
    expect(names).to_have_text(["letters/inner/two.txt", "letters/one.txt"])


def test_the_text_field_is_chosen_from_the_server_s_examples(page, studio: Studio):
    page.goto(studio.base + "/upload")
    records = "".join(
        json.dumps({"question": f"Who is {i}?", "answer": f"It is {i}."}) + "\n" for i in range(4)
    )
    page.set_input_files("#file", text_file("qa.jsonl", records, "application/json"))
    choice = page.locator("[data-field-choice]")
    expect(choice).to_be_visible(timeout=LONG)
    expect(choice).to_contain_text("Who is 0?")
    expect(choice).to_contain_text("It is 0.")
    assert_labelled(page)
    screenshot(page, "upload-choose-field")
    choice.get_by_label(re.compile("answer")).check()
    choice.get_by_role("button", name="Upload with this field").click()
    open_dataset(page)
    expect(page.locator("[data-sources]")).to_contain_text("answer")
    expect(page.locator("[data-preview] li").first).to_contain_text("It is 0.")
